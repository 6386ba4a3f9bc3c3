#!/usr/bin/env bash
# Provisions what a capsa micro-VM boots, from Debian packages only:
#   vmlinuz         Debian's cloud kernel (linux-image-cloud-amd64), unpacked, not installed
#   vmlinux         the same kernel uncompressed (an ELF with a PVH entry point): QEMU
#                   starts it directly, which saves the guest's decompression, ~0.4 s under TCG
#                   (docs/decisions/0006-vm-guest-kernel.md); absent if it cannot be extracted
#   initramfs.img   busybox-static, the virtio/virtiofs modules in load order, guest/init
#                   and the guest agent compiled from guest/agent.c
#   capsa-agent     the same agent, which the host runs to compile a VM's seccomp filter
#   manifest.json   what it was made from; the assets are rebuilt only when that changes
# into ${CAPSA_VM_ASSETS:-/var/cache/capsa/vm}. Run as root (scripts/setup.sh calls it).
# Nothing is fetched but the kernel package, with apt from the configured mirror.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=${CAPSA_VM_ASSETS:-/var/cache/capsa/vm}
# What the guest needs, in load order; their dependencies are added from the kernel's
# modules.dep, and whatever the kernel has built in is left out (Debian's cloud kernel
# builds in ext4 with jbd2, mbcache, crc16 and crc32c, and af_packet). virtio_console
# goes before virtio_blk: its ports appear in the background (each takes a few
# round trips to QEMU), while the disk's driver loads and the agent mounts the root.
WANTED=(virtio_mmio virtio_console virtio_blk virtio_net virtiofs ext4 af_packet)

log() { printf '[vm-assets] %s\n' "$*"; }
die() { printf '[vm-assets] error: %s\n' "$*" >&2; exit 1; }

[[ -f guest/init ]] || die "guest/init is missing"
[[ -f guest/agent.c ]] || die "guest/agent.c (the guest agent's source) is missing"
command -v busybox >/dev/null || die "busybox (Debian's busybox-static) is not installed"
[[ $(ldd "$(command -v busybox)" 2>&1 || true) == *"not a dynamic"* ]] || die "$(command -v busybox) is not static: install busybox-static"

# The kernel the meta-package points at: "Depends: linux-image-6.1.0-N-cloud-amd64 (= V)".
meta=$(apt-cache show --no-all-versions linux-image-cloud-amd64 2>/dev/null || true)
read -r kpkg kver < <(awk '/^Depends:/ { for (i = 2; i <= NF; i++) if ($i ~ /^linux-image-/) {
  v = ""; if ($(i + 1) == "(=") { v = $(i + 2); sub(/[),].*/, "", v) }; print $i, v; exit } }' <<<"$meta") || true
[[ -n ${kpkg:-} ]] || die "linux-image-cloud-amd64 is not in the package index (apt-get update?)"
[[ -n ${kver:-} ]] || kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
[[ -n ${kver:-} ]] || die "$kpkg is not in the package index (apt-get update?)"
bbver=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || busybox 2>&1 | head -1)
[[ -f /usr/lib/x86_64-linux-gnu/libseccomp.a || -n $(find /usr/lib -name libseccomp.a -print -quit 2>/dev/null) ]] || die "libseccomp.a is missing: install libseccomp-dev (the agent links it statically)"
scver=$(dpkg-query -W -f='${Version}' libseccomp-dev 2>/dev/null || echo unknown)
inputs=sha256:$({
  sha256sum guest/init guest/agent.c scripts/vm-assets.sh | cut -d' ' -f1
  printf '%s\n' "$kpkg=$kver" "busybox-static=$bbver" "libseccomp-dev=$scver"
} | sha256sum | cut -d' ' -f1)

if [[ -f $DEST/vmlinuz && -f $DEST/initramfs.img && -f $DEST/manifest.json ]] &&
  grep -qF "\"inputs\": \"$inputs\"" "$DEST/manifest.json"; then
  log "up to date in $DEST ($kpkg $kver)"
  exit 0
fi

work=$(mktemp -d -t capsa-vm-assets.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "fetching $kpkg $kver from the package mirror"
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg=$kver") || die "apt-get download $kpkg=$kver failed"
dpkg-deb -x "$work"/*.deb "$work/pkg"
release=$(basename "$(ls -d "$work"/pkg/lib/modules/*/ | head -1)")
[[ -f $work/pkg/boot/vmlinuz-$release ]] || die "$kpkg has no /boot/vmlinuz-$release"
# modules.dep is made by the package's postinst, which is not run here.
depmod -b "$work/pkg" "$release"

# The bzImage's payload is the compressed ELF kernel: find it from the boot
# protocol header (setup_sects at 0x1f1, payload_offset/length at 0x248/0x24c,
# protocol 2.08 and later) and decompress it by its magic.
extract_vmlinux() { # bzImage → ELF, or fail
  local bz=$1 out=$2 sects ver off len magic size
  [[ $(od -An -c -j 514 -N 4 "$bz" | tr -d ' ') == HdrS ]] || return 1
  ver=$(od -An -tu2 -j 518 -N 2 "$bz" | tr -d ' ')
  ((ver >= 0x208)) || return 1
  sects=$(od -An -tu1 -j 497 -N 1 "$bz" | tr -d ' ')
  ((sects)) || sects=4
  read -r off len < <(od -An -tu4 -j 584 -N 8 "$bz")
  tail -c +$(((sects + 1) * 512 + off + 1)) "$bz" | head -c "$len" >"$out.z"
  # the build appends the uncompressed size (32 bits, little-endian) to the payload
  size=$(od -An -tu4 -j $((len - 4)) -N 4 "$out.z" | tr -d ' ')
  magic=$(od -An -tx1 -N 4 "$out.z" | tr -d ' ')
  case $magic in
    02214c18) command -v lz4 >/dev/null && lz4 -dc "$out.z" >"$out" 2>/dev/null || true ;; # legacy frames; trailing size word
    1f8b*) gzip -dc "$out.z" >"$out" 2>/dev/null || true ;;
    28b52ffd) zstd -qdc "$out.z" >"$out" 2>/dev/null || true ;;
    fd377a58) xz -dc "$out.z" >"$out" 2>/dev/null || true ;;
    5d0000*) xz --format=lzma -dc "$out.z" >"$out" 2>/dev/null || true ;;
    425a68*) bzip2 -dc "$out.z" >"$out" 2>/dev/null || true ;;
    *) rm -f "$out.z"; return 1 ;;
  esac
  rm -f "$out.z"
  # An ELF with Xen's PHYS32_ENTRY note (type 0x12): QEMU boots it through PVH.
  [[ -s $out && $(stat -c %s "$out") == "$size" && $(od -An -c -j 1 -N 3 "$out" | tr -d ' ') == ELF ]] && readelf -n "$out" 2>/dev/null | grep -q '(0x00000012)'
}
if extract_vmlinux "$work/pkg/boot/vmlinuz-$release" "$work/vmlinux"; then
  boot=vmlinux
else
  log "warning: could not extract an uncompressed kernel from vmlinuz; booting the bzImage (slower)"
  rm -f "$work/vmlinux"
  boot=vmlinuz
fi

ir=$work/initramfs
mkdir -p "$ir"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,newroot}
install -m 0755 "$(command -v busybox)" "$ir/bin/busybox"
# Applet links, for anyone who looks around in the guest (guest/init calls busybox directly).
busybox --list-full | while read -r a; do
  [[ -e $ir/$a || $a == bin/busybox ]] || ln -s /bin/busybox "$ir/$a"
done
# The kernel opens /dev/console for PID 1 before anything is mounted.
mknod -m 0600 "$ir/dev/console" c 5 1

# Modules, each with its dependencies first; guest/init loads /lib/modules/load-order.
# A line is a module, then the virtio device ids (as sysfs shows them: 0x0002)
# it is needed for, if any: guest/init loads such a module only when the VM
# has one of those devices (no NIC: no virtio_net; no shares: no fuse,
# virtiofs). Modules needed whatever the devices (the virtio bus and its
# mmio transport, which finds the devices) come first.
declare -A need_ids=() always=()
order=()
for w in "${WANTED[@]}"; do
  deps=$(modprobe -d "$work/pkg" -S "$release" --show-depends "$w") ||
    die "resolving modules in $kpkg: modprobe --show-depends $w failed"
  chain=()
  while read -r kind f _; do
    [[ $kind == insmod ]] || continue # "builtin NAME": nothing to load
    m=$(basename "$f")
    m=${m%%.ko*}
    chain+=("$m")
    [[ " ${order[*]} " == *" $m "* ]] && continue
    case $f in
      *.ko) cp "$f" "$ir/lib/modules/$m.ko" ;;
      *.ko.xz) xz -dc "$f" >"$ir/lib/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$f" >"$ir/lib/modules/$m.ko" ;;
      *.ko.gz) gzip -dc "$f" >"$ir/lib/modules/$m.ko" ;;
      *) die "unexpected module file $f" ;;
    esac
    order+=("$m")
  done <<<"$deps"
  ((${#chain[@]})) || continue
  # the device ids of the wanted module's own aliases (virtio:d0000001Av*: virtio-fs, 0x001a)
  ids=$(modinfo -F alias "$ir/lib/modules/${chain[-1]}.ko" | sed -n 's/^virtio:d\([0-9A-Fa-f]\{8\}\)v.*/\1/p' |
    while read -r h; do printf '0x%04x ' $((16#$h)); done)
  for m in "${chain[@]}"; do
    if [[ -z $ids ]]; then always[$m]=1; else need_ids[$m]="${need_ids[$m]:-}$ids"; fi
  done
done
((${#order[@]})) || die "no modules resolved from $kpkg"
{
  for m in "${order[@]}"; do
    if [[ -n ${always[$m]:-} ]]; then echo "$m"; fi
  done
  for m in "${order[@]}"; do
    if [[ -z ${always[$m]:-} ]]; then echo "$m $(tr ' ' '\n' <<<"${need_ids[$m]}" | sort -u | xargs)"; fi
  done
} >"$ir/lib/modules/load-order"
mapfile -t order < <(cut -d' ' -f1 "$ir/lib/modules/load-order")

install -m 0755 guest/init "$ir/init"
gcc -static -O2 -s -Wall -o "$ir/sbin/capsa-agent" guest/agent.c -lseccomp || die "building the guest agent from guest/agent.c failed (gcc, libc6-dev, libseccomp-dev)"
(cd "$ir" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) | gzip -9 >"$work/initramfs.img"

mkdir -p "$DEST"
install -m 0644 "$work/pkg/boot/vmlinuz-$release" "$DEST/vmlinuz.new"
[[ $boot == vmlinux ]] && install -m 0644 "$work/vmlinux" "$DEST/vmlinux.new"
install -m 0644 "$work/initramfs.img" "$DEST/initramfs.img.new"
# The agent also runs on the host, to compile a VM's seccomp filter (its seccomp-bpf mode).
install -m 0755 "$ir/sbin/capsa-agent" "$DEST/capsa-agent.new"
modules_json=$(printf '"%s", ' "${order[@]}")
cat >"$DEST/manifest.json.new" <<JSON
{
  "kernelPackage": "$kpkg",
  "kernelVersion": "$kver",
  "kernelRelease": "$release",
  "kernel": "$boot",
  "busyboxVersion": "$bbver",
  "modules": [${modules_json%, }],
  "inputs": "$inputs",
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
# The manifest goes last: until it is in place, the next run rebuilds.
rm -f "$DEST/manifest.json"
mv "$DEST/vmlinuz.new" "$DEST/vmlinuz"
if [[ $boot == vmlinux ]]; then mv "$DEST/vmlinux.new" "$DEST/vmlinux"; else rm -f "$DEST/vmlinux"; fi
mv "$DEST/initramfs.img.new" "$DEST/initramfs.img"
mv "$DEST/capsa-agent.new" "$DEST/capsa-agent"
mv "$DEST/manifest.json.new" "$DEST/manifest.json"
log "ready in $DEST: kernel $release ($boot), modules: ${order[*]}; initramfs $(du -h "$DEST/initramfs.img" | cut -f1)"
