// Rules that can be switched off, and a rule whose table the workspace lacks: runScheduled
// over the real LogsQueryClient against the fake query API, state in Azurite.
import { systemActor } from "../../src/model/actor.js";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { runScheduled } from "../../src/engine/scheduled.js";
import { solorigateStsRefreshToken as solorigate } from "../../src/rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification as sts } from "../../src/rules/sts-refresh-token-modification.js";
import { DELAY, fakeSource, scheduledDeps, useDetectionWorld } from "../support/detection-harness.js";
import { HOUR, at, stsAudit } from "../support/replay-fixtures.js";

const world = useDetectionWorld();

const T = at("2026-11-16T10:00:00Z");
const clockAt = (hour: number) => ({ now: T + (hour - 10) * HOUR + DELAY });

describe("a rule whose table the workspace does not have", () => {
  it("reports table-missing in its health once, without throwing, and runs normally once the table appears", async () => {
    world.fake.missingTables.add("CloudAppEvents");
    const source = fakeSource(world.fake);
    const clock = clockAt(11);
    const first = await runScheduled(solorigate.meta.id, scheduledDeps(source, world.stores, clock));
    expect(first).toMatchObject({ status: "table-missing", table: "CloudAppEvents", newly: true });
    expect(await world.stores.ruleState.health(solorigate.meta.id)).toMatchObject({ failing: false, tableMissing: "CloudAppEvents", lastError: null });

    clock.now += HOUR;
    const second = await runScheduled(solorigate.meta.id, scheduledDeps(source, world.stores, clock));
    expect(second).toMatchObject({ status: "table-missing", newly: false });

    world.fake.missingTables.clear();
    clock.now += HOUR;
    const healed = await runScheduled(solorigate.meta.id, scheduledDeps(source, world.stores, clock));
    expect(healed.status).toBe("ok");
    expect(await world.stores.ruleState.health(solorigate.meta.id)).toMatchObject({ failing: false, tableMissing: null });
  });

  it("another query error still fails the run and is recorded as failing", async () => {
    world.fake.inject({ kind: "status", status: 400 }, { times: 10 });
    await expect(runScheduled(solorigate.meta.id, scheduledDeps(fakeSource(world.fake), world.stores, clockAt(11)))).rejects.toThrow(/400/);
    expect(await world.stores.ruleState.health(solorigate.meta.id)).toMatchObject({ failing: true, tableMissing: null });
  });
});

describe("switching a rule off", () => {
  const event = stsAudit({ time: T + 10 * 60_000, user: "admin1@contoso.com", ip: "203.0.113.9", target: "victim@contoso.com", id: "audit-1" });

  it("by setting: the rule queries nothing and its checkpoint waits", async () => {
    world.fake.add("AuditLogs", [event]);
    const disabledRules = loadConfig({ TOKENWATCH_DISABLED_RULES: ` ${sts.meta.id.toUpperCase()} ` }).TOKENWATCH_DISABLED_RULES;
    const outcome = await runScheduled(sts.meta.id, { ...scheduledDeps(fakeSource(world.fake), world.stores, clockAt(11)), disabledRules });
    expect(outcome).toEqual({ status: "disabled", reason: "switched off by the TOKENWATCH_DISABLED_RULES setting" });
    expect(world.fake.requests).toEqual([]);
    expect(await world.stores.ruleState.get(sts.meta.id)).toBeUndefined();
  });

  it("by an admin's setting in storage: off until switched on, then it catches up from its checkpoint", async () => {
    world.fake.add("AuditLogs", [event]);
    const source = fakeSource(world.fake);
    const clock = clockAt(10);
    expect((await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock))).status).toBe("ok");
    await world.stores.ruleState.putSetting(sts.meta.id, { enabled: false, changedBy: systemActor("admin@contoso.com"), changedAt: clock.now, reason: "noisy" });
    clock.now += HOUR;
    expect(await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock))).toMatchObject({ status: "disabled", reason: expect.stringContaining("admin@contoso.com") });
    await world.stores.ruleState.putSetting(sts.meta.id, { enabled: true, changedBy: systemActor("admin@contoso.com"), changedAt: clock.now, reason: "tuned" });
    const back = await runScheduled(sts.meta.id, scheduledDeps(source, world.stores, clock));
    expect(back.status === "ok" && back.reports.flatMap((r) => r.alerts).map((a) => a.account)).toEqual(["admin1@contoso.com"]);
    const audit = await world.stores.ruleState.settingAudit(sts.meta.id);
    expect(audit.map((a) => [a.before, a.enabled, a.reason])).toEqual([
      [false, true, "tuned"],
      [null, false, "noisy"],
    ]);
  });

  it("TOKENWATCH_DISABLED_RULES refuses an id that is not a rule's", () => {
    expect(() => loadConfig({ TOKENWATCH_DISABLED_RULES: "not-a-rule" })).toThrow(/not-a-rule is not a rule id/);
  });
});
