// `tokenwatch simulate`: writes a synthetic tenant's sign-in, audit and cloud-app logs in the replay
// layout (<Table>.ndjson + manifest.json), with planted attacks and the alerts they should raise.
//
// Rows are produced one UTC hour at a time (all users' events of that hour, sorted by TimeGenerated)
// and streamed to one file per table, so memory depends on the tenant size, not on the number of
// days. Every random choice comes from a PRNG seeded by the options: same options, same bytes.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Workforce, emptyBuckets, type Item } from "./activity.js";
import { AttackPlan, planAttacks, type PlantedAttack } from "./attacks.js";
import { TenantNoise } from "./noise.js";
import { Rand } from "./prng.js";
import { TABLES, auditLine, cloudLine, signInLine, type Table } from "./rows.js";
import { MS_DAY, MS_HOUR, buildUsers } from "./tenant.js";
import { LineWriter } from "./writer.js";
import { SIMULATION_MANIFEST } from "../model/rows.js";

export { RULE_IDS, type PlantedAttack } from "./attacks.js";
export { TABLES, type Table } from "./rows.js";

export interface SimulateOptions {
  /** Tenant size. */
  users: number;
  /** Detection days: the range [from, to) to evaluate. */
  days: number;
  /** History before `from` that feeds baselines; default 14. */
  historyDays?: number;
  /** Default 1; the same options give byte-identical output. */
  seed?: number;
  /** ISO end of the detection range; default "2026-11-02T00:00:00.000Z". */
  to?: string;
  /** Plant attacks (default true). */
  attacks?: boolean;
}

export interface SimulationResult {
  from: string;
  to: string;
  rows: Record<string, number>;
  planted: PlantedAttack[];
}

export const DEFAULT_TO = "2026-11-02T00:00:00.000Z";

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

function render(item: Item, rng: Rand): string {
  rng.reseed(item.seed);
  if ("signIn" in item) return signInLine(item.signIn, rng);
  if ("audit" in item) return auditLine(item.audit, rng);
  return cloudLine(item.cloud, rng);
}

export async function simulateTenant(outDir: string, options: SimulateOptions): Promise<SimulationResult> {
  const { users: userCount, days, historyDays = 14, seed = 1, to = DEFAULT_TO, attacks = true } = options;
  check(Number.isInteger(userCount) && userCount >= 1, "users must be a positive integer");
  check(Number.isFinite(days) && days * 24 >= 3, "days must be a number of at least 0.125 (3 hours)");
  check(Number.isFinite(historyDays) && historyDays >= 0, "historyDays must be a non-negative number");
  check(Number.isInteger(seed), "seed must be an integer");
  const toMs = Date.parse(to);
  check(Number.isFinite(toMs), `to is not a date: ${to}`);
  const fromMs = toMs - Math.round(days * MS_DAY);
  const startMs = fromMs - Math.round(historyDays * MS_DAY);

  const users = buildUsers(userCount, seed);
  const plan = attacks ? planAttacks(seed, users, fromMs, toMs) : AttackPlan.none();
  const workforce = new Workforce(seed, users, startMs, toMs, plan.suppressInteractive);
  const noise = new TenantNoise(seed, users, startMs, toMs);

  await mkdir(outDir, { recursive: true });
  const writers = Object.fromEntries(TABLES.map((t) => [t, new LineWriter(join(outDir, `${t}.ndjson`))])) as Record<Table, LineWriter>;
  const rng = new Rand(0);
  try {
    for (let hour = Math.floor(startMs / MS_HOUR); hour * MS_HOUR < toMs; hour++) {
      const buckets = emptyBuckets();
      workforce.hour(hour, buckets);
      noise.hour(hour, buckets);
      plan.hour(hour, buckets);
      for (const table of TABLES) {
        const items = buckets[table];
        items.sort((a, b) => a.t - b.t);
        const writer = writers[table];
        for (const item of items) if (writer.add(render(item, rng))) await writer.flush();
      }
    }
    for (const table of TABLES) await writers[table].close();
  } catch (err) {
    for (const table of TABLES) writers[table].abort();
    throw err;
  }

  const result: SimulationResult = {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    rows: Object.fromEntries(TABLES.map((t) => [t, writers[t].lines])),
    planted: plan.planted,
  };
  await writeFile(join(outDir, SIMULATION_MANIFEST), JSON.stringify(result, null, 2) + "\n");
  return result;
}
