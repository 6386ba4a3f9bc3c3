#!/usr/bin/env bash
# Installs everything capsa needs on Debian 12 (run as root) and builds it.
#
# Idempotent and quick when everything is already in place: the package index
# is refreshed only when a wanted package is missing, `npm ci` runs only when
# node_modules is missing or older than package-lock.json, and the bundle
# build takes about a second.
#
#   --tests      also install the peers and clients the test suite checks capsa against
#   --no-build   stop after the dependencies (scripts/test.sh builds as a step of its own)
set -euo pipefail
build=1 tests=
for arg in "$@"; do
  case $arg in
    --no-build) build= ;;
    --tests) tests=1 ;;
    *) echo "usage: $0 [--tests] [--no-build]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (capsa manages mounts, namespaces and cgroups)"
[[ -r /etc/debian_version ]] || die "this script expects Debian 12 (bookworm)"

# What the engine and the test suite use at run time, plus the tool chain for
# the native SQLite addon (better-sqlite3 is compiled from source by node-gyp).
PACKAGES=(
  runc conmon                     # OCI runtime and per-container monitor
  runsc                           # gVisor: the runtime of --isolation sandbox
  qemu-system-x86 qemu-utils lz4  # --isolation vm: QEMU micro-VMs, virtiofsd, qemu-img; lz4 unpacks the guest kernel
  gcc libc6-dev libseccomp-dev    # the guest agent, built statically with libseccomp (scripts/vm-assets.sh)
  busybox-static                  # the small image used by the demo and the tests
  containernetworking-plugins     # CNI: bridge, host-local, portmap, firewall, loopback
  iproute2 iptables               # network namespaces, veths, NAT rules
  dnsmasq-base                    # names by DNS on user-defined networks
  debootstrap                     # Debian root file systems as realistic test images
  attr                            # getfattr/setfattr (overlay whiteouts, xattrs in layers)
  tini util-linux tar gzip zstd   # init for containers, mount/nsenter/unshare, archives
  ca-certificates kmod procps     # TLS roots, modprobe, ps/pkill for diagnostics
  python3 make g++                # node-gyp's tool chain for better-sqlite3
)
if [[ -n $tests ]]; then
  PACKAGES+=(
    podman skopeo                 # image archives cross-checked with the peers
    crun                          # the runtime probe must pass over it where it does not work
    docker-registry openssl apache2-utils curl  # registry tests: TLS, htpasswd, HTTP checks
    bsdutils                      # script(1): a pty for `run -it` tests
    python3-docker docker-compose  # Docker API clients driven against capsa system service
    docker.io                     # docker CLI 20.10 (API 1.41) as a client; /usr/bin/docker, the static 28 CLI stays first on the PATH
  )
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages with daemons (docker.io, docker-registry, …) must not start them:
  # capsa and its tests run their own, on private sockets and ports. Debian's
  # policy-rc.d convention keeps maintainer scripts from starting services.
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" || { [[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
  [[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
else
  log "Debian packages: all present"
fi

# overlayfs backs image layers and container rw layers; it may be built in.
if ! grep -qw overlay /proc/filesystems; then
  modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || die "the kernel has no overlay file system"
fi

command -v node >/dev/null || die "Node.js 20 or newer is required (node not found)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js 20 or newer is required (found $(node -v))"

# node-gyp needs the headers of the running Node. Debian's and NodeSource's
# packages ship them in /usr/include/node; use those rather than downloading.
if [[ -z ${npm_config_nodedir:-} && -f /usr/include/node/node_api.h ]]; then
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  if [[ -z $nodedir || $nodedir == undefined || $nodedir == null ]]; then
    export npm_config_nodedir=/usr
  fi
fi

addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [[ ! -d node_modules || ! -f node_modules/.package-lock.json ||
  package-lock.json -nt node_modules/.package-lock.json || ! -f $addon ]]; then
  log "npm ci (builds better-sqlite3 from source: about a minute and a half)"
  npm_log=$(mktemp)
  if npm ci --no-audit --no-fund >"$npm_log" 2>&1; then
    cat "$npm_log"
  else
    # npm 11.16+ rejects a lock file that leaves out optional dependencies
    # which were never published (npm/cli#9846; node-unix-socket lists some).
    # The lock is otherwise complete: install from it without rewriting it.
    if grep -q 'Missing: .*@ from lock file' "$npm_log" && ! grep -q 'Missing: .*@[0-9]' "$npm_log"; then
      grep 'Missing: ' "$npm_log" >&2
      log "npm ci refused unpublished optional dependencies (npm/cli#9846): npm install --no-save"
      npm install --no-save --no-audit --no-fund
    else
      cat "$npm_log" >&2
      rm -f "$npm_log"
      die "npm ci failed"
    fi
  fi
  rm -f "$npm_log"
  [[ -f $addon ]] || die "better-sqlite3 did not build ($addon missing)"
else
  log "node_modules: up to date"
fi

# bin/capsa runs the CLI under Bun when the npm package's binary is there
# (docs/decisions/0014-cli-runtime.md), else under Node.
bun=$(compgen -G 'node_modules/@oven/bun-linux-*/bin/bun' | head -1 || true)
if [[ -z $bun ]]; then
  log "CLI runtime: Node (no Bun binary for this platform in node_modules/@oven)"
elif bun_version=$("$bun" --version 2>/dev/null); then
  log "CLI runtime: Bun $bun_version"
else
  log "warning: $bun does not run here; set CAPSA_JS_RUNTIME=node to run the CLI under Node"
fi

# The micro-VM guest: Debian's cloud kernel and an initramfs with the agent.
bash scripts/vm-assets.sh

if [[ -n $build ]]; then
  log "npm run build"
  npm run --silent build
fi
log "done"
