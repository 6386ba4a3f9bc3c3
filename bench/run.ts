// capsa side by side with podman, docker and bare runc, on one machine, in one run.
//
//   npm run bench                      all scenarios, full length
//   npm run bench -- run-true --short  one scenario, a quick check
//   npm run bench -- --systems runc,podman --rounds 10 --out DIR
//
// Results of a complete run go to bench/results/latest.{json,md}; short or
// narrowed runs (a scenario, --systems, --rounds) write to .cache/bench/.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { busyboxRootfsTar } from "../test/helpers.ts";
import { removeTree } from "./lib/fsutil.ts";
import { errorMessage, type Harness, type Options, type Scenario } from "./lib/harness.ts";
import { describeMachine } from "./lib/machine.ts";
import { ensurePackages } from "./lib/packages.ts";
import { firstLine, which } from "./lib/proc.ts";
import { markdown, type Report, type SystemEntry } from "./lib/report.ts";
import { api } from "./scenarios/api.ts";
import { firstOutput } from "./scenarios/first-output.ts";
import { idleMemory } from "./scenarios/idle-memory.ts";
import { imageLoadSave } from "./scenarios/image-load-save.ts";
import { pull } from "./scenarios/pull.ts";
import { build } from "./scenarios/build.ts";
import { network } from "./scenarios/network.ts";
import { memory } from "./scenarios/memory.ts";
import { runTrue } from "./scenarios/run-true.ts";
import { runTrueDebian } from "./scenarios/run-true-debian.ts";
import { sandbox } from "./scenarios/sandbox.ts";
import { vm } from "./scenarios/vm.ts";
import { QemuRaw } from "./systems/qemu-raw.ts";
import { startMany } from "./scenarios/start-many.ts";
import { Capsa } from "./systems/capsa.ts";
import { Docker } from "./systems/docker.ts";
import { Podman } from "./systems/podman.ts";
import { Runc } from "./systems/runc.ts";
import { Skopeo } from "./systems/skopeo.ts";
import { BENCH_IMAGE, NETWORK, type BenchContext, type ContainerSystem } from "./systems/system.ts";
import { RUNSC_FLAGS } from "../src/isolation/sandbox.ts";

const REPO = path.resolve(import.meta.dirname, "..");
export const SCENARIOS: Scenario[] = [runTrue, runTrueDebian, firstOutput, startMany, memory, idleMemory, api, sandbox, vm, imageLoadSave, pull, build, network];
/** crun joins as a second floor where it is installed; it is left out, with its error, where it does not work. */
const ALL_SYSTEMS = ["capsa", "podman", "docker", "runc", ...(which("crun") ? ["crun"] : [])];
/** Debian packages each peer comes from. */
const PEER_PACKAGES: Record<string, string[]> = { podman: ["podman", "skopeo"], skopeo: ["skopeo"], docker: ["docker.io"], runc: ["runc"], runsc: ["runsc"] };

function makeSystem(name: string): ContainerSystem {
  switch (name) {
    case "capsa":
      return new Capsa();
    case "capsa-sandbox":
      return new Capsa("sandbox");
    case "runsc":
      return new Runc("runsc", RUNSC_FLAGS);
    case "capsa-vm":
      return new Capsa("vm");
    case "qemu-raw":
      return new QemuRaw();
    case "podman":
      return new Podman();
    case "skopeo":
      return new Skopeo();
    case "docker":
      return new Docker();
    case "runc":
    case "crun":
      return new Runc(name);
    default:
      throw new Error(`unknown system "${name}" (known: ${ALL_SYSTEMS.join(", ")}, crun, capsa-sandbox, runsc, capsa-vm, qemu-raw, skopeo)`);
  }
}

const USAGE = `usage: npm run bench -- [scenario…] [--short] [--systems a,b] [--subject s] [--rounds n] [--out dir] [--no-install]
scenarios: ${SCENARIOS.map((s) => s.id).join(", ")} (default: all)`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const scenarios = positionals.length ? positionals.map((id) => SCENARIOS.find((s) => s.id === id) ?? fail(`unknown scenario "${id}"\n${USAGE}`)) : SCENARIOS;
  if (process.getuid?.() !== 0) fail("the benchmark must run as root (engines mount, unshare and manage cgroups)");
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) fail(`--rounds: expected a positive integer, got "${values.rounds}"`);
  const opts: Options = { short: values.short, rounds, subject: values.subject };
  // Only a complete run (every scenario, the default systems and rounds) replaces
  // the results kept in bench/results; anything narrower goes to .cache/bench.
  const complete = !values.short && positionals.length === 0 && rounds === undefined && values.systems === ALL_SYSTEMS.join(",");
  const outDir = path.resolve(values.out ?? (complete ? path.join(REPO, "bench", "results") : path.join(REPO, ".cache", "bench")));
  const log = (line: string) => console.error(`[bench] ${line}`);
  const t0 = performance.now();

  const wanted = values.systems.split(",").map((s) => s.trim()).filter(Boolean);
  // A scenario may name its own systems (sandbox: capsa-sandbox and runsc); set up each system once.
  const systemsOf = (sc: Scenario): string[] => sc.systems ?? wanted;
  const systems = [...new Set(scenarios.flatMap(systemsOf))].map(makeSystem);
  if (!values["no-install"]) {
    const pkgs = [...systems.flatMap((s) => PEER_PACKAGES[s.name] ?? []), ...scenarios.flatMap((sc) => sc.packages ?? [])];
    const failed = ensurePackages(pkgs, log);
    if (failed.length) log(`could not install: ${failed.join(" ")}`);
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-bench-"));
  const ctx: BenchContext = { dir, rootfsTar: busyboxRootfsTar(), image: BENCH_IMAGE, log };
  const entries: SystemEntry[] = [];
  const ready: ContainerSystem[] = [];
  let cleaning: Promise<void> | undefined;
  const deferred: (() => Promise<void>)[] = [];
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const fn of deferred.reverse()) await fn().catch((e: unknown) => log(`clean-up: ${errorMessage(e)}`));
      for (const s of [...systems].reverse()) await s.cleanup().catch((e: unknown) => log(`${s.name} cleanup: ${errorMessage(e)}`));
      removeTree(dir);
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    for (const s of systems) {
      const why = s.check();
      if (why) {
        log(`${s.name}: left out: ${why}`);
        entries.push({ name: s.name, unavailable: why });
        continue;
      }
      log(`${s.name}: setting up`);
      try {
        await s.setup(ctx);
        ready.push(s);
        entries.push({ name: s.name, ...s.info() });
      } catch (e) {
        const why = errorMessage(e).split("\n")[0]!.slice(0, 300);
        log(`${s.name}: left out: ${why}`);
        entries.push({ name: s.name, unavailable: why });
      }
    }
    if (ready.length === 0) throw new Error("no system could run here");

    let seq = 0;
    const h: Harness = { systems: ready, opts, log, name: (sys, tag) => `cb${process.pid}-${sys}-${tag}-${seq++}`, defer: (fn) => deferred.push(fn) };
    const report: Report = {
      schema: "capsa-bench/1",
      date: new Date().toISOString(),
      mode: opts.short ? "short" : "full",
      subject: opts.subject,
      network: NETWORK,
      revision: firstLine(["git", "-C", REPO, "describe", "--always", "--dirty"]) ?? "unknown",
      machine: describeMachine(),
      systems: entries,
      scenarios: [],
      durationSeconds: 0,
      load: { start: os.loadavg(), end: [] },
    };
    for (const sc of scenarios) {
      const mine = ready.filter((s) => systemsOf(sc).includes(s.name));
      if (mine.length === 0) {
        log(`scenario ${sc.id}: skipped: none of ${systemsOf(sc).join(", ")} works here`);
        continue;
      }
      log(`scenario ${sc.id}: ${sc.title}`);
      report.scenarios.push({ id: sc.id, title: sc.title, describe: sc.describe, metrics: await sc.run({ ...h, systems: mine }) });
    }
    report.durationSeconds = (performance.now() - t0) / 1000;
    report.load.end = os.loadavg();

    fs.mkdirSync(outDir, { recursive: true });
    const json = JSON.stringify(report, null, 2) + "\n";
    const md = markdown(report) + "\n";
    fs.writeFileSync(path.join(outDir, `${report.date.replace(/[:.]/g, "-")}.json`), json);
    fs.writeFileSync(path.join(outDir, "latest.json"), json);
    fs.writeFileSync(path.join(outDir, "latest.md"), md);
    console.log(md);
    log(`results: ${path.join(outDir, "latest.md")} and latest.json`);
    return 0;
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function parseOptions(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        short: { type: "boolean", default: false },
        systems: { type: "string", default: ALL_SYSTEMS.join(",") },
        subject: { type: "string", default: "capsa" },
        rounds: { type: "string" },
        out: { type: "string" },
        "no-install": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    return fail(`${errorMessage(e)}\n${USAGE}`);
  }
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

if (import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
