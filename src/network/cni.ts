// The CNI 1.0 protocol: run each plugin of a conflist in turn (ADD passes the
// previous plugin's result on; DEL runs in reverse order with the stored
// result), with the standard CNI_* environment and the config on stdin; and
// reading the addresses and MAC a result reports.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CapsaError } from "../util/errors.ts";
import { parseIp } from "./cidr.ts";

export const CNI_VERSION = "1.0.0";
/** Where Debian's containernetworking-plugins installs the plugins; CAPSA_CNI_PATH overrides. */
export const CNI_PATH = process.env.CAPSA_CNI_PATH ?? "/usr/lib/cni";

export interface PluginConf {
  type: string;
  [key: string]: unknown;
}

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { interface?: number; address: string; gateway?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

export interface Invocation {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. IP=10.1.0.5, MAC=… */
  args?: Record<string, string>;
  /** Per-capability runtime config (portMappings, …), given to plugins that declare the capability. */
  runtimeConfig?: Record<string, unknown>;
}

function pluginPath(type: string): string {
  if (!/^[a-z0-9_-]+$/i.test(type)) throw new CapsaError("invalid", `CNI plugin type "${type}" is not a plain name`);
  for (const dir of CNI_PATH.split(":")) {
    const p = path.join(dir, type);
    if (fs.existsSync(p)) return p;
  }
  throw new CapsaError("system", `CNI plugin "${type}" not found in ${CNI_PATH} (install Debian's containernetworking-plugins)`);
}

async function invoke(command: "ADD" | "DEL" | "CHECK", conf: object, type: string, inv: Invocation): Promise<string> {
  const t0 = Date.now();
  try {
    return await invoke0(command, conf, type, inv);
  } finally {
    if (process.env.CAPSA_NET_TIMING) process.stderr.write(`${command} ${type} ${Date.now() - t0}ms\n`);
  }
}
function invoke0(command: "ADD" | "DEL" | "CHECK", conf: object, type: string, inv: Invocation): Promise<string> {
  const args = Object.entries(inv.args ?? {});
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_PATH,
    ...(args.length ? { CNI_ARGS: ["IgnoreUnknown=1", ...args.map(([k, v]) => `${k}=${v}`)].join(";") } : {}),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(pluginPath(type), [], { env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) return resolve(out);
      let msg = err.trim() || out.trim();
      try {
        const e = JSON.parse(out) as { msg?: string; details?: string };
        if (e.msg) msg = e.msg + (e.details ? `: ${e.details}` : "");
      } catch {
        /* not a CNI error object */
      }
      reject(new CapsaError("system", `CNI ${command} ${type} (${inv.ifName}): ${msg || `exit status ${code}`}`));
    });
    child.stdin.end(JSON.stringify(conf));
  });
}

function pluginConf(list: ConfList, p: PluginConf, inv: Invocation, prevResult: CniResult | undefined): object {
  const caps = (p.capabilities ?? {}) as Record<string, boolean>;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inv.runtimeConfig ?? {})) if (caps[k]) runtimeConfig[k] = v;
  const conf: Record<string, unknown> = { ...p, name: list.name, cniVersion: list.cniVersion };
  delete conf.capabilities;
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** ADD through the chain; on a failure, the plugins already added are deleted again. */
export async function addNetwork(list: ConfList, inv: Invocation): Promise<CniResult> {
  let prev: CniResult | undefined;
  const done: PluginConf[] = [];
  try {
    for (const p of list.plugins) {
      const out = await invoke("ADD", pluginConf(list, p, inv, prev), p.type, inv);
      done.push(p);
      prev = JSON.parse(out) as CniResult;
    }
  } catch (e) {
    await delNetwork({ ...list, plugins: done }, inv, prev).catch(() => undefined);
    throw e;
  }
  return prev ?? { cniVersion: list.cniVersion };
}

/** DEL in reverse order; every plugin is tried (DEL is idempotent), the first error is reported. */
export async function delNetwork(list: ConfList, inv: Invocation, result: CniResult | undefined): Promise<void> {
  let first: Error | undefined;
  for (const p of [...list.plugins].reverse()) {
    try {
      await invoke("DEL", pluginConf(list, p, inv, result), p.type, inv);
    } catch (e) {
      first ??= e instanceof Error ? e : new Error(String(e));
    }
  }
  if (first) throw first;
}

/** The result's first address of a family: the address, its prefix length, both as a CIDR, and the gateway. */
export function addressOf(r: CniResult, family: 4 | 6 = 4): { ip: string; prefix: number; cidr: string; gateway: string } | undefined {
  const a = (r.ips ?? []).find((x) => (family === 4 ? net4(x.address) : x.address.includes(":")));
  if (!a) return undefined;
  const [ip = "", prefix = "32"] = a.address.split("/");
  return { ip, prefix: Number(prefix), cidr: a.address, gateway: a.gateway ?? "" };
}

const net4 = (cidr: string): boolean => parseIp(cidr.split("/")[0] ?? "") !== undefined;

/** The MAC address of the container's interface `ifName` (else of its first interface). */
export function macOf(r: CniResult, ifName: string): string {
  return r.interfaces?.find((i) => i.name === ifName && i.sandbox)?.mac ?? r.interfaces?.find((i) => i.sandbox)?.mac ?? "";
}
