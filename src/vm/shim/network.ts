// A VM on a capsa network. CNI gave the container's network namespace an
// eth0 (a veth on the network's bridge) with an address. The VM takes that
// place: a tap device in the same namespace, joined to eth0 in both
// directions by tc "mirred" redirects, and the guest's NIC carries eth0's
// MAC address and IP (the kernel's ip= parameter). Packets cross the namespace
// without its IP stack ever seeing them, so names, published ports and
// isolation rules, which all address eth0, reach the VM unchanged.
// (Kata Containers connects VMs to CNI networks the same way.)
import { execFileSync } from "node:child_process";

interface Addr {
  address: string;
  prefix: number;
  gateway?: string;
  mac: string;
}

function inNs(netns: string, args: string[]): string {
  return execFileSync("nsenter", [`--net=${netns}`, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Wires a tap to eth0 and returns eth0's configuration for the guest; undefined when the namespace has no eth0 (--network none). */
export async function prepareNetwork(netns: string): Promise<Addr | undefined> {
  let links: { ifname: string; address?: string; addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  try {
    links = JSON.parse(inNs(netns, ["ip", "-j", "addr", "show"])) as typeof links;
  } catch {
    return undefined;
  }
  const eth0 = links.find((l) => l.ifname === "eth0");
  const v4 = eth0?.addr_info?.find((a) => a.family === "inet");
  if (!eth0 || !v4 || !eth0.address) return undefined;
  let gateway: string | undefined;
  try {
    const routes = JSON.parse(inNs(netns, ["ip", "-j", "route", "show", "default"])) as { gateway?: string }[];
    gateway = routes[0]?.gateway;
  } catch {
    /* no default route: an internal network */
  }
  const sh = [
    "set -e",
    "ip tuntap add dev tap0 mode tap 2>/dev/null || true",
    "ip link set tap0 up",
    "tc qdisc replace dev eth0 ingress",
    "tc qdisc replace dev tap0 ingress",
    "tc filter replace dev eth0 parent ffff: prio 1 protocol all u32 match u8 0 0 action mirred egress redirect dev tap0",
    "tc filter replace dev tap0 parent ffff: prio 1 protocol all u32 match u8 0 0 action mirred egress redirect dev eth0",
  ].join("\n");
  try {
    inNs(netns, ["sh", "-c", sh]);
  } catch (e) {
    throw new Error(`cannot connect the VM to its network: ${((e as { stderr?: string }).stderr ?? String(e)).trim()}`);
  }
  return { address: v4.local, prefix: v4.prefixlen, gateway, mac: eth0.address };
}
