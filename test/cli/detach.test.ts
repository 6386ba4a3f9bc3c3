// Detach keys: while attached with stdin and a terminal, the detach sequence
// (ctrl-p ctrl-q, or --detach-keys) ends the client and leaves the container
// running; through the API the docker CLI's detachKeys does the same on the
// server side. Each session runs under script(1), which gives it a real pty.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { CLI, importBusybox, useBusyboxRoot } from "../helpers.ts";
import { startService, type Service } from "../api/service.ts";

const CTRL_P_Q = "\x10\x11";
const hasScript = spawnSync("script", ["--version"]).status === 0;

interface Session {
  /** Resolves once the session's output matches re (rejects after a while, showing the output). */
  waitFor(re: RegExp): Promise<void>;
  type(s: string): void;
  /** The exit status (null when it had to be killed) and everything it printed. */
  exit: Promise<{ status: number | null; out: string }>;
}

/** Runs a shell command line under script(1); it is killed (by pid) after timeoutMs. */
function session(cmd: string, env: NodeJS.ProcessEnv, timeoutMs = 40_000): Session {
  const child = spawn("script", ["-qec", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  const grow: (() => void)[] = [];
  const onData = (d: Buffer): void => {
    out += d.toString("latin1");
    for (const g of grow.slice()) g();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = new Promise<{ status: number | null; out: string }>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ status: code, out });
    }),
  );
  return {
    exit,
    type: (s) => void child.stdin.write(Buffer.from(s, "latin1")),
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (re.test(out)) {
            grow.splice(grow.indexOf(check), 1);
            resolve();
          }
        };
        grow.push(check);
        void exit.then(() => setTimeout(() => (re.test(out) ? resolve() : reject(new Error(`no ${re} in the session's output:\n${JSON.stringify(out)}`))), 0));
        check();
      }),
  };
}

const sh = (args: string[]): string => args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");

void describe("detach keys (CLI)", { skip: !hasScript && "util-linux script is missing" }, () => {
  const root = useBusyboxRoot("detach", "bb:1");
  const capsaLine = (args: string[]): string => `${sh([CLI])} ${sh(args)}`;
  const running = (name: string): string => root().capsa(["inspect", "-f", "{{.State.Running}}", name]).stdout.trim();

  void it("ctrl-p ctrl-q detaches run -it (exit 0), attach and exec -it (docker's 'read escape sequence', exit 1); the container keeps running and answers a later attach", async () => {
    const t = root();
    const s = session(capsaLine(["run", "-it", "--name", "dk1", "bb:1", "sh"]), t.env);
    await s.waitFor(/# /);
    s.type("echo ready-$((2+3))\r");
    await s.waitFor(/ready-5/);
    s.type(CTRL_P_Q);
    const r = await s.exit;
    assert.equal(r.status, 0, r.out);
    assert.equal(running("dk1"), "true");

    const a = session(capsaLine(["attach", "dk1"]), t.env);
    a.type("echo again-$((3+4))\r");
    await a.waitFor(/again-7/);
    a.type(CTRL_P_Q);
    const ar = await a.exit;
    assert.equal(ar.status, 1, ar.out);
    assert.match(ar.out, /read escape sequence/);
    assert.equal(running("dk1"), "true");

    const e = session(capsaLine(["exec", "-it", "dk1", "sh"]), t.env);
    e.type("echo exec-$((4+4))\r");
    await e.waitFor(/exec-8/);
    e.type(CTRL_P_Q);
    const er = await e.exit;
    assert.equal(er.status, 1, er.out);
    assert.match(er.out, /read escape sequence/);
    assert.equal(running("dk1"), "true");
    assert.equal(t.capsa(["rm", "-f", "dk1"]).status, 0);
  });

  void it("--detach-keys ctrl-x,y detaches; ctrl-p ctrl-q and a broken prefix of the sequence reach the container as typed", async () => {
    const t = root();
    // Raw mode in the container: every byte reaches dd as typed (no XON/XOFF, no line editing).
    const script = "stty raw -echo; echo ready; dd bs=1 count=5 2>/dev/null | od -An -tx1; sleep 1000";
    const s = session(capsaLine(["run", "-it", "--detach-keys", "ctrl-x,y", "--name", "dk2", "bb:1", "sh", "-c", script]), t.env);
    await s.waitFor(/ready/);
    s.type(CTRL_P_Q + "\x18" + "zq");
    await s.waitFor(/10 11 18 7a 71/);
    s.type("\x18y");
    const r = await s.exit;
    assert.equal(r.status, 0, r.out);
    assert.equal(running("dk2"), "true");
    assert.equal(t.capsa(["rm", "-f", "dk2"]).status, 0);
  });

  void it("a bad --detach-keys is a one-line error and creates nothing", () => {
    const t = root();
    const r = t.capsa(["run", "-i", "--detach-keys", "ctrl-1", "--name", "dk3", "bb:1", "true"]);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /^capsa: Invalid detach keys \(ctrl-1\) provided\n$/);
    assert.equal(t.capsa(["ps", "-a", "-q", "--filter", "name=dk3"]).stdout.trim(), "");
    const a = t.capsa(["attach", "--detach-keys", "ctrl-", "dk3"]);
    assert.equal(a.status, 1, a.stderr); // docker attach's code for a refused attach
    assert.match(a.stderr, /^capsa: Invalid detach keys \(ctrl-\) provided\n$/);
  });
});

void describe("detach keys (docker CLI through the API)", { skip: (!hasScript && "util-linux script is missing") || (spawnSync("docker", ["--version"]).status !== 0 && "the docker CLI is missing") }, () => {
  let s: Service;
  before(async () => {
    s = await startService("detach-api");
    importBusybox(s.t, "bb:1");
  });
  after(async () => s?.stop());

  void it("a hijacked attach with detachKeys: the server closes the connection on the sequence, the container keeps running with its stdin open", async () => {
    s.dockerOk(["run", "-dit", "--name", "dkr", "bb:1", "sh"]);
    const noAnswer = new Promise<{ status: number; body: string }>((r) => setTimeout(() => r({ status: 0, body: "no answer in 15 s" }), 15_000).unref());
    const bad = await Promise.race([s.request("POST", "/containers/dkr/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-1"), noAnswer]);
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.body, /Invalid detach keys \(ctrl-1\) provided/);

    const sock = net.connect(s.socket);
    let got = "";
    sock.on("data", (d: Buffer) => (got += d.toString("latin1")));
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    sock.write("POST /containers/dkr/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x,y HTTP/1.1\r\nHost: capsa\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    const until = async (re: RegExp): Promise<void> => {
      for (let i = 0; !re.test(got); i++) {
        if (i > 200) throw new Error(`no ${re} on the connection: ${JSON.stringify(got)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      await until(/101 UPGRADED/);
      sock.write("echo raw-$((8+8))\r");
      await until(/raw-16/);
      sock.write("\x18y");
      const timeout = new Promise<string>((r) => setTimeout(() => r("still open"), 15_000));
      assert.equal(await Promise.race([closed.then(() => "closed"), timeout]), "closed");
    } finally {
      sock.destroy();
    }
    assert.equal(s.dockerOk(["inspect", "-f", "{{.State.Running}}", "dkr"]).trim(), "true");
    const a = session("docker attach dkr", s.env);
    a.type("echo after-$((9+9))\r");
    await a.waitFor(/after-18/);
    a.type(CTRL_P_Q);
    await a.exit;
    s.dockerOk(["rm", "-f", "dkr"]);
  });

  void it("docker attach and docker exec -it detach with ctrl-p ctrl-q: the connection closes, the container keeps running", async () => {
    s.dockerOk(["run", "-dit", "--name", "dka", "bb:1", "sh"]);
    const running = (): string => s.dockerOk(["inspect", "-f", "{{.State.Running}}", "dka"]).trim();

    const a = session("docker attach dka", s.env);
    a.type("echo attached-$((5+5))\r");
    await a.waitFor(/attached-10/);
    a.type(CTRL_P_Q);
    const ar = await a.exit;
    // docker's CLI: attach and exec say so and exit 1 (run -it exits 0).
    assert.equal(ar.status, 1, ar.out + s.log().slice(-2000));
    assert.match(ar.out, /read escape sequence/);
    assert.equal(running(), "true");

    const e = session("docker exec -it dka sh", s.env);
    e.type("echo exec-$((6+6))\r");
    await e.waitFor(/exec-12/);
    e.type(CTRL_P_Q);
    const er = await e.exit;
    assert.equal(er.status, 1, er.out + s.log().slice(-2000));
    assert.match(er.out, /read escape sequence/);
    assert.equal(running(), "true");

    // Detached, not broken: the container's shell still answers a new attach.
    const again = session("docker attach dka", s.env);
    again.type("echo still-$((7+7))\r");
    await again.waitFor(/still-14/);
    again.type(CTRL_P_Q);
    assert.equal((await again.exit).status, 1);
    s.dockerOk(["rm", "-f", "dka"]);
  });

  void it("docker run -it detaches with ctrl-p ctrl-q (exit 0): the container keeps running and answers a later attach", async () => {
    const r = session("docker run -it --name dkrun bb:1 sh", s.env);
    r.type("echo run-$((10+10))\r");
    await r.waitFor(/run-20/);
    r.type(CTRL_P_Q);
    const rr = await r.exit;
    assert.equal(rr.status, 0, rr.out + s.log().slice(-2000));
    assert.equal(s.dockerOk(["inspect", "-f", "{{.State.Running}}", "dkrun"]).trim(), "true");
    const a = session("docker attach dkrun", s.env);
    a.type("echo back-$((11+11))\r");
    await a.waitFor(/back-22/);
    a.type(CTRL_P_Q);
    assert.equal((await a.exit).status, 1);
    s.dockerOk(["rm", "-f", "dkrun"]);
  });
});
