// `tokenwatch simulate`: writes a seeded synthetic tenant in the replay layout.
import { simulateTenant, type SimulateOptions } from "../sim/simulate.js";
import { UsageError } from "./usage.js";

export function parseSimulateArgs(values: Record<string, string | boolean | undefined>): SimulateOptions & { out: string } {
  if (typeof values.out !== "string" || values.out === "") throw new UsageError("--out DIR is required");
  const int = (name: string, fallback: number, min: number, max: number) => {
    const v = values[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const to = values.to;
  if (to !== undefined && (typeof to !== "string" || Number.isNaN(Date.parse(to)))) throw new UsageError("--to must be an ISO 8601 time");
  return {
    out: values.out,
    users: int("users", 1000, 1, 1_000_000),
    days: int("days", 1, 1, 60),
    historyDays: int("history-days", 14, 0, 90),
    seed: int("seed", 1, 0, 2 ** 31 - 1),
    ...(typeof to === "string" ? { to: new Date(to).toISOString() } : {}),
  };
}

export async function simulate(options: SimulateOptions & { out: string }, log: (line: string) => void) {
  const result = await simulateTenant(options.out, options);
  const rows = Object.entries(result.rows).map(([table, n]) => `${table} ${n}`).join(", ");
  log(`simulated ${options.users} users, ${result.from} .. ${result.to}: ${rows}; ${result.planted.length} attacks planted`);
  return result;
}
