// Networks and volumes as dockerd answers them, driven by real clients (the
// docker CLI, dockerode) and by raw HTTP where a client hides the shape: any
// non-blank network name, CheckDuplicate by API version, IPAM and Options in
// inspect, driver options, link-local addresses, an IPv6-only IPAM config,
// and the volume errors and prune report.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { busyboxRootfsTar } from "../helpers.ts";
import { ipv6Unavailable } from "../../src/network/cidr6.ts";
import { freeSubnet, prefixOf } from "../network/fixtures.ts";
import { startService, type Service } from "./service.ts";

const NO_V6 = ipv6Unavailable();

void describe("networks and volumes through the Engine API", () => {
  let s: Service;
  let docker: Docker;
  const tag = `nv${process.pid}`;
  before(async () => {
    s = await startService("netvol", { CAPSA_DEFAULT_BRIDGE_SUBNET: freeSubnet() });
    docker = new Docker({ socketPath: s.socket });
    s.dockerOk(["import", busyboxRootfsTar(), "bb:1"]);
  });
  after(async () => {
    await s?.stop();
  });

  const post = async (p: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const r = await s.request("POST", p, JSON.stringify(body));
    return { status: r.status, json: (r.body ? JSON.parse(r.body) : {}) as Record<string, unknown> };
  };

  void it("a name with spaces, slashes and dots is taken as dockerd takes it; CNI and the files on disk get a safe name", async () => {
    // A name with a slash cannot be looked up by name through a URL path (nor on dockerd): made and removed by id.
    const slashed = await post("/v1.43/networks/create", { Name: "../../../tmp/x", CheckDuplicate: true });
    assert.equal(slashed.status, 201);
    assert.ok(fs.existsSync(path.join(s.t.root, "networks", `capsa-net-${String(slashed.json.Id).slice(0, 16)}.conflist`)));
    assert.ok(!fs.existsSync("/tmp/x.conflist"));
    assert.equal((await s.request("DELETE", `/v1.43/networks/${String(slashed.json.Id)}`)).status, 204);
    const name = `${tag} my net..x`;
    const subnet = freeSubnet();
    const id = s.dockerOk(["network", "create", "--subnet", subnet, name]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(s.dockerOk(["network", "inspect", "-f", "{{.Name}} {{.Id}}", name]).trim(), `${name} ${id}`);
    const files = fs.readdirSync(path.join(s.t.root, "networks")).filter((f) => f.endsWith(".conflist"));
    assert.ok(files.includes(`capsa-net-${id.slice(0, 16)}.conflist`), files.join(" "));
    assert.match(s.dockerOk(["run", "--rm", "--network", name, "bb:1", "ip", "-4", "addr", "show", "eth0"]), new RegExp(`inet ${prefixOf(subnet).replace(/\./g, "\\.")}\\d+/24`));
    const blank = s.docker(["network", "create", "   "]);
    assert.equal(blank.status, 1);
    assert.match(blank.stderr, /invalid name/);
    assert.equal(s.dockerOk(["network", "rm", name]).trim(), name);
  });

  void it("CheckDuplicate: before API 1.44 a duplicate is made (with dockerd's warning) unless it is true; from 1.44 always refused; a shared name is ambiguous", async () => {
    const name = `${tag}-dup`;
    const first = await post("/v1.43/networks/create", { Name: name, CheckDuplicate: true });
    assert.equal(first.status, 201);
    assert.equal(first.json.Warning, "");
    const refused = await post("/v1.43/networks/create", { Name: name, CheckDuplicate: true });
    assert.equal(refused.status, 409);
    assert.equal(refused.json.message, `network with name ${name} already exists`);
    assert.equal((await post("/v1.44/networks/create", { Name: name })).status, 409);
    const second = await post("/v1.43/networks/create", { Name: name });
    assert.equal(second.status, 201);
    assert.equal(second.json.Warning, `Network with name ${name} (id : ${String(first.json.Id)}) already exists`);
    const ambiguous = s.docker(["network", "inspect", name]);
    assert.equal(ambiguous.status, 1);
    assert.match(ambiguous.stderr, new RegExp(`2 matches found based on name: network ${name} is ambiguous`));
    // The docker CLI always sets CheckDuplicate.
    assert.match(s.docker(["network", "create", name]).stderr, /already exists/);
    for (const id of [first.json.Id, second.json.Id]) await docker.getNetwork(String(id)).remove();
  });

  void it("inspect's IPAM.Options is null unless given, Options and Labels are {} (dockerd's shapes)", async () => {
    const bare = await docker.createNetwork({ Name: `${tag}-bare`, IPAM: { Driver: "default", Config: [{ Subnet: freeSubnet() }] } });
    const raw = JSON.parse((await s.request("GET", `/v1.43/networks/${bare.id}`)).body) as { IPAM: Record<string, unknown>; Options: unknown; Labels: unknown };
    assert.equal(raw.IPAM.Options, null);
    assert.equal(raw.IPAM.Driver, "default");
    assert.deepEqual(raw.Options, {});
    assert.deepEqual(raw.Labels, {});
    const withOpts = await docker.createNetwork({ Name: `${tag}-opts`, IPAM: { Driver: "default", Options: { foo: "bar" } } });
    assert.deepEqual(((await withOpts.inspect()) as { IPAM: { Options: unknown } }).IPAM.Options, { foo: "bar" });
    const other = await post("/v1.43/networks/create", { Name: `${tag}-ipam`, IPAM: { Driver: "dhcp" } });
    assert.equal(other.status, 400);
    assert.match(String(other.json.message), /IPAM driver "dhcp" is not supported/);
    await bare.remove();
    await withOpts.remove();
  });

  void it("driver options: the MTU is applied, the ones capsa cannot honour are refused by name, others are kept", () => {
    const name = `${tag}-mtu`;
    s.dockerOk(["network", "create", "--subnet", freeSubnet(), "-o", "com.docker.network.driver.mtu=1280", "-o", "org.example.note=kept", name]);
    assert.equal(s.dockerOk(["network", "inspect", "-f", '{{index .Options "com.docker.network.driver.mtu"}} {{index .Options "org.example.note"}}', name]).trim(), "1280 kept");
    assert.match(s.dockerOk(["run", "--rm", "--network", name, "bb:1", "ip", "link", "show", "eth0"]), /mtu 1280 /);
    s.dockerOk(["network", "rm", name]);
    for (const [opt, why] of [
      ["com.docker.network.bridge.name=br-mine", /capsa names its bridges itself/],
      ["com.docker.network.bridge.enable_icc=false", /always reach each other/],
      ["com.docker.network.bridge.enable_ip_masquerade=false", /always masquerades/],
      ["com.docker.network.driver.mtu=12", /invalid MTU number/],
      ["com.docker.network.bridge.enable_icc=perhaps", /ParseBool/],
    ] as const) {
      const r = s.docker(["network", "create", "-o", opt, `${tag}-refused`]);
      assert.equal(r.status, 1, opt);
      assert.match(r.stderr, why, opt);
    }
    assert.doesNotMatch(s.dockerOk(["network", "ls", "--format", "{{.Name}}"]), /refused/);
  });

  void it("EndpointSettings.IPAMConfig.LinkLocalIPs: the addresses are on the interface and in inspect (on the default bridge too)", async () => {
    const c = await docker.createContainer({
      Image: "bb:1",
      Cmd: ["sleep", "60"],
      HostConfig: { NetworkMode: "bridge" },
      NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ["169.254.8.8"] } } } },
    });
    await c.start();
    const info = await c.inspect();
    assert.deepEqual(info.NetworkSettings.Networks.bridge?.IPAMConfig, { LinkLocalIPs: ["169.254.8.8"] });
    assert.match(s.dockerOk(["exec", c.id, "ip", "-4", "addr", "show", "eth0"]), /inet 169\.254\.8\.8\/16/);
    // docker network connect --link-local-ip: the second interface gets it.
    const net = `${tag}-ll`;
    s.dockerOk(["network", "create", "--subnet", freeSubnet(), net]);
    s.dockerOk(["network", "connect", "--link-local-ip", "169.254.9.9", net, c.id]);
    assert.match(s.dockerOk(["exec", c.id, "ip", "-4", "addr", "show", "eth1"]), /inet 169\.254\.9\.9\/16/);
    assert.equal(s.dockerOk(["inspect", "-f", `{{json (index .NetworkSettings.Networks "${net}").IPAMConfig}}`, c.id]).trim(), '{"LinkLocalIPs":["169.254.9.9"]}');
    await c.remove({ force: true });
    s.dockerOk(["network", "rm", net]);
    const bad = await post("/v1.43/containers/create", { Image: "bb:1", NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: { LinkLocalIPs: ["not-an-ip"] } } } } });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.message), /invalid link-local IP address: not-an-ip/);
  });

  void it("an IPv6-only IPAM config (EnableIPv6) gets an IPv4 subnet beside it, as dockerd", { skip: NO_V6 ? `IPv6 unavailable here: ${NO_V6}` : false }, async () => {
    const n = await docker.createNetwork({
      Name: `${tag}-v6`,
      EnableIPv6: true,
      IPAM: { Driver: "default", Config: [{ Subnet: "2001:389::/64", IPRange: "2001:389::/96", Gateway: "2001:389::ffff" }] },
    });
    const info = (await n.inspect()) as unknown as { EnableIPv6: boolean; IPAM: { Config: Record<string, string>[] } };
    assert.equal(info.EnableIPv6, true);
    assert.equal(info.IPAM.Config.length, 2);
    assert.match(info.IPAM.Config[0]!.Subnet!, /^\d+\.\d+\.\d+\.0\/24$/);
    assert.deepEqual(info.IPAM.Config[1], { Subnet: "2001:389::/64", IPRange: "2001:389::/96", Gateway: "2001:389::ffff" });
    await n.remove();
  });

  void it("volume create with an unknown driver: dockerd's 404 and words; prune reports VolumesDeleted and SpaceReclaimed", async () => {
    const r = s.docker(["volume", "create", "-d", "foo", `${tag}-v`]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `Error response from daemon: create ${tag}-v: error looking up volume plugin foo: plugin "foo" not found`);
    const raw = await post("/v1.43/volumes/create", { Name: `${tag}-v`, Driver: "foo" });
    assert.equal(raw.status, 404);
    const empty = await post("/v1.43/volumes/prune", {});
    assert.deepEqual(empty.json, { VolumesDeleted: [], SpaceReclaimed: 0 });
    s.dockerOk(["volume", "create", `${tag}-data`]);
    s.dockerOk(["run", "--rm", "-v", `${tag}-data:/d`, "bb:1", "sh", "-c", "head -c 10000 /dev/zero > /d/f"]);
    // API 1.42+: a named volume goes only with all=true.
    assert.deepEqual((await post("/v1.43/volumes/prune", {})).json, { VolumesDeleted: [], SpaceReclaimed: 0 });
    // A volume created without a name is anonymous (dockerd 23+): a plain prune takes it.
    const anonymous = s.dockerOk(["volume", "create"]).trim();
    assert.match(anonymous, /^[0-9a-f]{64}$/);
    assert.deepEqual((await post("/v1.43/volumes/prune", {})).json, { VolumesDeleted: [anonymous], SpaceReclaimed: 0 });
    const pruned = (await docker.pruneVolumes({ filters: { all: ["true"] } })) as { VolumesDeleted: string[] | null; SpaceReclaimed: number };
    assert.deepEqual(pruned.VolumesDeleted, [`${tag}-data`]);
    assert.ok(pruned.SpaceReclaimed >= 10000, String(pruned.SpaceReclaimed));
  });
});
