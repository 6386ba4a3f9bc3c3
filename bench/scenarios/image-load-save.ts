// `load` and `save` of a large multi-layer image (~250 MB: Debian minbase plus
// random layers, a `docker save` archive made once and cached): capsa against
// podman and docker. Each round starts with the image removed (layers and
// blobs too), so every load unpacks every layer.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { errorMessage, interleaved, type Harness, type Scenario } from "../lib/harness.ts";
import { BIG_IMAGE, bigImageArchive, type ImageArchive } from "../lib/image-archive.ts";
import { timedOk } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";

const MB = (bytes: number) => Math.round(bytes / 1e6);

export const imageLoadSave: Scenario = {
  id: "image-load-save",
  title: "load and save of a ~250 MB image",
  describe:
    "A `docker save` archive made once and cached: Debian bookworm minbase (debootstrap) as the first layer, two layers of random bytes (32 and 12 MiB, incompressible) and a small one; layers uncompressed, as `docker save` writes them. Per round and engine: the image is removed (with its layers and blobs), then `load -i archive` and `save -o file image` are timed, spawn to exit; the saved file is deleted. Interleaved, warm-up discarded; ratios per round. Engines without images (runc) are left out.",
  systems: ["capsa", "podman", "docker"],
  async run(h) {
    const rec = new Recorder(this.id);
    let archive: ImageArchive;
    try {
      archive = bigImageArchive();
    } catch (e) {
      rec.define("load", "load", "ms", "paired");
      for (const s of h.systems) rec.error("load", s.name, `no image archive: ${errorMessage(e).split("\n")[0]}`);
      return rec.finish(h.opts.subject);
    }
    const what = `${MB(archive.bytes)} MB archive, ${archive.layers.length} layers (${archive.layers.map(MB).join(" + ")} MB)`;
    h.log(`  ${archive.path}: ${what}`);
    rec.define("load", `load -i of the ${what}: wall time`, "ms", "paired");
    rec.define("save", `save -o of the same image: wall time`, "ms", "paired");
    const systems = h.systems.filter((s) => {
      const ok = !!(s.load && s.save && s.removeImage);
      if (!ok) h.log(`  ${s.name}: no load/save: left out`);
      return ok;
    });
    await loadSaveRounds({ ...h, systems }, rec, archive);
    return rec.finish(h.opts.subject);
  },
};

/** The measured rounds: per system remove, load (timed), save (timed), check the saved size; the image is removed at the end. */
export async function loadSaveRounds(h: Harness, rec: Recorder, archive: ImageArchive): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-bench-save-"));
  try {
    await interleaved(h, h.opts.rounds ?? (h.opts.short ? 2 : 8), 1, async (sys, round) => {
      let metric = "load";
      const out = path.join(dir, `${sys.name}.tar`);
      try {
        await sys.removeImage!(BIG_IMAGE);
        const load = await timedOk(sys.load!(archive.path), { timeoutMs: 600_000 });
        metric = "save";
        const save = await timedOk(sys.save!(BIG_IMAGE, out), { timeoutMs: 600_000 });
        const size = fs.statSync(out).size;
        if (size < archive.bytes / 2) throw new Error(`the saved archive has ${size} bytes, the loaded one ${archive.bytes}`);
        if (round >= 0) {
          rec.set("load", sys.name, round, load.ms);
          rec.set("save", sys.name, round, save.ms);
        }
        h.log(`  ${sys.name}${round < 0 ? " (warm-up)" : ""}: load ${Math.round(load.ms)} ms, save ${Math.round(save.ms)} ms (${MB(size)} MB)`);
      } catch (e) {
        if (round >= 0) rec.set(metric, sys.name, round, null);
        rec.error(metric, sys.name, errorMessage(e));
      } finally {
        fs.rmSync(out, { force: true });
      }
    });
  } finally {
    for (const s of h.systems) await s.removeImage!(BIG_IMAGE).catch((e: unknown) => rec.error("load", s.name, `cleanup: ${errorMessage(e)}`));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
