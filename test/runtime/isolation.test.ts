// Real containers (runc, this kernel): what buildSpec's defaults and options
// actually enforce, observed from inside the container.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { capabilityMask, DEFAULT_CAPABILITIES, hostCapabilities } from "../../src/runtime/caps.ts";
import { cgroupManager } from "../../src/cgroups/index.ts";
import { resolveUser } from "../../src/runtime/user.ts";
import { statusField, withSandbox } from "./harness.ts";

const MiB = 1024 * 1024;

void test("default container: docker's capability set, seccomp filter on, nothing more", async () => {
  await withSandbox("caps", (sb) => {
    const r = sb.run("cat /proc/self/status");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statusField(r.stdout, "CapEff"), capabilityMask(DEFAULT_CAPABILITIES));
    assert.equal(statusField(r.stdout, "CapBnd"), capabilityMask(DEFAULT_CAPABILITIES));
    assert.equal(statusField(r.stdout, "CapInh"), "0000000000000000");
    assert.equal(statusField(r.stdout, "CapAmb"), "0000000000000000");
    assert.equal(statusField(r.stdout, "Seccomp"), "2");
    assert.equal(statusField(r.stdout, "NoNewPrivs"), "0");
  });
});

void test("--cap-drop ALL leaves no capabilities; --cap-add puts one back", async () => {
  await withSandbox("capdrop", (sb) => {
    const none = sb.run("cat /proc/self/status", { hostConfig: { CapDrop: ["ALL"] } });
    assert.equal(none.status, 0, none.stderr);
    assert.equal(statusField(none.stdout, "CapEff"), "0000000000000000");
    assert.equal(statusField(none.stdout, "CapBnd"), "0000000000000000");
    const one = sb.run("cat /proc/self/status", { hostConfig: { CapDrop: ["all"], CapAdd: ["net_raw"] } });
    assert.equal(statusField(one.stdout, "CapEff"), capabilityMask(["CAP_NET_RAW"]));
  });
});

void test("mounting is denied without CAP_SYS_ADMIN", async () => {
  await withSandbox("mount", (sb) => {
    const r = sb.run("mount -t tmpfs x /tmp && echo MOUNTED");
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /MOUNTED/);
    assert.match(r.stderr, /permission denied|not permitted/i);
  });
});

void test("raw sockets are denied by default (as in Podman); --cap-add NET_RAW allows them", async () => {
  await withSandbox("ping", (sb) => {
    // A namespace the "engine" made, loopback up: the network: path mode.
    const network = { mode: "path" as const, path: sb.netns() };
    // busybox ping and traceroute open SOCK_RAW sockets (no ICMP-socket fallback).
    const denied = sb.run("ping -c1 -W2 127.0.0.1", { network });
    assert.notEqual(denied.status, 0, denied.stdout);
    assert.match(denied.stderr, /permission denied/i);
    const ok = sb.run("ping -c1 -W2 127.0.0.1", { network, hostConfig: { CapAdd: ["NET_RAW"] } });
    assert.equal(ok.status, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /1 packets received/);
    // Unprivileged ICMP sockets stay open to every group, for ping programs that use them.
    const range = sb.run("cat /proc/sys/net/ipv4/ping_group_range", { network });
    assert.match(range.stdout, /^0\s+2147483647/);
  });
});

void test("network none: a private namespace with only loopback", async () => {
  await withSandbox("netnone", (sb) => {
    const r = sb.run("cat /proc/net/dev");
    assert.equal(r.status, 0, r.stderr);
    const ifaces = r.stdout.split("\n").slice(2).map((l) => l.split(":")[0]?.trim()).filter(Boolean);
    assert.deepEqual(ifaces, ["lo"]);
  });
});

void test("masked paths read empty and /proc/sys is read-only", async () => {
  await withSandbox("masked", (sb) => {
    const files = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"].filter((p) => fs.existsSync(p));
    const dirs = ["/proc/acpi", "/proc/scsi", "/sys/firmware"].filter((p) => fs.existsSync(p) && fs.readdirSync(p).length > 0);
    assert.ok(files.length > 0 && dirs.length > 0, "the host has something to mask");
    const script = [...files.map((f) => `echo "${f} $(wc -c < ${f})"`), ...dirs.map((d) => `echo "${d} $(ls ${d} | wc -l)"`), "echo 1 > /proc/sys/kernel/shmmni && echo WROTE"].join("; ");
    const r = sb.run(script);
    for (const p of [...files, ...dirs]) assert.match(r.stdout, new RegExp(`^${p} 0$`, "m"), `${p} masked:\n${r.stdout}`);
    assert.doesNotMatch(r.stdout, /WROTE/);
    assert.match(r.stderr, /read-only file system/i);
  });
});

void test("host processes are invisible: ps shows only the container's", async () => {
  await withSandbox("pidns", (sb) => {
    const hostPids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).length;
    assert.ok(hostPids > 5, "the host has processes to hide");
    const r = sb.run("ps -o pid,comm; true");
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/));
    assert.equal(rows.length, 2, r.stdout);
    assert.deepEqual(rows[0], ["1", "sh"]);
    assert.equal(rows[1]?.[1], "ps");
  });
});

void test("--memory sets the cgroup limit (swap 2×) and a memory hog is OOM-killed with 137", async () => {
  await withSandbox("oom", async (sb) => {
    const hc = { Memory: 32 * MiB };
    const limits = sb.run("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max", { hostConfig: hc });
    assert.equal(limits.status, 0, limits.stderr);
    const [mem, memsw] = limits.stdout.trim().split("\n").map(Number);
    assert.equal(mem, 32 * MiB);
    if (memsw !== undefined) assert.equal(memsw, 64 * MiB);

    const hog = sb.run("exec dd if=/dev/zero of=/dev/null bs=200M count=1", { hostConfig: hc });
    assert.equal(hog.status, 137, `exit ${hog.status}: ${hog.stderr}`);
    // `runc run` removes the cgroup at exit; a detached container keeps it until delete, as under the monitor.
    const detached = await sb.runDetached("exec dd if=/dev/zero of=/dev/null bs=200M count=1", { hostConfig: hc });
    assert.equal(cgroupManager().oomKillCount(detached.cgroupsPath), 1, "the kernel counted the OOM kill");
    const fine = sb.run("exec dd if=/dev/zero of=/dev/null bs=8M count=1");
    assert.equal(fine.status, 0, "the same hog survives without --memory");
  });
});

void test("--pids-limit 20 stops a fork loop", async () => {
  await withSandbox("pids", (sb) => {
    // The loop runs in a child shell (a shell gives up at the first failed fork); after it,
    // only builtins: with the limit reached, nothing else could fork.
    const dir = "$(test -d /sys/fs/cgroup/pids && echo /sys/fs/cgroup/pids || echo /sys/fs/cgroup)";
    const loop = "for i in $(seq 40); do sleep 30 & done";
    const r = sb.run(`d=${dir}; sh -c '${loop}'; read cur < $d/pids.current; read max < $d/pids.max; echo $cur; echo $max; kill -9 -1; exit 0`, {
      hostConfig: { PidsLimit: 20 },
    });
    const [current, max] = r.stdout.trim().split("\n");
    assert.equal(max, "20");
    assert.ok(Number(current) <= 20, r.stdout);
    assert.match(r.stderr, /can't fork|resource temporarily unavailable/i);
  });
});

void test("--read-only makes / unwritable; --tmpfs gives a writable directory", async () => {
  await withSandbox("ro", (sb) => {
    const r = sb.run("touch /etc/x && echo ROOT_WRITABLE; touch /tmp/x && echo TMP_WRITABLE", { hostConfig: { ReadonlyRootfs: true } });
    assert.doesNotMatch(r.stdout, /WRITABLE/);
    assert.match(r.stderr, /read-only file system/i);
    const t = sb.run("touch /etc/x && echo ROOT_WRITABLE; touch /tmp/x && echo TMP_WRITABLE; grep ' /tmp ' /proc/mounts", {
      hostConfig: { ReadonlyRootfs: true, Tmpfs: { "/tmp": "size=1m" } },
    });
    assert.doesNotMatch(t.stdout, /ROOT_WRITABLE/);
    assert.match(t.stdout, /TMP_WRITABLE/);
    assert.match(t.stdout, /tmpfs \/tmp tmpfs rw,nosuid,nodev,noexec.*size=1024k/);
  });
});

void test("--user app runs as 1000 with its groups and --group-add; a non-root user has no effective capabilities", async () => {
  await withSandbox("user", (sb) => {
    const user = resolveUser(sb.rootfs, "app", ["nogroup", "4242"]);
    const r = sb.run("cat /proc/self/status; echo HOME=$HOME; touch /etc/passwd && echo WROTE", { user, hostConfig: { GroupAdd: ["nogroup", "4242"] } });
    assert.equal(statusField(r.stdout, "Uid"), "1000\t1000\t1000\t1000");
    assert.equal(statusField(r.stdout, "Gid"), "1000\t1000\t1000\t1000");
    assert.deepEqual(statusField(r.stdout, "Groups")?.split(/\s+/).map(Number).sort((a, b) => a - b), [50, 4242, 65534]);
    assert.equal(statusField(r.stdout, "CapEff"), "0000000000000000");
    assert.equal(statusField(r.stdout, "CapBnd"), capabilityMask(DEFAULT_CAPABILITIES));
    assert.match(r.stdout, /^HOME=\/home\/app$/m);
    assert.doesNotMatch(r.stdout, /WROTE/);
  });
});

void test("--ulimit nofile=100:100 shows in /proc/self/limits; other limits are inherited", async () => {
  await withSandbox("ulimit", (sb) => {
    const r = sb.run("cat /proc/self/limits", { hostConfig: { Ulimits: [{ Name: "nofile", Soft: 100, Hard: 100 }] } });
    assert.match(r.stdout, /^Max open files\s+100\s+100\s+files/m);
    const mine = fs.readFileSync("/proc/self/limits", "utf8");
    const nproc = (t: string): string | undefined => /^Max processes\s+(\S+\s+\S+)/m.exec(t)?.[1];
    assert.equal(nproc(r.stdout), nproc(mine));
  });
});

void test("the default seccomp profile denies a syscall outside the allowlist; unconfined allows it", async () => {
  await withSandbox("seccomp", (sb) => {
    // unshare(CLONE_NEWUSER) needs no capability, so only seccomp stands in the way.
    const denied = sb.run("unshare -U true && echo UNSHARED");
    assert.doesNotMatch(denied.stdout, /UNSHARED/);
    assert.match(denied.stderr, /Operation not permitted/);
    const allowed = sb.run("unshare -U true && echo UNSHARED", { hostConfig: { SecurityOpt: ["seccomp=unconfined"] } });
    assert.match(allowed.stdout, /UNSHARED/, allowed.stderr);
  });
});

void test("--security-opt seccomp=<profile> applies the user's profile; no-new-privileges sets the flag", async () => {
  await withSandbox("seccompfile", (sb) => {
    const profile = path.join(sb.dir, "profile.json");
    fs.writeFileSync(profile, JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }));
    const r = sb.run("mkdir /tmp/d && echo MADE; grep NoNewPrivs /proc/self/status", { hostConfig: { SecurityOpt: [`seccomp=${profile}`, "no-new-privileges"] } });
    assert.doesNotMatch(r.stdout, /MADE/);
    assert.match(r.stderr, /Permission denied/);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
  });
});

void test("devices: mknod is allowed but opening an unlisted device is not; --device grants it", async () => {
  await withSandbox("devices", (sb) => {
    // A character device neither docker's rules nor runc 1.1's own defaults (which add /dev/net/tun) allow.
    const hostDev = ["/dev/loop-control", "/dev/kvm", "/dev/fuse"].find((p) => fs.existsSync(p));
    assert.ok(hostDev, "the host has a device to try");
    const st = fs.statSync(hostDev);
    const major = Math.floor(st.rdev / 256);
    const minor = st.rdev % 256;
    const denied = sb.run(`mknod /tmp/dev c ${major} ${minor} && echo MADE; cat /tmp/dev`);
    assert.match(denied.stdout, /MADE/);
    assert.match(denied.stderr, /Operation not permitted/);
    const granted = sb.run("ls -l /dev/mydev; cat /dev/mydev; echo done", { hostConfig: { Devices: [{ PathOnHost: hostDev, PathInContainer: "/dev/mydev", CgroupPermissions: "rwm" }] } });
    assert.match(granted.stdout, new RegExp(`^c.*${major},\\s*${minor} .*/dev/mydev$`, "m"));
    assert.doesNotMatch(granted.stderr, /not permitted/, "opened: the devices cgroup allows it");
  });
});

void test("--sysctl sets namespaced parameters inside the container only", async () => {
  await withSandbox("sysctl", (sb) => {
    const r = sb.run("cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start", {
      hostConfig: { Sysctls: { "kernel.shmmni": "1234", "net.ipv4.ip_unprivileged_port_start": "80" } },
    });
    assert.equal(r.stdout.trim(), "1234\n80", r.stderr);
    assert.notEqual(fs.readFileSync("/proc/sys/kernel/shmmni", "utf8").trim(), "1234");
  });
});

void test("--init runs tini as pid 1 with the command as its child", async () => {
  await withSandbox("init", (sb) => {
    const r = sb.run("ps -o pid,comm; true", { hostConfig: { Init: true } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\s*1\s+docker-init$/m);
    assert.match(r.stdout, /^\s*\d+\s+sh$/m);
  });
});

void test("--privileged lifts the restrictions: all capabilities, no seccomp, mounts allowed, nothing masked", async () => {
  await withSandbox("priv", (sb) => {
    const r = sb.run("cat /proc/self/status; mount -t tmpfs x /tmp && echo MOUNTED; unshare -U true && echo UNSHARED; wc -c < /proc/timer_list; ls /dev | wc -l", {
      hostConfig: { Privileged: true },
    });
    assert.equal(statusField(r.stdout, "CapEff"), capabilityMask(hostCapabilities()));
    assert.equal(statusField(r.stdout, "Seccomp"), "0");
    assert.match(r.stdout, /MOUNTED/);
    assert.match(r.stdout, /UNSHARED/);
    const lines = r.stdout.trim().split("\n");
    assert.ok(Number(lines.at(-2)) > 0, "timer_list readable");
    assert.ok(Number(lines.at(-1)) > 20, "host devices present");
  });
});

void test("binds and volumes: -v host:ctr:ro is read-only, named volumes come from volumePath", async () => {
  await withSandbox("binds", (sb) => {
    const host = path.join(sb.dir, "data");
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, "f"), "hello");
    const r = sb.run("cat /data/f; touch /data/g && echo WROTE_RO; echo v > /vol/x && echo WROTE_VOL", {
      hostConfig: { Binds: [`${host}:/data:ro`, "myvol:/vol"] },
    });
    assert.match(r.stdout, /^hello/);
    assert.doesNotMatch(r.stdout, /WROTE_RO/);
    assert.match(r.stdout, /WROTE_VOL/);
    assert.equal(fs.readFileSync(path.join(sb.dir, "volumes", "myvol", "x"), "utf8"), "v\n");
  });
});
