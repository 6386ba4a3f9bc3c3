// Container networking: TCP throughput (iperf3, from the Debian package, in a
// busybox image with its libraries) container → container over a user bridge
// network, and host → container through a port published on 127.0.0.1; and
// what the default bridge adds to `run --rm img true` next to --network none.
// Every engine gets its own network (a free /24), server address and port;
// all traffic stays on loopback and the bench's own bridges.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { busyboxRootfsTar } from "../../test/helpers.ts";
import { freePort } from "../../test/registry/fixtures.ts";
import { errorMessage, interleaved, rotation, type Harness, type Scenario } from "../lib/harness.ts";
import { freeSubnets, hostAddress, iperfRootfsTar } from "../lib/net.ts";
import { sleep, timed, timedOk, type Cmd } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import { DEFAULT_NETWORK, type ContainerSystem } from "../systems/system.ts";

export const NET_IMAGE = "capsa-bench/iperf3:latest";
const IPERF_PORT = 5201;

interface Setup {
  network: string;
  server: string;
  serverIp: string;
  hostPort: number;
}

/** Received throughput in Mbit/s from `iperf3 -J` output. */
export function iperfMbits(json: string): number {
  const r = JSON.parse(json) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  if (r.error) throw new Error(`iperf3: ${r.error}`);
  const bps = r.end?.sum_received?.bits_per_second;
  if (typeof bps !== "number" || !(bps > 0)) throw new Error("iperf3 reported no received throughput");
  return bps / 1e6;
}

async function iperf(cmd: Cmd, seconds: number): Promise<number> {
  const r = await timed(cmd, { timeoutMs: (seconds + 60) * 1000 });
  if (r.code !== 0) {
    const err = /"error":\s*"([^"]*)"/.exec(r.stdout)?.[1];
    throw new Error(`exit ${r.code}: ${err ?? r.stderr.trim().slice(-300)}`);
  }
  return iperfMbits(r.stdout);
}

export const network: Scenario = {
  id: "network",
  title: "container networking: TCP throughput and bridge start-up cost",
  describe:
    "iperf3 (Debian's, copied with its libraries into the busybox image and imported into each engine). Per engine, a user bridge network on a free /24 and one server container (`iperf3 -s`, fixed --ip, port 5201 published on 127.0.0.1:<free port>). Throughput, interleaved rounds: a client container on the same network (`run --rm --network net img iperf3 -c <server ip> -t T -J`), and the host's iperf3 against the published port. docker runs without iptables rules, so its published port goes through docker-proxy (as docker does for loopback in any case); capsa and podman use CNI's portmap DNAT. Start-up: `run --rm img true` with `--network none` and on the engine's default bridge (no --network flag; each engine's default bridge is the bench's own device and /24), back to back in each round, order alternating; the extra is bridge − none of the same engine in the same round. Ratios capsa/peer per round; for throughput a ratio above 1 means capsa is faster.",
  systems: ["capsa", "podman", "docker"],
  packages: ["iperf3"],
  async run(h) {
    const seconds = h.opts.short ? 2 : 5;
    const rec = new Recorder(this.id);
    rec.define("c2c", `container → container over a user bridge network: iperf3 TCP, ${seconds} s`, "Mbit/s", "paired");
    rec.define("published", `host → container through a port published on 127.0.0.1: iperf3 TCP, ${seconds} s`, "Mbit/s", "paired");
    rec.define("run-none", "run --rm --network none img true: wall time", "ms", "paired");
    rec.define("run-bridge", "run --rm img true on the default bridge: wall time", "ms", "paired");
    rec.define("bridge-extra", "extra start-up on the default bridge (bridge − none, same engine and round)", "ms", "medians");
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-bench-net-"));
    const setups = new Map<ContainerSystem, Setup>();
    const imported: ContainerSystem[] = [];
    try {
      const tar = path.join(work, "iperf3-rootfs.tar");
      iperfRootfsTar(busyboxRootfsTar(), work, tar);
      const subnets = freeSubnets(h.systems.length);
      for (const [i, sys] of h.systems.entries()) {
        if (!sys.importImage || !sys.createNetwork || !sys.removeNetwork) {
          h.log(`  ${sys.name}: no images or networks: left out`);
          continue;
        }
        try {
          await sys.importImage(tar, NET_IMAGE);
          imported.push(sys);
          const s: Setup = { network: h.name(sys.name, "net"), server: h.name(sys.name, "iperf"), serverIp: hostAddress(subnets[i]!, 10), hostPort: await freePort() };
          await sys.createNetwork(s.network, subnets[i]!);
          setups.set(sys, s);
          const flags = ["--ip", s.serverIp, "-p", `127.0.0.1:${s.hostPort}:${IPERF_PORT}`];
          await sys.startDetached(s.server, ["iperf3", "-s", "-p", String(IPERF_PORT)], { image: NET_IMAGE, network: s.network, flags });
          h.log(`  ${sys.name}: network ${s.network} on ${subnets[i]}, iperf3 server ${s.serverIp}:${IPERF_PORT}, published on 127.0.0.1:${s.hostPort}`);
        } catch (e) {
          rec.error("c2c", sys.name, `set-up: ${errorMessage(e)}`);
        }
      }
      const ready = [...setups.keys()];
      await sleep(1000); // let the servers listen
      await throughput({ ...h, systems: ready }, rec, setups, seconds);
      await startUp({ ...h, systems: imported }, rec);
    } catch (e) {
      for (const s of h.systems) rec.error("c2c", s.name, `set-up: ${errorMessage(e).split("\n")[0]}`);
    } finally {
      for (const [sys, s] of setups) {
        await sys.stop(s.server).catch(() => undefined);
        await sys.remove(s.server).catch((e: unknown) => rec.error("c2c", sys.name, `cleanup: ${errorMessage(e)}`));
        await sys.removeNetwork!(s.network).catch((e: unknown) => rec.error("c2c", sys.name, `cleanup: ${errorMessage(e)}`));
      }
      for (const sys of imported) await sys.removeImage?.(NET_IMAGE).catch(() => undefined);
      fs.rmSync(work, { recursive: true, force: true });
    }
    return rec.finish(h.opts.subject);
  },
};

async function throughput(h: Harness, rec: Recorder, setups: Map<ContainerSystem, Setup>, seconds: number): Promise<void> {
  const rounds = h.opts.rounds ?? (h.opts.short ? 2 : 6);
  h.log(`  throughput: ${rounds} rounds (+1 warm-up) of ${seconds} s per engine and path`);
  await interleaved(h, rounds, 1, async (sys, round) => {
    const s = setups.get(sys)!;
    const paths: [string, Cmd][] = [
      ["c2c", sys.runRm(["iperf3", "-c", s.serverIp, "-p", String(IPERF_PORT), "-t", String(seconds), "-J"], NET_IMAGE, { network: s.network })],
      ["published", { argv: ["iperf3", "-c", "127.0.0.1", "-p", String(s.hostPort), "-t", String(seconds), "-J"] }],
    ];
    for (const [metric, cmd] of rotation(paths, round + 1)) {
      try {
        const mbits = await iperf(cmd, seconds);
        if (round >= 0) rec.set(metric, sys.name, round, mbits);
        h.log(`  ${sys.name}${round < 0 ? " (warm-up)" : ""}: ${metric} ${Math.round(mbits)} Mbit/s`);
      } catch (e) {
        if (round >= 0) rec.set(metric, sys.name, round, null);
        rec.error(metric, sys.name, errorMessage(e));
      }
    }
  });
}

async function startUp(h: Harness, rec: Recorder): Promise<void> {
  const rounds = h.opts.rounds ?? (h.opts.short ? 3 : 15);
  h.log(`  start-up: ${rounds} rounds (+1 warm-up) of run --rm img true, --network none and the default bridge`);
  await interleaved(h, rounds, 1, async (sys, round) => {
    const ms: Record<string, number> = {};
    const runs: [string, string][] = [
      ["run-none", "none"],
      ["run-bridge", DEFAULT_NETWORK],
    ];
    for (const [metric, net] of rotation(runs, round + 1)) {
      try {
        ms[metric] = (await timedOk(sys.runRm(["true"], NET_IMAGE, { network: net }))).ms;
        if (round >= 0) rec.set(metric, sys.name, round, ms[metric]);
      } catch (e) {
        if (round >= 0) rec.set(metric, sys.name, round, null);
        rec.error(metric, sys.name, errorMessage(e));
      }
    }
    if (round < 0) return;
    const extra = ms["run-bridge"] !== undefined && ms["run-none"] !== undefined ? ms["run-bridge"] - ms["run-none"] : null;
    rec.set("bridge-extra", sys.name, round, extra);
  });
}
