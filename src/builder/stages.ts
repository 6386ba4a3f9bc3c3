// Stage planning: the ARGs before the first FROM, each stage's base image, the
// target stage and the stages it needs (its FROM, COPY --from and
// RUN --mount=…,from=), in file order; other stages are skipped, as BuildKit does.
import { errorMessage } from "../util/errors.ts";
import { BuildError } from "./errors.ts";
import { flagValue, flagValues, type Instruction, type Stage } from "./parse.ts";
import { PLATFORM_ARGS, type BuildSession } from "./session.ts";
import { expandWord, expandWords, type Lookup } from "./words.ts";

/** The ARGs before the first FROM: build args given for them are used; their values are what FROM lines may expand. */
export function evalMetaArgs(s: BuildSession): void {
  for (const ins of s.file.metaArgs) {
    for (const [k, v] of argPairs(s, ins, (n) => s.metaArgs.get(n) ?? undefined)) {
      const given = s.buildArgs.get(k);
      if (given !== undefined) s.usedArgs.add(k);
      s.metaArgs.set(k, given ?? v ?? PLATFORM_ARGS[k]);
    }
  }
}

/** An ARG's names and default values (undefined: declared without one). */
export function argPairs(s: BuildSession, ins: Instruction, lookup: Lookup): [string, string | undefined][] {
  let words: string[];
  try {
    words = expandWords(ins.args, lookup, s.file.escape);
  } catch (e) {
    throw s.errAt(ins.line)(errorMessage(e));
  }
  if (words.length === 0) throw s.errAt(ins.line)("ARG requires at least one argument");
  return words.map((w) => {
    const eq = w.indexOf("=");
    return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** A stage's FROM: the image (or stage) it names, with the ARGs before the first FROM expanded. */
export function fromWords(s: BuildSession, stage: Stage): { image: string; platform?: string } {
  const words = stage.from.args.trim().split(/\s+/);
  let image: string;
  try {
    image = expandWord(words[0]!, (n) => s.metaArgs.get(n) ?? undefined, s.file.escape);
  } catch (e) {
    throw s.errAt(stage.from.line)(errorMessage(e));
  }
  if (!image) throw s.errAt(stage.from.line)(`base name (${words[0]}) should not be blank`);
  return { image, platform: flagValue(stage.from, "platform") };
}

/** --target's stage, else the last one. */
export function targetStage(s: BuildSession): Stage {
  const t = s.opts.target;
  if (t === undefined || t === "") return s.file.stages[s.file.stages.length - 1]!;
  const stage = s.file.stages.find((x) => x.name === t.toLowerCase());
  if (!stage) throw new BuildError(`target stage "${t}" could not be found`, "not-found");
  return stage;
}

/** The target and the stages it depends on (FROM and COPY --from / RUN --mount from), in file order. */
export function neededStages(s: BuildSession, target: Stage): Stage[] {
  const need = new Set<number>();
  const visit = (stage: Stage): void => {
    if (need.has(stage.index)) return;
    need.add(stage.index);
    const from = s.stageRef(fromWords(s, stage).image, stage.index);
    if (from) visit(from);
    for (const ins of stage.instructions) {
      const refs = [...flagValues(ins, "from"), ...flagValues(ins, "mount").flatMap((m) => /(?:^|,)from=([^,]+)/.exec(m)?.[1] ?? [])];
      for (const r of refs) {
        const dep = s.stageRef(r, stage.index);
        if (dep) visit(dep);
        else if (s.file.stages.some((x) => x.name === r.toLowerCase() && x.index >= stage.index)) {
          throw s.errAt(ins.line)(`stage "${r}" is defined after the stage that uses it`);
        }
      }
    }
  };
  visit(target);
  return s.file.stages.filter((x) => need.has(x.index));
}
