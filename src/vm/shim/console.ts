// A terminal for a VM's workload or exec (`-t`): conmon asks the runtime, as
// it asks runc, to create a pseudo-terminal and send its master over a unix
// socket (SCM_RIGHTS). Node has no openpty or fd passing, so a few lines of
// Python (python3 is part of capsa's set-up) do exactly that, make the slave
// the controlling terminal and stdio, and exec the command.
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

const PTY_HELPER = `
import os, sys, socket, fcntl, termios
m, s = os.openpty()
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
socket.send_fds(c, [b"/dev/ptmx"], [m])
c.close()
os.close(m)
os.setsid()
fcntl.ioctl(s, termios.TIOCSCTTY, 0)
for fd in (0, 1, 2):
    os.dup2(s, fd)
if s > 2:
    os.close(s)
os.write(3, b"ok\\n")
os.close(3)
os.execv(sys.argv[2], sys.argv[2:])
`;

/** Runs `cmd` on a new terminal whose master went to `consoleSocket`; returns its pid once the master is sent. */
export async function withConsole(consoleSocket: string, cmd: string[]): Promise<number> {
  const child = spawn("python3", ["-c", PTY_HELPER, consoleSocket, ...cmd], { stdio: ["ignore", "ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const ok = await new Promise<boolean>((resolve) => {
    (child.stdio[3] as Readable).once("data", () => resolve(true));
    child.once("exit", () => resolve(false));
    child.once("error", () => resolve(false));
  });
  if (!ok || !child.pid) throw new Error(`cannot set up a terminal: ${err.trim().split("\n").pop() ?? "python3 failed"}`);
  (child.stdio[3] as Readable).destroy();
  child.stderr!.destroy();
  child.unref();
  return child.pid;
}
