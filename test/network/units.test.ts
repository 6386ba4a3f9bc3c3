// Pure pieces of the network module: subnet arithmetic, subnet choice, and
// turning docker's PortBindings / -P into what is asked of the host.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contains, formatCidr, overlaps, parseCidr, parseIp, pickSubnet } from "../../src/network/cidr.ts";
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
