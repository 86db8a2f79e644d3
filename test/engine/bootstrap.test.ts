// The Intune rule's baseline bootstrap streams the history a day at a time and checkpoints
// each day in the rule's state, so it resumes across invocations (a run's budget spent, a
// failed query) without reading a day twice, and ends with the baseline a one-shot bootstrap makes.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EngineDeps } from "../../src/engine/run.js";
import type { Repositories } from "../../src/store/repositories.js";
import { runRule } from "../../src/engine/run.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { fakeSource, freshStores } from "../support/detection-harness.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { DAY, HOUR, at, nonInteractiveSignIn } from "../support/replay-fixtures.js";

const T = at("2026-11-16T10:00:00Z");
/** The rule's first window is 9-10, so its history is the 14 days before 9:00. */
const FIRST = T - HOUR;
const HISTORY_START = FIRST - 14 * DAY;
const rule = intuneTokenReuse;

let azurite: AzuriteTables;
let fake: FakeLogAnalytics;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite?.stop());
beforeEach(async () => {
  fake = await FakeLogAnalytics.start();
  // User i signed in on day i of the history from its own network; in the hour 9-10 each signs
  // in from that network again (known: no alert), and user 3 also from a new one (an alert).
  fake.add("AADNonInteractiveUserSignInLogs", [
    ...Array.from({ length: 14 }, (_, i) =>
      nonInteractiveSignIn({ time: HISTORY_START + i * DAY + 2 * HOUR, upn: `user${i}@contoso.com`, ip: `10.0.${i}.1`, asn: `${100 + i}`, resource: "Microsoft Intune", id: `hist-${i}` }),
    ),
    ...Array.from({ length: 14 }, (_, i) =>
      nonInteractiveSignIn({ time: FIRST + (i + 1) * 60_000, upn: `user${i}@contoso.com`, ip: `10.0.${i}.1`, asn: `${100 + i}`, resource: "Microsoft Intune", id: `now-${i}` }),
    ),
    nonInteractiveSignIn({ time: FIRST + 30 * 60_000, upn: "user3@contoso.com", ip: "198.51.100.3", asn: "64500", resource: "Microsoft Intune", id: "stolen" }),
  ]);
});
afterEach(async () => fake.close());

const deps = (stores: Repositories): EngineDeps => ({ source: fakeSource(fake), stores, now: () => T + 5 * 60_000 });
const sightingQueries = () => fake.requests.filter((r) => r.query?.shape === "sightings" && r.status === 200).map((r) => r.query!.time.from);
const alertsOf = async (stores: Repositories) => (await stores.incidents.listAlerts()).map((a) => `${a.account} ${a.ip}`).sort();

async function oneShot(): Promise<string[]> {
  const stores = freshStores(azurite);
  await runRule(rule, deps(stores), { startAt: FIRST, until: T });
  return alertsOf(stores);
}

describe("baseline bootstrap", () => {
  it("streams day by day and resumes across invocations: one day per invocation past the budget, each day read once", async () => {
    const reference = await oneShot();
    expect(reference).toEqual(["user3@contoso.com 198.51.100.3"]);
    fake.requests.length = 0;

    const stores = freshStores(azurite);
    const progress: number[] = [];
    let invocations = 0;
    for (;;) {
      invocations++;
      // A budget already spent: each invocation does the least it may, one day.
      const reports = await runRule(rule, deps(stores), { startAt: FIRST, until: T, deadline: 0 });
      const state = await stores.ruleState.get(rule.meta.id);
      if (reports.length > 0) {
        expect(state?.bootstrapUntil).toBeUndefined();
        expect(state?.windowEnd).toBe(T);
        break;
      }
      expect(state?.windowEnd).toBe(FIRST); // no window runs on a half-learned baseline
      progress.push(state!.bootstrapUntil!);
      if (invocations > 20) throw new Error("the bootstrap does not progress");
    }
    expect(invocations).toBe(14);
    expect(progress).toEqual(Array.from({ length: 13 }, (_, i) => HISTORY_START + (i + 1) * DAY));
    expect(sightingQueries()).toEqual(Array.from({ length: 14 }, (_, i) => HISTORY_START + i * DAY));
    expect(await alertsOf(stores)).toEqual(reference);
  });

  it("a day whose query fails is retried by the next invocation, from that day on", async () => {
    const stores = freshStores(azurite);
    const failing = HISTORY_START + 5 * DAY;
    fake.inject({ kind: "status", status: 400 }, { match: (q) => q.shape === "sightings" && q.time.from === failing });
    await expect(runRule(rule, deps(stores), { startAt: FIRST, until: T })).rejects.toThrow(/400/);
    expect((await stores.ruleState.get(rule.meta.id))?.bootstrapUntil).toBe(failing);
    expect(await alertsOf(stores)).toEqual([]);

    await runRule(rule, deps(stores), { startAt: FIRST, until: T });
    const days = sightingQueries();
    expect(days).toEqual(Array.from({ length: 14 }, (_, i) => HISTORY_START + i * DAY));
    expect(await alertsOf(stores)).toEqual(["user3@contoso.com 198.51.100.3"]);
  });
});
