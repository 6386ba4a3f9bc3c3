// Networks end to end through the real CLI, CNI plugins, kernel and iptables.
// Every subnet is a 10.x /24 nobody on the host uses, chosen at run time; the
// only traffic leaves for loopback, the containers and namespaces made here,
// and the Debian mirror named in /etc/apt (for the NAT/internal test).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { CLI, eventually, importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { formatCidr, parseCidr } from "../../src/network/cidr.ts";
import { debianMirror, debianRootfsTar } from "../fixtures/debian.ts";
import { freePort, freeSubnet, leftovers, prefixOf, resolveHost, vethNames } from "./fixtures.ts";

let t: TestRoot;
const defaultSubnet = freeSubnet();
const subnets = [defaultSubnet];
const ports: number[] = [];
const bridges: string[] = [];
const peerNs = `capsa-test-peer-${process.pid}`;
const peerVeth = `cpt${process.pid % 100000}`;
let baselineVeths = new Set<string>();
const NOTHING = { veths: [], bridges: [], netns: [], rules: [], leases: [], dns: [] };
/** Names by DNS need Debian's dnsmasq-base; without it they resolve through /etc/hosts only. */
const HAVE_DNSMASQ = fs.existsSync("/usr/sbin/dnsmasq");

type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function network(name: string, ...flags: string[]): string {
  const subnet = freeSubnet();
  subnets.push(subnet);
  ok(t.capsa(["network", "create", "--subnet", subnet, ...flags, name]), `network create ${name}`);
  bridges.push(ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", name]), "inspect").trim());
  return subnet;
}

async function httpGet(url: string, timeoutMs = 3000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return await res.text();
}

const hostsOf = (name: string): string => ok(t.capsa(["exec", name, "cat", "/etc/hosts"]), "exec cat /etc/hosts");

function state(): ReturnType<typeof leftovers> {
  return leftovers(t.root, { bridges, subnets, ports, baselineVeths, netnsNames: [peerNs] });
}

before(() => {
  baselineVeths = vethNames();
  t = makeTestRoot("net");
  t.env.CAPSA_DEFAULT_BRIDGE_SUBNET = defaultSubnet;
  importBusybox(t, "bb:1");
  const before = state();
  assert.deepEqual(before, NOTHING, "the test's subnets are in use before it starts");
});

after(() => {
  spawnSync("ip", ["netns", "del", peerNs]);
  spawnSync("ip", ["link", "del", peerVeth]);
  t.cleanup();
});

void describe("networks", () => {
  void it("the default bridge exists without set-up, uses the subnet given for it; ip, route and hosts agree with inspect", () => {
    ok(t.capsa(["run", "-d", "--name", "plain", "bb:1", "sleep", "60"]), "run");
    const ip = ok(t.capsa(["inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "plain"]), "inspect").trim();
    assert.ok(ip.startsWith(prefixOf(defaultSubnet)), `${ip} not in ${defaultSubnet}`);
    const inside = ok(t.capsa(["exec", "plain", "sh", "-c", "ip -o -4 addr show eth0; ip route; cat /etc/hosts; hostname"]), "exec");
    assert.match(inside, new RegExp(`inet ${ip.replace(/\./g, "\\.")}/24`));
    assert.match(inside, /default via \S+ dev eth0/);
    const hostname = inside.trim().split("\n").at(-1)!;
    assert.match(inside, new RegExp(`${ip.replace(/\./g, "\\.")}\\t${hostname}`));
    const ls = ok(t.capsa(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]), "network ls");
    assert.match(ls, /^bridge bridge$/m);
    assert.match(ls, /^host host$/m);
    assert.match(ls, /^none null$/m);
    bridges.push(ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", "bridge"]), "inspect").trim());
    const conf = JSON.parse(ok(t.capsa(["network", "inspect", "-f", "{{json .Capsa.ConfList}}", "bridge"]), "inspect")) as string;
    assert.match(conf, /networks\/bridge\.conflist$/);
    ok(t.capsa(["rm", "-f", "plain"]), "rm");
  });

  void it("two containers resolve and reach each other by name and alias", () => {
    network(`nt${process.pid}a`);
    const net = `nt${process.pid}a`;
    ok(t.capsa(["run", "-d", "--network", net, "--name", "db", "--network-alias", "database", "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]), "run db");
    const dbHost = ok(t.capsa(["inspect", "-f", "{{.Config.Hostname}}", "db"]), "inspect").trim();
    const out = ok(
      t.capsa(["run", "--rm", "--network", net, "--cap-add", "NET_RAW", "bb:1", "sh", "-c", "for i in 1 2 3 4 5; do timeout 3 wget -q -O - http://db/hostname && break; sleep 0.3; done; timeout 3 wget -q -O - http://database/hostname; ping -c1 -W2 db >/dev/null && echo pinged"]),
      "client",
    );
    assert.equal(out, `${dbHost}\n${dbHost}\npinged\n`);
    if (HAVE_DNSMASQ) {
      const ip = ok(t.capsa(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"]), "inspect").trim();
      const dns = ok(t.capsa(["run", "--rm", "--network", net, "bb:1", "sh", "-c", "nslookup db; nslookup database"]), "nslookup");
      assert.equal(dns.match(new RegExp(`Address: ${ip.replace(/\./g, "\\.")}$`, "gm"))?.length, 2, dns);
    }
  });

  void it("names follow start, stop, connect and disconnect", async () => {
    const net = `nt${process.pid}a`;
    const net2 = `nt${process.pid}b`;
    network(net2);
    ok(t.capsa(["run", "-d", "--network", net, "--name", "peer", "bb:1", "sleep", "120"]), "run peer");
    assert.match(hostsOf("peer"), /\tdb database /);
    ok(t.capsa(["stop", "-t", "0", "db"]), "stop db");
    assert.doesNotMatch(hostsOf("peer"), /\bdb\b/);
    if (HAVE_DNSMASQ) assert.notEqual(t.capsa(["exec", "peer", "nslookup", "database"]).status, 0, "a stopped container still resolves by DNS");
    ok(t.capsa(["start", "db"]), "start db");
    assert.match(hostsOf("peer"), /\tdb database /);
    if (HAVE_DNSMASQ) assert.match(ok(t.capsa(["exec", "peer", "nslookup", "database"]), "nslookup"), /Name:\s+database/);

    ok(t.capsa(["run", "-d", "--network", net2, "--name", "peer2", "bb:1", "sleep", "120"]), "run peer2");
    assert.doesNotMatch(hostsOf("peer2"), /\bdb\b/);
    ok(t.capsa(["network", "connect", "--alias", "store", net2, "db"]), "connect");
    assert.match(hostsOf("peer2"), /\tdb store /);
    const viaAlias = await eventually(() => ok(t.capsa(["exec", "peer2", "timeout", "3", "wget", "-q", "-O", "-", "http://store/hostname"]), "wget store"));
    assert.ok(viaAlias.trim().length > 0);
    assert.deepEqual(ok(t.capsa(["ps", "-f", `network=${net2}`, "--format", "{{.Names}}"]), "ps").trim().split("\n").sort(), ["db", "peer2"]);
    const nets = JSON.parse(ok(t.capsa(["inspect", "-f", "{{json .NetworkSettings.Networks}}", "db"]), "inspect")) as Record<string, { IPAddress: string }>;
    assert.deepEqual(Object.keys(nets).sort(), [net, net2].sort());
    assert.ok(nets[net2]!.IPAddress.startsWith(prefixOf(subnets.at(-1)!)));
    ok(t.capsa(["network", "disconnect", net2, "db"]), "disconnect");
    assert.doesNotMatch(hostsOf("peer2"), /\bdb\b/);
    assert.notEqual(t.capsa(["exec", "peer2", "timeout", "3", "wget", "-q", "-O", "-", "http://store/hostname"]).status, 0);
    // Networks are isolated from each other: db's address on the first network answers its peers only.
    const dbIp = nets[net]!.IPAddress;
    assert.equal(t.capsa(["exec", "peer", "timeout", "3", "wget", "-q", "-O", "-", `http://${dbIp}/hostname`]).status, 0, "same network");
    assert.notEqual(t.capsa(["exec", "peer2", "timeout", "3", "wget", "-q", "-O", "-", `http://${dbIp}/hostname`]).status, 0, "another network reached db");
    const rm = t.capsa(["network", "rm", net2]);
    assert.equal(rm.status, 1);
    assert.match(rm.stderr, /active endpoints \(peer2\)/);
    ok(t.capsa(["rm", "-f", "peer2"]), "rm peer2");
    ok(t.capsa(["network", "rm", net2]), "network rm");
  });

  void it("--ip, --mac-address, --hostname, --dns, --dns-search and --add-host are what the container sees and inspect shows", () => {
    const net = `nt${process.pid}a`;
    const sub = subnets[1]!;
    const ip = `${prefixOf(sub)}77`;
    ok(
      t.capsa([
        "run", "-d", "--name", "fixed", "--network", net, "--ip", ip, "--mac-address", "92:d0:c6:0a:29:33", "--hostname", "box1",
        "--dns", "10.0.0.53", "--dns-search", "example.test", "--add-host", "extra.test:10.9.8.7", "bb:1", "sleep", "60",
      ]),
      "run",
    );
    const out = ok(t.capsa(["exec", "fixed", "sh", "-c", "ip -o -4 addr show eth0; cat /sys/class/net/eth0/address; hostname; cat /etc/resolv.conf /etc/hosts"]), "exec");
    const seen = ok(t.capsa(["inspect", "-f", `{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}} {{(index .NetworkSettings.Networks "${net}").IPAddress}} {{.Config.Hostname}}`, "fixed"]), "inspect");
    assert.equal(seen.trim(), `${ip} 92:d0:c6:0a:29:33 ${ip} box1`);
    assert.match(out, new RegExp(`inet ${ip.replace(/\./g, "\\.")}/24`));
    assert.match(out, /^92:d0:c6:0a:29:33$/m);
    assert.match(out, /^box1$/m);
    assert.match(out, /^nameserver 10\.0\.0\.53$/m);
    assert.match(out, /^search example\.test$/m);
    assert.match(out, /^10\.9\.8\.7\textra\.test$/m);
    assert.match(out, new RegExp(`^${ip.replace(/\./g, "\\.")}\tbox1$`, "m"));
    const bad = t.capsa(["run", "--rm", "--network", net, "--ip", "192.168.254.3", "bb:1", "true"]);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /not in network/);
    ok(t.capsa(["rm", "-f", "fixed"]), "rm");
  });

  void it("publishes TCP and UDP ports to the host's loopback; random ports, -P and `port`", async () => {
    const tcp = await freePort();
    const udp = await freePort();
    ports.push(tcp, udp);
    ok(t.capsa(["run", "-d", "--name", "web", "-p", `${tcp}:80`, "-p", "127.0.0.1::8080", "--expose", "9000", "-P", "bb:1", "httpd", "-f", "-p", "80", "-h", "/etc"]), "run web");
    const webHost = ok(t.capsa(["inspect", "-f", "{{.Config.Hostname}}", "web"]), "inspect").trim();
    const body = await eventually(() => httpGet(`http://127.0.0.1:${tcp}/hostname`));
    assert.equal(body.trim(), webHost);
    const port = ok(t.capsa(["port", "web"]), "port");
    assert.match(port, new RegExp(`^80/tcp -> 0\\.0\\.0\\.0:${tcp}$`, "m"));
    const random = /^8080\/tcp -> 127\.0\.0\.1:(\d+)$/m.exec(port);
    assert.ok(random && Number(random[1]) >= 32768, port);
    assert.match(port, /^9000\/tcp -> 0\.0\.0\.0:\d+$/m);
    ports.push(Number(random[1]));
    assert.match(ok(t.capsa(["ps", "--format", "{{.Ports}}", "-f", "name=web"]), "ps"), new RegExp(`0\\.0\\.0\\.0:${tcp}->80/tcp`));

    // busybox's nc has no UDP here: a perl echo server in a Debian image answers each datagram.
    const imp = t.capsa(["import", debianRootfsTar(), "deb:1"], { timeoutMs: 300_000 });
    assert.equal(imp.status, 0, imp.stderr);
    const echo = 'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 5353, Proto => "udp") or die $!; while (1) { $s->recv(my $m, 1500); $s->send("echo:$m"); }';
    ok(t.capsa(["run", "-d", "--name", "echo", "-p", `${udp}:5353/udp`, "deb:1", "perl", "-e", echo]), "run udp");
    const sock = dgram.createSocket("udp4");
    try {
      const reply = await eventually(
        () =>
          new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("no UDP reply")), 1000);
            sock.once("message", (m) => {
              clearTimeout(timer);
              resolve(m.toString());
            });
            sock.send(`hello-udp-${udp}`, udp, "127.0.0.1");
          }),
        20_000,
      );
      assert.equal(reply, `echo:hello-udp-${udp}`);
    } finally {
      sock.close();
    }
    ok(t.capsa(["rm", "-f", "echo"]), "rm echo");
  });

  void it("another host reaches a published port through the host's address on its link", async () => {
    const tcp = Number(/0\.0\.0\.0:(\d+)->80/.exec(ok(t.capsa(["ps", "--format", "{{.Ports}}", "-f", "name=web"]), "ps"))![1]);
    const link = freeSubnet();
    subnets.push(link);
    const p = prefixOf(link);
    const run = (...args: string[]): void => {
      const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
      assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
    };
    run("ip", "netns", "add", peerNs);
    run("ip", "link", "add", peerVeth, "type", "veth", "peer", "name", peerVeth + "p");
    run("ip", "link", "set", peerVeth + "p", "netns", peerNs);
    run("ip", "addr", "add", `${p}1/24`, "dev", peerVeth);
    run("ip", "link", "set", peerVeth, "up");
    run("ip", "-n", peerNs, "addr", "add", `${p}2/24`, "dev", peerVeth + "p");
    run("ip", "-n", peerNs, "link", "set", peerVeth + "p", "up");
    run("ip", "-n", peerNs, "link", "set", "lo", "up");
    const webHost = ok(t.capsa(["inspect", "-f", "{{.Config.Hostname}}", "web"]), "inspect").trim();
    const body = await eventually(() => {
      const r = spawnSync("ip", ["netns", "exec", peerNs, "curl", "-s", "-m", "3", `http://${p}1:${tcp}/hostname`], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`curl from the other host: ${r.status} ${r.stderr}`);
      return r.stdout;
    });
    assert.equal(body.trim(), webHost);
    run("ip", "netns", "del", peerNs);
    spawnSync("ip", ["link", "del", peerVeth]);
    ok(t.capsa(["rm", "-f", "web"]), "rm web");
  });

  void it("a port already taken is a clear error before the container starts", async () => {
    const taken = await freePort();
    ports.push(taken);
    ok(t.capsa(["run", "-d", "--name", "first", "-p", `${taken}:80`, "bb:1", "httpd", "-f", "-p", "80"]), "run first");
    const second = t.capsa(["run", "-d", "--name", "second", "-p", `${taken}:80`, "bb:1", "httpd", "-f", "-p", "80"]);
    assert.equal(second.status, 125);
    assert.match(second.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${taken} failed: port is already allocated`));
    assert.equal(ok(t.capsa(["inspect", "-f", "{{.State.Running}}", "second"]), "inspect").trim(), "false");
    // A socket of the host's own.
    const hostPort = await freePort();
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(hostPort, "127.0.0.1", () => r()));
    try {
      const r = t.capsa(["run", "--rm", "-p", `${hostPort}:80`, "bb:1", "true"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /port is already allocated/);
    } finally {
      srv.close();
    }
    ok(t.capsa(["rm", "-f", "first", "second"]), "rm");
  });

  void it("overlapping subnets are rejected clearly, with each other and with the host's routes", () => {
    const net = `nt${process.pid}a`;
    const sub = ok(t.capsa(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", net]), "inspect").trim();
    const inner = sub.replace(/\.0\/24$/, ".128/25");
    const r = t.capsa(["network", "create", "--subnet", inner, `nt${process.pid}x`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /overlaps/);
    // A route of the host's own, not one of a capsa bridge (those are networks, reported as such).
    const hostNet = spawnSync("ip", ["-4", "route", "show"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l.trim() && !/ dev cps-/.test(l))
      .map((l) => parseCidr(l.trim().split(/\s+/)[0] ?? ""))
      .find((s) => s !== undefined && s.prefix >= 8 && s.prefix < 32);
    if (hostNet) {
      const h = t.capsa(["network", "create", "--subnet", formatCidr(hostNet), `nt${process.pid}y`]);
      assert.equal(h.status, 1);
      assert.match(h.stderr, /overlaps .* host already routes/);
    }
    assert.doesNotMatch(ok(t.capsa(["network", "ls", "-q", "--no-trunc", "--format", "{{.Name}}"]), "ls"), /nt\d+[xy]/);
  });

  void it("--network none has only loopback; host sees the host's interfaces; container:<x> shares x's stack", () => {
    assert.equal(ok(t.capsa(["run", "--rm", "--network", "none", "bb:1", "sh", "-c", "ip -o link | cut -d: -f2"]), "none").trim(), "lo");
    const hostIfs = spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map((l) => l.split(":")[1]!.trim().split("@")[0]!);
    const inHost = ok(t.capsa(["run", "--rm", "--network", "host", "bb:1", "sh", "-c", "ip -o link | cut -d: -f2"]), "host").split("\n").map((s) => s.trim().split("@")[0]!);
    for (const i of hostIfs.filter((n) => !n.startsWith("veth") && !n.startsWith("cps-"))) assert.ok(inHost.includes(i), `host interface ${i} missing in --network host`);
    const ip = ok(t.capsa(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"]), "inspect").trim();
    const dbHost = ok(t.capsa(["inspect", "-f", "{{.Config.Hostname}}", "db"]), "inspect").trim();
    const shared = ok(t.capsa(["run", "--rm", "--network", "container:db", "bb:1", "sh", "-c", "ip -o -4 addr show eth0; timeout 3 wget -q -O - http://127.0.0.1/hostname"]), "container:db");
    assert.match(shared, new RegExp(`inet ${ip.replace(/\./g, "\\.")}/`));
    assert.match(shared, new RegExp(`^${dbHost}$`, "m"));
  });

  void it("an --internal network cannot reach outside while the bridge can (HTTP HEAD to the package mirror)", () => {
    const mirror = debianMirror();
    const host = new URL(mirror).hostname;
    const ip = resolveHost(host);
    const internal = `nt${process.pid}i`;
    network(internal, "--internal");
    // Not exec'd by the shell: as pid 1, wget would ignore timeout's SIGTERM.
    const probe = `timeout 10 wget -q --spider ${mirror}/; exit $?`;
    const out = t.capsa(["run", "--rm", "--add-host", `${host}:${ip}`, "bb:1", "sh", "-c", probe]);
    assert.equal(out.status, 0, `bridge → mirror: ${out.stderr}`);
    const blocked = t.capsa(["run", "--rm", "--network", internal, "--add-host", `${host}:${ip}`, "bb:1", "sh", "-c", probe]);
    assert.notEqual(blocked.status, 0, "an internal network reached the mirror");
    // Not even with a default route the container adds itself.
    const gw = ok(t.capsa(["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", internal]), "inspect").trim();
    const routed = t.capsa(["run", "--rm", "--network", internal, "--cap-add", "NET_ADMIN", "--add-host", `${host}:${ip}`, "bb:1", "sh", "-c", `ip route add default via ${gw} && ${probe}`]);
    assert.notEqual(routed.status, 0, "an internal network reached the mirror through a route of its own");
    ok(t.capsa(["network", "rm", internal]), "network rm");
  });

  void it("a CLI killed at any point of `run` leaves nothing once the containers are removed", async () => {
    const net = `nt${process.pid}a`;
    for (const delay of [80, 250, 500, 900, 1500]) {
      const child = spawn(CLI, ["run", "--network", net, "-p", "80", "--name", `crash${delay}`, "bb:1", "sleep", "30"], { env: t.env, stdio: "ignore" });
      await sleep(delay);
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    for (const delay of [80, 250, 500, 900, 1500]) t.capsa(["rm", "-f", `crash${delay}`]);
    ok(t.capsa(["rm", "-f", "db", "peer"]), "rm");
    ok(t.capsa(["network", "ls"]), "network ls"); // reconciles
    const s = state();
    // The networks still exist: their bridges and their own rules (chains CAPSA-ISO/IN/RAW-<bridge>; jumps and NAT tagged capsa:<bridge>) stay until network rm / reset.
    assert.deepEqual({ ...s, bridges: [], rules: s.rules.filter((l) => !/CAPSA-(ISO|IN|RAW)-/.test(l) && !l.includes('"capsa:cps-')) }, NOTHING);
    ok(t.capsa(["network", "rm", net]), "network rm");
  });

  void it("a state root deleted without a reset: the next command anywhere removes its bridge", () => {
    const gone = makeTestRoot("netgone");
    try {
      importBusybox(gone, "bb:1");
      const sub = freeSubnet();
      subnets.push(sub);
      ok(gone.capsa(["network", "create", "--subnet", sub, "lost"]), "create");
      ok(gone.capsa(["run", "--rm", "--network", "lost", "bb:1", "true"]), "run");
      const bridge = ok(gone.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", "lost"]), "inspect").trim();
      bridges.push(bridge);
      assert.ok(fs.existsSync(`/sys/class/net/${bridge}`), "the bridge exists while its root does");
      fs.rmSync(gone.root, { recursive: true, force: true });
      ok(t.capsa(["network", "ls"]), "network ls");
      assert.ok(!fs.existsSync(`/sys/class/net/${bridge}`), `${bridge} outlived its state root`);
    } finally {
      gone.cleanup();
    }
  });

  void it("system reset leaves no veth, bridge, namespace, iptables rule or lease", () => {
    ok(t.capsa(["network", "create", "--subnet", subnets[1]!, `nt${process.pid}z`]), "create");
    bridges.push(ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", `nt${process.pid}z`]), "inspect").trim());
    ok(t.capsa(["run", "-d", "--network", `nt${process.pid}z`, "--name", "last", "bb:1", "sleep", "60"]), "run");
    ok(t.capsa(["run", "-d", "--name", "last2", "-p", `${ports[0]}:80`, "bb:1", "sleep", "60"]), "run");
    ok(t.capsa(["system", "reset", "--force"]), "reset");
    assert.deepEqual(state(), NOTHING);
  });
});
