// What another machine on the LAN, and a workload inside a container, can
// reach through capsa's networks. "Another host" is a network namespace of the
// test's own, on a veth pair with a private /30 (and a /64 when the host has
// IPv6), routing the container subnets through the host, as a LAN peer whose
// default route is this machine would. Traffic goes only to that namespace,
// the containers made here and listeners the test opens on the host's
// loopback.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { ipv6Unavailable } from "../../src/network/cidr6.ts";
import { freePort, freeSubnet, freeSubnet6, leftovers, prefixOf, vethNames } from "../network/fixtures.ts";

let t: TestRoot;
const NO_V6 = ipv6Unavailable();
const network = `sn${process.pid}`;
const subnet = freeSubnet();
const subnet6 = NO_V6 ? "" : freeSubnet6();
// The other host's link: a /30 (and a /64) inside subnets no one here uses.
const link = freeSubnet();
const link6 = NO_V6 ? "" : freeSubnet6();
const hostSide = `${prefixOf(link)}1`;
const peerSide = `${prefixOf(link)}2`;
const hostSide6 = `${prefixOf(link6)}:1`;
const peerSide6 = `${prefixOf(link6)}:2`;
const peerNs = `capsa-sec-lan-${process.pid}`;
const veth = `csl${process.pid % 100000}`;
const ports: number[] = [];
const bridges: string[] = [];
let baselineVeths = new Set<string>();
let rulesBefore = new Set<string>();
/** The container's listeners: each answers one letter. */
const UNPUBLISHED = 7001;
const PUBLISHED = 7002;
const LOOPBACK_ONLY = 7003;
let hostPort = 0;
let loopPort = 0;
let target = { ip: "", ip6: "" };
let gateway = "";

type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const run = (...args: string[]): string => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const rules = (): string[] => [...spawnSync("iptables-save", { encoding: "utf8" }).stdout.split("\n"), ...spawnSync("ip6tables-save", { encoding: "utf8" }).stdout.split("\n")].filter((l) => l.startsWith("-A ") || l.startsWith(":"));

/** What the other host gets back from addr:port within a short timeout ("" when nothing answers). */
function fromPeer(addr: string, port: number): string {
  const r = spawnSync("ip", ["netns", "exec", peerNs, "busybox", "nc", "-w", "2", addr, String(port)], { encoding: "utf8", input: "", timeout: 15_000 });
  return r.stdout.trim();
}

before(async () => {
  baselineVeths = vethNames();
  rulesBefore = new Set(rules());
  t = makeTestRoot("secnet");
  importBusybox(t, "bb:1");
  hostPort = await freePort();
  loopPort = await freePort();
  ports.push(hostPort, loopPort);
  ok(t.capsa(["network", "create", "--subnet", subnet, ...(NO_V6 ? [] : ["--ipv6", "--subnet", subnet6]), network]), "network create");
  bridges.push(ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", network]), "inspect").trim());
  gateway = ok(t.capsa(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network]), "inspect").trim();
  const serve = [UNPUBLISHED, PUBLISHED, LOOPBACK_ONLY].map((p, i) => `nc -ll -p ${p} -e echo ${"upl"[i]} &`).join(" ");
  ok(
    t.capsa(["run", "-d", "--name", "target", "--network", network, "-p", `${hostPort}:${PUBLISHED}`, "-p", `127.0.0.1:${loopPort}:${LOOPBACK_ONLY}`, "bb:1", "sh", "-c", `${serve} exec sleep 3600`]),
    "run target",
  );
  const tmpl = `{{(index .NetworkSettings.Networks "${network}").IPAddress}} {{(index .NetworkSettings.Networks "${network}").GlobalIPv6Address}}`;
  const [ip = "", ip6 = ""] = ok(t.capsa(["inspect", "-f", tmpl, "target"]), "inspect target").trim().split(" ");
  target = { ip, ip6 };

  // The other host: its own namespace and link; lo stays down so that 127.0.0.1 is not local there.
  run("ip", "netns", "add", peerNs);
  run("ip", "link", "add", veth, "type", "veth", "peer", "name", `${veth}p`);
  run("ip", "link", "set", `${veth}p`, "netns", peerNs);
  run("ip", "addr", "add", `${hostSide}/30`, "dev", veth);
  run("ip", "link", "set", veth, "up");
  run("ip", "-n", peerNs, "addr", "add", `${peerSide}/30`, "dev", `${veth}p`);
  run("ip", "-n", peerNs, "link", "set", `${veth}p`, "up");
  run("ip", "-n", peerNs, "route", "add", subnet, "via", hostSide);
  if (!NO_V6) {
    run("ip", "addr", "add", `${hostSide6}/64`, "dev", veth, "nodad");
    run("ip", "-n", peerNs, "addr", "add", `${peerSide6}/64`, "dev", `${veth}p`, "nodad");
    run("ip", "-n", peerNs, "route", "add", subnet6, "via", hostSide6);
  }
});

after(() => {
  spawnSync("ip", ["netns", "del", peerNs]);
  spawnSync("ip", ["link", "del", veth]);
  t.cleanup();
});

void describe("networks seen from another host and from a workload", () => {
  void it("another host reaches a port published on all addresses through the host's address on its link", async () => {
    assert.equal(
      await eventually(() => {
        const got = fromPeer(hostSide, hostPort);
        if (!got) throw new Error("no answer yet");
        return got;
      }, 20_000),
      "p",
    );
  });

  void it("another host that routes the container subnet through this one reaches no container address directly", () => {
    const reached = [
      [target.ip, UNPUBLISHED],
      [target.ip, PUBLISHED],
      [target.ip, LOOPBACK_ONLY],
    ].filter(([addr, port]) => fromPeer(addr as string, port as number) !== "");
    // The network's gateway is the host's address on the bridge, where the network's DNS server listens.
    const dns = spawnSync("ip", ["netns", "exec", peerNs, "timeout", "5", "busybox", "nslookup", "target", gateway], { encoding: "utf8" });
    if (dns.stdout.includes(`Address: ${target.ip}`)) reached.push([gateway, 53]);
    assert.deepEqual(reached, [], "these answered another host directly");
  });

  void it("another host reaches no container's IPv6 address directly, and the published port over IPv6", { skip: NO_V6 ? `IPv6 unavailable here: ${NO_V6}` : false }, async () => {
    assert.ok(target.ip6, "the container has no IPv6 address");
    assert.equal(
      await eventually(() => {
        const got = fromPeer(hostSide6, hostPort);
        if (!got) throw new Error("no answer yet");
        return got;
      }, 20_000),
      "p",
    );
    const reached = [UNPUBLISHED, PUBLISHED, UNPUBLISHED].filter((port) => fromPeer(target.ip6, port) !== "");
    assert.deepEqual(reached, [], `ports of [${target.ip6}] answered another host directly`);
  });

  void it("a port published on 127.0.0.1 answers on the host's loopback only, not to another host sending to 127.0.0.1 through it (CVE-2020-8558)", async () => {
    // The canary: the host itself still reaches it.
    assert.equal(
      await eventually(async () => {
        const got = await tcpRead("127.0.0.1", loopPort);
        if (!got) throw new Error("no answer yet");
        return got;
      }, 20_000),
      "l",
    );
    const reached: string[] = [];
    if (fromPeer(hostSide, loopPort)) reached.push(`${hostSide}:${loopPort}`);
    // The attack: the peer routes 127.0.0.1 to this host and accepts 127.0.0.1 as a source in replies.
    run("ip", "-n", peerNs, "route", "add", "127.0.0.1/32", "via", hostSide);
    run("ip", "netns", "exec", peerNs, "sysctl", "-q", "-w", `net.ipv4.conf.${veth}p.route_localnet=1`);
    for (const port of [loopPort, hostPort]) if (fromPeer("127.0.0.1", port)) reached.push(`127.0.0.1:${port}`);
    assert.deepEqual(reached, [], "these answered another host");
  });

  void it("a container, even with NET_ADMIN routing 127.0.0.0/8 to its gateway, reaches nothing on the host's loopback", async () => {
    // Host listeners of the test's: on 127.0.0.1, on another 127.x address and, as the probe's own check, on the gateway.
    const port = await freePort();
    const got: string[] = [];
    const socks = ["127.0.0.1", "127.0.0.9", gateway].map((addr) => {
      const s = dgram.createSocket("udp4");
      s.on("message", () => got.push(addr));
      return new Promise<dgram.Socket>((resolve, reject) => {
        s.once("error", reject);
        s.bind(port, addr, () => resolve(s));
      });
    });
    const listeners = await Promise.all(socks);
    try {
      ok(t.capsa(["run", "-d", "--name", "prober", "--cap-add", "NET_ADMIN", "--network", network, "bb:1", "sleep", "3600"]), "run prober");
      // busybox's tftp sends one UDP datagram to HOST PORT (and retries); the listeners count what arrives.
      const probe = (addr: string): void => void t.capsa(["exec", "prober", "timeout", "3", "tftp", "-g", "-r", "x", "-l", "/tmp/x", addr, String(port)]);
      probe(gateway);
      await eventually(() => assert.ok(got.includes(gateway), "the probe does not reach the host at all"), 10_000);
      ok(
        t.capsa(["exec", "prober", "sh", "-c", `ip route del local 127.0.0.0/8 dev lo table local && ip route del local 127.0.0.1 dev lo table local && ip route add 127.0.0.0/8 via ${gateway} dev eth0`]),
        "route 127/8 out of the container",
      );
      probe("127.0.0.1");
      probe("127.0.0.9");
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(got.filter((a) => a !== gateway), [], "a host loopback listener received the container's datagrams");
    } finally {
      for (const s of listeners) s.close();
      t.capsa(["rm", "-f", "prober"]);
    }
  });

  void it("containers on the network still reach each other's unpublished ports", () => {
    ok(t.capsa(["run", "-d", "--name", "peer", "--network", network, "bb:1", "sleep", "3600"]), "run peer");
    assert.equal(ok(t.capsa(["exec", "peer", "nc", "-w", "3", target.ip, String(UNPUBLISHED)]), "nc from peer").trim(), "u");
    if (target.ip6) assert.equal(ok(t.capsa(["exec", "peer", "nc", "-w", "3", target.ip6, String(UNPUBLISHED)]), "nc6 from peer").trim(), "u");
    ok(t.capsa(["rm", "-f", "peer"]), "rm peer");
  });

  void it("removing the containers and the network leaves no iptables or ip6tables rule of its own", () => {
    ok(t.capsa(["rm", "-f", "target"]), "rm target");
    ok(t.capsa(["network", "rm", network]), "network rm");
    const state = leftovers(t.root, { bridges, subnets: [subnet, ...(subnet6 ? [subnet6] : [])], ports, baselineVeths });
    assert.deepEqual(state.rules, []);
    assert.deepEqual(state.bridges, []);
    // Everything added since the start that names the network's bridge or chains.
    const tag = bridges[0]!.replace(/^cps-/, "");
    assert.deepEqual(rules().filter((l) => !rulesBefore.has(l) && l.includes(tag)), []);
  });
});

/** What a TCP server at addr:port sends before closing ("" on any failure). */
function tcpRead(addr: string, port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    let data = "";
    const s = net.connect({ host: addr, port, timeout: 3000 });
    s.on("data", (d) => (data += d.toString()));
    s.on("end", () => resolve(data.trim()));
    s.on("timeout", () => (s.destroy(), resolve(data.trim())));
    s.on("error", () => resolve(""));
  });
}
