// The lease on a rule's checkpoint entity (Azurite): two invocations of one rule never
// process windows at once, a crashed holder's lease expires, and a run that lost its lease
// cannot move the checkpoint.
import { describe, expect, it } from "vitest";
import { runRule } from "../../src/engine/run.js";
import type { LogSource } from "../../src/engine/ports.js";
import { runScheduled, timerFor } from "../../src/engine/scheduled.js";
import { rules } from "../../src/rules/index.js";
import { defineRule } from "../../src/rules/rule.js";
import { type QuerySpec } from "../../src/model/query.js";
import { stsRefreshTokenModification as sts } from "../../src/rules/sts-refresh-token-modification.js";
import type { TableName } from "../../src/model/rows.js";
import { acquireLease, LEASE_RENEW_MS, LEASE_TTL_MS } from "../../src/engine/lease.js";
import { LeaseHeld, StateConflict } from "../../src/model/rule-state.js";
import { DELAY, fakeSource, scheduledDeps, useDetectionWorld } from "../support/detection-harness.js";
import { HOUR, at, stsAudit } from "../support/replay-fixtures.js";

const world = useDetectionWorld();

const T = at("2026-11-17T10:00:00Z");

/** A LogSource whose row queries wait until the test opens the gate. */
function gated(inner: LogSource) {
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const source: LogSource = {
    async rows<T extends TableName>(spec: QuerySpec<T>, kql: string, label?: string) {
      entered();
      await gate;
      return inner.rows(spec, kql, label);
    },
    sightings: (spec, kql, label) => inner.sightings(spec, kql, label),
    earliest: (spec, kql, label) => inner.earliest(spec, kql, label),
  };
  return { source, open, inside };
}

describe("the rule lease", () => {
  it("a second invocation while the first is processing does nothing; the first completes and releases", async () => {
    world.fake.add("AuditLogs", [stsAudit({ time: T + 30 * 60_000, user: "admin@contoso.com", id: "lease-1" })]);
    const clock = { now: T + HOUR + DELAY };
    const first = gated(fakeSource(world.fake));
    const running = runScheduled(sts.meta.id, scheduledDeps(first.source, world.stores, clock));
    await first.inside; // the first holds the lease and is fetching
    const second = await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock));
    expect(second.status).toBe("busy");
    expect((await world.stores.ruleState.get(sts.meta.id))?.lease).toBeDefined();
    first.open();
    const done = await running;
    expect(done.status === "ok" && done.reports.flatMap((r) => r.alerts).length).toBe(1);
    const state = await world.stores.ruleState.get(sts.meta.id);
    expect(state?.lease).toBeUndefined();
    expect(state?.windowEnd).toBe(T + HOUR);
    expect((await world.stores.incidents.listAlerts()).length).toBe(1);
  });

  it("a crashed holder's lease blocks until it expires, then the next invocation takes over", async () => {
    world.fake.add("AuditLogs", [stsAudit({ time: T + 30 * 60_000, user: "admin@contoso.com", id: "lease-2" })]);
    const clock = { now: T + DELAY };
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock));
    // An invocation took the lease at 11:05 and died without releasing it.
    await acquireLease(world.stores.ruleState, sts.meta.id, "crashed-invocation", T + HOUR + DELAY, LEASE_TTL_MS);
    clock.now = T + HOUR + DELAY + 60_000;
    expect((await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock))).status).toBe("busy");
    expect((await world.stores.ruleState.get(sts.meta.id))?.windowEnd).toBe(T);
    clock.now = T + HOUR + DELAY + LEASE_TTL_MS + 1;
    const outcome = await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock));
    expect(outcome.status).toBe("ok");
    expect((await world.stores.ruleState.get(sts.meta.id))?.windowEnd).toBe(T + HOUR);
    expect((await world.stores.incidents.listAlerts()).length).toBe(1);
  });

  it("a crashed run holds the rule about two minutes at most, so detection resumes in the next minutes", async () => {
    expect(LEASE_TTL_MS).toBeLessThanOrEqual(2 * 60_000);
    expect(LEASE_RENEW_MS * 3).toBeLessThanOrEqual(LEASE_TTL_MS);
    world.fake.add("AuditLogs", [stsAudit({ time: T + 30 * 60_000, user: "admin@contoso.com", id: "lease-crash" })]);
    const clock = { now: T + DELAY };
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock));
    const crashedAt = T + HOUR + DELAY;
    await acquireLease(world.stores.ruleState, sts.meta.id, "killed-9", crashedAt, LEASE_TTL_MS);
    clock.now = crashedAt + 2 * 60_000 + 1_000;
    expect((await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock))).status).toBe("ok");
    expect((await world.stores.ruleState.get(sts.meta.id))?.windowEnd).toBe(T + HOUR);
  });

  it("a live run renews its lease while it works, so a run longer than the TTL is not taken over", async () => {
    world.fake.add("AuditLogs", [stsAudit({ time: T + 30 * 60_000, user: "admin@contoso.com", id: "lease-renew" })]);
    const clock = { now: T + DELAY };
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock));
    clock.now = T + HOUR + DELAY;
    const slow = gated(fakeSource(world.fake));
    const running = runRule(sts, { source: slow.source, stores: world.stores, now: () => clock.now }, { startAt: T, until: T + HOUR, lease: { owner: "slow", renewMs: 20 } });
    await slow.inside;
    // Ten minutes pass inside one window: five TTLs. The renewals follow the clock.
    for (let minutes = 1; minutes <= 10; minutes++) {
      clock.now += 60_000;
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    const lease = (await world.stores.ruleState.get(sts.meta.id))?.lease;
    expect(lease?.owner).toBe("slow");
    expect(lease!.until).toBeGreaterThan(clock.now);
    expect((await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clock))).status).toBe("busy");
    slow.open();
    expect((await running).flatMap((r) => r.alerts)).toHaveLength(1);
    const state = await world.stores.ruleState.get(sts.meta.id);
    expect(state?.lease).toBeUndefined();
    expect(state?.windowEnd).toBe(T + HOUR);
  });

  it("of two invocations racing for the lease with the same ETag, exactly one wins", async () => {
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, { now: T + DELAY }));
    const results = await Promise.allSettled(["a", "b", "c"].map((owner) => acquireLease(world.stores.ruleState, sts.meta.id, owner, T + HOUR, LEASE_TTL_MS)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(LeaseHeld);
  });

  it("a run whose lease expired and was taken cannot move the checkpoint (the ETag no longer matches)", async () => {
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, { now: T + DELAY }));
    const slow = await acquireLease(world.stores.ruleState, sts.meta.id, "slow", T + HOUR, LEASE_TTL_MS);
    await acquireLease(world.stores.ruleState, sts.meta.id, "next", T + HOUR + LEASE_TTL_MS + 1, LEASE_TTL_MS);
    await expect(world.stores.ruleState.put(sts.meta.id, { ...slow, windowEnd: T + HOUR })).rejects.toBeInstanceOf(StateConflict);
    expect((await world.stores.ruleState.get(sts.meta.id))?.lease?.owner).toBe("next");
  });

  it("a window that fails releases the lease and leaves the checkpoint", async () => {
    await runScheduled(sts.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, { now: T + DELAY }));
    world.fake.inject({ kind: "status", status: 400 });
    await expect(runRule(sts, { source: fakeSource(world.fake), stores: world.stores, now: () => T + HOUR + DELAY }, { startAt: T, until: T + HOUR })).rejects.toThrow(/HTTP 400/);
    const state = await world.stores.ruleState.get(sts.meta.id);
    expect(state?.lease).toBeUndefined();
    expect(state?.windowEnd).toBe(T);
  });
});

describe("timers", () => {
  const withFrequency = (queryFrequency: string, queryPeriod = "14d") => defineRule({ ...sts, meta: { ...sts.meta, queryFrequency, queryPeriod } });

  it("fire once per queryFrequency, the ingestion delay after each boundary", () => {
    expect(timerFor(sts, 5).schedule).toBe("0 5 * * * *");
    expect(timerFor(withFrequency("15m"), 5).schedule).toBe("0 5/15 * * * *");
    expect(timerFor(withFrequency("5m"), 5).schedule).toBe("0 0/5 * * * *");
    expect(timerFor(withFrequency("6h"), 5).schedule).toBe("0 5 0/6 * * *");
    expect(timerFor(withFrequency("1d"), 5).schedule).toBe("0 5 0 * * *");
    // 45 minutes does not divide the hour: every 15 minutes, and the planner runs what is due.
    expect(timerFor(withFrequency("45m"), 5).schedule).toBe("0 5/15 * * * *");
  });

  it("have distinct, valid function names, one per rule", () => {
    const names = rules.map((r) => timerFor(r, 5).name);
    expect(new Set(names).size).toBe(rules.length);
    for (const name of names) expect(name).toMatch(/^[a-z][a-z0-9-]{0,99}$/);
  });
});
