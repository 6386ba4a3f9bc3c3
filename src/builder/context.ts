// The build context and the Containerfile: the context is a directory, a tar
// stream (extracted into a private temp dir) or nothing; the Containerfile is
// given as text, named with -f, or found in the context; .dockerignore is read
// beside it.
import fs from "node:fs";
import path from "node:path";
import { decompressStream } from "../archive/compression.ts";
import { extractArchive } from "../archive/extract.ts";
import { resolveInRoot } from "../archive/paths.ts";
import { errorMessage } from "../util/errors.ts";
import { BuildError } from "./errors.ts";
import { loadIgnore } from "./ignore.ts";
import { completeTarEnd } from "./tar-end.ts";
import type { BuildSession } from "./session.ts";

/** Sets the session's context dir and ignore rules; returns the Containerfile's text and name. */
export async function prepareContext(s: BuildSession): Promise<{ text: string; name: string }> {
  const o = s.opts;
  let dockerfilePath: string | undefined;
  if (o.contextTar) {
    s.contextDir = s.tmpDir("context");
    const contextTar = o.contextTar;
    await (async () => {
      // Decompressed here, so the tar's end can be completed (tar-end.ts) whatever the compression.
      const { stream } = await decompressStream(contextTar);
      const completed = completeTarEnd();
      stream.on("error", (e) => completed.destroy(e));
      await extractArchive(stream.pipe(completed), s.contextDir, { whiteouts: "keep", sameOwner: false, devices: false });
    })().catch((e: unknown) => {
      throw new BuildError(`build context: ${errorMessage(e)}`);
    });
  } else if (o.contextDir) {
    try {
      s.contextDir = fs.realpathSync(o.contextDir);
      if (!fs.statSync(s.contextDir).isDirectory()) throw new Error("not a directory");
    } catch {
      throw new BuildError(`unable to prepare context: path "${o.contextDir}" not found`, "not-found");
    }
  } else {
    s.contextDir = s.tmpDir("context");
  }
  if (o.dockerfileText !== undefined) {
    s.ignore = loadIgnore(s.contextDir);
    return { text: o.dockerfileText, name: "Dockerfile" };
  }
  if (o.dockerfile && o.dockerfile !== "-") {
    // dockerd's words (and its 500) for a relative path that climbs out of the context; an absolute one is inside it.
    const climbs = !path.posix.isAbsolute(o.dockerfile) && path.posix.normalize(o.dockerfile).split("/")[0] === "..";
    if (o.contextTar && climbs) throw new BuildError(`forbidden path outside the build context: ${o.dockerfile} ()`, "system");
    dockerfilePath = o.contextTar ? resolveInRoot(s.contextDir, o.dockerfile) : path.resolve(o.dockerfile);
  } else {
    dockerfilePath = ["Containerfile", "Dockerfile"].map((n) => path.join(s.contextDir, n)).find((p) => fs.existsSync(p));
    if (!dockerfilePath) throw new BuildError("no Containerfile or Dockerfile specified or found in the build context", "not-found");
  }
  let text: string;
  try {
    text = fs.readFileSync(dockerfilePath, "utf8");
  } catch {
    // A 500 over the API, as dockerd's.
    throw new BuildError(`Cannot locate specified Dockerfile: ${o.dockerfile ?? path.basename(dockerfilePath)}`, "system");
  }
  s.ignore = loadIgnore(s.contextDir, dockerfilePath);
  return { text, name: path.basename(dockerfilePath) };
}
