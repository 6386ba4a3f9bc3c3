// stats: what docker's stats show, read from the container's own namespaces.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { importBusybox, makeTestRoot, type TestRoot } from "../helpers.ts";
import { parseNetDev } from "../../src/engine/containers/observe.ts";

const isRoot = process.getuid?.() === 0;

void describe("stats networks", () => {
  void it("parses /proc/net/dev, leaving out lo", () => {
    const text = [
      "Inter-|   Receive                                                |  Transmit",
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
      "    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0",
      "  eth0:    5000      40    1    2    0     0          0         0     7000      50    3    4    0     0       0          0",
    ].join("\n");
    assert.deepEqual(parseNetDev(text), { eth0: { rx_bytes: 5000, rx_packets: 40, rx_errors: 1, rx_dropped: 2, tx_bytes: 7000, tx_packets: 50, tx_errors: 3, tx_dropped: 4 } });
  });

  void describe("of a running container", { skip: !isRoot && "needs root" }, () => {
    let t: TestRoot;
    const net = `st${process.pid % 100000}`;
    const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}.0/24`;
    before(() => {
      t = makeTestRoot("stats");
      importBusybox(t);
    });
    after(() => {
      t.capsa(["rm", "-f", "net-stats", "net-sink"]);
      t.capsa(["network", "rm", net]);
      t.cleanup();
    });

    void it("counts the bytes a container sends on its network (was always 0)", () => {
      const created = t.capsa(["network", "create", "--subnet", subnet, net]);
      assert.equal(created.status, 0, created.stderr);
      // 200 kB over TCP to a second container of the test's own on that network (busybox nc stops reading
      // its socket once its stdin ends: both keep theirs open).
      assert.equal(t.capsa(["run", "-d", "--name", "net-sink", "--network", net, "busybox", "sh", "-c", "sleep 60 | nc -l -p 5000 > /dev/null"]).status, 0);
      const run = t.capsa(["run", "-d", "--name", "net-stats", "--network", net, "busybox", "sh", "-c", "sleep 1; (head -c 200000 /dev/zero; sleep 60) | nc net-sink 5000"]);
      assert.equal(run.status, 0, run.stderr);
      let tx = 0;
      for (let i = 0; i < 50 && tx < 200_000; i++) {
        const s = t.capsa(["stats", "--no-stream", "--format", "{{json .}}", "net-stats"]);
        assert.equal(s.status, 0, s.stderr);
        const row = JSON.parse(s.stdout.trim()) as { NetIO: string };
        const m = /\/\s*([\d.]+)(k|M)?B/.exec(row.NetIO);
        tx = m ? Number(m[1]) * (m[2] === "M" ? 1e6 : m[2] === "k" ? 1e3 : 1) : 0;
        if (tx < 200_000) spawnSleep(200);
      }
      assert.ok(tx >= 200_000, `NetIO tx ${tx}`);
    });
  });
});

function spawnSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
