// The vm level: `capsa run --rm --isolation vm img true` (boot → workload →
// exit, through the CLI, conmon, capsa-vm-runtime, QEMU and the guest agent)
// against its floor, QEMU booting the same kernel with a trivial init and
// powering off. The ratio is capsa's overhead over the hypervisor itself.
import { type Scenario } from "../lib/harness.ts";
import { Recorder } from "../lib/results.ts";
import { recordRunRmWall } from "../lib/run-rm.ts";

export const VM_SUBJECT = "capsa-vm";

export const vm: Scenario = {
  id: "vm",
  title: "run --rm --isolation vm img true",
  describe:
    "Wall time of one `capsa run --rm --isolation vm img true` and of raw `qemu-system-x86_64 -M microvm` booting the same kernel and initramfs with an init that powers off at once, same accelerator, interleaved; ratios are capsa-vm/qemu-raw per round.",
  systems: [VM_SUBJECT, "qemu-raw"],
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("wall", "boot → workload → exit: wall time", "ms", "paired");
    await recordRunRmWall(h, rec, { metric: "wall", rounds: h.opts.short ? 3 : 15, warmup: 1, timeoutMs: 120_000 });
    return rec.finish(VM_SUBJECT);
  },
};
