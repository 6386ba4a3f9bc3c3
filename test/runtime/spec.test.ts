// buildSpec's translation and validation, checked on the generated config
// (no container runs here; isolation.test.ts runs them).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { HostConfig } from "../../src/types/records.ts";
import { CapsaError } from "../../src/util/errors.ts";
import { parseDevice, parseUlimit } from "../../src/util/ulimit-device-specs.ts";
import { containerCapabilities, DEFAULT_CAPABILITIES, normalizeCapabilities } from "../../src/runtime/caps.ts";
import { specToJson, RLIM_INFINITY } from "../../src/runtime/oci.ts";
import { buildRlimits, currentHardLimits } from "../../src/runtime/rlimits.ts";
import { compileSeccomp, parseSeccompProfile } from "../../src/runtime/seccomp.ts";
import { defaultSeccompProfile } from "../../src/runtime/seccomp-default.ts";
import { buildSpec, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS, type SpecInput } from "../../src/runtime/spec.ts";

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-spec-"));
  try {
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function input(dir: string, hostConfig: HostConfig = {}, extra: Partial<SpecInput> = {}): SpecInput {
  return {
    id: "0123456789abcdef0123",
    rootfs: path.join(dir, "rootfs"),
    config: {},
    hostConfig,
    args: ["/bin/true"],
    env: [],
    cwd: "/",
    user: { uid: 0, gid: 0, additionalGids: [], home: "/root" },
    network: { mode: "none" },
    cgroupsPath: "/capsa-test/x",
    cgroupVersion: 1,
    volumePath: (name) => path.join(dir, "volumes", name || "anon"),
    ...extra,
  };
}

const invalidError = (re: RegExp) => (e: unknown): boolean => e instanceof CapsaError && e.kind === "invalid" && e.exitCode === 125 && re.test(e.message);

void test("defaults: docker's namespaces, mounts, masked paths, env and a seccomp allowlist", () => {
  withTmp((dir) => {
    const s = buildSpec(input(dir, {}, { config: { Tty: true } }));
    assert.deepEqual(s.linux.namespaces.map((n) => n.type), ["pid", "ipc", "uts", "mount", "network"]);
    assert.equal(s.hostname, "0123456789ab");
    assert.deepEqual(s.process.env, [`PATH=${DEFAULT_PATH}`, "HOSTNAME=0123456789ab", "TERM=xterm", "HOME=/root"]);
    assert.deepEqual(s.mounts.map((m) => m.destination), ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]);
    assert.ok(s.mounts.find((m) => m.destination === "/dev/shm")?.options?.includes("size=67108864"));
    assert.ok(s.mounts.find((m) => m.destination === "/sys")?.options?.includes("ro"));
    assert.deepEqual(s.linux.maskedPaths, MASKED_PATHS);
    assert.deepEqual(s.linux.readonlyPaths, READONLY_PATHS);
    assert.equal(s.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
    assert.equal(s.linux.seccomp?.defaultErrnoRet, 1);
    assert.equal(s.process.rlimits, undefined, "no rlimits: the process inherits them");
    assert.equal(s.process.capabilities.inheritable, undefined);
    assert.equal(s.root.readonly, false);
    assert.deepEqual(s.linux.resources?.devices?.[0], { allow: false, access: "rwm" });
  });
});

void test("cgroup v2 adds a private cgroup namespace; host network joins the host's", () => {
  withTmp((dir) => {
    assert.ok(buildSpec(input(dir, {}, { cgroupVersion: 2 })).linux.namespaces.some((n) => n.type === "cgroup"));
    const host = buildSpec(input(dir, {}, { network: { mode: "host" } }));
    assert.ok(!host.linux.namespaces.some((n) => n.type === "network"));
    assert.equal(host.hostname, os.hostname());
    const joined = buildSpec(input(dir, {}, { network: { mode: "path", path: "/var/run/netns/x" } }));
    assert.deepEqual(joined.linux.namespaces.find((n) => n.type === "network"), { type: "network", path: "/var/run/netns/x" });
  });
});

void test("capabilities: names in any case with or without CAP_, ALL, and unknown names rejected", () => {
  assert.deepEqual(normalizeCapabilities(["net_admin", "CAP_SYS_TIME", "Sys_Nice", "all"]), ["CAP_NET_ADMIN", "CAP_SYS_TIME", "CAP_SYS_NICE", "ALL"]);
  assert.throws(() => normalizeCapabilities(["CAP_FOO"]), invalidError(/unknown capability: "CAP_FOO"/));
  assert.deepEqual(containerCapabilities({}), DEFAULT_CAPABILITIES);
  assert.deepEqual(containerCapabilities({ capDrop: ["ALL"], capAdd: ["chown"] }), ["CAP_CHOWN"]);
  const dropped = containerCapabilities({ capDrop: ["net_raw"], capAdd: ["NET_ADMIN"] });
  assert.ok(!dropped.includes("CAP_NET_RAW") && dropped.includes("CAP_NET_ADMIN"));
  const all = containerCapabilities({ capAdd: ["ALL"], capDrop: ["MKNOD"] });
  assert.ok(all.includes("CAP_SYS_ADMIN") && !all.includes("CAP_MKNOD"));
});

void test("seccomp: capability-guarded syscalls follow the capability set; clone is allowed only without namespace flags", () => {
  const names = (caps: string[]): Set<string> => new Set(compileSeccomp(defaultSeccompProfile(), { caps, arch: "amd64", kernel: "6.1.0" }).syscalls?.flatMap((s) => (s.args ? [] : s.names)));
  const base = names(DEFAULT_CAPABILITIES);
  for (const sc of ["read", "execve", "chroot", "arch_prctl", "ptrace"]) assert.ok(base.has(sc), sc);
  for (const sc of ["mount", "unshare", "setns", "keyctl", "add_key", "bpf", "reboot", "clone", "kexec_load", "io_uring_setup"]) assert.ok(!base.has(sc), sc);
  const admin = names([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]);
  assert.ok(admin.has("mount") && admin.has("unshare") && admin.has("clone"));
  assert.ok(!names([]).has("chroot"), "chroot needs CAP_SYS_CHROOT");
  assert.ok(!names(DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_SYS_CHROOT")).has("chroot"));
  const compiled = compileSeccomp(defaultSeccompProfile(), { caps: DEFAULT_CAPABILITIES, arch: "amd64", kernel: "6.1.0" });
  assert.deepEqual(compiled.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  const clone = compiled.syscalls?.find((s) => s.names.includes("clone"));
  assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }]);
  assert.equal(compiled.syscalls?.find((s) => s.names.includes("clone3"))?.errnoRet, 38);
  assert.deepEqual(compiled.syscalls?.find((s) => s.names.includes("socket"))?.args, [{ index: 0, value: 40, op: "SCMP_CMP_NE" }]);
  const oldKernel = new Set(compileSeccomp(defaultSeccompProfile(), { caps: DEFAULT_CAPABILITIES, arch: "amd64", kernel: "4.4.0" }).syscalls?.flatMap((s) => s.names));
  assert.ok(!oldKernel.has("ptrace"), "ptrace only from 4.8");
});

void test("security options: unconfined, profile text, no-new-privileges, label; bad ones rejected", () => {
  withTmp((dir) => {
    assert.equal(buildSpec(input(dir, { SecurityOpt: ["seccomp=unconfined"] })).linux.seccomp, undefined);
    const prof = JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] });
    const s = buildSpec(input(dir, { SecurityOpt: [`seccomp=${prof}`, "no-new-privileges:true", "label=disable", "label:disable"] }));
    assert.equal(s.linux.seccomp?.defaultAction, "SCMP_ACT_ALLOW");
    assert.equal(s.process.noNewPrivileges, true);
    assert.throws(() => buildSpec(input(dir, { SecurityOpt: ["seccomp=/nonexistent.json"] })), invalidError(/opening seccomp profile/));
    assert.throws(() => buildSpec(input(dir, { SecurityOpt: ['seccomp={"defaultAction":"NOPE"}'] })), invalidError(/not a seccomp action/));
    assert.throws(() => buildSpec(input(dir, { SecurityOpt: ["apparmor=myprofile"] })), invalidError(/AppArmor/));
    assert.throws(() => buildSpec(input(dir, { SecurityOpt: ["bogus"] })), invalidError(/invalid --security-opt/));
    const un = buildSpec(input(dir, { SecurityOpt: ["systempaths=unconfined"] }));
    assert.equal(un.linux.maskedPaths, undefined);
  });
  assert.throws(() => parseSeccompProfile("[]", "x.json"), invalidError(/seccomp profile x.json/));
});

void test("privileged: every capability, no seccomp, no masked paths, rw /sys, host devices, all devices allowed", () => {
  withTmp((dir) => {
    const s = buildSpec(input(dir, { Privileged: true }));
    assert.ok(s.process.capabilities.bounding.includes("CAP_SYS_ADMIN"));
    assert.equal(s.linux.seccomp, undefined);
    assert.equal(s.linux.maskedPaths, undefined);
    assert.equal(s.linux.readonlyPaths, undefined);
    assert.ok(!s.mounts.find((m) => m.destination === "/sys")?.options?.includes("ro"));
    assert.ok(s.linux.devices?.some((d) => d.path === "/dev/null"));
    assert.deepEqual(s.linux.resources?.devices, [{ allow: true, access: "rwm" }]);
  });
});

void test("resources: memory and 2× swap, nano CPUs to quota/period, shares, cpuset, pids, OOM killer (v1 only)", () => {
  withTmp((dir) => {
    const r = buildSpec(input(dir, { Memory: 64 << 20, NanoCpus: 1.5e9, CpuShares: 512, CpusetCpus: "0", CpusetMems: "0", PidsLimit: 20, OomKillDisable: true })).linux.resources;
    assert.equal(r?.memory?.limit, 64 << 20);
    if (r?.memory?.swap !== undefined) assert.equal(r.memory.swap, 128 << 20);
    assert.equal(r?.memory?.disableOOMKiller, true);
    assert.deepEqual(r?.cpu, { period: 100000, quota: 150000, shares: 512, cpus: "0", mems: "0" });
    assert.deepEqual(r?.pids, { limit: 20 });
    const v2 = buildSpec(input(dir, { Memory: 64 << 20, MemorySwap: -1, OomKillDisable: true }, { cgroupVersion: 2 })).linux.resources?.memory;
    assert.deepEqual(v2, { limit: 64 << 20, swap: -1 });
    assert.equal(buildSpec(input(dir, { PidsLimit: -1 })).linux.resources?.pids, undefined);
    assert.throws(() => buildSpec(input(dir, { Memory: 1 << 20 })), invalidError(/Minimum memory limit allowed is 6MB/));
    assert.throws(() => buildSpec(input(dir, { MemorySwap: 64 << 20 })), invalidError(/always set the Memory limit/));
    assert.throws(() => buildSpec(input(dir, { Memory: 64 << 20, MemorySwap: 32 << 20 })), invalidError(/memoryswap limit should be larger/));
    assert.throws(() => buildSpec(input(dir, { NanoCpus: 1e9, CpuQuota: 50000 })), invalidError(/Conflicting options/));
    assert.throws(() => buildSpec(input(dir, { NanoCpus: 1e12 })), invalidError(/Range of CPUs/));
  });
});

void test("ulimits: only those asked, never above the current hard limit", () => {
  const hard = currentHardLimits();
  assert.ok(hard.nofile !== undefined && hard.nofile > 0);
  assert.deepEqual(buildRlimits([{ Name: "nofile", Soft: 100, Hard: 100 }]), [{ type: "RLIMIT_NOFILE", soft: 100, hard: 100 }]);
  assert.throws(() => buildRlimits([{ Name: "nofile", Soft: 10, Hard: (hard.nofile ?? 0) + 1 }]), invalidError(/above the current hard limit/));
  assert.throws(() => buildRlimits([{ Name: "nofile", Soft: 10, Hard: 5 }]), invalidError(/soft limit 10 is above the hard limit 5/));
  assert.throws(() => buildRlimits([{ Name: "bogus", Soft: 1, Hard: 1 }]), invalidError(/invalid ulimit type/));
  assert.throws(() => buildRlimits([{ Name: "core", Soft: -1, Hard: -1 }], { core: 1000 }), invalidError(/hard limit unlimited is above the current hard limit 1000/));
  assert.deepEqual(buildRlimits([{ Name: "core", Soft: -1, Hard: -1 }], { core: RLIM_INFINITY }), [{ type: "RLIMIT_CORE", soft: RLIM_INFINITY, hard: RLIM_INFINITY }]);
  assert.deepEqual(parseUlimit("nofile=100:200"), { Name: "nofile", Soft: 100, Hard: 200 });
  assert.deepEqual(parseUlimit("nproc=50"), { Name: "nproc", Soft: 50, Hard: 50 });
  withTmp((dir) => {
    const s = buildSpec(input(dir));
    s.process.rlimits = [{ type: "RLIMIT_CORE", soft: RLIM_INFINITY, hard: 0 }];
    assert.match(specToJson(s), /"soft": 18446744073709551615,/);
  });
});

void test("sysctls: namespaced ones only; net.* needs a private network namespace", () => {
  withTmp((dir) => {
    const s = buildSpec(input(dir, { Sysctls: { "kernel.shmmax": "1", "fs.mqueue.msg_max": "2", "net.ipv4.ip_forward": "1" } }));
    assert.deepEqual(s.linux.sysctl, { "net.ipv4.ping_group_range": "0 2147483647", "kernel.shmmax": "1", "fs.mqueue.msg_max": "2", "net.ipv4.ip_forward": "1" });
    assert.throws(() => buildSpec(input(dir, { Sysctls: { "vm.swappiness": "1" } })), invalidError(/not namespaced/));
    assert.throws(() => buildSpec(input(dir, { Sysctls: { "kernel.hostname": "x" } })), invalidError(/not namespaced/));
    assert.throws(() => buildSpec(input(dir, { Sysctls: { "net.ipv4.ip_forward": "1" } }, { network: { mode: "host" } })), invalidError(/host network mode/));
  });
});

void test("mounts: binds, volumes, tmpfs and --mount translate to OCI mounts and replace defaults at the same place", () => {
  withTmp((dir) => {
    const host = path.join(dir, "host");
    const s = buildSpec(
      input(dir, {
        Binds: [`${host}:/data:ro,rslave`, "vol1:/v", "/anon"],
        Mounts: [{ Type: "tmpfs", Target: "/dev/shm", TmpfsOptions: { SizeBytes: 1024, Mode: 0o1777 } }, { Type: "bind", Source: dir, Target: "/a/b/c" }],
        Tmpfs: { "/run": "exec,size=1m" },
        ShmSize: 1 << 20,
      }, { extraMounts: [{ destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["rbind"] }] }),
    );
    assert.ok(fs.statSync(host).isDirectory(), "-v creates a missing host directory");
    const by = (d: string) => s.mounts.filter((m) => m.destination === d);
    assert.deepEqual(by("/data"), [{ destination: "/data", type: "bind", source: host, options: ["rbind", "rslave", "ro"] }]);
    assert.equal(by("/v")[0]?.source, path.join(dir, "volumes", "vol1"));
    assert.equal(by("/anon")[0]?.source, path.join(dir, "volumes", "anon"));
    assert.deepEqual(by("/dev/shm"), [{ destination: "/dev/shm", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "size=1024", "mode=1777"] }]);
    assert.deepEqual(by("/run")[0]?.options, ["nosuid", "nodev", "exec", "size=1m"]);
    assert.equal(by("/etc/hosts").length, 1);
    assert.equal(s.linux.rootfsPropagation, "rslave");
    const dests = s.mounts.map((m) => m.destination);
    assert.ok(dests.indexOf("/a/b/c") > dests.indexOf("/data"), "deeper mounts after shallower ones");
    assert.throws(() => buildSpec(input(dir, { Binds: ["/x:/y:rw,ro"] })), invalidError(/invalid mode/));
    assert.throws(() => buildSpec(input(dir, { Binds: ["bad name!:/y"] })), invalidError(/invalid characters for a local volume name/));
    assert.throws(() => buildSpec(input(dir, { Binds: ["/x:relative"] })), invalidError(/must be absolute/));
    assert.throws(() => buildSpec(input(dir, { Binds: ["/x:/"] })), invalidError(/can't be '\/'/));
    assert.throws(() => buildSpec(input(dir, { Mounts: [{ Type: "bind", Source: "/nonexistent-capsa", Target: "/x" }] })), invalidError(/bind source path does not exist/));
    assert.throws(() => buildSpec(input(dir, { Tmpfs: { "/t": "bogus=1" } })), invalidError(/invalid tmpfs option/));
    assert.throws(() => buildSpec(input(dir, { Binds: ["/a:/x", "/b:/x"] })), invalidError(/Duplicate mount point/));
  });
});

void test("--init mounts the init binary read-only and runs the command under it; --read-only, user, annotations", () => {
  withTmp((dir) => {
    const init = path.join(dir, "tini");
    fs.writeFileSync(init, "");
    const s = buildSpec(
      input(dir, { Init: true, ReadonlyRootfs: true, Annotations: { a: "b" } }, { initBinary: init, args: ["sh"], user: { uid: 1000, gid: 1000, additionalGids: [50], home: "/home/app" } }),
    );
    assert.deepEqual(s.process.args, ["/sbin/docker-init", "--", "sh"]);
    assert.deepEqual(s.mounts.at(-1), { destination: "/sbin/docker-init", type: "bind", source: init, options: ["bind", "ro", "nosuid", "nodev"] });
    assert.equal(s.root.readonly, true);
    assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [50] });
    assert.deepEqual(s.annotations, { a: "b" });
    assert.ok(s.process.env.includes("HOME=/home/app"));
  });
});

void test("--device: parsing and translation to a node and a cgroup rule", () => {
  assert.deepEqual(parseDevice("/dev/null"), { PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm" });
  assert.deepEqual(parseDevice("/dev/null:r"), { PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "r" });
  assert.deepEqual(parseDevice("/dev/null:/dev/n:rw"), { PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "rw" });
  assert.throws(() => parseDevice("/dev/null:/dev/n:x"), invalidError(/invalid device mode/));
  withTmp((dir) => {
    const s = buildSpec(input(dir, { Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "r" }] }));
    assert.deepEqual(s.linux.devices, [{ type: "c", path: "/dev/n", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }]);
    assert.deepEqual(s.linux.resources?.devices?.at(-1), { allow: true, type: "c", major: 1, minor: 3, access: "r" });
    assert.throws(() => buildSpec(input(dir, { Devices: [{ PathOnHost: "/dev/nope", PathInContainer: "/dev/n", CgroupPermissions: "rwm" }] })), invalidError(/error gathering device information/));
  });
});
