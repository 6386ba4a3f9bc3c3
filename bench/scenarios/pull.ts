// `pull` of the large multi-layer image (bench/lib/image-archive.ts) from a
// registry of our own: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1 with its own temp storage, started for this scenario and stopped by
// its pid. capsa pull against skopeo copy (to an OCI layout: the transfer's
// floor), podman pull and docker pull (dockerd treats 127.0.0.0/8 as an
// insecure registry, so plain HTTP). The image is removed, with its layers and
// blobs, before every pull, so each one transfers everything. A second floor,
// `curl+tar`, is this scenario's own: every layer fetched with curl and
// extracted by GNU tar, all at once: what unpacking costs with no checks.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { errorMessage, interleaved, type Harness, type Scenario } from "../lib/harness.ts";
import { BIG_IMAGE, bigImageArchive } from "../lib/image-archive.ts";
import { timedOk } from "../lib/proc.ts";
import { Recorder } from "../lib/results.ts";
import { startRegistry, type RunningRegistry } from "../../test/registry/fixtures.ts";
import type { ContainerSystem } from "../systems/system.ts";

const REPO_PATH = BIG_IMAGE.replace(/:.*$/, "");

/** Pushes the archive with skopeo (which gzips the layers, as a registry serves them); returns the compressed layers. */
async function seed(reg: RunningRegistry, archive: string): Promise<{ size: number; digest: string }[]> {
  const ref = `${reg.host}/${BIG_IMAGE}`;
  await timedOk({ argv: ["skopeo", "copy", "-q", "--dest-tls-verify=false", `docker-archive:${archive}`, `docker://${ref}`] }, { timeoutMs: 900_000 });
  const r = await fetch(`http://${reg.host}/v2/${REPO_PATH}/manifests/latest`, { headers: { accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" } });
  if (!r.ok) throw new Error(`manifest of ${ref}: HTTP ${r.status}`);
  const m = (await r.json()) as { layers?: { size: number; digest: string }[] };
  return m.layers ?? [];
}

// Each layer: curl | tar -xz into a directory of its own, in the background;
// then every job's status. No digest is checked and no whiteout converted.
const FLOOR_SCRIPT = `set -o pipefail; dir=$1; base=$2; shift 2; pids=
for d in "$@"; do mkdir -p "$dir/$d"; (curl -sf "$base/$d" | tar --numeric-owner -xzf - -C "$dir/$d") & pids="$pids $!"; done
for p in $pids; do wait $p || exit 1; done`;

/** The curl+tar floor as a system of this scenario: pull = fetch and unpack every layer into a fresh directory. */
function curlTarFloor(reg: RunningRegistry, digests: string[]): ContainerSystem & { dispose(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "capsa-bench-curl-tar-"));
  const floor = {
    name: "curl+tar",
    pull: () => ({ argv: ["bash", "-c", FLOOR_SCRIPT, "floor", path.join(dir, "layers"), `http://${reg.host}/v2/${REPO_PATH}/blobs`, ...digests] }),
    removeImage: async () => fs.rmSync(path.join(dir, "layers"), { recursive: true, force: true }),
    dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  // Only name, pull and removeImage are used by pullRounds.
  return floor as unknown as ContainerSystem & { dispose(): void };
}

export const pull: Scenario = {
  id: "pull",
  title: "pull of a ~250 MB multi-layer image from a local registry",
  describe:
    "Debian's docker-registry (distribution 2.8) on 127.0.0.1, its own config and storage in a temp dir, started for the scenario and stopped by pid. The image of `image-load-save` (Debian minbase + 32 and 12 MiB of random bytes + a small layer) is pushed once with `skopeo copy` (layers gzip-compressed). Per round and system the image is removed first (engines: `rmi`, capsa also `image prune`; skopeo: its OCI layout), then the pull is timed, spawn to exit: `capsa pull`, `podman pull --tls-verify=false`, `docker pull` (the private dockerd; 127.0.0.0/8 is insecure by default) and `skopeo copy docker://… oci:DIR`, which only fetches and verifies blobs (no unpacking: the transfer's floor), and `curl+tar`: every layer fetched with curl and piped into GNU tar -xz, all layers at once (no checks: the unpacking's floor). The base layer carries a file naming the scenario, so no engine holds it from an earlier scenario. Interleaved, warm-up discarded; ratios per round.",
  systems: ["capsa", "skopeo", "podman", "docker"],
  packages: ["docker-registry", "skopeo"],
  async run(h) {
    const rec = new Recorder(this.id);
    rec.define("pull", "pull: wall time", "ms", "paired");
    const systems = h.systems.filter((s) => {
      const ok = !!(s.pull && s.removeImage);
      if (!ok) h.log(`  ${s.name}: no pull: left out`);
      return ok;
    });
    let reg: RunningRegistry | undefined;
    try {
      const archive = bigImageArchive("pull");
      const started = (reg = await startRegistry());
      h.defer(() => started.stop());
      h.log(`  registry on ${reg.host}: pushing ${BIG_IMAGE}`);
      const layers = await seed(reg, archive.path);
      const sizes = layers.map((l) => l.size);
      const mb = (b: number) => Math.round(b / 1e6);
      const total = sizes.reduce((a, b) => a + b, 0);
      rec.define("pull", `pull of ${mb(total)} MB in ${sizes.length} gzip layers (${sizes.map(mb).join(" + ")} MB; ${mb(archive.bytes)} MB unpacked): wall time`, "ms", "paired");
      const floor = curlTarFloor(reg, layers.map((l) => l.digest));
      try {
        await pullRounds({ ...h, systems: [...systems, floor] }, rec, `${reg.host}/${BIG_IMAGE}`);
      } finally {
        floor.dispose();
      }
    } catch (e) {
      for (const s of systems) rec.error("pull", s.name, `set-up: ${errorMessage(e).split("\n")[0]}`);
    } finally {
      await reg?.stop();
    }
    return rec.finish(h.opts.subject);
  },
};

/** The measured rounds: per system remove the image, then pull it (timed); removed again at the end. */
export async function pullRounds(h: Harness, rec: Recorder, ref: string): Promise<void> {
  await interleaved(h, h.opts.rounds ?? (h.opts.short ? 2 : 6), 1, async (sys, round) => {
    try {
      await sys.removeImage!(ref);
      const r = await timedOk(sys.pull!(ref), { timeoutMs: 600_000 });
      if (round >= 0) rec.set("pull", sys.name, round, r.ms);
      h.log(`  ${sys.name}${round < 0 ? " (warm-up)" : ""}: pull ${Math.round(r.ms)} ms`);
    } catch (e) {
      if (round >= 0) rec.set("pull", sys.name, round, null);
      rec.error("pull", sys.name, errorMessage(e));
    }
  });
  for (const s of h.systems) await s.removeImage!(ref).catch((e: unknown) => rec.error("pull", s.name, `cleanup: ${errorMessage(e)}`));
}
