// A subset of Go's text/template, enough for docker's --format and inspect -f:
//   {{.Field.Sub}}  {{.}}  {{$.X}}  {{json .}}  {{index .Labels "k"}}  {{.Label "k"}}
//   {{if P}}…{{else if P}}…{{else}}…{{end}}  {{range P}}…{{else}}…{{end}}  {{with P}}…{{end}}
//   pipelines {{.Names | upper}}, parentheses, string/number/bool literals, {{- trim -}}
// Functions: json, join, split, upper, lower, title, pad, truncate, print, printf,
// println, len, index, eq, ne, lt, le, gt, ge, not, and, or.
// Values print as Go's %v: <no value> for a missing field, [a b] for lists,
// map[k:v] for objects. Documented in docs/cli.md.

export class TemplateError extends Error {}

type Node =
  | { t: "text"; text: string }
  | { t: "action"; pipe: Pipe }
  | { t: "if" | "with"; pipe: Pipe; body: Node[]; els: Node[] }
  | { t: "range"; pipe: Pipe; body: Node[]; els: Node[] };

type Pipe = Cmd[];
type Cmd = Operand[];
type Operand =
  | { k: "field"; base: "dot" | "root"; path: string[] }
  | { k: "ident"; name: string }
  | { k: "lit"; value: unknown }
  | { k: "paren"; pipe: Pipe; path: string[] };

// ---------- lexing of one action ----------

type Tok = { k: "field"; base: "dot" | "root"; path: string[] } | { k: "ident"; name: string } | { k: "lit"; value: unknown } | { k: "punct"; v: string };

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const fieldChain = (start: number): { path: string[]; end: number } => {
    const path: string[] = [];
    let j = start;
    while (src[j] === ".") {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(j + 1));
      if (!m) break;
      path.push(m[0]);
      j += 1 + m[0].length;
    }
    return { path, end: j };
  };
  while (i < src.length) {
    const c = src[i] ?? "";
    if (/\s/.test(c)) {
      i++;
    } else if (c === "|" || c === "(" || c === ")") {
      toks.push({ k: "punct", v: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === "\\" ? 2 : 1;
      if (j >= src.length) throw new TemplateError("unterminated quoted string");
      toks.push({ k: "lit", value: JSON.parse(src.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === "`") {
      const j = src.indexOf("`", i + 1);
      if (j < 0) throw new TemplateError("unterminated raw quoted string");
      toks.push({ k: "lit", value: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "." || c === "$") {
      const { path, end } = fieldChain(c === "$" ? i + 1 : i);
      if (c === "." && path.length === 0) {
        toks.push({ k: "field", base: "dot", path: [] });
        i++;
      } else {
        toks.push({ k: "field", base: c === "$" ? "root" : "dot", path });
        i = end;
      }
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?\d+(\.\d+)?/.exec(src.slice(i));
      if (!m) throw new TemplateError(`bad number syntax: ${src.slice(i)}`);
      toks.push({ k: "lit", value: Number(m[0]) });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      if (!m) throw new TemplateError(`unexpected "${c}" in command`);
      const w = m[0];
      if (w === "true" || w === "false") toks.push({ k: "lit", value: w === "true" });
      else if (w === "nil") toks.push({ k: "lit", value: null });
      else toks.push({ k: "ident", name: w });
      i += w.length;
    }
  }
  return toks;
}

function parsePipe(toks: Tok[], pos: { i: number }, inParen: boolean): Pipe {
  const pipe: Pipe = [];
  let cmd: Cmd = [];
  while (pos.i < toks.length) {
    const tok = toks[pos.i++] as Tok;
    if (tok.k === "punct") {
      if (tok.v === "|") {
        if (cmd.length === 0) throw new TemplateError("missing command before |");
        pipe.push(cmd);
        cmd = [];
      } else if (tok.v === "(") {
        const inner = parsePipe(toks, pos, true);
        // (pipeline).Field
        const next = toks[pos.i];
        let path: string[] = [];
        if (next?.k === "field" && next.base === "dot" && next.path.length > 0) {
          path = next.path;
          pos.i++;
        }
        cmd.push({ k: "paren", pipe: inner, path });
      } else {
        if (!inParen) throw new TemplateError("unexpected right paren");
        break;
      }
    } else {
      cmd.push(tok);
    }
  }
  if (cmd.length === 0) throw new TemplateError("missing value for command");
  pipe.push(cmd);
  return pipe;
}

// ---------- parsing the template ----------

export interface Template {
  nodes: Node[];
}

export function parseTemplate(src: string): Template {
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    if (open < 0) {
      parts.push({ text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let inner = open + 2;
    if (src.startsWith("- ", inner)) {
      text = text.replace(/\s+$/, "");
      inner += 2;
    }
    parts.push({ text });
    const close = src.indexOf("}}", inner);
    if (close < 0) throw new TemplateError("unclosed action");
    let action = src.slice(inner, close);
    i = close + 2;
    if (action.endsWith(" -")) {
      action = action.slice(0, -2);
      const m = /^\s*/.exec(src.slice(i));
      i += m ? m[0].length : 0;
    }
    parts.push({ action: action.trim() });
  }
  let p = 0;
  let elseIfPipe: Pipe = [];
  // Parses nodes until one of stopAt; "elseif" stops with elseIfPipe set.
  const block = (stopAt: Set<string>): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (p < parts.length) {
      const part = parts[p++] as { text: string } | { action: string };
      if ("text" in part) {
        if (part.text) nodes.push({ t: "text", text: part.text });
        continue;
      }
      const a = part.action;
      if (a.startsWith("/*")) continue;
      const word = /^[a-z]+/.exec(a)?.[0] ?? "";
      const rest = a.slice(word.length).trim();
      if (word === "end" || word === "else") {
        if (!stopAt.has(word)) throw new TemplateError(`unexpected {{${word}}}`);
        if (word === "else" && /^(if|with)\s/.test(rest)) {
          elseIfPipe = pipeOf(rest.slice(rest.indexOf(" ") + 1));
          return { nodes, stop: rest.startsWith("if") ? "elseif" : "elsewith" };
        }
        return { nodes, stop: word };
      }
      if (word === "if" || word === "with" || word === "range") {
        nodes.push(blockTail(word, pipeOf(rest)));
        continue;
      }
      nodes.push({ t: "action", pipe: pipeOf(a) });
    }
    if (stopAt.size > 0) throw new TemplateError("unexpected EOF");
    return { nodes, stop: "" };
  };
  // The body and else branch of if/with/range; {{else if}} chains share one {{end}}.
  const blockTail = (t: "if" | "with" | "range", pipe: Pipe): Node => {
    const body = block(new Set(["else", "end"]));
    let els: Node[] = [];
    if (body.stop === "else") els = block(new Set(["end"])).nodes;
    else if (body.stop === "elseif" || body.stop === "elsewith") els = [blockTail(body.stop === "elseif" ? "if" : "with", elseIfPipe)];
    return { t, pipe, body: body.nodes, els };
  };
  return { nodes: block(new Set()).nodes };
}

function pipeOf(src: string): Pipe {
  if (src.includes(":=")) throw new TemplateError("variable declarations are not supported");
  return parsePipe(lexAction(src), { i: 0 }, false);
}

// ---------- evaluation ----------

type Fn = (...args: unknown[]) => unknown;

/** Go's %v rendering of a value. */
export function goString(v: unknown): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(" ")}]`;
  if (Buffer.isBuffer(v)) return v.toString();
  if (typeof v === "object") {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`).join(" ")}]`;
  }
  return typeof v === "function" ? "<func>" : typeof v === "symbol" ? v.toString() : "";
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

export function toJson(v: unknown): string {
  return JSON.stringify(v === undefined ? null : v) ?? "null";
}

function sprintf(format: unknown, ...args: unknown[]): string {
  let i = 0;
  return String(format).replace(/%([-+ 0#]*)(\d*)([sdvqxf%])/g, (_m, flags: string, width: string, verb: string) => {
    if (verb === "%") return "%";
    const a = args[i++];
    let s: string;
    if (verb === "q") s = JSON.stringify(goString(a));
    else if (verb === "d") s = String(Math.trunc(Number(a)));
    else if (verb === "x") s = Math.trunc(Number(a)).toString(16);
    else if (verb === "f") s = Number(a).toFixed(6);
    else s = goString(a);
    const w = Number(width || 0);
    return flags.includes("-") ? s.padEnd(w) : s.padStart(w, flags.includes("0") ? "0" : " ");
  });
}

function cmp(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

const FUNCS: Record<string, Fn> = {
  json: (v) => toJson(v),
  join: (list, sep) => (Array.isArray(list) ? list.map(goString).join(String(sep)) : goString(list)),
  split: (s, sep) => String(s).split(String(sep)),
  upper: (s) => goString(s).toUpperCase(),
  lower: (s) => goString(s).toLowerCase(),
  title: (s) => goString(s).replace(/(^|\s)(\S)/g, (_m, a: string, b: string) => a + b.toUpperCase()),
  pad: (s, left, right) => " ".repeat(Number(left)) + goString(s) + " ".repeat(Number(right)),
  truncate: (s, n) => Array.from(goString(s)).slice(0, Number(n)).join(""),
  print: (...a) => a.map(goString).join(""),
  printf: (f, ...a) => sprintf(f, ...a),
  println: (...a) => a.map(goString).join(" ") + "\n",
  len: (v) => (Array.isArray(v) || typeof v === "string" ? v.length : v && typeof v === "object" ? Object.keys(v).length : 0),
  index: (v, ...keys) => {
    let cur = v;
    for (const k of keys) {
      if (cur === null || cur === undefined) return undefined;
      cur = (cur as Record<string, unknown>)[String(k)];
    }
    return cur;
  },
  eq: (a, ...bs) => bs.some((b) => a === b),
  ne: (a, b) => a !== b,
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  not: (a) => !truthy(a),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
};

interface Scope {
  dot: unknown;
  root: unknown;
}

function access(base: unknown, path: string[], args: unknown[], name: string): unknown {
  let cur = base;
  path.forEach((key, idx) => {
    if (cur === null || cur === undefined) {
      if (cur === null) throw new TemplateError(`nil pointer evaluating .${path.slice(0, idx + 1).join(".")}`);
      return;
    }
    if (typeof cur !== "object") throw new TemplateError(`can't evaluate field ${key} in type ${typeof cur}`);
    let v = (cur as Record<string, unknown>)[key];
    if (typeof v === "function") v = (v as Fn).call(cur, ...(idx === path.length - 1 ? args : []));
    else if (idx === path.length - 1 && args.length > 0) throw new TemplateError(`${name} is not a method but has arguments`);
    cur = v;
  });
  return cur;
}

function evalOperand(op: Operand, scope: Scope, args: unknown[] = []): unknown {
  switch (op.k) {
    case "lit":
      return op.value;
    case "field":
      return access(op.base === "root" ? scope.root : scope.dot, op.path, args, "." + op.path.join("."));
    case "paren":
      return access(evalPipe(op.pipe, scope), op.path, args, "." + op.path.join("."));
    case "ident": {
      const fn = FUNCS[op.name];
      if (!fn) throw new TemplateError(`function "${op.name}" not defined`);
      return fn(...args);
    }
  }
}

function evalPipe(pipe: Pipe, scope: Scope): unknown {
  let prev: unknown;
  let first = true;
  for (const cmd of pipe) {
    const [head, ...rest] = cmd as [Operand, ...Operand[]];
    const args = rest.map((o) => evalOperand(o, scope));
    if (!first) args.push(prev);
    if (head.k === "ident" || (head.k === "field" && args.length > 0) || (head.k === "paren" && args.length > 0)) {
      prev = evalOperand(head, scope, args);
    } else {
      if (args.length > 0) throw new TemplateError("can't give argument to non-function");
      prev = evalOperand(head, scope);
    }
    first = false;
  }
  return prev;
}

function exec(nodes: Node[], scope: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case "text":
        out.push(n.text);
        break;
      case "action":
        out.push(goString(evalPipe(n.pipe, scope)));
        break;
      case "if": {
        exec(truthy(evalPipe(n.pipe, scope)) ? n.body : n.els, scope, out);
        break;
      }
      case "with": {
        const v = evalPipe(n.pipe, scope);
        if (truthy(v)) exec(n.body, { dot: v, root: scope.root }, out);
        else exec(n.els, scope, out);
        break;
      }
      case "range": {
        const v = evalPipe(n.pipe, scope);
        const items = Array.isArray(v)
          ? v
          : v && typeof v === "object"
            ? Object.keys(v)
                .sort()
                .map((k) => (v as Record<string, unknown>)[k])
            : typeof v === "number"
              ? Array.from({ length: v }, (_x, i) => i)
              : [];
        if (items.length === 0) exec(n.els, scope, out);
        for (const item of items) exec(n.body, { dot: item, root: scope.root }, out);
        break;
      }
    }
  }
}

/** Runs a parsed template against data. Throws TemplateError on evaluation errors. */
export function execute(tmpl: Template, data: unknown): string {
  const out: string[] = [];
  exec(tmpl.nodes, { dot: data, root: data }, out);
  return out.join("");
}

/** Parses and runs in one step. */
export function renderTemplate(src: string, data: unknown): string {
  return execute(parseTemplate(src), data);
}
