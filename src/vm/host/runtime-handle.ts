// The engine's handle on capsa's VM runtime (src/vm/shim): an OCI runtime
// command line like runc's, so the container verbs drive VMs unchanged.
// conmon runs the binary (create, exec); the verbs the engine calls itself
// and that need nothing but the runtime's state and sockets — start, state
// and delete — run here, in the engine's own process, with the same code
// the binary uses (src/vm/shim/start.ts, state.ts): each would otherwise
// cost a Node start-up (~80 ms here) on the path of every run.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Paths } from "../../types/paths.ts";
import { classifyStartError } from "../../monitor/conmon.ts";
import { abbreviatedId, OciRuntime, type RuntimeState } from "../../runtime/runc.ts";
import { CapsaError } from "../../util/errors.ts";
import { shellQuote as q } from "../../util/shell.ts";
import { startVm } from "../shim/start.ts";
import { createdStateShell, deleteVm, ociState, readState, STATE_FILE } from "../shim/state.ts";

/** bin/capsa-vm-runtime of this installation, found from this module's place (src/… or dist/…). */
export function vmRuntimePath(): string {
  if (process.env.CAPSA_VM_RUNTIME) return process.env.CAPSA_VM_RUNTIME;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, "bin", "capsa-vm-runtime");
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new CapsaError("system", "capsa-vm-runtime not found beside this installation (bin/capsa-vm-runtime)");
}

class VmRuntime extends OciRuntime {
  /** A workload that cannot run is reported at start (the VM boots first): 127/126 as docker. The boot is bounded by CAPSA_VM_BOOT_TIMEOUT. */
  override async start(id: string): Promise<void> {
    try {
      await startVm(this.root, id);
    } catch (e) {
      throw classifyStartError(`${this.name} start ${abbreviatedId(id)}: ${(e as Error).message}`);
    }
  }

  override state(id: string): Promise<RuntimeState | undefined> {
    const s = readState(this.root, id);
    return Promise.resolve(s ? ociState(s) : undefined);
  }

  override async delete(id: string, force = false): Promise<void> {
    if (!readState(this.root, id)) return; // not known: already deleted
    try {
      await deleteVm(this.root, id, force);
    } catch (e) {
      throw new CapsaError("conflict", `${this.name} delete ${abbreviatedId(id)}: ${(e as Error).message}`);
    }
  }
}

/**
 * A shell front for the runtime binary, which conmon runs as the runtime: it
 * does `create` itself when the engine has prepared the launch (the bundle's
 * vm-run.sh, src/vm/shim/launch.ts), which leaves starting the wrapper and
 * writing the state and pid files, and hands everything else to the
 * runtime. A shell starts in about a millisecond, Node in ~80 ms here, and
 * QEMU starts only after create. The state it writes is the runtime's,
 * with the shell src/vm/shim/state.ts generates; ids or paths with a quote or backslash, an
 * existing state, or a terminal (--console-socket) take the runtime's path.
 */
export function frontScript(runtime: string): string {
  const state = `"$2/$8/${STATE_FILE}"`;
  return [
    "#!/bin/sh",
    "# capsa-vm-runtime's create, when capsa has prepared the launch (written by capsa: src/vm/host/runtime-handle.ts)",
    'if [ $# -eq 8 ] && [ "$1" = --root ] && [ "$3" = create ] && [ "$4" = --bundle ] && [ "$6" = --pid-file ] &&',
    `  [ -f "$5/vm-run.sh" ] && [ -f "$5/vm-run-dir" ] && [ ! -e ${state} ]; then`,
    '  case "$2$5$8" in',
    '    *\\\\*|*\\"*) ;;',
    "    *)",
    '      read -r rundir <"$5/vm-run-dir"',
    '      mkdir -p "$2/$8" || exit 1',
    "      # stdin stays the workload's (a background job's would be /dev/null); only stdio goes on",
    "      exec 4<&0",
    '      setsid /bin/sh "$5/vm-run.sh" 0<&4 4<&- 3>&- 5>&- 6>&- 7>&- 8>&- 9>&- &',
    "      pid=$!",
    `      ${createdStateShell(state, { id: '"$8"', bundle: '"$5"', pid: '"$pid"', runDir: '"$rundir"', created: '"$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"' })} &&`,
    '        echo "$pid" >"$7"',
    "      exit",
    "      ;;",
    "  esac",
    "fi",
    `exec ${q(runtime)} "$@"`,
    "",
  ].join("\n");
}

/** The front, in the runtime root (rewritten when it differs); the runtime binary itself when it cannot be written. */
function runtimeFront(root: string, runtime: string): string {
  const file = path.join(root, "capsa-vm-runtime.sh");
  // The runtime binary runs by its own #! line: the front is the same whichever runtime (Node, Bun) writes it.
  const text = frontScript(runtime);
  try {
    if (fs.readFileSync(file, "utf8") === text) return file;
  } catch {
    /* not written yet */
  }
  try {
    fs.mkdirSync(root, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o755 });
    fs.renameSync(tmp, file);
    return file;
  } catch {
    return runtime;
  }
}

export function vmRuntime(paths: Paths): OciRuntime {
  return new VmRuntime(runtimeFront(paths.runtimeRoot, vmRuntimePath()), paths.runtimeRoot, "capsa-vm-runtime");
}
