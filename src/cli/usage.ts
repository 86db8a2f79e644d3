import { basename, relative } from "node:path";
import { toDateTime, toMs } from "../model/time.js";

/** An unusable command line: the CLI prints its message as one line and exits 2. */
export class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

/** A required option's text, or a UsageError naming it. */
export function requireString(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

/** A required ISO 8601 time option, to epoch milliseconds (range edges are whole milliseconds). */
export function requireTime(values: Values, name: string): number {
  const text = requireString(values, name);
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? toDateTime(text) : null;
  if (t === null) throw new UsageError(`--${name} ${text}: not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)`);
  const ms = toMs(t);
  if (t !== BigInt(ms) * 10_000n) throw new UsageError(`--${name} ${text}: give a whole millisecond`);
  return ms;
}

/** Input the command cannot use or would read as "nothing found": one line, exit 2. */
export class InputError extends Error {}

/**
 * How to run this CLI again from the current folder, for the hints it prints: `tokenwatch`
 * when it was started by that name (installed or linked), `npx tokenwatch` through npx, else
 * `node <path to main.js>`.
 */
export function selfCommand(): string {
  const script = process.argv[1] ?? "tokenwatch";
  // npx (npm exec) puts the bin on PATH only for its own child: the hint must say npx too.
  if (basename(script) === "tokenwatch") return process.env.npm_command === "exec" ? "npx tokenwatch" : "tokenwatch";
  const path = relative(process.cwd(), script);
  return `node ${path.includes(" ") ? JSON.stringify(path) : path}`;
}
