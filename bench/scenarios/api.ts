// (9) The Docker Engine API: the real docker CLI against `capsa system
// service` and against the bench's dockerd, each on a private unix socket.
// `docker run --rm img true` one at a time, interleaved; then 20 ×
// `docker run -d img sleep 300` all at once, removed afterwards (rm -f).
import fs from "node:fs";
import path from "node:path";
import { errorMessage, interleaved, rotation, type Harness, type Scenario } from "../lib/harness.ts";
import { run, timed, timedOk } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import { dockerClient } from "../systems/oci-cli.ts";
import { BENCH_IMAGE, NETWORK, type ContainerSystem, type EngineService } from "../systems/system.ts";

/** Containers started at once in the parallel phase. */
const PARALLEL = 20;

/** The docker CLI against one engine's API socket, with a client configuration next to it. */
function client(svc: EngineService, args: string[]) {
  const config = path.join(path.dirname(svc.socket), "docker-client");
  fs.mkdirSync(config, { recursive: true });
  return dockerClient(svc.socket, config, args);
}

/** `run` flags shared by both measurements: the image is already there, no network. */
const RUN = ["--pull", "never", "--network", NETWORK];

export const api: Scenario = {
  id: "api",
  title: "docker CLI through the Engine API: capsa system service vs dockerd",
  describe: `The static docker CLI (\`docker\` on PATH) with -H unix://… pointing at \`capsa system service\` (started once on a private socket with the bench's CAPSA_ROOT, stopped by pid afterwards) or at the bench's private dockerd; the busybox image each engine imported, \`--pull never\`. First \`docker run --rm img true\`, one at a time, interleaved: wall time per run. Then ${PARALLEL} × \`docker run -d img sleep 300\` launched at once: wall time until every CLI has returned; then \`docker rm -f\` of all ${PARALLEL} in one call (its wall time too). Ratios capsa/docker per round.`,
  systems: ["capsa", "docker"],
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("run-rm", "docker run --rm img true: wall time", "ms", "paired");
    rec.define("parallel.start", `${PARALLEL} × docker run -d img sleep 300, all at once: wall time`, "ms", "paired");
    rec.define("parallel.rm", `docker rm -f of the ${PARALLEL}: wall time`, "ms", "paired");
    const services = new Map<string, EngineService>();
    const systems: ContainerSystem[] = [];
    try {
      for (const sys of h.systems) {
        if (!sys.startService) {
          h.log(`  ${sys.name}: no API service: left out`);
          continue;
        }
        try {
          services.set(sys.name, await sys.startService());
          systems.push(sys);
        } catch (e) {
          h.log(`  ${sys.name}: its API service did not start: left out`);
          rec.error("run-rm", sys.name, `service: ${errorMessage(e)}`);
        }
      }
      if (systems.length === 0) return rec.finish(h.opts.subject);
      const hh: Harness = { ...h, systems };
      await runRm(hh, rec, services);
      await parallel(hh, rec, services);
    } finally {
      for (const [name, svc] of services) await svc.stop().catch((e: unknown) => rec.error("run-rm", name, `stop: ${errorMessage(e)}`));
    }
    return rec.finish(h.opts.subject);
  },
};

async function runRm(h: Harness, rec: Recorder, services: Map<string, EngineService>): Promise<void> {
  const rounds = h.opts.rounds ?? (h.opts.short ? 5 : 20);
  const warmup = h.opts.short ? 1 : 2;
  h.log(`  docker run --rm img true: ${rounds} rounds (+${warmup} warm-up)`);
  await interleaved(h, rounds, warmup, async (sys, round) => {
    const svc = services.get(sys.name)!;
    try {
      const r = await timed(client(svc, ["run", "--rm", ...RUN, BENCH_IMAGE, "true"]));
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
      if (round >= 0) rec.set("run-rm", sys.name, round, r.ms);
    } catch (e) {
      if (round >= 0) rec.set("run-rm", sys.name, round, null);
      rec.error("run-rm", sys.name, errorMessage(e));
    }
  });
}

async function parallel(h: Harness, rec: Recorder, services: Map<string, EngineService>): Promise<void> {
  const rounds = h.opts.rounds ?? (h.opts.short ? 1 : 3);
  for (let round = 0; round < rounds; round++) {
    for (const sys of rotation(h.systems, round)) {
      const svc = services.get(sys.name)!;
      const names = Array.from({ length: PARALLEL }, (_, i) => h.name(sys.name, `api-r${round}n${i}`));
      h.log(`  ${sys.name}: ${PARALLEL} × docker run -d at once, round ${round + 1}/${rounds}`);
      let metric = "parallel.start";
      try {
        const t0 = performance.now();
        const results = await Promise.allSettled(names.map((n) => timedOk(client(svc, ["run", "-d", ...RUN, "--name", n, BENCH_IMAGE, "sleep", "300"]))));
        const ms = performance.now() - t0;
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
        rec.set(metric, sys.name, round, ms);
        metric = "parallel.rm";
        rec.set(metric, sys.name, round, (await timedOk(client(svc, ["rm", "-f", ...names]))).ms);
      } catch (e) {
        rec.set(metric, sys.name, round, null);
        rec.error(metric, sys.name, errorMessage(e));
        // Nothing of a failed round may stay: remove whatever was made.
        run(client(svc, ["rm", "-f", ...names]));
      }
    }
  }
}
