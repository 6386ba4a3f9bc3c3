// Signal names as docker accepts them: "TERM", "SIGTERM", "15", "sigkill"
// (stop, kill, a container's StopSignal, and the VM runtime's kill verb).
import os from "node:os";
import { invalid } from "../util/errors.ts";

export function parseSignal(sig: string | undefined, fallback = "SIGKILL"): { name: string; number: number } {
  const raw = (sig ?? fallback).trim();
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    const name = Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
    if (!name || n === 0) throw invalid(`Invalid signal: ${raw}`);
    return { name, number: n };
  }
  const up = raw.toUpperCase();
  const name = up.startsWith("SIG") ? up : `SIG${up}`;
  const number = (os.constants.signals as Record<string, number | undefined>)[name];
  if (number === undefined) throw invalid(`Invalid signal: ${raw}`);
  return { name, number };
}
