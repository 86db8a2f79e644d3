// `tokenwatch bench` (npm run bench): the command's arguments. The tenant bench is
// src/bench/run.ts; `--incidents` runs the incident-list bench (src/cli/bench-incidents.ts).
import { bench as benchTenant, SCALES, type BenchOptions as TenantBenchOptions } from "../bench/run.js";
import { ConfigSchema, WORKER_NODE_ARGUMENTS } from "../config.js";
import { UsageError } from "./usage.js";

export interface BenchOptions extends TenantBenchOptions {
  /** Measure incident list latency at 100 and 100,000 incidents instead. */
  incidents: boolean;
}

export function parseBenchArgs(values: Record<string, string | boolean | undefined>): BenchOptions {
  const scale = values.scale ?? "S";
  if (typeof scale !== "string" || !(scale in SCALES)) throw new UsageError("--scale must be S, M, L or XL");
  // The shard bound as a deployment reads it (TOKENWATCH_SHARD_ROWS).
  const rows = ConfigSchema.shape.TOKENWATCH_SHARD_ROWS.safeParse(process.env.TOKENWATCH_SHARD_ROWS);
  if (!rows.success) throw new UsageError(`TOKENWATCH_SHARD_ROWS: ${rows.error.issues[0]?.message ?? "invalid"}`);
  const rowsPerShard = rows.data;
  // The measured invocations run as the deployment starts its worker, plus any profiling flags (BENCHMARKS.md).
  const nodeArgs = `${WORKER_NODE_ARGUMENTS} ${process.env.TOKENWATCH_BENCH_NODE_ARGS ?? ""}`.split(/\s+/).filter(Boolean);
  return { scale: scale as BenchOptions["scale"], json: values.json === true, incidents: values.incidents === true, throughput: values.throughput === true, rowsPerShard, nodeArgs };
}

export async function bench(options: BenchOptions, log: (line: string) => void): Promise<void> {
  if (options.incidents) return (await import("./bench-incidents.js")).benchIncidents(options.json, log);
  return benchTenant(options, log);
}
