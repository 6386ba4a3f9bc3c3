// Pure pieces of the network module: subnet arithmetic, subnet choice, and
// turning docker's PortBindings / -P into what is asked of the host.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { contains, formatCidr, formatIp, overlaps, parseCidr, parseIp, pickSubnet } from "../../src/network/cidr.ts";
import { contains6, formatCidr6, formatIp6, ipv6Unavailable, overlaps6, parseCidr6, parseIp6, pickUla64 } from "../../src/network/cidr6.ts";
import { rangeBounds4, rangeBounds6 } from "../../src/network/ipam.ts";
import { ipamConfig } from "../../src/cli/network.ts";
import { allocatePorts, wantedPorts } from "../../src/network/ports.ts";

const cidr = (s: string) => {
  const c = parseCidr(s);
  assert.ok(c, s);
  return c;
};

void describe("cidr", () => {
  void it("parses, normalises and rejects", () => {
    assert.equal(formatCidr(cidr("10.1.2.77/24")), "10.1.2.0/24");
    assert.equal(parseCidr("10.1.2.0/33"), undefined);
    assert.equal(parseCidr("10.1.2/24"), undefined);
    assert.equal(parseCidr("300.1.2.0/24"), undefined);
    assert.equal(parseIp("10.0.0.256"), undefined);
  });

  void it("overlap and containment", () => {
    assert.ok(overlaps(cidr("10.1.0.0/16"), cidr("10.1.7.0/24")));
    assert.ok(overlaps(cidr("10.1.7.128/25"), cidr("10.1.7.0/24")));
    assert.ok(!overlaps(cidr("10.1.7.0/25"), cidr("10.1.7.128/25")));
    assert.ok(contains(cidr("10.1.7.0/24"), parseIp("10.1.7.200")!));
    assert.ok(!contains(cidr("10.1.7.0/24"), parseIp("10.1.8.1")!));
  });

  void it("picks a free /24 from the pool, starting at the seed, skipping what is taken", () => {
    const pool = cidr("10.77.0.0/16");
    assert.equal(formatCidr(pickSubnet(pool, [], 5)), "10.77.5.0/24");
    assert.equal(formatCidr(pickSubnet(pool, [cidr("10.77.5.0/24"), cidr("10.77.6.9/32")], 5)), "10.77.7.0/24");
    assert.equal(formatCidr(pickSubnet(pool, [], 256 + 3)), "10.77.3.0/24");
    assert.throws(() => pickSubnet(cidr("10.77.0.0/23"), [cidr("10.77.0.0/23")], 0), /non-overlapping/);
  });
});

void describe("published ports", () => {
  void it("PortBindings and -P become the ports to ask for", () => {
    const w = wantedPorts(
      { ExposedPorts: { "80/tcp": {}, "9000/tcp": {}, "53/udp": {} } },
      { PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }, { HostIp: "127.0.0.1", HostPort: "" }], "53/udp": [{ HostIp: "", HostPort: "5353-5360" }] }, PublishAllPorts: true },
    );
    assert.deepEqual(w, [
      { HostIp: "", range: [8080, 8080], ContainerPort: 80, Protocol: "tcp" },
      { HostIp: "127.0.0.1", range: 0, ContainerPort: 80, Protocol: "tcp" },
      { HostIp: "", range: [5353, 5360], ContainerPort: 53, Protocol: "udp" },
      { HostIp: "", range: 0, ContainerPort: 9000, Protocol: "tcp" },
    ]);
    assert.throws(() => wantedPorts({}, { PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "x" }] } }), /invalid host port/);
  });

  void it("a port this root already maps is taken; a range moves on to the next free port", async () => {
    const taken = [{ HostIp: "", HostPort: 41234, ContainerPort: 80, Protocol: "tcp" as const }];
    await assert.rejects(allocatePorts([{ HostIp: "127.0.0.1", range: [41234, 41234], ContainerPort: 80, Protocol: "tcp" }], taken), /Bind for 127\.0\.0\.1:41234 failed: port is already allocated/);
    const got = await allocatePorts([{ HostIp: "", range: [41234, 41240], ContainerPort: 80, Protocol: "tcp" }], taken);
    assert.ok(got[0]!.HostPort > 41234 && got[0]!.HostPort <= 41240);
    // The same number over UDP is free.
    const udp = await allocatePorts([{ HostIp: "", range: [41234, 41234], ContainerPort: 53, Protocol: "udp" }], taken);
    assert.equal(udp[0]!.HostPort, 41234);
  });
});

void describe("cidr6", () => {
  void it("parses, prints canonically and compares IPv6 subnets", () => {
    assert.equal(formatCidr6(parseCidr6("FD00:0:0:0:0:0:0:5/64")!), "fd00::/64");
    assert.equal(formatIp6(parseIp6("2001:db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1");
    assert.equal(formatIp6(parseIp6("::ffff:10.1.2.3")!), "::ffff:a01:203");
    assert.equal(parseCidr6("fd00::/129"), undefined);
    assert.equal(parseIp6("fd00::g"), undefined);
    assert.ok(overlaps6(parseCidr6("fd00::/8")!, parseCidr6("fd12:3456::/64")!));
    assert.ok(!overlaps6(parseCidr6("fd00:1::/64")!, parseCidr6("fd00:2::/64")!));
    assert.ok(contains6(parseCidr6("fd00:1::/64")!, parseIp6("fd00:1::ffff")!));
  });

  void it("a random unique local /64 avoids what is taken", () => {
    let n = 0;
    const ids = [Buffer.from("0000000001", "hex"), Buffer.from("0000000002", "hex")];
    const got = pickUla64([parseCidr6("fd00:0:1::/48")!], () => ids[n++]!);
    assert.equal(formatCidr6(got), "fd00:0:2::/64");
  });

  void it("IPv6 switched off is told apart from IPv6 missing from the kernel", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-v6-"));
    try {
      assert.match(ipv6Unavailable(path.join(dir, "absent"), () => true)!, /kernel has IPv6 disabled/);
      for (const s of ["all", "default"]) fs.mkdirSync(path.join(dir, "conf", s), { recursive: true });
      fs.writeFileSync(path.join(dir, "conf/all/disable_ipv6"), "1\n");
      fs.writeFileSync(path.join(dir, "conf/default/disable_ipv6"), "0\n");
      assert.match(ipv6Unavailable(dir, () => true)!, /net\.ipv6\.conf\.all\.disable_ipv6=1/);
      fs.writeFileSync(path.join(dir, "conf/all/disable_ipv6"), "0\n");
      assert.match(ipv6Unavailable(dir, () => false)!, /ip6tables/);
      assert.equal(ipv6Unavailable(dir, () => true), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe("network create's IPAM flags", () => {
  const fail = (m: string): Error => new Error(m);
  void it("pairs gateways, ranges and aux addresses with the subnet that holds each, as docker", () => {
    assert.deepEqual(ipamConfig(["10.1.0.0/24", "fd00:1::/64"], ["fd00:1::1"], ["10.1.0.128/25", "fd00:1::100/120"], ["r=10.1.0.5", "s=fd00:1::9"], fail), [
      { Subnet: "10.1.0.0/24", IPRange: "10.1.0.128/25", AuxiliaryAddresses: { r: "10.1.0.5" } },
      { Subnet: "fd00:1::/64", IPRange: "fd00:1::100/120", Gateway: "fd00:1::1", AuxiliaryAddresses: { s: "fd00:1::9" } },
    ]);
    assert.throws(() => ipamConfig(["10.1.0.0/24"], [], ["10.2.0.0/25"], [], fail), /no matching subnet for range 10\.2\.0\.0\/25/);
    assert.throws(() => ipamConfig(["10.1.0.0/25"], [], ["10.1.0.0/24"], [], fail), /no matching subnet for range/);
    assert.throws(() => ipamConfig(["10.1.0.0/24"], [], ["10.1.0.0/26", "10.1.0.64/26"], [], fail), /multiple ranges/);
    assert.throws(() => ipamConfig([], ["10.1.0.1"], [], [], fail), /corresponding subnet/);
    assert.throws(() => ipamConfig(["10.1.0.0/24"], [], [], ["novalue"], fail), /name=address/);
  });

  void it("range bounds leave out the network, broadcast and gateway addresses", () => {
    const s = parseCidr("10.1.0.0/24")!;
    assert.deepEqual(rangeBounds4(s, parseCidr("10.1.0.0/30")!, parseIp("10.1.0.1")!)?.map(formatIp), ["10.1.0.2", "10.1.0.3"]);
    assert.deepEqual(rangeBounds4(s, parseCidr("10.1.0.252/30")!, parseIp("10.1.0.1")!)?.map(formatIp), ["10.1.0.252", "10.1.0.254"]);
    assert.equal(rangeBounds4(s, parseCidr("10.1.0.1/32")!, parseIp("10.1.0.1")!), undefined);
    const s6 = parseCidr6("fd00::/64")!;
    assert.deepEqual(rangeBounds6(s6, parseCidr6("fd00::/126")!, parseIp6("fd00::1")!)?.map(formatIp6), ["fd00::2", "fd00::3"]);
  });
});
