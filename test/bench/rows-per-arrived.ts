// Measurement (not a test): rows that cross the wire in one steady-state hour, through the
// production path (runScheduled -> LogAnalyticsSource -> LogsQueryClient over HTTPS -> the
// local query API), against the rows that arrived in that hour, on a simulated tenant. The
// local API answers every row in a query's scope (table, time, arrival, accounts) and applies
// no other clause, so the transferred figure is an upper bound of what Log Analytics returns.
//   npx esbuild test/bench/rows-per-arrived.ts --bundle --platform=node --format=esm --packages=external --outfile=dist/bench/rows-per-arrived.mjs && USERS=1000 node dist/bench/rows-per-arrived.mjs
import { createReadStream, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { runScheduled } from "../../src/engine/scheduled.js";
import { rules } from "../../src/rules/index.js";
import { simulateTenant } from "../../src/sim/simulate.js";
import { startAzurite } from "../../src/store/azurite.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { DELAY, fakeSource, freshStores, scheduledDeps } from "../support/detection-harness.js";

const HOUR = 3_600_000;

async function main() {
  const users = Number(process.env.USERS ?? 1000);
  const dir = await mkdtemp(join(tmpdir(), "tw-rows-"));
  await simulateTenant(dir, { users, days: 1, historyDays: 14, seed: 7, to: "2026-11-04T00:00:00.000Z" });
  const fake = await FakeLogAnalytics.start();
  const hourEnd = Date.parse("2026-11-03T15:00:00.000Z");
  const arrived: Record<string, number> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ndjson"))) {
    const table = file.replace(".ndjson", "");
    const rows: Record<string, unknown>[] = [];
    for await (const line of createInterface({ input: createReadStream(join(dir, file)) })) if (line) rows.push(JSON.parse(line) as Record<string, unknown>);
    fake.add(table, rows);
    arrived[table] = rows.filter((r) => {
      const t = Date.parse(String(r._TimeReceived ?? r.TimeGenerated));
      return t >= hourEnd - HOUR && t < hourEnd;
    }).length;
  }
  const azurite = await startAzurite();
  const stores = freshStores(azurite);
  const source = fakeSource(fake, { timeoutMs: 120_000 });
  const clock = { now: hourEnd - HOUR + DELAY };
  for (const rule of rules) await runScheduled(rule.meta.id, scheduledDeps(source, stores, clock)); // first run: bootstrap + the hour before
  const first = fake.requests.length;
  clock.now = hourEnd + DELAY;
  for (const rule of rules) await runScheduled(rule.meta.id, scheduledDeps(source, stores, clock));
  const transferred: Record<string, number> = {};
  let largestText = 0;
  for (const r of fake.requests.slice(first)) {
    const table = r.query?.table ?? "?";
    transferred[table] = (transferred[table] ?? 0) + r.rows;
    largestText = Math.max(largestText, Buffer.byteLength(r.text ?? ""));
  }
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({
      users,
      rowsArrived: sum(arrived),
      rowsTransferred: sum(transferred),
      rowsTransferredPerArrived: Math.round((sum(transferred) / sum(arrived)) * 1000) / 1000,
      queries: fake.requests.length - first,
      largestQueryTextBytes: largestText,
      arrived,
      transferred,
    }),
  );
  await fake.close();
  await azurite.stop();
  await rm(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
