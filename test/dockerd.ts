// A dockerd of a test's own, to check capsa against docker itself: a private
// socket, data root and exec root, no networking of its own; stopped by pid.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { unmountBelow } from "./helpers.ts";

export const hasDockerd = spawnSync("sh", ["-c", "command -v dockerd"]).status === 0;

/** A dockerd on a private socket, data root and exec root, without networking of its own; stopped by pid. */
export class PrivateDockerd {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-dockerd-"));
  readonly socket = path.join(this.dir, "docker.sock");
  private daemon?: ChildProcess;
  private readonly preexisting = ["/etc/docker/key.json", "/run/docker"].filter((p) => fs.existsSync(p));

  async start(): Promise<void> {
    const log = fs.openSync(path.join(this.dir, "dockerd.log"), "a");
    this.daemon = spawn(
      "dockerd",
      ["--data-root", path.join(this.dir, "data"), "--exec-root", path.join(this.dir, "exec"), "--pidfile", path.join(this.dir, "dockerd.pid"), "-H", `unix://${this.socket}`, "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip-forward=false", "--log-level", "warn"],
      { stdio: ["ignore", log, log] },
    );
    fs.closeSync(log);
    const deadline = Date.now() + 60_000;
    while (this.docker(["version"]).status !== 0) {
      if (this.daemon.exitCode !== null || Date.now() > deadline) throw new Error(`dockerd did not come up: ${fs.readFileSync(path.join(this.dir, "dockerd.log"), "utf8").slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  docker(args: string[], timeout = 120_000): SpawnSyncReturns<string> {
    return spawnSync("docker", ["-H", `unix://${this.socket}`, ...args], { encoding: "utf8", timeout, env: { ...process.env, DOCKER_CONFIG: path.join(this.dir, "client") } });
  }

  async stop(): Promise<void> {
    const d = this.daemon;
    if (d?.pid && d.exitCode === null) {
      const exited = new Promise((r) => d.once("exit", r));
      process.kill(d.pid, "SIGTERM");
      const killer = setTimeout(() => d.exitCode === null && d.pid && process.kill(d.pid, "SIGKILL"), 20_000);
      await exited;
      clearTimeout(killer);
    }
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    // dockerd 20.10 leaves a trust key and a plugin directory whatever its roots.
    for (const p of ["/etc/docker/key.json", "/run/docker"]) if (!this.preexisting.includes(p)) fs.rmSync(p, { recursive: true, force: true });
    // Its parent cgroup in each v1 hierarchy (rmdir fails, harmlessly, while another dockerd still has containers there).
    spawnSync("rmdir", ["cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "blkio", "freezer", "net_cls", "perf_event", "hugetlb", "systemd", "unified"].map((c) => `/sys/fs/cgroup/${c}/docker`), { stdio: "ignore" });
  }
}
