// `exec`: one more process in a running container, under its own conmon in
// exec mode (which runs `runtime exec`, holds the process's stdio and reports
// its exit code). The process inherits the container's process settings
// (capabilities, rlimits, no-new-privileges) with the caller's overrides.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { AttachStreams, ExecOptions } from "../../types/engine-api.ts";
import type { ContainerRecord } from "../../types/records.ts";
import type { OciProcess, RuntimeSpec } from "../../runtime/oci.ts";
import { processCapabilities } from "../../runtime/spec.ts";
import { resolveUser } from "../../runtime/user.ts";
import { attachSocket } from "../../monitor/attach.ts";
import { attachSocketPath, ctlFifoPath, execUnderMonitor } from "../../monitor/conmon.ts";
import { CapsaError, conflict, invalid } from "../../util/errors.ts";
import { shortId } from "../../util/ids.ts";
import { type Ctx, containerDir, containerEvent, persistDir } from "./context.ts";
import { reconcile } from "./exit.ts";
import { runtimeFor } from "./runtime.ts";

export async function execInContainer(ctx: Ctx, c0: ContainerRecord, opts: ExecOptions, streams?: AttachStreams): Promise<{ exitCode: number }> {
  const c = await reconcile(ctx, c0);
  if (!c?.state.Running) throw conflict(`Container ${c0.id} is not running`);
  if (c.state.Paused) throw conflict(`Container ${c0.id} is paused, unpause the container before exec`);
  if (!opts.Cmd.length) throw invalid("No exec command specified");
  const bundle = containerDir(ctx, c.id);
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8")) as RuntimeSpec;
  const base = spec.process;
  const rootfs = path.join(bundle, "rootfs");
  const user = opts.User ? resolveUser(rootfs, opts.User, c.hostConfig.GroupAdd ?? []) : base.user;
  const env = [...base.env];
  for (const e of opts.Env ?? []) {
    const k = e.split("=")[0];
    const i = env.findIndex((x) => x.split("=")[0] === k);
    if (i >= 0) env[i] = e;
    else env.push(e);
  }
  const tty = opts.Tty ?? false;
  if (tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  const proc: OciProcess = {
    ...base,
    terminal: tty,
    args: opts.Cmd,
    env,
    cwd: opts.WorkingDir || base.cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
  };
  if (opts.Privileged) {
    const all = spec.process.capabilities.bounding;
    proc.capabilities = processCapabilities(all ?? [], user.uid);
  } else if (user.uid !== base.user.uid) {
    proc.capabilities = processCapabilities(base.capabilities.bounding ?? [], user.uid);
  }
  const execId = crypto.randomBytes(32).toString("hex");
  const execDir = path.join(persistDir(ctx, c.id), "exec", shortId(execId));
  fs.mkdirSync(execDir, { recursive: true });
  const specPath = path.join(execDir, "process.json");
  fs.writeFileSync(specPath, JSON.stringify(proc));
  const runtime = await runtimeFor(ctx, c);
  const attach = !!streams && !opts.Detach;
  // docker's exec events; exec_create only when the caller did not announce it at its own create.
  const eventId = opts.ExecId ?? execId;
  const what = opts.Cmd.join(" ");
  if (!opts.ExecId) containerEvent(ctx, c, `exec_create: ${what}`, { execID: eventId });
  containerEvent(ctx, c, `exec_start: ${what}`, { execID: eventId });
  let exitCode: number | undefined;
  try {
    const handle = await execUnderMonitor({
      containerId: c.id,
      execId,
      shortId: shortId(execId),
      bundle: execDir,
      runtimePath: runtime.path,
      runtimeRoot: ctx.paths.runtimeRoot,
      runtimeArgs: runtime.globalArgs(),
      processSpecPath: specPath,
      exitDir: execDir,
      socketDir: ctx.paths.sockets,
      persistDir: execDir,
      tty,
      stdin: opts.AttachStdin ?? false,
      attach,
    });
    let attachment;
    if (attach && streams) {
      attachment = await attachSocket(attachSocketPath(ctx.paths.sockets, shortId(execId)), opts.AttachStdin ? streams : { ...streams, stdin: undefined }, { tty, ctlPath: ctlFifoPath(execDir) });
      handle.release();
    }
    exitCode = await handle.exit;
    await attachment?.done;
    return { exitCode };
  } catch (e) {
    // As the API reports it: a missing command 127, one that cannot run 126.
    exitCode = e instanceof CapsaError && e.exitCode !== 125 ? e.exitCode : 126;
    throw e;
  } finally {
    containerEvent(ctx, c, "exec_die", { execID: eventId, exitCode: String(exitCode ?? 126) });
    if (!opts.Detach) {
      fs.rmSync(execDir, { recursive: true, force: true });
      fs.rmSync(path.join(ctx.paths.sockets, shortId(execId)), { force: true }); // conmon's link to execDir
    }
  }
}
