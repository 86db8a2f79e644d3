// `tokenwatch bench` (npm run bench): the command's arguments; the bench is src/bench/run.ts.
import { bench as run, SCALES, type BenchOptions } from "../bench/run.js";
import { UsageError } from "./usage.js";

export function parseBenchArgs(values: Record<string, string | boolean | undefined>): BenchOptions {
  const scale = values.scale ?? "S";
  if (typeof scale !== "string" || !(scale in SCALES)) throw new UsageError("--scale must be S, M, L or XL");
  return { scale: scale as BenchOptions["scale"], json: values.json === true };
}

export const bench = run;
