// Dual-stack networks, --ip-range and --aux-address through the Engine API:
// the real docker CLI against `capsa system service` on a private socket and
// state root. Also: a `docker rm -f` of a running container leaves no rule,
// lease or veth behind (the API's removal settles the exit itself).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startService, type Service } from "../api/service.ts";
import { busyboxRootfsTar } from "../helpers.ts";
import { ipv6Unavailable } from "../../src/network/cidr6.ts";
import { freeSubnet, freeSubnet6, leftovers, prefixOf, vethNames } from "./fixtures.ts";

const NOTHING = { veths: [], bridges: [], netns: [], rules: [], leases: [], dns: [] };
const NO_V6 = ipv6Unavailable();

void describe("networks through the docker CLI", { skip: NO_V6 ? `IPv6 unavailable here: ${NO_V6}` : false }, () => {
  let s: Service;
  let baselineVeths = new Set<string>();
  const v4 = freeSubnet();
  const v6 = freeSubnet6();
  const bridges: string[] = [];
  const net = `na${process.pid}`;
  before(async () => {
    baselineVeths = vethNames();
    s = await startService("netapi", { CAPSA_DEFAULT_BRIDGE_SUBNET: freeSubnet() });
  });
  after(async () => {
    await s?.stop();
  });
  const ok = (args: string[]): string => s.dockerOk(args);

  void it("network create --ipv6 --ip-range --aux-address, run --ip6: inspect as docker shows it", () => {
    ok(["import", busyboxRootfsTar(), "bb:1"]);
    const p = prefixOf(v4);
    ok(["network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, "--ip-range", `${p}64/26`, "--aux-address", `gw2=${p}70`, net]);
    bridges.push(ok(["network", "inspect", "-f", "{{.Capsa.Bridge}}", net]).trim());
    assert.equal(ok(["network", "inspect", "-f", "{{.EnableIPv6}} {{json .IPAM.Config}}", net]).trim(), `true ${JSON.stringify([
      { Subnet: v4, IPRange: `${p}64/26`, Gateway: `${p}1`, AuxiliaryAddresses: { gw2: `${p}70` } },
      { Subnet: v6, Gateway: `${prefixOf(v6)}:1` },
    ])}`);
    ok(["run", "-d", "--name", "dv", "--network", net, "--ip6", `${prefixOf(v6)}:9`, "bb:1", "sleep", "600"]);
    const ep = JSON.parse(ok(["inspect", "-f", `{{json .NetworkSettings.Networks.${net}}}`, "dv"])) as Record<string, unknown>;
    assert.deepEqual(ep.IPAMConfig, { IPv6Address: `${prefixOf(v6)}:9` });
    assert.equal(ep.GlobalIPv6Address, `${prefixOf(v6)}:9`);
    assert.equal(ep.GlobalIPv6PrefixLen, 64);
    assert.equal(ep.IPv6Gateway, `${prefixOf(v6)}:1`);
    assert.equal(ep.IPAddress, `${p}64`);
    const bad = s.docker(["network", "create", "--subnet", freeSubnet(), "--ip-range", "10.254.0.0/24", `${net}x`]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /no matching subnet for range/);
  });

  void it("docker rm -f and network rm leave no veth, bridge, namespace, iptables or ip6tables rule, lease or DNS server", () => {
    ok(["rm", "-f", "dv"]);
    ok(["network", "rm", net]);
    assert.deepEqual(leftovers(s.t.root, { bridges, subnets: [v4, v6], ports: [], baselineVeths }), NOTHING);
  });
});
