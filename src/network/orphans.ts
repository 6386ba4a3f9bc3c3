// What a state root that vanished without `system reset` (rm -rf, a killed
// harness) leaves host-wide: bridges and DNS servers. Each bridge is labelled
// with its state root (the interface alias), each dnsmasq names its pid file
// under the run root; any capsa command touching networks removes those whose
// root is gone, so other roots reclaim the subnets.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { unisolate } from "./isolation.ts";

const PREFIX = "capsa:";
/**
 * Part of the label: bumped when a network's own rules change (isolation.ts),
 * so a bridge labelled by an earlier capsa is labelled again, and gets the
 * current rules, on its next attach.
 */
const RULES = "r2:";

function read(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Labels a bridge with the state root that owns it (once; cheap when already done). True when it was new. */
export function labelBridge(bridge: string, root: string): boolean {
  const alias = PREFIX + RULES + root;
  if (read(`/sys/class/net/${bridge}/ifalias`).trim() === alias) return false;
  try {
    execFileSync("ip", ["link", "set", "dev", bridge, "alias", alias], { stdio: "ignore" });
    return true;
  } catch {
    return false; // the bridge is not there (yet): labelled on the next attach
  }
}

/** Deletes capsa bridges whose state root has no database any more and that have no ports. */
export function sweepOrphanBridges(): string[] {
  const removed: string[] = [];
  let links: string[] = [];
  try {
    links = fs.readdirSync("/sys/class/net").filter((n) => n.startsWith("cps-"));
  } catch {
    return removed;
  }
  for (const b of links) {
    const alias = read(`/sys/class/net/${b}/ifalias`).trim();
    if (!alias.startsWith(PREFIX)) continue;
    // Roots are absolute paths; earlier labels had no rules version.
    const root = alias.slice(PREFIX.length).replace(/^r\d+:/, "");
    if (fs.existsSync(path.join(root, "capsa.db"))) continue;
    let ports: string[] = [];
    try {
      ports = fs.readdirSync(`/sys/class/net/${b}/brif`);
    } catch {
      /* not a bridge after all */
    }
    if (ports.length) continue;
    try {
      execFileSync("ip", ["link", "del", b], { stdio: "ignore" });
      unisolate(b);
      removed.push(b);
    } catch {
      /* someone else removed it */
    }
  }
  return removed;
}

/** Stops capsa's dnsmasq processes whose pid file (under a run root) is gone. */
export function sweepOrphanDns(): number[] {
  const stopped: number[] = [];
  let pids: string[] = [];
  try {
    pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return stopped;
  }
  for (const p of pids) {
    const args = read(`/proc/${p}/cmdline`).split("\0");
    if (!args[0]?.endsWith("dnsmasq")) continue;
    const pf = args.find((a) => a.startsWith("--pid-file="))?.slice("--pid-file=".length);
    if (!pf || !/\/dns\/(c-)?[0-9a-f]{16}\.pid$/.test(pf) || !args.some((a) => a.startsWith("--addn-hosts=" + pf.slice(0, -4)) || a === `--log-facility=${pf.slice(0, -4)}.log`)) continue;
    if (fs.existsSync(pf)) continue;
    try {
      process.kill(Number(p), "SIGTERM");
      stopped.push(Number(p));
    } catch {
      /* gone already */
    }
  }
  return stopped;
}
