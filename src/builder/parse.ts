// Containerfile / Dockerfile syntax, read with dockerfile-ast (the parser
// behind the Docker language server: directives, escape character, line
// continuations, comments, flags, JSON forms), then checked and shaped into
// stages. Variable expansion happens later, while building (it needs ARG/ENV).
import { DockerfileParser } from "dockerfile-ast";
import { atLine } from "./errors.ts";

export interface Flag {
  name: string;
  value: string | null;
}

export interface Heredoc {
  name: string;
  content: string;
  /** The delimiter was unquoted: COPY expands variables in the content. */
  expand: boolean;
}

export interface Instruction {
  /** 1-based line of the keyword. */
  line: number;
  /** Upper case: RUN, COPY, … */
  keyword: string;
  /** The arguments without flags, line continuations joined. */
  args: string;
  flags: Flag[];
  /** The arguments as a JSON array of strings (exec form), when they are one. */
  json?: string[];
  /** Here-documents (RUN/COPY <<EOF … EOF). */
  heredocs: Heredoc[];
  /** The first line of the arguments when there are here-documents. */
  heredocCommand?: string;
  /** As docker prints it in step lines: "RUN echo hi". */
  text: string;
}

export interface Stage {
  index: number;
  /** Lower-cased `AS name`. */
  name?: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface ParsedFile {
  /** Base name used in messages ("Containerfile:7: …"). */
  file: string;
  escape: string;
  /** ARG instructions before the first FROM. */
  metaArgs: Instruction[];
  stages: Stage[];
}

export const KEYWORDS = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "FROM",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

/** Flags each instruction accepts (others are an error, as docker's). */
const FLAGS: Record<string, Set<string>> = {
  FROM: new Set(["platform"]),
  RUN: new Set(["mount", "network", "security"]),
  COPY: new Set(["from", "chown", "chmod", "link", "exclude", "parents"]),
  ADD: new Set(["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"]),
  HEALTHCHECK: new Set(["interval", "timeout", "start-period", "start-interval", "retries"]),
};

const HEREDOC_START = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

export function parseDockerfile(text: string, file = "Dockerfile"): ParsedFile {
  const df = DockerfileParser.parse(text);
  const escape = df.getEscapeCharacter();
  const out: ParsedFile = { file, escape, metaArgs: [], stages: [] };
  let stage: Stage | undefined;
  for (const ins of df.getInstructions()) {
    const line = ins.getRange().start.line + 1;
    const keyword = ins.getKeyword().toUpperCase();
    if (!KEYWORDS.has(keyword)) throw atLine(file, line, `unknown instruction: ${ins.getInstruction()}`);
    const parsed = toInstruction(ins, keyword, line, file);
    if (keyword === "FROM") {
      stage = { index: out.stages.length, from: parsed, instructions: [] };
      const words = parsed.args.trim().split(/\s+/).filter(Boolean);
      if (words.length === 0) throw atLine(file, line, "FROM requires either one or three arguments");
      if (words.length === 3 && words[1]!.toLowerCase() === "as") {
        const name = words[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(name)) throw atLine(file, line, `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
        if (out.stages.some((s) => s.name === name)) throw atLine(file, line, `duplicate stage name "${words[2]}"`);
        stage.name = name;
      } else if (words.length !== 1) throw atLine(file, line, "FROM requires either one or three arguments");
      out.stages.push(stage);
      continue;
    }
    if (!stage) {
      if (keyword === "ARG") {
        out.metaArgs.push(parsed);
        continue;
      }
      throw atLine(file, line, `no build stage in current context (${keyword} before FROM)`);
    }
    stage.instructions.push(parsed);
  }
  if (out.stages.length === 0) throw atLine(file, 1, "no build stage in current context (the file has no FROM)");
  return out;
}

type AstInstruction = ReturnType<ReturnType<typeof DockerfileParser.parse>["getInstructions"]>[number];

function toInstruction(ins: AstInstruction, keyword: string, line: number, file: string): Instruction {
  const withFlags = ins as AstInstruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] };
  const flags: Flag[] = (withFlags.getFlags?.() ?? []).map((f) => ({ name: f.getName(), value: f.getValue() }));
  const allowed = FLAGS[keyword];
  for (const f of flags) {
    if (!allowed?.has(f.name)) throw atLine(file, line, `${keyword}: unknown flag: --${f.name}`);
    if (f.value === null && f.name !== "link" && f.name !== "parents" && f.name !== "keep-git-dir") {
      throw atLine(file, line, `${keyword}: flag --${f.name} needs a value`);
    }
  }
  let args = (ins.getArgumentsContent() ?? "").trim();
  // dockerfile-ast keeps flags in the content of instructions it doesn't know flags for (ONBUILD's own keyword, …): fine.
  const heredocs: Heredoc[] = [];
  let heredocCommand: string | undefined;
  if ((keyword === "RUN" || keyword === "COPY" || keyword === "ADD") && args.includes("<<") && args.includes("\n")) {
    const raw = args;
    const nl = raw.indexOf("\n");
    const first = raw.slice(0, nl);
    const rest = raw.slice(nl + 1).split("\n");
    // Each body starts after the previous one's delimiter: one pass over the lines, however many documents.
    let from = 0;
    for (const m of first.matchAll(HEREDOC_START)) {
      const strip = m[1] === "-";
      const name = m[3]!;
      let end = from;
      while (end < rest.length && (strip ? rest[end]!.replace(/^\t+/, "") : rest[end]) !== name) end++;
      if (end >= rest.length) throw atLine(file, line, `unterminated here-document ${name}`);
      const body = rest.slice(from, end).map((l) => (strip ? l.replace(/^\t+/, "") : l));
      heredocs.push({ name, content: body.join("\n") + "\n", expand: m[2] === "" });
      from = end + 1;
    }
    if (heredocs.length > 0) {
      heredocCommand = first;
      args = first + "\n" + raw.slice(nl + 1);
    }
  }
  let json: string[] | undefined;
  if (args.startsWith("[") && heredocs.length === 0) {
    try {
      const v: unknown = JSON.parse(args);
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) json = v;
    } catch {
      /* shell form that starts with "[" */
    }
  }
  const flagText = flags.map((f) => (f.value === null ? `--${f.name}` : `--${f.name}=${f.value}`)).join(" ");
  const text = [keyword, flagText, heredocs.length ? (heredocCommand ?? "") : args.replace(/\s*\n\s*/g, " ")].filter(Boolean).join(" ");
  const out: Instruction = { line, keyword, args, flags, heredocs, text };
  if (json) out.json = json;
  if (heredocCommand !== undefined) out.heredocCommand = heredocCommand;
  return out;
}

/** The single value of a flag, or undefined. */
export function flagValue(ins: Instruction, name: string): string | undefined {
  const f = ins.flags.filter((x) => x.name === name);
  return f.length ? (f[f.length - 1]!.value ?? "") : undefined;
}

export function flagValues(ins: Instruction, name: string): string[] {
  return ins.flags.filter((x) => x.name === name).map((x) => x.value ?? "");
}

/** Parses one ONBUILD trigger ("RUN echo hi") as an instruction at the FROM's line. */
export function parseTrigger(trigger: string, file: string, line: number): Instruction {
  const parsed = parseDockerfile(`FROM scratch\n${trigger}\n`, file);
  const ins = parsed.stages[0]!.instructions[0];
  if (!ins) throw atLine(file, line, `empty ONBUILD trigger`);
  if (["ONBUILD", "FROM", "MAINTAINER"].includes(ins.keyword)) throw atLine(file, line, `${ins.keyword} isn't allowed as an ONBUILD trigger`);
  return { ...ins, line };
}
