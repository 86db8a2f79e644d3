// Benchmark (not a test): rows that cross the wire per steady-state hourly run through the
// production path (runScheduled -> LogAnalyticsSource -> LogsQueryClient over HTTPS -> the
// fake query API), on a simulated tenant, against the rows the seed queries as written
// would read for the same hour (their time scope: Intune 14 d + 1 h of non-interactive
// sign-ins, the pivot 3 h of both sign-in tables, the STS rules 1 h). The fake serves every
// row in a query's scope (it does not apply the rules' narrowing filters), so tokenwatch's
// figure is an upper bound of what Log Analytics would return.
//   npx esbuild test/bench/la-hour.ts --bundle --platform=node --format=esm --packages=external --outfile=dist/bench/la-hour.mjs && USERS=300 node dist/bench/la-hour.mjs
import { createReadStream, readdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScheduled } from "../../src/engine/scheduled.js";
import { rules } from "../../src/rules/index.js";
import { simulateTenant } from "../../src/sim/simulate.js";
import { startAzurite } from "../../src/store/azurite.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { fakeSource, freshStores, scheduledDeps, DELAY } from "../support/detection-harness.js";

const HOUR = 3_600_000;
async function main() {
  const users = Number(process.env.USERS ?? 1000);
  const dir = await mkdtemp(join(tmpdir(), "tw-measure-"));
  const t0 = Date.now();
  await simulateTenant(dir, { users, days: 1, historyDays: 14, seed: 7, to: "2026-11-04T00:00:00.000Z" });
  const fake = await FakeLogAnalytics.start();
  const tables: Record<string, { t: number }[]> = {};
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".ndjson"))) {
    const rows: Record<string, unknown>[] = [];
    for await (const l of createInterface({ input: createReadStream(join(dir, f)) })) if (l) rows.push(JSON.parse(l));
    fake.add(f.replace(".ndjson", ""), rows);
    tables[f.replace(".ndjson", "")] = rows.map((r)  => ({ t: Date.parse(String(r.TimeGenerated)) }));
  }
  console.log(`simulated+loaded ${users} users in ${(Date.now() - t0) / 1000}s`, Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, v.length])));
  const azurite = await startAzurite();
  const stores = freshStores(azurite);
  const source = fakeSource(fake);
  const hourEnd = Date.parse("2026-11-03T15:00:00.000Z");
  const clock = { now: hourEnd - HOUR + DELAY };
  for (const rule of rules) await runScheduled(rule.meta.id, scheduledDeps(source, stores, clock)); // first run: bootstrap + 13-14
  const n0 = fake.requests.length;
  const rows0 = fake.rowsServed;
  clock.now = hourEnd + DELAY;
  const perRule: Record<string, number> = {};
  for (const rule of rules) {
    const r0 = fake.rowsServed;
    await runScheduled(rule.meta.id, scheduledDeps(source, stores, clock));
    perRule[rule.meta.name] = fake.rowsServed - r0;
  }
  const count = (table: string, from: number, to: number) => (tables[table] ?? []).filter((r) => r.t >= from && r.t < to).length;
  const seed = {
    sts: count("AuditLogs", hourEnd - HOUR, hourEnd),
    solorigate: count("CloudAppEvents", hourEnd - HOUR, hourEnd),
    intune: count("AADNonInteractiveUserSignInLogs", hourEnd - 14 * 24 * HOUR, hourEnd),
    pivot: count("SigninLogs", hourEnd - 3 * HOUR, hourEnd) + count("AADNonInteractiveUserSignInLogs", hourEnd - 3 * HOUR, hourEnd),
  };
  const seedTotal = Object.values(seed).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ users, steadyHourRequests: fake.requests.length - n0, tokenwatchRowsReturned: fake.rowsServed - rows0, perRule, seedRowsInScope: seed, seedTotal, ratio: seedTotal / (fake.rowsServed - rows0) }, null, 1));
  await fake.close();
  await azurite.stop();
  await rm(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
