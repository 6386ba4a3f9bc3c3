// Names by DNS for a container on two user-defined networks: it resolves the
// names of both, others on each network resolve it (and its aliases there), and
// after a disconnect the names of that network are gone both ways. Real CLI,
// CNI plugins, dnsmasq; traffic only to the containers made here.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { freeSubnet, leftovers, vethNames } from "./fixtures.ts";

let t: TestRoot;
const subnets = [freeSubnet()];
const bridges: string[] = [];
let baselineVeths = new Set<string>();
const NOTHING = { veths: [], bridges: [], netns: [], rules: [], leases: [], dns: [] };

type R = { status: number | null; stderr: string; stdout: string };
const ok = (r: R, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const ip = (name: string, net: string): string => ok(t.capsa(["inspect", "-f", `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name]), "inspect").trim();
/** The address DNS gives `name` from inside `from`, or "" when it does not resolve. */
function lookup(from: string, name: string): string {
  const r = t.capsa(["exec", from, "nslookup", name]);
  if (r.status !== 0) return "";
  return /Name:\s+\S+\s+Address: (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] ?? "";
}

function create(name: string): void {
  const s = freeSubnet();
  subnets.push(s);
  ok(t.capsa(["network", "create", "--subnet", s, name]), `network create ${name}`);
  bridges.push(ok(t.capsa(["network", "inspect", "-f", "{{.Capsa.Bridge}}", name]), "inspect").trim());
}

before(() => {
  baselineVeths = vethNames();
  t = makeTestRoot("netdns");
  t.env.CAPSA_DEFAULT_BRIDGE_SUBNET = subnets[0]!;
  importBusybox(t, "bb:1");
});

after(() => t.cleanup());

void describe("DNS on two networks", { skip: fs.existsSync("/usr/sbin/dnsmasq") ? false : "needs Debian's dnsmasq-base" }, () => {
  const A = `nd${process.pid}a`;
  const B = `nd${process.pid}b`;

  void it("after connect, a running container resolves names on both networks and is resolvable on the second by name and alias", () => {
    create(A);
    create(B);
    ok(t.capsa(["run", "-d", "--network", A, "--name", "alpha", "bb:1", "sleep", "600"]), "run alpha");
    ok(t.capsa(["run", "-d", "--network", B, "--name", "beta", "bb:1", "sleep", "600"]), "run beta");
    ok(t.capsa(["run", "-d", "--network", A, "--name", "both", "bb:1", "sleep", "600"]), "run both");
    assert.equal(lookup("both", "alpha"), ip("alpha", A));
    assert.equal(lookup("both", "beta"), "", "a name on another network resolved before connect");
    ok(t.capsa(["network", "connect", "--alias", "bothalias", B, "both"]), "connect");
    assert.equal(lookup("both", "alpha"), ip("alpha", A));
    assert.equal(lookup("both", "beta"), ip("beta", B));
    assert.equal(lookup("beta", "both"), ip("both", B));
    assert.equal(lookup("beta", "bothalias"), ip("both", B));
    assert.equal(lookup("alpha", "beta"), "", "the first network's peers resolve names of the second");
    assert.equal(lookup("alpha", "bothalias"), "", "an alias of the second network resolves on the first");
  });

  void it("after disconnect, the names of that network are gone both ways; the first network's stay", () => {
    ok(t.capsa(["network", "disconnect", B, "both"]), "disconnect");
    assert.equal(lookup("beta", "bothalias"), "");
    assert.equal(lookup("beta", "both"), "");
    assert.equal(lookup("both", "beta"), "");
    assert.equal(lookup("both", "alpha"), ip("alpha", A));
  });

  void it("a container started on two networks resolves both; a restart keeps it so", () => {
    ok(t.capsa(["create", "--network", A, "--name", "twice", "bb:1", "sleep", "600"]), "create twice");
    ok(t.capsa(["network", "connect", B, "twice"]), "connect before start");
    ok(t.capsa(["start", "twice"]), "start");
    assert.equal(lookup("twice", "alpha"), ip("alpha", A));
    assert.equal(lookup("twice", "beta"), ip("beta", B));
    assert.equal(lookup("beta", "twice"), ip("twice", B));
    ok(t.capsa(["restart", "-t", "0", "twice"]), "restart");
    assert.equal(lookup("twice", "beta"), ip("beta", B));
    assert.equal(lookup("twice", "alpha"), ip("alpha", A));
  });

  void it("the DNS servers (each network's and the container's own resolver) run as nobody, without capabilities, in a root of their own", () => {
    const dir = `${t.root}/run/dns`;
    const pids = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".pid"))
      .map((f) => ({ file: f, pid: Number(fs.readFileSync(`${dir}/${f}`, "utf8").trim()) }));
    // Two networks' servers and the resolver of "twice" (on both).
    assert.equal(pids.filter((p) => !p.file.startsWith("c-")).length, 2, pids.map((p) => p.file).join(" "));
    assert.ok(pids.some((p) => p.file.startsWith("c-")), "no container resolver runs");
    const ownMounts = fs.readlinkSync("/proc/self/ns/mnt");
    for (const { file, pid } of pids) {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "";
      assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"), /dnsmasq/, file);
      assert.ok(field("Uid").split(/\s+/).every((u) => u !== "0"), `${file}: Uid ${field("Uid")}`);
      assert.ok(field("Gid").split(/\s+/).every((g) => g !== "0"), `${file}: Gid ${field("Gid")}`);
      assert.equal(BigInt(`0x${field("CapEff")}`), 0n, `${file}: CapEff`);
      assert.equal(BigInt(`0x${field("CapPrm")}`), 0n, `${file}: CapPrm`);
      assert.equal(field("NoNewPrivs"), "1", `${file}: NoNewPrivs`);
      assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/mnt`), ownMounts, `${file} shares the host's mount namespace`);
      // Its root holds the dns directory, but neither the rest of the state root nor the containers' namespaces.
      assert.ok(fs.existsSync(`/proc/${pid}/root${dir}/${file}`), `${file}: its own files are not in its root`);
      assert.ok(!fs.existsSync(`/proc/${pid}/root${t.root}/capsa.db`), `${file} sees the state root`);
      assert.doesNotMatch(fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8"), /nsfs|\/run\/netns|overlay/, `${file} holds the host's mounts`);
    }
  });

  void it("removal leaves no DNS server, veth, bridge, namespace, rule or lease", () => {
    ok(t.capsa(["rm", "-f", "alpha", "beta", "both", "twice"]), "rm");
    ok(t.capsa(["network", "rm", A, B]), "network rm");
    assert.deepEqual(leftovers(t.root, { bridges, subnets, ports: [], baselineVeths }), NOTHING);
  });
});
