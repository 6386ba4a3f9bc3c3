// run/create flag parsing: docker's flags, shapes, wording and exit codes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HelpRequested, UsageError } from "../../src/cli/command.ts";
import { parseMountSpec, parsePublish, parseRunArgs, parseVolumeSpec, validReference, type ParseContext } from "../../src/cli/container-flags.ts";

const files: Record<string, string> = {
  "/f/env": "# comment\n\nA=1\n  B=two words\nFROM_HOST\nUNSET_ONE\n",
  "/f/labels": "# x\nteam=core\nflag\n",
};
const ctx: ParseContext = {
  env: { FROM_HOST: "hostval", HOME: "/root" },
  cwd: "/work/dir",
  readFile(f) {
    const t = files[f];
    if (t === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    return t;
  },
};
const run = (...args: string[]) => parseRunArgs(args, "run", ctx);
const create = (...args: string[]) => parseRunArgs(args, "create", ctx);
function usageError(args: string[], message: string | RegExp, exitCode = 125): void {
  assert.throws(
    () => parseRunArgs(args, "run", ctx),
    (e: unknown) => {
      assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
      if (typeof message === "string") assert.equal(e.message, message);
      else assert.match(e.message, message);
      assert.equal(e.exitCode, exitCode);
      return true;
    },
  );
}

void describe("run/create flags: image and command", () => {
  void it("stops parsing at the image: later flags belong to the command", () => {
    const r = run("--rm", "busybox", "ls", "-l", "--rm");
    assert.equal(r.create.config.Image, "busybox");
    assert.deepEqual(r.create.config.Cmd, ["ls", "-l", "--rm"]);
    assert.equal(r.create.hostConfig.AutoRemove, true);
  });
  void it("leaves Cmd unset without a command, so the image's default applies", () => {
    assert.equal(run("busybox").create.config.Cmd, undefined);
  });
  void it("accepts -- before the image", () => {
    assert.deepEqual(run("-d", "--", "busybox", "-x").create.config.Cmd, ["-x"]);
  });
  void it("combined short flags -it and -dit, attached values -eA=1 -p80", () => {
    const r = run("-dit", "-eA=1", "-p80", "busybox");
    assert.equal(r.detach, true);
    assert.equal(r.interactive, true);
    assert.equal(r.tty, true);
    assert.deepEqual(r.create.config.Env, ["A=1"]);
    assert.deepEqual(r.create.hostConfig.PortBindings, { "80/tcp": [{ HostIp: "", HostPort: "" }] });
  });
  void it("--flag=value and --flag value are the same", () => {
    assert.equal(run("--name=a1", "img").create.name, "a1");
    assert.equal(run("--name", "a1", "img").create.name, "a1");
  });
  void it("boolean flags take =true/=false as pflag does", () => {
    assert.equal(run("--rm=true", "img").create.hostConfig.AutoRemove, true);
    assert.equal(run("--rm=false", "img").create.hostConfig.AutoRemove, undefined);
    assert.equal(run("--sig-proxy=false", "img").sigProxy, false);
    assert.equal(run("img").sigProxy, true);
    usageError(["--rm=maybe", "img"], 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
  });
  void it("attach settings follow -i, -t and -d as docker's CLI sets them", () => {
    const fg = run("-i", "img").create.config;
    assert.deepEqual([fg.AttachStdin, fg.AttachStdout, fg.AttachStderr, fg.OpenStdin, fg.StdinOnce, fg.Tty], [true, true, true, true, true, false]);
    const bg = run("-dit", "img").create.config;
    assert.deepEqual([bg.AttachStdin, bg.AttachStdout, bg.AttachStderr, bg.OpenStdin, bg.StdinOnce, bg.Tty], [true, false, false, true, false, true]);
  });
  void it("create has no -d", () => {
    assert.throws(() => create("-d", "img"), /unknown shorthand flag: 'd' in -d/);
    assert.equal(create("--name", "x1", "img").create.name, "x1");
    usageError(["--name", "x", "img"], /Invalid container name \(x\)/); // docker needs two characters
  });
});

void describe("run/create flags: errors and exit codes", () => {
  void it("unknown flags exit 125 with docker's wording", () => {
    usageError(["--bogus", "img"], "unknown flag: --bogus");
    usageError(["-ix", "img"], "unknown shorthand flag: 'x' in -x");
  });
  void it("a flag without its value", () => {
    usageError(["-e"], "flag needs an argument: --env");
  });
  void it("no image is docker's argument-count error, exit 1", () => {
    usageError([], '"capsa run" requires at least 1 argument.', 1);
  });
  void it("invalid reference format", () => {
    usageError(["Bad:Ref:x"], "invalid reference format");
    usageError(["UPPER"], "invalid reference format");
    assert.ok(validReference("localhost:5000/a/b:1.0"));
    assert.ok(validReference("busybox@sha256:" + "a".repeat(64)));
    assert.ok(validReference("a".repeat(64)));
  });
  void it("invalid sizes name the flag as pflag does", () => {
    usageError(["-m", "x", "img"], `invalid argument "x" for "-m, --memory" flag: invalid size: 'x'`);
    usageError(["--shm-size", "1q", "img"], `invalid argument "1q" for "--shm-size" flag: invalid size: '1q'`);
  });
  void it("invalid integers", () => {
    usageError(["--pids-limit", "ten", "img"], `invalid argument "ten" for "--pids-limit" flag: strconv.ParseInt: parsing "ten": invalid syntax`);
  });
  void it("--help raises HelpRequested with the flag list", () => {
    assert.throws(
      () => run("--help"),
      (e: unknown) => e instanceof HelpRequested && e.text.includes("--memory") && e.text.includes("capsa run"),
    );
  });
  void it("invalid container names", () => {
    usageError(["--name", "a b", "img"], /Invalid container name \(a b\)/);
  });
});

void describe("run/create flags: process", () => {
  void it("-e K=V, bare K from the environment, unset bare K dropped; --env-file first", () => {
    const r = run("-e", "X=1", "-e", "FROM_HOST", "-e", "NOPE", "--env-file", "/f/env", "img");
    assert.deepEqual(r.create.config.Env, ["A=1", "B=two words", "FROM_HOST=hostval", "X=1", "FROM_HOST=hostval"]);
  });
  void it("--env-file that does not exist", () => {
    usageError(["--env-file", "/nope", "img"], "open /nope: no such file or directory");
  });
  void it("-w must be absolute; -u, -h, --hostname, --domainname", () => {
    const c = run("-w", "/srv", "-u", "1000:50", "-h", "box", "--domainname", "example.test", "img").create.config;
    assert.equal(c.WorkingDir, "/srv");
    assert.equal(c.User, "1000:50");
    assert.equal(c.Hostname, "box");
    assert.equal(c.Domainname, "example.test");
    assert.equal(run("--hostname", "b2", "img").create.config.Hostname, "b2");
    usageError(["-w", "rel", "img"], /needs to be an absolute path/);
  });
  void it('--entrypoint sets one element; --entrypoint "" clears as docker sends [""]', () => {
    assert.deepEqual(run("--entrypoint", "/bin/sh", "img").create.config.Entrypoint, ["/bin/sh"]);
    assert.deepEqual(run("--entrypoint", "", "img").create.config.Entrypoint, [""]);
    assert.deepEqual(run("--entrypoint=", "img").create.config.Entrypoint, [""]);
  });
  void it("labels from -l/--label and --label-file (file first)", () => {
    const r = run("-l", "a=1", "--label", "team=edge", "--label", "bare", "--label-file", "/f/labels", "img");
    assert.deepEqual(r.create.config.Labels, { team: "edge", flag: "", a: "1", bare: "" });
  });
  void it("--stop-signal, --stop-timeout, --init, --annotation", () => {
    const r = run("--stop-signal", "SIGUSR1", "--stop-timeout", "3", "--init", "--annotation", "io.x=y", "img").create;
    assert.equal(r.config.StopSignal, "SIGUSR1");
    assert.equal(r.config.StopTimeout, 3);
    assert.equal(r.hostConfig.Init, true);
    assert.deepEqual(r.hostConfig.Annotations, { "io.x": "y" });
  });
});

void describe("run/create flags: health", () => {
  void it("--health-* become a HealthConfig in nanoseconds", () => {
    const h = run("--health-cmd", "curl -f x", "--health-interval", "30s", "--health-timeout", "1m30s", "--health-start-period", "500ms", "--health-retries", "3", "img")
      .create.config.Healthcheck;
    assert.deepEqual(h, { Test: ["CMD-SHELL", "curl -f x"], Interval: 30e9, Timeout: 90e9, StartPeriod: 5e8, Retries: 3 });
  });
  void it("--no-healthcheck is Test NONE, and conflicts with --health-*", () => {
    assert.deepEqual(run("--no-healthcheck", "img").create.config.Healthcheck, { Test: ["NONE"] });
    usageError(["--no-healthcheck", "--health-cmd", "x", "img"], "--no-healthcheck conflicts with --health-* options");
  });
  void it("bad durations", () => {
    usageError(["--health-interval", "ten", "img"], `invalid argument "ten" for "--health-interval" flag: time: invalid duration "ten"`);
    usageError(["--health-interval", "-1s", "img"], "--health-interval cannot be negative");
  });
});

void describe("run/create flags: storage", () => {
  void it("-v bind, named volume, anonymous volume, relative host path", () => {
    const r = run("-v", "/h:/c:ro", "-v", "data:/var/lib/data", "-v", "/anon", "-v", "./rel:/r", "img").create;
    assert.deepEqual(r.hostConfig.Binds, ["/h:/c:ro", "data:/var/lib/data", "/work/dir/rel:/r"]);
    assert.deepEqual(r.config.Volumes, { "/anon": {} });
  });
  void it("-v errors", () => {
    assert.match(JSON.stringify(parseVolumeSpec("/h:rel", "/")), /mount path must be absolute/);
    assert.match(JSON.stringify(parseVolumeSpec("a:b:c:d", "/")), /invalid volume specification: 'a:b:c:d'/);
    assert.match(JSON.stringify(parseVolumeSpec("/h:/c:bogus", "/")), /invalid mode: bogus/);
    assert.match(JSON.stringify(parseVolumeSpec("bad name:/c", "/")), /includes invalid characters for a local volume name/);
    usageError(["-v", "rel", "img"], /invalid argument "rel" for "-v, --volume" flag/);
  });
  void it("--mount bind/volume/tmpfs with docker's keys", () => {
    const r = run(
      "--mount",
      "type=bind,source=/h,target=/c,readonly",
      "--mount",
      "type=volume,src=v1,dst=/d,volume-label=a=b,volume-nocopy",
      "--mount",
      "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770",
      "--mount",
      "target=/default-volume",
      "img",
    ).create.hostConfig.Mounts;
    assert.deepEqual(r, [
      { Type: "bind", Source: "/h", Target: "/c", ReadOnly: true },
      { Type: "volume", Source: "v1", Target: "/d", VolumeOptions: { NoCopy: true, Labels: { a: "b" } } },
      { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1770 } },
      { Type: "volume", Target: "/default-volume" },
    ]);
  });
  void it("--mount errors", () => {
    assert.equal(parseMountSpec("type=foo,target=/x", "/"), 'invalid mount type: "foo"');
    assert.equal(parseMountSpec("type=bind,source=/x", "/"), "target is required");
    assert.equal(parseMountSpec("type=bind,target=/x", "/"), "source is required when specifying bind mounts");
    assert.equal(parseMountSpec("type=bind,src=/a,target=/x,bogus=1", "/"), "unexpected key 'bogus' in 'bogus=1'");
    assert.equal(parseMountSpec("type=bind,src=/a,target=/x,tmpfs-size=1m", "/"), "cannot mix 'tmpfs-*' options with mount type 'bind'");
    assert.equal(parseMountSpec("type=bind,src=/a,target=/x,ro=maybe", "/"), "invalid value for ro: maybe");
  });
  void it("--tmpfs, --read-only", () => {
    const h = run("--tmpfs", "/run", "--tmpfs", "/tmp:rw,size=64m", "--read-only", "img").create.hostConfig;
    assert.deepEqual(h.Tmpfs, { "/run": "", "/tmp": "rw,size=64m" });
    assert.equal(h.ReadonlyRootfs, true);
  });
});

void describe("run/create flags: resources", () => {
  void it("sizes with b/k/m/g units, --memory-swap -1, --shm-size", () => {
    const h = run("-m", "512m", "--memory-swap", "-1", "--shm-size", "1g", "img").create.hostConfig;
    assert.equal(h.Memory, 512 * 1024 * 1024);
    assert.equal(h.MemorySwap, -1);
    assert.equal(h.ShmSize, 1024 ** 3);
    assert.equal(run("--memory=1.5GiB", "img").create.hostConfig.Memory, 1.5 * 1024 ** 3);
    assert.equal(run("--memory-swap=1g", "-m", "100m", "img").create.hostConfig.MemorySwap, 1024 ** 3);
    usageError(["-m", "1k", "img"], "Minimum memory limit allowed is 6MB");
  });
  void it("--cpus to NanoCpus, -c/--cpu-shares, cpusets, pids", () => {
    const h = run("--cpus", "1.5", "-c", "512", "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "100", "img").create.hostConfig;
    assert.equal(h.NanoCpus, 1_500_000_000);
    assert.equal(h.CpuShares, 512);
    assert.equal(h.CpusetCpus, "0-1");
    assert.equal(h.CpusetMems, "0");
    assert.equal(h.PidsLimit, 100);
    assert.equal(run("--pids-limit=-1", "img").create.hostConfig.PidsLimit, -1);
    usageError(["--cpus", "x", "img"], `invalid argument "x" for "--cpus" flag: failed to parse x as a rational number`);
  });
  void it("--ulimit name=soft[:hard]", () => {
    assert.deepEqual(run("--ulimit", "nofile=1024:2048", "--ulimit", "nproc=64", "img").create.hostConfig.Ulimits, [
      { Name: "nofile", Soft: 1024, Hard: 2048 },
      { Name: "nproc", Soft: 64, Hard: 64 },
    ]);
    usageError(["--ulimit", "bogus=1", "img"], `invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus`);
    usageError(["--ulimit", "nofile", "img"], `invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile`);
  });
});

void describe("run/create flags: security and devices", () => {
  void it("capabilities are normalised to CAP_ names; ALL stays", () => {
    const h = run("--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "all", "img").create.hostConfig;
    assert.deepEqual(h.CapAdd, ["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
    assert.deepEqual(h.CapDrop, ["ALL"]);
  });
  void it("--privileged, --security-opt, --group-add, --sysctl, --runtime", () => {
    const h = run("--privileged", "--security-opt", "no-new-privileges", "--group-add", "50", "--sysctl", "net.ipv4.ip_forward=1", "--runtime", "runc", "img").create.hostConfig;
    assert.equal(h.Privileged, true);
    assert.deepEqual(h.SecurityOpt, ["no-new-privileges"]);
    assert.deepEqual(h.GroupAdd, ["50"]);
    assert.deepEqual(h.Sysctls, { "net.ipv4.ip_forward": "1" });
    assert.equal(h.Runtime, "runc");
  });
  void it("--device host[:ctr][:perms]", () => {
    assert.deepEqual(run("--device", "/dev/fuse", "--device", "/dev/null:/dev/n2:r", "--device", "/dev/zero:rw", "img").create.hostConfig.Devices, [
      { PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm" },
      { PathOnHost: "/dev/null", PathInContainer: "/dev/n2", CgroupPermissions: "r" },
      { PathOnHost: "/dev/zero", PathInContainer: "/dev/zero", CgroupPermissions: "rw" },
    ]);
  });
  void it("--isolation is passed as HostConfig.Isolation", () => {
    assert.equal(run("--isolation", "vm", "img").create.hostConfig.Isolation, "vm");
    usageError(["--isolation", "hyperv", "img"], /invalid isolation: hyperv/);
  });
});

void describe("run/create flags: lifecycle and logging", () => {
  void it("--restart policies", () => {
    assert.deepEqual(run("--restart", "on-failure:5", "img").create.hostConfig.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 5 });
    assert.deepEqual(run("--restart=always", "img").create.hostConfig.RestartPolicy, { Name: "always" });
    assert.deepEqual(run("--restart", "unless-stopped", "img").create.hostConfig.RestartPolicy, { Name: "unless-stopped" });
    assert.equal(run("img").create.hostConfig.RestartPolicy, undefined);
    usageError(["--restart", "sometimes", "img"], /unknown policy 'sometimes'/);
    usageError(["--restart", "always:3", "img"], /maximum retry count can only be used with 'on-failure'/);
  });
  void it("--rm conflicts with a restart policy but not with -d", () => {
    usageError(["--rm", "--restart", "always", "img"], "Conflicting options: --restart and --rm");
    const r = run("--rm", "-d", "img");
    assert.equal(r.create.hostConfig.AutoRemove, true);
    assert.equal(r.detach, true);
  });
  void it("--log-driver json-file/k8s-file/none/local with --log-opt", () => {
    assert.deepEqual(run("--log-driver", "k8s-file", "--log-opt", "max-size=10m", "img").create.hostConfig.LogConfig, { Type: "k8s-file", Config: { "max-size": "10m" } });
    assert.deepEqual(run("--log-driver", "none", "img").create.hostConfig.LogConfig, { Type: "none", Config: {} });
  });
  void it("--pull takes always|missing|never; --platform linux/amd64 only", () => {
    assert.equal(run("--pull", "never", "img").pull, "never");
    assert.equal(run("--pull=always", "img").pull, "always");
    usageError(["--pull", "sometimes", "img"], /invalid pull option/);
    assert.equal(run("--platform", "linux/amd64", "img").platform, "linux/amd64");
    usageError(["--platform", "linux/arm64", "img"], /image platform \(linux\/arm64\) is not supported/);
  });
});

void describe("run/create flags: network", () => {
  void it("--network/--net pass through as NetworkMode", () => {
    for (const n of ["none", "host", "bridge", "mynet", "container:web"]) {
      assert.equal(run("--network", n, "img").create.hostConfig.NetworkMode, n);
      assert.equal(run(`--net=${n}`, "img").create.hostConfig.NetworkMode, n);
    }
  });
  void it("-p forms into PortBindings and ExposedPorts; -P; --expose", () => {
    const r = run("-p", "8080:80", "-p", "127.0.0.1:9000:90/udp", "-p", "[::1]:7000:70", "-p", "5000-5001:50-51", "-p", "443", "-P", "--expose", "3000-3001", "img").create;
    assert.deepEqual(r.hostConfig.PortBindings, {
      "80/tcp": [{ HostIp: "", HostPort: "8080" }],
      "90/udp": [{ HostIp: "127.0.0.1", HostPort: "9000" }],
      "70/tcp": [{ HostIp: "::1", HostPort: "7000" }],
      "50/tcp": [{ HostIp: "", HostPort: "5000" }],
      "51/tcp": [{ HostIp: "", HostPort: "5001" }],
      "443/tcp": [{ HostIp: "", HostPort: "" }],
    });
    assert.deepEqual(Object.keys(r.config.ExposedPorts ?? {}).sort(), ["3000/tcp", "3001/tcp", "443/tcp", "50/tcp", "51/tcp", "70/tcp", "80/tcp", "90/udp"]);
    assert.equal(r.hostConfig.PublishAllPorts, true);
  });
  void it("-p errors", () => {
    assert.equal(parsePublish("80/icmp"), "invalid proto: icmp");
    assert.equal(parsePublish("x:80"), "invalid hostPort: x");
    assert.equal(parsePublish("70000"), "invalid containerPort: 70000");
    assert.match(JSON.stringify(parsePublish("1-3:1-2")), /invalid ranges/);
    usageError(["-p", "a:b:c:d", "img"], /invalid argument "a:b:c:d" for "-p, --publish" flag/);
  });
  void it("--dns, --dns-search, --dns-option, --add-host", () => {
    const h = run("--dns", "10.0.0.2", "--dns-search", "example.test", "--dns-option", "ndots:2", "--add-host", "db:10.0.0.5", "--add-host", "api=10.0.0.6", "img").create.hostConfig;
    assert.deepEqual(h.Dns, ["10.0.0.2"]);
    assert.deepEqual(h.DnsSearch, ["example.test"]);
    assert.deepEqual(h.DnsOptions, ["ndots:2"]);
    assert.deepEqual(h.ExtraHosts, ["db:10.0.0.5", "api:10.0.0.6"]);
    usageError(["--add-host", "nohost", "img"], `invalid argument "nohost" for "--add-host" flag: bad format for add-host: "nohost"`);
  });
  void it("--ip, --mac-address, --network-alias go to the endpoint of the network", () => {
    const r = run("--network", "mynet", "--ip", "10.1.0.5", "--mac-address", "92:d0:c6:0a:29:33", "--network-alias", "db", "img").create;
    assert.deepEqual(r.networkingConfig, {
      EndpointsConfig: { mynet: { IPAMConfig: { IPv4Address: "10.1.0.5" }, Aliases: ["db"], MacAddress: "92:d0:c6:0a:29:33" } },
    });
    assert.equal(r.config.MacAddress, "92:d0:c6:0a:29:33");
    usageError(["--mac-address", "zz", "img"], "zz is not a valid mac address");
    usageError(["--network", "host", "--ip", "10.1.0.5", "img"], /only supported for user-defined networks/);
  });
});
