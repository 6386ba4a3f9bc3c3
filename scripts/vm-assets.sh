#!/usr/bin/env bash
# Provisions what a capsa micro-VM boots, from Debian packages only:
#   vmlinuz         Debian's cloud kernel (linux-image-cloud-amd64), unpacked, not installed
#   initramfs.img   busybox-static, the virtio/virtiofs modules, guest/init and
#                   the guest agent compiled from guest/agent.c
#   manifest.json   what it was made from; the assets are rebuilt only when that changes
# into ${CAPSA_VM_ASSETS:-/var/cache/capsa/vm}. Run as root (scripts/setup.sh calls it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=${CAPSA_VM_ASSETS:-/var/cache/capsa/vm}
# In the order guest/init loads them.
MODULES=(virtio_ring virtio virtio_mmio virtio_blk virtio_console failover net_failover virtio_net fuse virtiofs)

log() { printf '[vm-assets] %s\n' "$*"; }
die() { printf '[vm-assets] error: %s\n' "$*" >&2; exit 1; }

[[ -f guest/agent.c && -f guest/init ]] || die "guest/agent.c and guest/init are missing"
command -v busybox >/dev/null || die "busybox (busybox-static) is not installed"
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
[[ -n $kpkg ]] || die "no linux-image-cloud-amd64 in the package index (apt-get update?)"
kver=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
inputs=$(cat guest/init guest/agent.c scripts/vm-assets.sh | sha256sum | cut -c1-16)
key="$inputs $kpkg=$kver busybox-static=$bbver"

if [[ -f $DEST/vmlinuz && -f $DEST/initramfs.img && -f $DEST/manifest.json ]] && grep -qF "\"inputs\": \"$key\"" "$DEST/manifest.json"; then
  log "up to date in $DEST ($kpkg $kver)"
  exit 0
fi

work=$(mktemp -d -t capsa-vm-assets.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "fetching $kpkg $kver from the package mirror"
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg=$kver") || die "apt-get download $kpkg failed"
dpkg-deb -x "$work"/*.deb "$work/pkg"
release=$(ls "$work/pkg/lib/modules")
# The package's modules.dep is made by its postinst, which we do not run.
depmod -b "$work/pkg" "$release"

ir=$work/initramfs
mkdir -p "$ir"/{bin,sbin,lib/modules,proc,sys,dev,newroot}
install -m 0755 "$(command -v busybox)" "$ir/bin/busybox"
for m in "${MODULES[@]}"; do
  f=$(modinfo -b "$work/pkg" -k "$release" -n "$m" 2>/dev/null || true)
  case $f in
    "" | "(builtin)") continue ;; # built into the kernel
    *.ko) cp "$f" "$ir/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$f" >"$ir/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$ir/lib/modules/$m.ko" ;;
    *) die "unexpected module file $f" ;;
  esac
done
install -m 0755 guest/init "$ir/init"
gcc -static -O2 -s -Wall -o "$ir/sbin/capsa-agent" guest/agent.c || die "building the guest agent failed (gcc, libc6-dev)"
(cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -9 >"$work/initramfs.img"

mkdir -p "$DEST"
install -m 0644 "$work/pkg/boot/vmlinuz-$release" "$DEST/vmlinuz.new"
install -m 0644 "$work/initramfs.img" "$DEST/initramfs.img.new"
cat >"$DEST/manifest.json.new" <<JSON
{
  "kernelPackage": "$kpkg",
  "kernelPackageVersion": "$kver",
  "kernelRelease": "$release",
  "inputs": "$key",
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
mv "$DEST/vmlinuz.new" "$DEST/vmlinuz"
mv "$DEST/initramfs.img.new" "$DEST/initramfs.img"
mv "$DEST/manifest.json.new" "$DEST/manifest.json"
log "ready in $DEST: kernel $release, initramfs $(du -h "$DEST/initramfs.img" | cut -f1)"
