// Probes of a workload's confinement, shared by the isolation levels' tests:
// one shell script that prints one line per probe, and the comparison of a
// level's answers with a container's (docker's defaults are the reference).
import assert from "node:assert/strict";

/** Each probe prints name=allowed or name=denied; the facts print name=value. */
export const PROBES = String.raw`
p() { n=$1; shift; if "$@" >/dev/null 2>&1; then echo "$n=allowed"; else echo "$n=denied"; fi; }
p mount sh -c 'mount -t tmpfs probe /tmp && umount /tmp'
p hostname hostname probe-name
p settime sh -c '! date -s "$(date "+%Y-%m-%d %H:%M:%S")" 2>&1 | grep -q "not permitted"'  # busybox date exits 0 when it cannot set the time
p netadmin ip link set lo mtu 1400
p modprobe-path sh -c 'echo /tmp/evil > /proc/sys/kernel/modprobe'
p procsys sh -c 'echo 1 > /proc/sys/kernel/printk_ratelimit'
p sysrq sh -c 'echo h > /proc/sysrq-trigger'
p sysfs sh -c 'echo /tmp/evil > /sys/kernel/uevent_helper'
p kcore sh -c '[ "$(head -c 16 /proc/kcore | wc -c)" -gt 0 ]'
p userns unshare -U true
p devmem sh -c 'mknod /tmp/.mem c 1 1 && head -c 1 /tmp/.mem'
p rw-root sh -c 'touch /.probe-rw && rm /.probe-rw'
echo "capeff=$(grep ^CapEff: /proc/self/status | cut -f2)"
echo "capbnd=$(grep ^CapBnd: /proc/self/status | cut -f2)"
echo "capprm=$(grep ^CapPrm: /proc/self/status | cut -f2)"
echo "nnp=$(grep ^NoNewPrivs: /proc/self/status | cut -f2)"
echo "seccomp=$(grep ^Seccomp: /proc/self/status | cut -f2)"
echo "ids=$(id -u) $(id -G)"
`;
export function lines(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split("\n")) {
    const eq = l.indexOf("=");
    if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return m;
}

/** The probes every level must answer alike, compared with the container's answers. */
export const COMPARED = ["mount", "hostname", "settime", "netadmin", "modprobe-path", "procsys", "sysrq", "sysfs", "kcore", "userns", "devmem", "rw-root", "capeff", "capbnd", "capprm", "nnp", "seccomp", "ids"];

export function sameAsContainer(vm: Map<string, string>, ctr: Map<string, string>, what: string, keys: readonly string[] = COMPARED): void {
  for (const k of keys) assert.equal(vm.get(k), ctr.get(k), `${what}: ${k} at this level (${vm.get(k)}) as in a container (${ctr.get(k)})`);
}

