// Exec: POST /containers/{id}/exec (create), POST /exec/{id}/start (hijacked,
// or detached), GET /exec/{id}/json (inspect: Running, ExitCode), and resize.
import type { AttachStreams } from "../../types/engine-api.ts";
import { CapsaError, conflict, invalid } from "../../util/errors.ts";
import type { ExecRecord } from "../exec-registry.ts";
import type { Writable } from "node:stream";
import { attachStreams, detachKeysParam, framedWriter, readUpgradeBody, stdinFrom, streamContentType, writeUpgrade } from "../hijack.ts";
import { checkForJson, HttpError, readObject, sendJson } from "../http.ts";
import type { Call, Router } from "../router.ts";

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);

/** Each exec's DetachKeys as created (docker's default when empty). */
const detachKeysOf = new WeakMap<ExecRecord, { text: string; bytes: Buffer }>();

async function create(call: Call): Promise<void> {
  const body = await readObject(call.req);
  const c = await call.api.engine.containers.inspect(call.params[0]!);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
  if (c.State.Paused) throw conflict(`Container ${c.Id} is paused, unpause the container before exec`);
  const cmd = strings(body.Cmd);
  if (!cmd || cmd.length === 0) throw invalid("No exec command specified");
  const detachKeys = typeof body.DetachKeys === "string" ? body.DetachKeys : "";
  const detachBytes = detachKeysParam(detachKeys);
  const size = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? ([Number(body.ConsoleSize[0]), Number(body.ConsoleSize[1])] as [number, number]) : undefined;
  const rec = call.api.execs.create(c.Id, {
    Cmd: cmd,
    Env: strings(body.Env),
    User: typeof body.User === "string" && body.User ? body.User : undefined,
    WorkingDir: typeof body.WorkingDir === "string" && body.WorkingDir ? body.WorkingDir : undefined,
    Tty: body.Tty === true,
    AttachStdin: body.AttachStdin === true,
    AttachStdout: body.AttachStdout === true,
    AttachStderr: body.AttachStderr === true,
    Privileged: body.Privileged === true,
    ConsoleSize: size,
  });
  detachKeysOf.set(rec, { text: detachKeys, bytes: detachBytes });
  call.api.events.emit("container", `exec_create: ${cmd.join(" ")}`, c.Id, { execID: rec.id });
  sendJson(call.res!, 201, { Id: rec.id });
}

/**
 * Runs the exec; a command that cannot start (not found: 127, not executable:
 * 126) is reported as dockerd does, "OCI runtime exec failed: …" on the output
 * stream (stdout's, as dockerd writes it), and as the exec's exit code.
 */
async function run(call: Call, rec: ExecRecord, streams: AttachStreams | undefined, detach: boolean): Promise<void> {
  rec.running = true;
  try {
    // The engine records exec_start and exec_die under this exec's id.
    const r = await call.api.engine.containers.exec(rec.containerId, { ...rec.opts, Detach: detach, ExecId: rec.id }, streams);
    rec.exitCode = r.exitCode;
  } catch (e) {
    rec.exitCode = e instanceof CapsaError && e.exitCode !== 125 ? e.exitCode : 126;
    const w = streams?.stdout ?? streams?.stderr;
    const message = (e instanceof Error ? e.message : String(e)).replace(/^exec: /, "");
    w?.write(e instanceof CapsaError && e.exitCode !== 125 ? `OCI runtime exec failed: ${message}: unknown\r\n` : `${message}\r\n`);
  } finally {
    rec.running = false;
    rec.resize = undefined;
  }
}

/** A raw stream for a process without a terminal: its stderr goes out unframed beside stdout, as dockerd sends it. */
function rawStderr(streams: AttachStreams, out: Writable, rec: ExecRecord, o: { tty: boolean; stderr?: boolean }): AttachStreams {
  return o.tty && !rec.opts.Tty && o.stderr ? { ...streams, stderr: framedWriter(out, "raw") } : streams;
}

async function start(call: Call): Promise<void> {
  checkForJson(call.req);
  const rec = call.api.execs.get(call.params[0]!);
  if (rec.started) throw conflict(`Exec ${rec.id} has already been started`);
  let body: Record<string, unknown>;
  let rest: Buffer = Buffer.alloc(0);
  if (call.upgrade) {
    const len = Number(call.req.headers["content-length"] ?? 0);
    const r = await readUpgradeBody(call.upgrade.socket, call.upgrade.head, len);
    rest = r.rest;
    const text = r.body.toString("utf8").trim();
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw invalid("invalid JSON body");
    }
  } else body = await readObject(call.req);
  // The container may have stopped since create.
  const c = await call.api.engine.containers.inspect(rec.containerId);
  if (!c.State.Running) throw conflict(`Container ${rec.containerId} is not running`);
  rec.started = true;
  // As dockerd: the start's Tty decides the framing (raw or multiplexed), whatever
  // the create said; the create's Tty decides whether the process has a terminal.
  const tty = body.Tty === true;
  if (body.Detach === true) {
    void run(call, rec, undefined, true);
    call.res?.writeHead(200);
    call.res?.end();
    return;
  }
  const size = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? [Number(body.ConsoleSize[0]), Number(body.ConsoleSize[1])] : rec.opts.ConsoleSize;
  const onResize: AttachStreams["onResize"] = (fn) => {
    rec.resize = fn;
    const s = rec.pendingSize ?? size;
    rec.pendingSize = undefined;
    if (s && s[0] && s[1]) fn(s[0], s[1]);
  };
  const o = { tty, stdin: rec.opts.AttachStdin ?? false, stdout: rec.opts.AttachStdout, stderr: rec.opts.AttachStderr };
  if (call.upgrade) {
    const { socket } = call.upgrade;
    writeUpgrade(socket, tty);
    const keys = detachKeysOf.get(rec)?.bytes ?? detachKeysParam(undefined);
    await run(call, rec, rawStderr(attachStreams(socket, o.stdin ? stdinFrom(socket, rest, keys) : undefined, o, onResize), socket, rec, o), false);
    socket.end();
  } else {
    const r = call.res!;
    r.writeHead(200, { "Content-Type": streamContentType(tty) });
    r.flushHeaders();
    await run(call, rec, rawStderr(attachStreams(r, undefined, { ...o, stdin: false }, onResize), r, rec, o), false);
    r.end();
  }
}

async function inspect(call: Call): Promise<void> {
  const rec = call.api.execs.get(call.params[0]!);
  const [entrypoint, ...args] = rec.opts.Cmd;
  sendJson(call.res!, 200, {
    ID: rec.id,
    Running: rec.running,
    ExitCode: rec.exitCode,
    ProcessConfig: { tty: rec.opts.Tty ?? false, entrypoint, arguments: args, privileged: rec.opts.Privileged ?? false, user: rec.opts.User ?? "" },
    OpenStdin: rec.opts.AttachStdin ?? false,
    OpenStderr: rec.opts.AttachStderr,
    OpenStdout: rec.opts.AttachStdout,
    CanRemove: false,
    ContainerID: rec.containerId,
    DetachKeys: detachKeysOf.get(rec)?.text ?? "",
    Pid: 0,
  });
}

async function resize(call: Call): Promise<void> {
  const rec = call.api.execs.get(call.params[0]!);
  const h = call.query.int("h") ?? 0;
  const w = call.query.int("w") ?? 0;
  if (!rec.running && rec.started) throw conflict(`Exec ${rec.id} is not running`);
  if (rec.resize) rec.resize(h, w);
  else rec.pendingSize = [h, w];
  // dockerd answers 200 (the handler writes no status); dockerode accepts only that.
  call.res!.writeHead(200);
  call.res!.end();
}

export function execRoutes(r: Router): void {
  const plain = (h: (call: Call) => Promise<void>) => (call: Call) => (call.upgrade ? Promise.reject(new HttpError(400, "this endpoint cannot be upgraded")) : h(call));
  r.add("POST", "/containers/{id}/exec", plain(create));
  r.add("POST", "/exec/{id}/start", start);
  r.add("GET", "/exec/{id}/json", plain(inspect));
  r.add("POST", "/exec/{id}/resize", plain(resize));
}
