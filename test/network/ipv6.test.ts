// Dual-stack networks (--ipv6), --ip-range and --aux-address, end to end
// through the real CLI, CNI plugins (bridge + host-local with two ranges),
// kernel, iptables and ip6tables. Subnets: a 10.x /24 and a random unique
// local /64 that the host does not use, chosen at run time. Traffic goes only
// to containers this test made.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { ipv6Unavailable } from "../../src/network/cidr6.ts";
import { freePort, freeSubnet, freeSubnet6, leftovers, prefixOf, vethNames } from "./fixtures.ts";

let t: TestRoot;
const subnets = [freeSubnet()];
const bridges: string[] = [];
let baselineVeths = new Set<string>();
const NOTHING = { veths: [], bridges: [], netns: [], rules: [], leases: [], dns: [] };
const NO_V6 = ipv6Unavailable();

type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const ports: number[] = [];
const state = (): ReturnType<typeof leftovers> => leftovers(t.root, { bridges, subnets, ports, baselineVeths });
const inspectC = (name: string, tmpl: string): string => ok(t.capsa(["inspect", "-f", tmpl, name]), `inspect ${name}`).trim();

function create(name: string, ...flags: string[]): void {
  ok(t.capsa(["network", "create", ...flags, name]), `network create ${name}`);
  bridges.push(ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", name]), "inspect").trim());
  const six = ok(t.capsa(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", name]), "inspect").trim().split(" ").filter((s) => s.includes(":"));
  subnets.push(...six);
}

before(() => {
  baselineVeths = vethNames();
  t = makeTestRoot("net6");
  t.env.CAPSA_DEFAULT_BRIDGE_SUBNET = subnets[0]!;
  importBusybox(t, "bb:1");
});

after(() => t.cleanup());

void describe("dual-stack networks", { skip: NO_V6 ? `IPv6 unavailable here: ${NO_V6}` : false }, () => {
  const net = `n6${process.pid}a`;
  const v4 = freeSubnet();
  const v6 = freeSubnet6();
  subnets.push(v4, v6);

  void it("--ipv6 with both subnets: inspect shows both, containers get both addresses, /etc/hosts names both", () => {
    create(net, "--ipv6", "--subnet", v4, "--subnet", v6);
    const cfg = JSON.parse(ok(t.capsa(["network", "inspect", "-f", "{{json .IPAM.Config}}", net]), "inspect")) as { Subnet: string; Gateway: string }[];
    assert.deepEqual(cfg, [
      { Subnet: v4, Gateway: `${prefixOf(v4)}1` },
      { Subnet: v6, Gateway: `${prefixOf(v6)}:1` },
    ]);
    assert.equal(ok(t.capsa(["network", "inspect", "-f", "{{.EnableIPv6}}", net]), "inspect").trim(), "true");
    ok(t.capsa(["run", "-d", "--network", net, "--name", "web6", "--network-alias", "site", "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]), "run web6");
    ok(t.capsa(["run", "-d", "--network", net, "--name", "cli6", "--cap-add", "NET_RAW", "--ip6", `${prefixOf(v6)}:77`, "bb:1", "sleep", "600"]), "run cli6");
    const ip6 = inspectC("web6", `{{(index .NetworkSettings.Networks "${net}").GlobalIPv6Address}}`);
    assert.ok(ip6.startsWith(prefixOf(v6)), `${ip6} not in ${v6}`);
    assert.equal(inspectC("web6", `{{(index .NetworkSettings.Networks "${net}").GlobalIPv6PrefixLen}} {{(index .NetworkSettings.Networks "${net}").IPv6Gateway}}`), `64 ${prefixOf(v6)}:1`);
    assert.equal(inspectC("web6", "{{.NetworkSettings.GlobalIPv6Address}}"), ip6);
    assert.equal(inspectC("cli6", `{{json (index .NetworkSettings.Networks "${net}").IPAMConfig}}`), JSON.stringify({ IPv6Address: `${prefixOf(v6)}:77` }));
    const members = JSON.parse(ok(t.capsa(["network", "inspect", "-f", "{{json .Containers}}", net]), "inspect")) as Record<string, { Name: string; IPv6Address: string }>;
    assert.equal(Object.values(members).find((m) => m.Name === "web6")?.IPv6Address, `${ip6}/64`);
    const inside = ok(t.capsa(["exec", "web6", "sh", "-c", "ip -o addr show eth0; ip -6 route; cat /etc/hosts; hostname"]), "exec");
    assert.match(inside, new RegExp(`inet6 ${re(ip6)}/64 scope global`));
    assert.match(inside, new RegExp(`default via ${re(prefixOf(v6))}:1 dev eth0`));
    const hostname = inside.trim().split("\n").at(-1)!;
    assert.match(inside, new RegExp(`^${re(ip6)}\\t${hostname}$`, "m"));
    assert.match(inside, new RegExp(`^${re(prefixOf(v6))}:77\\tcli6 `, "m"));
  });

  void it("containers reach each other over IPv6 by address and by name; DNS answers AAAA", () => {
    const ip6 = inspectC("web6", "{{.NetworkSettings.GlobalIPv6Address}}");
    const host = inspectC("web6", "{{.Config.Hostname}}");
    const script = [
      `ping -6 -c1 -W3 ${ip6} >/dev/null && echo ping-addr`,
      "ping -6 -c1 -W3 web6 >/dev/null && echo ping-name",
      `timeout 3 wget -q -O - http://[${ip6}]/hostname`,
      `timeout 3 nc ${ip6} 80 </dev/null >/dev/null && echo nc-addr`,
      "nslookup -type=AAAA site",
    ].join("; ");
    const out = ok(t.capsa(["exec", "cli6", "sh", "-c", script]), "exec cli6");
    assert.match(out, /^ping-addr$/m);
    assert.match(out, /^ping-name$/m);
    assert.match(out, new RegExp(`^${re(host)}$`, "m"));
    assert.match(out, /^nc-addr$/m);
    assert.match(out, new RegExp(`^Address: ${re(ip6)}$`, "m"));
  });

  void it("--ipv6 without an IPv6 subnet picks a unique local /64; an IPv6 subnet without --ipv6, or a taken one, is refused", () => {
    const auto = `n6${process.pid}b`;
    const four = freeSubnet();
    subnets.push(four);
    create(auto, "--ipv6", "--subnet", four);
    const six = subnets.at(-1)!;
    assert.match(six, /^fd[0-9a-f]{2}(:[0-9a-f]{1,4}){0,2}::\/64$/);
    const noFlag = t.capsa(["network", "create", "--subnet", freeSubnet6(), `n6${process.pid}x`]);
    assert.equal(noFlag.status, 1);
    assert.match(noFlag.stderr, /IPv6 is not enabled \(--ipv6\)/);
    const taken = t.capsa(["network", "create", "--ipv6", "--subnet", v6, `n6${process.pid}y`]);
    assert.equal(taken.status, 1);
    assert.match(taken.stderr, /overlaps network/);
    const badIp6 = t.capsa(["run", "--rm", "--network", net, "--ip6", "fd00:dead::5", "bb:1", "true"]);
    assert.equal(badIp6.status, 125);
    assert.match(badIp6.stderr, /not in network .*'s subnet/);
    assert.doesNotMatch(ok(t.capsa(["network", "ls", "--format", "{{.Name}}"]), "ls"), /n6\d+[xy]/);
    ok(t.capsa(["network", "rm", auto]), "network rm");
  });

  void it("ports published from a dual-stack container answer on the host's IPv4 loopback", async () => {
    const port = await freePort();
    ports.push(port);
    ok(t.capsa(["run", "-d", "--network", net, "--name", "pub6", "-p", `${port}:80`, "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]), "run pub6");
    const host = inspectC("pub6", "{{.Config.Hostname}}");
    const body = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/hostname`, { signal: AbortSignal.timeout(3000) })).text());
    assert.equal(body.trim(), host);
    ok(t.capsa(["rm", "-f", "pub6"]), "rm pub6");
  });

  void it("removing the containers and the network leaves no veth, bridge, namespace, iptables or ip6tables rule, lease or DNS server", () => {
    ok(t.capsa(["rm", "-f", "web6", "cli6"]), "rm");
    ok(t.capsa(["network", "rm", net]), "network rm");
    assert.deepEqual(state(), NOTHING);
  });
});

void describe("--ip-range and --aux-address", () => {
  const net = `n6${process.pid}r`;
  const v4 = freeSubnet();
  subnets.push(v4);
  const p = prefixOf(v4);

  void it("containers get addresses from the range only, never an aux address; a static --ip may lie outside the range", () => {
    create(net, "--subnet", v4, "--ip-range", `${p}128/30`, "--aux-address", `router=${p}129`);
    const cfg = JSON.parse(ok(t.capsa(["network", "inspect", "-f", "{{json .IPAM.Config}}", net]), "inspect")) as unknown;
    assert.deepEqual(cfg, [{ Subnet: v4, Gateway: `${p}1`, IPRange: `${p}128/30`, AuxiliaryAddresses: { router: `${p}129` } }]);
    for (const n of ["r1", "r2"]) ok(t.capsa(["run", "-d", "--network", net, "--name", n, "bb:1", "sleep", "600"]), `run ${n}`);
    const got = ["r1", "r2"].map((n) => inspectC(n, "{{.NetworkSettings.IPAddress}}")).sort();
    assert.deepEqual(got, [`${p}128`, `${p}130`]);
    ok(t.capsa(["run", "-d", "--network", net, "--name", "r3", "--ip", `${p}20`, "bb:1", "sleep", "600"]), "run r3 outside the range");
    assert.equal(inspectC("r3", "{{.NetworkSettings.IPAddress}}"), `${p}20`);
    // The range (.128–.131 less the aux address; .131 left) holds one more, then none.
    ok(t.capsa(["run", "-d", "--network", net, "--name", "r4", "bb:1", "sleep", "600"]), "run r4");
    assert.equal(inspectC("r4", "{{.NetworkSettings.IPAddress}}"), `${p}131`);
    ok(t.capsa(["rm", "-f", "r4"]), "rm r4");
    // A static address of the other family leaves this family's range in force.
    if (!NO_V6) {
      const dual = `n6${process.pid}d`;
      const d4 = freeSubnet();
      const d6 = freeSubnet6();
      subnets.push(d4);
      create(dual, "--ipv6", "--subnet", d4, "--subnet", d6, "--ip-range", `${prefixOf(d4)}64/26`);
      ok(t.capsa(["run", "-d", "--network", dual, "--name", "r6", "--ip6", `${prefixOf(d6)}:9`, "bb:1", "sleep", "600"]), "run r6");
      assert.equal(inspectC("r6", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.GlobalIPv6Address}}"), `${prefixOf(d4)}64 ${prefixOf(d6)}:9`);
      ok(t.capsa(["rm", "-f", "r6"]), "rm r6");
      ok(t.capsa(["network", "rm", dual]), "network rm");
    }
    ok(t.capsa(["run", "-d", "--network", net, "--name", "r4", "bb:1", "sleep", "600"]), "run r4 again");
    assert.equal(inspectC("r4", "{{.NetworkSettings.IPAddress}}"), `${p}131`);
    const full = t.capsa(["run", "-d", "--network", net, "--name", "r5", "bb:1", "sleep", "600"]);
    assert.equal(full.status, 125);
    const aux = t.capsa(["run", "--rm", "--network", net, "--ip", `${p}129`, "bb:1", "true"]);
    assert.equal(aux.status, 125);
    assert.match(aux.stderr, /reserved as aux-address router/);
    ok(t.capsa(["rm", "-f", "r1", "r2", "r3", "r4", "r5"]), "rm");
    ok(t.capsa(["network", "rm", net]), "network rm");
  });

  void it("a range or aux address outside the subnet is a one-line error, and nothing is created", () => {
    const outside = t.capsa(["network", "create", "--subnet", v4, "--ip-range", "10.254.0.0/24", `n6${process.pid}q`]);
    assert.equal(outside.status, 1);
    assert.match(outside.stderr, /no matching subnet for range 10\.254\.0\.0\/24/);
    const wider = t.capsa(["network", "create", "--subnet", `${p}0/25`, "--ip-range", v4, `n6${process.pid}q`]);
    assert.equal(wider.status, 1);
    assert.match(wider.stderr, /no matching subnet for range/);
    const orphan = t.capsa(["network", "create", "--ip-range", `${p}0/25`, `n6${process.pid}q`]);
    assert.equal(orphan.status, 1);
    assert.match(orphan.stderr, /must have a corresponding subnet/);
    const auxOut = t.capsa(["network", "create", "--subnet", v4, "--aux-address", "x=10.254.0.9", `n6${process.pid}q`]);
    assert.equal(auxOut.status, 1);
    assert.match(auxOut.stderr, /no matching subnet for aux-address 10\.254\.0\.9/);
    // Inside the subnet, but only its broadcast address: nothing a container could get.
    const direct = t.capsa(["network", "create", "--subnet", v4, "--ip-range", `${p}255/32`, `n6${process.pid}q`]);
    assert.equal(direct.status, 1);
    assert.match(direct.stderr, /no address left for containers/);
    assert.equal(t.capsa(["network", "inspect", `n6${process.pid}q`]).status, 1);
    assert.deepEqual(state(), NOTHING);
  });
});
