// capsa's command line. Kept lean for start-up time: this file only routes
// the verb to its module (loaded with a dynamic import), and only verbs that
// need the engine open it.
import type { EngineApi } from "../types/engine-api.ts";
import type { CliContext, Verb, VerbTable } from "./verb.ts";
import { trace } from "../util/trace.ts";

type Loader = () => Promise<{ verbs: VerbTable }>;
const run: Loader = () => import("./run.ts");
const lifecycle: Loader = () => import("./lifecycle.ts");
const ps: Loader = () => import("./ps.ts");
const logs: Loader = () => import("./logs.ts");
const inspect: Loader = () => import("./inspect.ts");
const cp: Loader = () => import("./cp.ts");
const observe: Loader = () => import("./observe.ts");
const images: Loader = () => import("./images.ts");
const volumes: Loader = () => import("./volumes.ts");
const system: Loader = () => import("./system.ts");
const registry: Loader = () => import("./registry.ts");
const service: Loader = () => import("./service.ts");
const build: Loader = () => import("./build.ts");
const bench: Loader = () => import("./bench.ts");
const events: Loader = () => import("./events.ts");
const update: Loader = () => import("./update.ts");

/** Top-level verbs: name → [module, key in its table, one-line help]. */
const VERBS: Record<string, [Loader, string, string]> = {
  attach: [run, "attach", "Attach local standard input, output, and error streams to a running container"],
  build: [build, "build", "Build an image from a Containerfile or Dockerfile"],
  commit: [observe, "commit", "Create a new image from a container's changes"],
  cp: [cp, "cp", "Copy files/folders between a container and the local filesystem"],
  create: [run, "create", "Create a new container"],
  diff: [observe, "diff", "Inspect changes to files or directories on a container's filesystem"],
  events: [events, "events", "Get real time events from the engine"],
  exec: [run, "exec", "Execute a command in a running container"],
  export: [observe, "export", "Export a container's filesystem as a tar archive"],
  history: [images, "history", "Show the history of an image"],
  images: [images, "images", "List images"],
  import: [images, "import", "Import the contents from a tarball to create a filesystem image"],
  info: [system, "info", "Display system-wide information"],
  inspect: [inspect, "inspect", "Return low-level information on capsa objects"],
  kill: [lifecycle, "kill", "Kill one or more running containers"],
  load: [images, "load", "Load an image from a tar archive or STDIN"],
  login: [registry, "login", "Log in to a registry"],
  logout: [registry, "logout", "Log out from a registry"],
  logs: [logs, "logs", "Fetch the logs of a container"],
  pause: [lifecycle, "pause", "Pause all processes within one or more containers"],
  port: [observe, "port", "List port mappings or a specific mapping for the container"],
  ps: [ps, "ps", "List containers"],
  pull: [registry, "pull", "Download an image from a registry"],
  push: [registry, "push", "Upload an image to a registry"],
  rename: [lifecycle, "rename", "Rename a container"],
  restart: [lifecycle, "restart", "Restart one or more containers"],
  rm: [lifecycle, "rm", "Remove one or more containers"],
  rmi: [images, "rmi", "Remove one or more images"],
  run: [run, "run", "Create and run a new container from an image"],
  save: [images, "save", "Save one or more images to a tar archive (streamed to STDOUT by default)"],
  start: [run, "start", "Start one or more stopped containers"],
  stats: [observe, "stats", "Display a live stream of container(s) resource usage statistics"],
  stop: [lifecycle, "stop", "Stop one or more running containers"],
  tag: [images, "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"],
  top: [observe, "top", "Display the running processes of a container"],
  unpause: [lifecycle, "unpause", "Unpause all processes within one or more containers"],
  update: [update, "update", "Update configuration of one or more containers"],
  version: [system, "version", "Show the capsa version information"],
  wait: [lifecycle, "wait", "Block until one or more containers stop, then print their exit codes"],
};

/** Management groups: sub-verb → [module, key]. */
const GROUPS: Record<string, { help: string; verbs: Record<string, [Loader, string]> }> = {
  bench: {
    help: "Measure this host: the isolation levels side by side",
    verbs: {
      isolation: [bench, "bench isolation"],
    },
  },
  builder: {
    help: "Manage builds",
    verbs: {
      build: [build, "build"],
      prune: [build, "builder prune"],
    },
  },
  container: {
    help: "Manage containers",
    verbs: {
      attach: [run, "attach"],
      commit: [observe, "commit"],
      cp: [cp, "cp"],
      create: [run, "create"],
      diff: [observe, "diff"],
      exec: [run, "exec"],
      export: [observe, "export"],
      inspect: [inspect, "container inspect"],
      kill: [lifecycle, "kill"],
      logs: [logs, "logs"],
      ls: [ps, "ps"],
      list: [ps, "ps"],
      ps: [ps, "ps"],
      pause: [lifecycle, "pause"],
      port: [observe, "port"],
      update: [update, "update"],
      prune: [lifecycle, "container prune"],
      cleanup: [lifecycle, "container cleanup"],
      healthcheck: [lifecycle, "healthcheck run"],
      rename: [lifecycle, "rename"],
      restart: [lifecycle, "restart"],
      rm: [lifecycle, "rm"],
      remove: [lifecycle, "rm"],
      run: [run, "run"],
      start: [run, "start"],
      stats: [observe, "stats"],
      stop: [lifecycle, "stop"],
      top: [observe, "top"],
      unpause: [lifecycle, "unpause"],
      wait: [lifecycle, "wait"],
    },
  },
  image: {
    help: "Manage images",
    verbs: {
      build: [build, "build"],
      history: [images, "history"],
      import: [images, "import"],
      inspect: [inspect, "image inspect"],
      load: [images, "load"],
      ls: [images, "images"],
      list: [images, "images"],
      prune: [images, "image prune"],
      pull: [registry, "pull"],
      push: [registry, "push"],
      rm: [images, "rmi"],
      remove: [images, "rmi"],
      save: [images, "save"],
      tag: [images, "tag"],
    },
  },
  healthcheck: {
    help: "Manage health checks of containers",
    verbs: {
      run: [lifecycle, "healthcheck run"],
    },
  },
  volume: {
    help: "Manage volumes",
    verbs: {
      create: [volumes, "volume create"],
      inspect: [inspect, "volume inspect"],
      ls: [volumes, "volume ls"],
      list: [volumes, "volume ls"],
      prune: [volumes, "volume prune"],
      rm: [volumes, "volume rm"],
      remove: [volumes, "volume rm"],
    },
  },
  system: {
    help: "Manage capsa",
    verbs: {
      check: [system, "system check"],
      df: [system, "system df"],
      events: [events, "events"],
      info: [system, "info"],
      prune: [system, "system prune"],
      reset: [system, "system reset"],
      service: [service, "system service"],
    },
  },
};

function usage(): string {
  const pad = (s: string): string => s.padEnd(12);
  return [
    "Usage:  capsa [OPTIONS] COMMAND",
    "",
    "A container engine: OCI images run as containers, sandboxes or micro-VMs",
    "",
    "Management Commands:",
    ...Object.entries(GROUPS).map(([g, v]) => `  ${pad(g)}${v.help}`),
    "",
    "Commands:",
    ...Object.entries(VERBS).map(([v, [, , h]]) => `  ${pad(v)}${h}`),
    "",
    "Global Options:",
    "  -v, --version   Print version information and quit",
    "      --help      Print usage",
    "",
    "Environment: CAPSA_ROOT (state root, default /var/lib/capsa), CAPSA_RUNROOT.",
    "Run 'capsa COMMAND --help' for more information on a command.",
    "",
  ].join("\n");
}

function groupUsage(group: string): string {
  const g = GROUPS[group];
  if (!g) return usage();
  return [`Usage:  capsa ${group} COMMAND`, "", g.help, "", "Commands:", ...Object.keys(g.verbs).map((v) => `  ${v}`), "", `Run 'capsa ${group} COMMAND --help' for more information on a command.`, ""].join("\n");
}

function makeContext(verb: string): CliContext & { close(): void } {
  let engine: EngineApi | undefined;
  return {
    verb,
    async engine() {
      if (!engine) {
        const { Engine } = await import("../engine/index.ts");
        trace("engine module loaded");
        engine = Engine.open();
        trace("engine opened");
      }
      return engine;
    },
    close() {
      engine?.close();
      engine = undefined;
    },
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
  };
}

/** Runs one verb with its arguments; returns the exit code. */
export async function execute(verb: Verb, name: string, args: string[]): Promise<number> {
  const { parseArgs, requireArgs, UsageError, HelpRequested } = await import("./command.ts");
  const { CapsaError, DamagedStateError, explainStateError } = await import("../util/errors.ts");
  const { errorLine } = await import("./verb.ts");
  const ctx = makeContext(name);
  try {
    if (verb.raw) return (await verb.run(ctx, {}, args)) ?? 0;
    const parsed = parseArgs(verb.command(name), name, args, verb.passThrough ?? false);
    if (verb.args) requireArgs(name, parsed.args, verb.args[0], verb.args[1]);
    return (await verb.run(ctx, parsed.opts, parsed.args)) ?? 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(e.text);
      return 0;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`capsa: ${e.message}\nSee 'capsa ${e.verb} --help'.\n`);
      return e.exitCode;
    }
    // A damaged database (also when found past the open) or no space left: one line naming the file.
    const explained = explainStateError(e, (await import("../types/paths.ts")).resolvePaths().db);
    if (explained instanceof DamagedStateError) {
      process.stderr.write(errorLine(explained));
      return explained.exitCode;
    }
    process.stderr.write(errorLine(explained ?? e));
    if (process.env.CAPSA_DEBUG && e instanceof Error && !(e instanceof CapsaError)) process.stderr.write(`${e.stack ?? ""}\n`);
    if (verb.setupErrors) return e instanceof CapsaError ? e.exitCode : 125;
    return 1;
  } finally {
    ctx.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  trace("cli main");
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "help") {
    process.stdout.write(usage());
    return first === undefined ? 1 : 0;
  }
  if (first === "-v" || first === "--version") {
    const { VERSION } = await import("../types/version.ts");
    process.stdout.write(`capsa version ${VERSION}\n`);
    return 0;
  }
  let entry: [Loader, string] | undefined;
  let name = first;
  let args = rest;
  const group = GROUPS[first];
  if (group) {
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === "--help" || sub === "help") {
      process.stdout.write(groupUsage(first));
      return 0;
    }
    entry = group.verbs[sub];
    if (!entry) {
      process.stderr.write(`capsa: '${first} ${sub}' is not a capsa command.\nSee 'capsa ${first} --help'\n`);
      return 1;
    }
    name = `${first} ${sub}`;
    args = subArgs;
  } else {
    const v = VERBS[first];
    if (v) entry = [v[0], v[1]];
  }
  if (!entry) {
    process.stderr.write(`capsa: '${first}' is not a capsa command.\nSee 'capsa --help'\n`);
    return 1;
  }
  const mod = await entry[0]();
  const verb = mod.verbs[entry[1]];
  if (!verb) throw new Error(`internal: verb ${entry[1]} missing`);
  return execute(verb, name, args);
}

// Networks (src/cli/network.ts).
const networks: Loader = () => import("./network.ts");
GROUPS.network = {
  help: "Manage networks",
  verbs: {
    connect: [networks, "network connect"],
    create: [networks, "network create"],
    disconnect: [networks, "network disconnect"],
    inspect: [networks, "network inspect"],
    ls: [networks, "network ls"],
    list: [networks, "network ls"],
    prune: [networks, "network prune"],
    rm: [networks, "network rm"],
    remove: [networks, "network rm"],
  },
};

// Only when run as the program, not when a test imports this module.
if (!process.env.CAPSA_CLI_NO_MAIN) {
  // A reader that went away (`capsa logs x | head -1`) ends the command quietly,
  // as a closed pipe ends docker's and any Unix tool's output.
  for (const out of [process.stdout, process.stderr]) {
    out.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`capsa: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(125);
    },
  );
}
