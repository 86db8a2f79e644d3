// `tokenwatch simulate`: writes a synthetic tenant's sign-in, audit and cloud-app logs in the replay
// layout (<Table>.ndjson + manifest.json), with planted attacks and the alerts they should raise.
//
// Rows are produced one UTC hour at a time (all users' events of that hour, sorted by TimeGenerated)
// and streamed to one file per table, so memory depends on the tenant size, not on the number of
// days. Every random choice comes from a PRNG seeded by the options: same options, same bytes.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Workforce, emptyBuckets, type Buckets, type Item } from "./activity.js";
import { AttackPlan, planAttacks, type PlantedAttack } from "./attacks.js";
import { TenantNoise } from "./noise.js";
import { VpnReconnects } from "./vpn.js";
import { Rand } from "./prng.js";
import { TABLES, auditLine, cloudLine, signInLine, type Table } from "./rows.js";
import { MS_DAY, MS_HOUR, buildUsers, type User } from "./tenant.js";
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

/** Which users a generator keeps: a shard of the tenant's accounts (all of them by default). */
export type UserFilter = (upn: string) => boolean;

/**
 * The tenant's events one UTC hour at a time, in hour order: every random choice comes from
 * the options' seed, so the same options give the same rows. `simulate` writes them to files;
 * `bench` serves them to the local query API as they are asked for. The only state carried
 * from hour to hour is the workforce's (see `Workforce.snapshot`).
 */
export class TenantGenerator {
  readonly fromMs: number;
  readonly toMs: number;
  readonly startMs: number;
  readonly plan: AttackPlan;
  readonly users: readonly User[];
  readonly workforce: Workforce;
  private readonly noise: TenantNoise;
  private readonly vpn: VpnReconnects;
  private readonly rng = new Rand(0);

  constructor(options: SimulateOptions, keep?: UserFilter) {
    const { users: userCount, days, historyDays = 14, seed = 1, to = DEFAULT_TO, attacks = true } = options;
    check(Number.isInteger(userCount) && userCount >= 1, "users must be a positive integer");
    check(Number.isFinite(days) && days * 24 >= 3, "days must be a number of at least 0.125 (3 hours)");
    check(Number.isFinite(historyDays) && historyDays >= 0, "historyDays must be a non-negative number");
    check(Number.isInteger(seed), "seed must be an integer");
    const toMs = Date.parse(to);
    check(Number.isFinite(toMs), `to is not a date: ${to}`);
    this.toMs = toMs;
    this.fromMs = toMs - Math.round(days * MS_DAY);
    this.startMs = this.fromMs - Math.round(historyDays * MS_DAY);
    this.users = buildUsers(userCount, seed, keep);
    this.plan = attacks ? planAttacks(seed, this.users, this.fromMs, toMs) : AttackPlan.none();
    this.workforce = new Workforce(seed, this.users, this.startMs, toMs, this.plan.suppressInteractive);
    this.noise = new TenantNoise(seed, this.users, this.startMs, toMs);
    this.vpn = new VpnReconnects(seed, this.users, this.startMs, toMs);
  }

  /** The first and one-past-the-last UTC hour (hours since the epoch) the tenant has events in. */
  get hours(): { first: number; end: number } {
    return { first: Math.floor(this.startMs / MS_HOUR), end: Math.ceil(this.toMs / MS_HOUR) };
  }

  /** Every event of UTC hour `hour`, per table in TimeGenerated order. Hours must be asked for in order (or after `Workforce.restore`). */
  hour(hour: number): Buckets {
    const buckets = emptyBuckets();
    this.workforce.hour(hour, buckets);
    this.noise.hour(hour, buckets);
    this.vpn.hour(hour, buckets);
    this.plan.hour(hour, buckets);
    for (const table of TABLES) buckets[table].sort((a, b) => a.t - b.t);
    return buckets;
  }

  /** An event's row as one NDJSON line: a pure function of the event. */
  render(item: Item): string {
    const rng = this.rng.reseed(item.seed);
    if ("signIn" in item) return signInLine(item.signIn, rng);
    if ("audit" in item) return auditLine(item.audit, rng);
    return cloudLine(item.cloud, rng);
  }
}

export async function simulateTenant(outDir: string, options: SimulateOptions): Promise<SimulationResult> {
  const tenant = new TenantGenerator(options);
  await mkdir(outDir, { recursive: true });
  const writers = Object.fromEntries(TABLES.map((t) => [t, new LineWriter(join(outDir, `${t}.ndjson`))])) as Record<Table, LineWriter>;
  try {
    const { first, end } = tenant.hours;
    for (let hour = first; hour < end; hour++) {
      const buckets = tenant.hour(hour);
      for (const table of TABLES) {
        const writer = writers[table];
        for (const item of buckets[table]) if (writer.add(tenant.render(item))) await writer.flush();
      }
    }
    for (const table of TABLES) await writers[table].close();
  } catch (err) {
    for (const table of TABLES) writers[table].abort();
    throw err;
  }

  const result: SimulationResult = {
    from: new Date(tenant.fromMs).toISOString(),
    to: new Date(tenant.toMs).toISOString(),
    rows: Object.fromEntries(TABLES.map((t) => [t, writers[t].lines])),
    planted: tenant.plan.planted,
  };
  await writeFile(join(outDir, SIMULATION_MANIFEST), JSON.stringify(result, null, 2) + "\n");
  return result;
}
