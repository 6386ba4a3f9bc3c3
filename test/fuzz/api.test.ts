// Fuzzing the Docker-compatible API as a client would: random bodies for
// container, exec, network and volume creation, random query strings and
// malformed paths, sent to `capsa system service` on a socket of this test.
// Whatever the request, the answer is a status with a message: a refusal is a
// 4xx, never a 500 carrying a TypeError; a refused request leaves nothing
// behind; the service keeps answering /_ping. Requests are bounded in number.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { startService, type Service } from "../api/service.ts";
import { importBusybox } from "../helpers.ts";
import { fuzzParams, isInternalError } from "./fuzz.ts";

const anyJson = fc.jsonValue({ maxDepth: 2 });
/** A value that is mostly one of the plausible ones, sometimes any JSON at all. */
const mostly = (...valid: unknown[]): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: anyJson });
const opt = (a: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.option(a, { nil: undefined });

const HOST_CONFIG_FIELDS: Record<string, fc.Arbitrary<unknown>> = {
    Binds: mostly(["fuzzvol:/data"], ["relative:/x"], [":"], ["/nonexistent-fuzz:/x:ro,bogus"], "notalist"),
    PortBindings: mostly({ "80/tcp": [{ HostPort: "" }] }, { "80/tcp": [{ HostIp: "999.1.1.1", HostPort: "x" }] }, { bad: [] }, { "80/tcp": null }),
    Memory: mostly(0, 1, -1, 6 * 1024 * 1024, 1e300),
    MemorySwap: mostly(-1, 1),
    NanoCpus: mostly(1e9, -1, 1e30),
    CpuShares: mostly(2, -5),
    RestartPolicy: mostly({ Name: "always" }, { Name: "bogus" }, { Name: "on-failure", MaximumRetryCount: -1 }, { Name: 5 }, {}),
    NetworkMode: mostly("none", "bridge", "default", "host", "container:nope", "nonexistent-net", ""),
    Mounts: mostly([{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: -1 } }], [{ Type: "volume", Target: "/v" }], [{ Type: "bind", Source: "relative", Target: "/b" }], [{ Type: "bogus" }], [null]),
    Devices: mostly([{ PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "rwm" }], [{ PathOnHost: "relative" }], [{}]),
    CapAdd: mostly(["NET_ADMIN"], ["bogus"], ["ALL"], "NET_ADMIN"),
    CapDrop: mostly(["ALL"], [5]),
    SecurityOpt: mostly(["no-new-privileges"], ["seccomp=unconfined"], ["bogus"], ["seccomp=/nonexistent-fuzz.json"], ["label=disable"]),
    Ulimits: mostly([{ Name: "nofile", Soft: 1, Hard: 0 }], [{ Name: "bogus", Soft: 1, Hard: 1 }], [{}]),
    LogConfig: mostly({ Type: "json-file", Config: { "max-size": "abc" } }, { Type: "bogus" }, { Type: "none" }),
    Isolation: mostly("", "container", "bogus", "default"),
    Sysctls: mostly({ "net.ipv4.ip_forward": "1" }, { "kernel.bogus": "1" }, { "../x": "1" }),
    Tmpfs: mostly({ "/t": "size=abc" }, { relative: "" }),
    ShmSize: mostly(-1, 64 * 1024 * 1024),
    Dns: mostly(["not an ip"], ["127.0.0.53"]),
    ExtraHosts: mostly(["a:b"], ["nocolon"], ["h:999.1.1.1"]),
    PidMode: mostly("", "container:nope", "bogus"),
    IpcMode: mostly("", "shareable", "bogus"),
    CgroupParent: mostly("", "../../escape", "/abs"),
    ReadonlyRootfs: mostly(true, false, "yes"),
    AutoRemove: mostly(true, false),
    Privileged: mostly(false),
    OomScoreAdj: mostly(0, 5000),
    PidsLimit: mostly(-1, 10),
    BlkioWeight: mostly(0, 5000),
};
const hostConfig = fc.record(HOST_CONFIG_FIELDS, { requiredKeys: [] });

const createBody = fc.oneof(
  // Mostly a plausible body with one or two odd fields, so that creates also succeed.
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom("Cmd", "Env", "User", "WorkingDir", "Labels", "ExposedPorts", "Volumes", "Healthcheck", "StopSignal", "Hostname", "HostConfig"), anyJson, fc.boolean()).chain(([k, v, plain]) => (plain ? fc.constant({ Image: "fz:1", Cmd: ["true"] }) : fc.constant({ Image: "fz:1", Cmd: ["true"], [k]: v }))) },
  { weight: 3, arbitrary: hostConfigOnly() },
  { weight: 4, arbitrary: fullCreateBody() },
);

function hostConfigOnly(): fc.Arbitrary<unknown> {
  return fc.constantFrom(...Object.keys(HOST_CONFIG_FIELDS)).chain((k) => HOST_CONFIG_FIELDS[k]!.map((v) => ({ Image: "fz:1", Cmd: ["true"], HostConfig: { [k]: v } })));
}

function fullCreateBody(): fc.Arbitrary<unknown> {
  return fc.record(
  {
    Image: mostly("fz:1", "nonexistent-fuzz:1", "", "fz:1@sha256:" + "0".repeat(64), "UPPER:1"),
    Cmd: mostly(["true"], "true", [], [5]),
    Entrypoint: mostly(["sh"], "", null, [""]),
    Env: mostly(["A=b"], ["=x"], ["NOEQUALS"], ["A\u0000=x"]),
    User: mostly("", "1000", "app", "nobody:nogroup", "a:b:c", "root:"),
    WorkingDir: mostly("/", "relative", ""),
    Labels: mostly({ a: "b" }, { a: 5 }),
    ExposedPorts: mostly({ "80/tcp": {} }, { bogus: {} }, { "70000/tcp": {} }, { "80/sctp": {} }),
    Volumes: mostly({ "/data": {} }, { relative: {} }, { "": {} }),
    Healthcheck: mostly({ Test: ["CMD", "true"], Interval: 1e9 }, { Test: ["CMD-SHELL"], Interval: -1 }, { Test: "CMD true", Interval: "soon" }, { Test: ["NONE"] }),
    StopSignal: mostly("SIGKILL", "bogus", "99"),
    StopTimeout: mostly(1, -1, 1e30),
    Hostname: mostly("h", "bad host name", "a".repeat(300)),
    Tty: mostly(true, false),
    HostConfig: opt(fc.oneof({ weight: 5, arbitrary: hostConfig }, { weight: 1, arbitrary: anyJson })),
    NetworkingConfig: mostly({ EndpointsConfig: { bridge: { IPAMConfig: { IPv4Address: "not an ip" } } } }, { EndpointsConfig: { "nonexistent-net": {} } }, { EndpointsConfig: null }, { EndpointsConfig: "x" }),
  },
  { requiredKeys: [] },
  );
}

/** Network bodies; a create that succeeds uses a subnet from an unlikely range of this test's own. */
const subnet = `10.${200 + (process.pid % 50)}.${(process.pid >> 4) % 250}.0/24`;
const networkBody = fc.record(
  {
    Name: mostly("fuzznet", "", "bad name", "host", "none", "a".repeat(300), "-lead"),
    Driver: mostly("bridge", "", "bogus", "macvlan"),
    IPAM: mostly({ Config: [{ Subnet: subnet }] }, { Config: [{ Subnet: "999.0.0.0/8" }] }, { Config: [{ Subnet: subnet, Gateway: "1.1.1.1" }] }, { Config: [{ Subnet: subnet, IPRange: "x" }] }, { Config: "x" }, { Config: [null] }, { Config: [{ Subnet: 5 }] }, { Config: [{ Gateway: "10.0.0.1" }] }, { Config: [{ Subnet: subnet, AuxiliaryAddresses: { a: "x" } }] }),
    Options: mostly({ "com.docker.network.driver.mtu": "abc" }, { x: "y" }, { "com.docker.network.bridge.enable_ip_masquerade": "false" }),
    Labels: mostly({ a: "b" }, { a: 5 }),
    Internal: mostly(true, false, "yes"),
    EnableIPv6: mostly(false, "no"),
    Attachable: mostly(true),
    CheckDuplicate: mostly(true),
  },
  { requiredKeys: [] },
).map((b) => ({ IPAM: { Config: [{ Subnet: subnet }] }, ...b }));

const volumeBody = fc.record({ Name: mostly("fuzzvol2", "", "../escape", "a/b", "a".repeat(300)), Driver: mostly("local", "bogus", ""), DriverOpts: mostly({ type: "tmpfs", device: "tmpfs", o: "size=1m" }, { type: "none", device: "/nonexistent-fuzz", o: "bind" }, { bogus: "x" }), Labels: mostly({ a: "b" }, { a: 5 }) }, { requiredKeys: [] });

const execBody = fc.record({ Cmd: mostly(["true"], "true", [], null, [5]), User: mostly("", "app", "a:b:c"), Env: mostly(["A=b"], "A=b"), WorkingDir: mostly("/", "relative"), Tty: mostly(true), AttachStdout: mostly(true), Privileged: mostly(false), DetachKeys: mostly("ctrl-p", "bogus-key") }, { requiredKeys: [] });

const queryKey = fc.constantFrom("all", "limit", "size", "filters", "since", "until", "tail", "timestamps", "stdout", "stderr", "force", "v", "link", "t", "signal", "name", "digests", "stream", "one-shot", "ps_args", "%", "%zz");
const queryValue = fc.oneof(
  fc.constantFrom("", "1", "0", "true", "-1", "1e999", "abc", "%", "%E0%A4%A", '{"label":["a"]}', '{"status":{"running":true}}', '{"x":5}', "[]", "null", '{"until":["x"]}', '{"dangling":["maybe"]}', '{"id":{"a":false}}', "99999999999999999999", "now"),
  fc.string({ maxLength: 10 }).map(encodeURIComponent),
);
const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }).map((kv) => kv.map(([k, v]) => `${k}=${v}`).join("&"));

type Req = { method: string; path: string; body?: string; kind: "container" | "network" | "volume" | "exec" | "get" };
const CTR = "fuzzbase";
const request = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(createBody, fc.constantFrom("", "name=fuzzc", "name=bad%20name", "name=/fuzzc2", `name=${CTR}`, "name=%E0%A4%A")).map(([b, q]): Req => ({ method: "POST", path: `/containers/create?${q}`, body: JSON.stringify(b), kind: "container" })) },
  { weight: 2, arbitrary: networkBody.map((b): Req => ({ method: "POST", path: "/networks/create", body: JSON.stringify(b), kind: "network" })) },
  { weight: 1, arbitrary: volumeBody.map((b): Req => ({ method: "POST", path: "/volumes/create", body: JSON.stringify(b), kind: "volume" })) },
  { weight: 1, arbitrary: execBody.map((b): Req => ({ method: "POST", path: `/containers/${CTR}/exec`, body: JSON.stringify(b), kind: "exec" })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom("/containers/json", "/images/json", "/networks", "/volumes", "/system/df", "/info", "/version", `/containers/${CTR}/json`, `/containers/${CTR}/logs`, "/images/fz:1/json", "/images/fz:1/history", `/containers/${CTR}/top`, "/v1.43/containers/json", "/v1.99/_ping", "/v0.1/info", "/containers/%E0%A4%A/json", "/containers/%/json", "/images/%ZZ/json", "/networks/%C0", `/containers/${"a".repeat(3000)}/json`), query)
      .map(([p, q]): Req => ({ method: "GET", path: q ? `${p}?${q}` : p, kind: "get" })),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("/containers/create", "/networks/create", "/volumes/create", `/containers/${CTR}/exec`), fc.oneof(anyJson.map((j) => JSON.stringify(j) ?? ""), fc.constantFrom("{", "[]", '"x"', "null", "{\"Image\":", "\u0000"))).map(([p, b]): Req => ({ method: "POST", path: p, body: b, kind: "get" })) },
);

/**
 * Holes this property found, fixed since, each with a test below: a bad
 * %-escape in a path parameter (URIError → 500), IPAM fields of the wrong type
 * (Subnet: 5 → a TypeError), HostConfig list items of the wrong type
 * (Mounts: [null] → a TypeError). None is excused any more.
 */
const KNOWN: { re: RegExp; path?: RegExp; what: string }[] = [];
// Also seen, allowed by the property (a system error, not a TypeError, and nothing is left behind) but worth a 400:
// a volume or network name of 300 characters is answered 500 "ENAMETOOLONG: name too long, mkdir …".

void test("the API answers any body, query or path with a status and a message, refuses without leaving anything behind, and keeps serving", async (t) => {
  const s: Service = await startService("fuzz-api");
  t.after(() => s.stop());
  importBusybox(s.t, "fz:1");
  const base = await s.request("POST", `/containers/create?name=${CTR}`, JSON.stringify({ Image: "fz:1", Cmd: ["true"] }));
  assert.equal(base.status, 201, base.body);

  const count = async (p: string, key?: string): Promise<number> => {
    const r = await s.request("GET", p);
    assert.equal(r.status, 200, `${p}: ${r.body}`);
    const j = JSON.parse(r.body) as unknown[] | Record<string, unknown[] | null>;
    return (Array.isArray(j) ? j : (j[key!] ?? [])).length;
  };
  const state = async (): Promise<string> => `${await count("/containers/json?all=1")} containers, ${await count("/networks")} networks, ${await count("/volumes", "Volumes")} volumes`;
  const known = new Map<string, string>();
  const statuses = new Map<string, number>();
  const errors500 = new Map<string, string>();

  await fc.assert(
    fc.asyncProperty(request, async (req) => {
      const before = await state();
      const r = await s.request(req.method, req.path, req.body);
      statuses.set(`${req.kind} ${r.status}`, (statuses.get(`${req.kind} ${r.status}`) ?? 0) + 1);
      let message = "";
      try {
        const m = r.body ? (JSON.parse(r.body) as { message?: unknown }).message : undefined;
        message = typeof m === "string" ? m : "";
      } catch {
        /* not JSON: a stream or a plain answer */
      }
      const label = `${req.method} ${req.path.slice(0, 200)} ${req.body?.slice(0, 300) ?? ""} → ${r.status} ${message.slice(0, 200)}`;
      if (r.status >= 500) {
        errors500.set(message.slice(0, 80), label);
        const k = KNOWN.find((x) => x.re.test(message) && (!x.path || x.path.test(req.path)));
        if (k) known.set(k.what, label);
        else assert.ok(r.status !== 500 || !isInternalError(new Error(message)), `an engine error escaped: ${label}`);
      }
      if (r.status >= 400) {
        assert.ok(message !== "", `a refusal without a message: ${label}`);
        assert.equal(await state(), before, `a refused request left something behind: ${label}`);
      } else if (r.status === 201) {
        // Undo what was created, so every run starts from the same state.
        const id = (JSON.parse(r.body) as { Id?: string; Name?: string }).Id ?? (JSON.parse(r.body) as { Name?: string }).Name;
        const del = req.kind === "container" ? `/containers/${id}?force=1&v=1` : req.kind === "network" ? `/networks/${id}` : req.kind === "volume" ? `/volumes/${id}?force=1` : undefined;
        if (del) assert.ok([204, 200].includes((await s.request("DELETE", del)).status), `could not remove what ${label} created`);
        for (const v of ["fuzzvol"]) await s.request("DELETE", `/volumes/${v}?force=1`);
      }
      assert.equal((await s.request("GET", "/_ping")).status, 200, `the service stopped answering after ${label}`);
    }),
    fuzzParams(1351, 400, { timeout: 60_000 }),
  );
  for (const [what, example] of known) t.diagnostic(`known hole (${what}): ${example}`);
  for (const example of errors500.values()) t.diagnostic(`5xx: ${example}`);
  t.diagnostic(`answers: ${[...statuses].sort().map(([k, n]) => `${k}×${n}`).join(", ")}`);
  // Some requests must get through, or only the refusals would be tested.
  assert.ok([...statuses.keys()].some((k) => k.endsWith(" 201")), "nothing was ever created");
});

void test("a path parameter with a malformed %-escape is a 400, not a 500", async (t) => {
  const s = await startService("fuzz-api");
  t.after(() => s.stop());
  const r = await s.request("GET", "/containers/%E0%A4%A/json");
  assert.equal(r.status, 400, r.body);
});

void test("a network create body whose subnet is not a string is a 400", async (t) => {
  const s = await startService("fuzz-api");
  t.after(() => s.stop());
  const r = await s.request("POST", "/networks/create", JSON.stringify({ Name: "fuzznet", IPAM: { Config: [{ Subnet: 5 }] } }));
  assert.equal(r.status, 400, r.body);
});

void test("a create body with a null mount is a 400", async (t) => {
  const s = await startService("fuzz-api");
  t.after(() => s.stop());
  importBusybox(s.t, "fz:1");
  const r = await s.request("POST", "/containers/create", JSON.stringify({ Image: "fz:1", Cmd: ["true"], HostConfig: { Mounts: [null] } }));
  assert.equal(r.status, 400, r.body);
});
