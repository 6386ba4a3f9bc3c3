// capsa's optional JSON configuration files (/etc/capsa/*.json): a missing
// file means defaults; an unreadable or malformed one is a clear 125 error
// naming the file.
import fs from "node:fs";
import { invalid } from "./errors.ts";

/** The parsed file, or undefined when it does not exist. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw invalid(`reading ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalid(`${file}: not valid JSON: ${(e as Error).message}`);
  }
}
