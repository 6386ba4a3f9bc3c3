// `capsa build`: runs a parsed Containerfile stage by stage. Every step that
// changes the image produces an (untagged) image: RUN in a capsa container
// whose writable layer is committed (run-step.ts), COPY/ADD into a scratch
// overlay whose upper dir is committed (copy-step.ts), the other instructions
// as config-only images (instructions.ts). Each step's result is cached by
// (parent image, instruction, inputs); a cached step costs a file read. Only
// the final stage's image is tagged, at the end. This module is the
// orchestration: set-up, the stages in order, the final image and its tags.
import type { BuildOptions, BuildResult } from "../types/build.ts";
import type { EngineApi } from "../types/engine-api.ts";
import { familiarString, normalizeReference } from "../engine/index.ts";
import { errorMessage } from "../util/errors.ts";
import { pidAlive } from "../util/process.ts";
import { prepareContext } from "./context.ts";
import { BuildError } from "./errors.ts";
import { configStep, instruction } from "./instructions.ts";
import { parseDockerfile, parseTrigger, type Instruction, type Stage } from "./parse.ts";
import { removeStaleScratch } from "./rootfs.ts";
import { BUILD_LABEL, BUILD_PID_LABEL, runNetwork } from "./run-step.ts";
import { BuildSession, PROXY_ARGS, short, type StageState } from "./session.ts";
import { evalMetaArgs, fromWords, neededStages, targetStage } from "./stages.ts";
import { shortId } from "../util/ids.ts";

export async function runBuild(engine: EngineApi, opts: BuildOptions): Promise<BuildResult> {
  const s = new BuildSession(engine, opts);
  try {
    return await buildAll(s);
  } finally {
    s.cleanup();
  }
}

async function buildAll(s: BuildSession): Promise<BuildResult> {
  const tags = (s.opts.tags ?? []).map((t) => {
    try {
      return normalizeReference(t);
    } catch (e) {
      throw new BuildError(`invalid tag ${JSON.stringify(t)}: ${errorMessage(e)}`);
    }
  });
  s.watchAbort();
  await removeLeftovers(s);
  const { text, name } = await prepareContext(s);
  s.file = parseDockerfile(text, name);
  evalMetaArgs(s);
  const needed = neededStages(s, targetStage(s));
  // Refuse what the Containerfile may not do before any step runs (ONBUILD triggers are checked when they run).
  for (const stage of needed) for (const ins of stage.instructions) if (ins.keyword === "RUN") runNetwork(s, ins);
  s.totalSteps = needed.reduce((n, stage) => n + 1 + stage.instructions.length, 0);
  let last: StageState | undefined;
  for (const stage of needed) {
    s.checkAborted();
    last = await runStage(s, stage);
    s.stageImages.set(stage.index, last.imageId);
  }
  let id = last!.imageId;
  if (s.opts.labels && Object.keys(s.opts.labels).length > 0) {
    const config = structuredClone(last!.config);
    config.Labels = { ...(config.Labels ?? {}), ...s.opts.labels };
    const labels = Object.entries(s.opts.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
    id = await configStep(s, id, config, `LABEL ${labels}`, false);
  }
  if (!id) {
    // FROM scratch and nothing else: an empty image, as docker makes it.
    id = await configStep(s, null, last!.config, "FROM scratch", false);
  }
  const unused = [...s.buildArgs.keys()].filter((k) => !s.usedArgs.has(k) && !PROXY_ARGS.includes(k));
  if (unused.length) {
    const w = `[Warning] One or more build-args [${unused.join(" ")}] were not consumed`;
    s.result.warnings.push(w);
    s.say(w);
  }
  s.checkAborted();
  for (const t of tags) s.engine.images.tag(id, t);
  s.result.id = id;
  s.result.tags = tags;
  s.opts.onImage?.(id);
  s.say(`Successfully built ${shortId(id)}`);
  for (const t of tags) s.say(`Successfully tagged ${familiarString(t)}`);
  return s.result;
}

/** What a build killed outright (SIGKILL, a crash) left: its RUN containers and scratch mounts. */
async function removeLeftovers(s: BuildSession): Promise<void> {
  removeStaleScratch(s.engine.paths.tmp);
  const mine = await s.engine.containers.list({ all: true, filters: { label: [BUILD_LABEL] } }).catch(() => []);
  for (const c of mine) {
    const pid = Number(c.Labels?.[BUILD_PID_LABEL] ?? 0);
    if (pid && pid !== process.pid && !pidAlive(pid)) await s.engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
  }
}

function stepLine(s: BuildSession, ins: Instruction): void {
  s.step++;
  s.say(`Step ${s.step}/${s.totalSteps} : ${ins.text}`);
}

/** A stage: its base (an earlier stage, an image or scratch), the base's ONBUILD triggers, then its instructions. */
async function runStage(s: BuildSession, stage: Stage): Promise<StageState> {
  stepLine(s, stage.from);
  const { image } = fromWords(s, stage);
  const state: StageState = { imageId: null, config: {}, args: new Map(), cmdSet: false };
  const dep = s.stageRef(image, stage.index);
  if (dep) {
    if (!s.stageImages.has(dep.index)) throw s.errAt(stage.from.line)(`stage ${image} was not built`);
    state.imageId = s.stageImages.get(dep.index) ?? null;
  } else if (image.toLowerCase() !== "scratch") {
    state.imageId = await s.baseImage(image, stage.from.line);
  }
  if (state.imageId) state.config = structuredClone(s.engine.images.inspect(state.imageId).config.config ?? {});
  s.say(` ---> ${state.imageId ? short(state.imageId) : "scratch"}`);
  const triggers = state.config.OnBuild ?? [];
  state.config.OnBuild = null;
  if (triggers.length) {
    s.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? "s" : ""}`);
    for (const t of triggers) {
      const ins = parseTrigger(t, s.file.file, stage.from.line);
      s.say(` ---> Running trigger: ${ins.text}`);
      await instruction(s, state, ins);
    }
  }
  for (const ins of stage.instructions) {
    s.checkAborted();
    stepLine(s, ins);
    await instruction(s, state, ins);
  }
  return state;
}
