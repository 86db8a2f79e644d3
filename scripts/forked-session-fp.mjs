#!/usr/bin/env node
// False positives of the forked-session rule per 1,000 users per day, on a simulated tenant
// without planted attacks (so every alert is a false positive), for the rule's condition and
// the two it was chosen against. Each condition runs through the engine as `detect` runs it:
// replay source, history bootstrap, hourly windows on arrival time, Table Storage (Azurite).
//   npm run build && node scripts/forked-session-fp.mjs [--users 1000] [--days 2] [--seed 1] [--to ISO]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runRule } from "../dist/src/engine/run.js";
import { defineForkedSession } from "../dist/src/rules/forked-session.js";
import { ReplaySource } from "../dist/src/sources/replay.js";
import { simulateTenant } from "../dist/src/sim/simulate.js";
import { startAzurite } from "../dist/src/store/azurite.js";
import { incidentPlanner } from "../dist/src/engine/planner.js";
import { createStores } from "../dist/src/store/index.js";
import { TableStore } from "../dist/src/store/tables.js";

const { values } = parseArgs({ options: { users: { type: "string", default: "1000" }, days: { type: "string", default: "2" }, seed: { type: "string", default: "1" }, to: { type: "string", default: "2026-11-02T00:00:00.000Z" } } });
const users = Number(values.users);
const days = Number(values.days);
const CONDITIONS = ["asn", "asn+device-client-or-country", "asn+device-or-client"];
const HOUR = 3_600_000;

const dir = await mkdtemp(join(tmpdir(), "tokenwatch-fp-"));
const azurite = await startAzurite();
try {
  const tenant = await simulateTenant(dir, { users, days, seed: Number(values.seed), to: values.to, attacks: false });
  const from = Date.parse(tenant.from);
  const to = Date.parse(tenant.to);
  const source = await ReplaySource.open(dir);
  console.log(`simulated ${users} users, ${tenant.from} .. ${tenant.to} (${days} day(s)) after 14 days of history, no attacks: ${Object.entries(tenant.rows).map(([t, n]) => `${t} ${n}`).join(", ")}`);
  // One condition after the other, each in its own tables, so each bootstraps its own session state.
  const results = [];
  for (const [i, condition] of CONDITIONS.entries()) {
    const stores = createStores(new TableStore({ connectionString: azurite.connectionString, tablePrefix: `fp${i}` }), incidentPlanner);
    const reports = await runRule(defineForkedSession(condition), { source, stores, now: Date.now }, { startAt: from, until: to + 12 * HOUR, eventRange: { from, to } });
    results.push({ condition, alerts: reports.flatMap((r) => r.alerts) });
  }
  console.log("| condition | alerts | accounts | false positives per 1,000 users per day |");
  console.log("|---|---|---|---|");
  for (const { condition, alerts } of results) {
    const accounts = new Set(alerts.map((a) => a.account)).size;
    const rate = alerts.length / (users / 1000) / days;
    console.log(`| ${condition === "asn+device-or-client" ? `**${condition}** (the rule)` : condition} | ${alerts.length} | ${accounts} | ${rate.toFixed(1)} |`);
  }
} finally {
  await azurite.stop();
  await rm(dir, { recursive: true, force: true });
}
