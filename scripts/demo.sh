#!/usr/bin/env bash
# capsa in one minute: installs what is needed, makes a small image from
# Debian's busybox-static, and runs it as a container, a gVisor sandbox and a
# micro-VM.
#
# Uses a private state root that is removed at the end, unless CAPSA_ROOT is
# set, in which case the image is left there for you to play with.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

bash scripts/setup.sh

own_root=
if [[ -z ${CAPSA_ROOT:-} ]]; then
  CAPSA_ROOT=$(mktemp -d -t capsa-demo.XXXXXX)
  own_root=1
fi
export CAPSA_ROOT
work=$(mktemp -d -t capsa-demo-rootfs.XXXXXX)

capsa() { node "$REPO/bin/capsa" "$@"; }

cleanup() {
  rm -rf "$work"
  if [[ -n $own_root ]]; then
    capsa system reset --force >/dev/null 2>&1 || true
    # A safety net: nothing of the demo may stay mounted.
    awk -v r="$CAPSA_ROOT" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo |
      sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$CAPSA_ROOT"
  fi
}
trap cleanup EXIT

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
# Echoes a command line the way you would type it, then runs it.
show() {
  local a words=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then words+=("$a"); else words+=("'${a//\'/\'\\\'\'}'"); fi
  done
  printf '$ capsa %s\n' "${words[*]}"
  capsa "$@"
}

step "A root file system from Debian's busybox-static"
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$(command -v busybox)" "$rootfs/bin/busybox"
# busybox-static runs fine without a dynamic loader: let it make its own applet links.
chroot "$rootfs" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
tar --numeric-owner -C "$rootfs" -cf "$work/rootfs.tar" .
echo "$(du -h "$work/rootfs.tar" | cut -f1) tarball, $(find "$rootfs" -type l | wc -l) applets"

step "Import it as an image"
show import "$work/rootfs.tar" demo/busybox:latest
show images

step "Run it as a container (isolation: container, the host's kernel)"
show run --rm demo/busybox echo hello from capsa
show run --rm demo/busybox uname -r
# shellcheck disable=SC2016 # expanded inside the container
show run --rm demo/busybox sh -c 'echo "pid $$, hostname $(hostname), $(ls /bin | wc -l) programs in /bin"'
echo "(host kernel: $(uname -r))"

step "Run it as a gVisor sandbox (isolation: sandbox, gVisor's user-space kernel)"
show run --rm --isolation sandbox demo/busybox uname -r

step "Run it as a micro-VM (isolation: vm, its own kernel under QEMU)"
show run --rm --isolation vm demo/busybox uname -r
show run --rm --isolation vm demo/busybox echo hello from a capsa VM
show info --format '{{json .Isolation}}'
step "Done"
