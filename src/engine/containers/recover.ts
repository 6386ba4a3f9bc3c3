// After a host reboot nothing that ran survives, but a state root on disk
// still says "running". The run root remembers the boot it belongs to; on the
// first command after a reboot, every live record is marked exited and the
// runtime's stale state is dropped. (When the run root is on tmpfs, /run, the
// reboot empties it, and the missing marker means the same thing.)
import fs from "node:fs";
import path from "node:path";
import { type Ctx, nowIso } from "./context.ts";
import { isLive } from "../../util/container-state.ts";

const BOOT_ID = "/proc/sys/kernel/random/boot_id";

export function recoverAfterReboot(ctx: Ctx): void {
  let boot: string;
  try {
    boot = fs.readFileSync(BOOT_ID, "utf8").trim();
  } catch {
    return; // no boot id to compare: nothing we can tell
  }
  const marker = path.join(ctx.paths.runRoot, "boot-id");
  let seen: string | undefined;
  try {
    seen = fs.readFileSync(marker, "utf8").trim();
  } catch {
    /* first use of this run root, or it was wiped by a reboot */
  }
  if (seen === boot) return;
  // Concurrent first commands after a reboot: the write lock makes one of
  // them recover; the others find the marker written when they get the lock.
  ctx.db.transaction(() => recoverLocked(ctx, marker, boot)).immediate();
}

function recoverLocked(ctx: Ctx, marker: string, boot: string): void {
  try {
    if (fs.readFileSync(marker, "utf8").trim() === boot) return;
  } catch {
    /* still missing: ours to do */
  }
  for (const c of ctx.store.list()) {
    if (!isLive(c.state)) continue;
    ctx.store.mutate(c.id, (r) => {
      r.state = { ...r.state, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: 255, FinishedAt: nowIso(), Error: "the host restarted while the container was running" };
    });
  }
  // The runtime's state and conmon's files describe processes of the old boot.
  for (const dir of [ctx.paths.runtimeRoot, ctx.paths.exits, ctx.paths.sockets, path.join(ctx.paths.runRoot, "containers")]) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(ctx.paths.runRoot, { recursive: true, mode: 0o700 });
  fs.writeFileSync(marker, boot + "\n");
}
