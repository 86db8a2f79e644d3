import { toDateTime, toMs } from "../rules/kql.js";

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
