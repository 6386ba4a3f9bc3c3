// The vm level: `capsa run --rm --isolation vm img true` (boot → workload →
// exit, through the CLI, conmon, capsa-vm-runtime, QEMU and the guest agent)
// against its floor, QEMU booting the same kernel with a trivial init and
// powering off. The ratio is capsa's overhead over the hypervisor itself.
import { errorMessage, interleaved, type Scenario } from "../lib/harness.ts";
import { timed } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";

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
    await interleaved(h, h.opts.rounds ?? (h.opts.short ? 3 : 15), 1, async (sys, round) => {
      try {
        const r = await timed(sys.runRm(["true"]), { timeoutMs: 120_000 });
        if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
        if (round >= 0) rec.set("wall", sys.name, round, r.ms);
      } catch (e) {
        if (round >= 0) rec.set("wall", sys.name, round, null);
        rec.error("wall", sys.name, errorMessage(e));
      }
    });
    return rec.finish(VM_SUBJECT);
  },
};
