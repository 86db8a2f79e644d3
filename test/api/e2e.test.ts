// An incident's whole life over the API: created by a replayed detection (the engine's
// runRule over public scenario logs, as `tokenwatch detect` runs it), listed, grouped under
// its account with another rule's incident, updated with ETags, and left closed by a re-run.
// Then rules: health from the checkpoints, and a backfill that moves no checkpoint.
import { replayAllRules } from "../support/replay-run.js";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORRELATION_RULE_ID } from "../../src/model/correlation.js";
import { runScheduled } from "../../src/engine/scheduled.js";
import { rules } from "../../src/rules/index.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { createApp } from "../../src/app.js";
import { ruleLines, startRuleTicks } from "../../src/cli/serve.js";
import { ADMIN, READ, WRITE, startHost, stopAzurite, type Host } from "./harness.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { solorigateStsRefreshToken } from "../../src/rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const LOGS = fileURLToPath(new URL("../fixtures/api/logs", import.meta.url));
const FROM = Date.parse("2026-11-01T00:00:00.000Z");
const TO = Date.parse("2026-11-02T00:00:00.000Z");
const STS = stsRefreshTokenModification.meta.id;
const SOLORIGATE = solorigateStsRefreshToken.meta.id;
const PIVOT = interactiveToNonInteractivePivot.meta.id;

let source: ReplaySource;
let host: Host;
let fresh: Host;

/** The replay exactly as `tokenwatch detect` drives the engine. */
const detect = (target: Host) => replayAllRules(source, target.stores, FROM, TO);

beforeAll(async () => {
  source = await ReplaySource.open(LOGS);
  expect(source.load.rejected).toEqual([]);
  host = await startHost({ source, ruleNow: () => TO + 3_600_000 });
  fresh = await startHost({ source, ruleNow: () => TO + 3_600_000 });
});

afterAll(async () => {
  await host?.close();
  await fresh?.close();
  await stopAzurite();
});

describe("an incident's life", () => {
  it("is created by a replayed detection, listed, grouped, updated with ETags, and stays closed", async () => {
    expect(await detect(host)).toBe(3);
    const analyst = await host.token({ roles: [READ], user: "ana@contoso.com" });
    const responder = await host.token({ roles: [WRITE], user: "rui@contoso.com" });

    // Listed, newest first, one per (rule, account), and evil app's correlated one (two rules within 24 h).
    const listed = await host.call("GET", "/api/incidents", { token: analyst });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((i: { ruleId: string; account: string }) => [i.ruleId, i.account]).sort()).toEqual(
      [
        [STS, "evil app"],
        [SOLORIGATE, "evil app"],
        [CORRELATION_RULE_ID, "evil app"],
        [PIVOT, "dan@contoso.com"],
      ].sort(),
    );
    expect(listed.body.items.every((i: { status: string }) => i.status === "New")).toBe(true);

    // Grouped: the account two rules hit comes first and stands out.
    const accounts = await host.call("GET", "/api/accounts", { token: analyst });
    expect(accounts.body.items.map((a: { account: string; multipleRules: boolean }) => [a.account, a.multipleRules])).toEqual([
      ["evil app", true],
      ["dan@contoso.com", false],
    ]);
    expect(accounts.body.items[0]).toMatchObject({ correlated: true, openIncidents: 3, totalIncidents: 3, highestSeverity: "High" });
    const evil = await host.call("GET", "/api/accounts/evil%20app/incidents", { token: analyst });
    expect(evil.body.items.map((i: { ruleId: string }) => i.ruleId).sort()).toEqual([STS, SOLORIGATE, CORRELATION_RULE_ID].sort());

    // The pivot incident in detail, with the sign-in's entities.
    const pivot = listed.body.items.find((i: { ruleId: string }) => i.ruleId === PIVOT);
    const detail = await host.call("GET", `/api/incidents/${pivot.id}`, { token: analyst });
    expect(detail.body.alerts).toHaveLength(1);
    expect(detail.body.alerts[0]).toMatchObject({ account: "dan@contoso.com", ip: "203.0.113.90" });
    expect(detail.body.entities).toContainEqual({ type: "ip", address: "203.0.113.90" });

    // Reader cannot update; the responder takes it, then two concurrent edits: the second loses.
    const etag = detail.headers.get("etag")!;
    expect((await host.call("PATCH", `/api/incidents/${pivot.id}`, { token: analyst, body: { status: "Active" }, headers: { "if-match": etag } })).status).toBe(403);
    const taken = await host.call("PATCH", `/api/incidents/${pivot.id}`, { token: responder, body: { status: "Active", owner: "rui@contoso.com" }, headers: { "if-match": etag } });
    expect(taken.status).toBe(200);
    const lost = await host.call("PATCH", `/api/incidents/${pivot.id}`, { token: responder, body: { owner: "someone@contoso.com" }, headers: { "if-match": etag } });
    expect(lost.status).toBe(412);
    const closed = await host.call("PATCH", `/api/incidents/${pivot.id}`, {
      token: responder,
      body: { status: "Closed", classification: "TruePositive", comment: "token revoked, sessions reset" },
      headers: { "if-match": taken.headers.get("etag")! },
    });
    expect(closed.status).toBe(200);
    expect(closed.body.history.map((h: { field: string; after: string | null }) => [h.field, h.after]).sort()).toEqual(
      [
        ["status", "Active"],
        ["owner", "rui@contoso.com"],
        ["status", "Closed"],
        ["classification", "TruePositive"],
        ["comment", "token revoked, sessions reset"],
      ].sort(),
    );

    // The detection runs again over the same data: nothing new, the closed incident stays closed.
    expect(await detect(host)).toBe(0);
    const after = await host.call("GET", `/api/incidents/${pivot.id}`, { token: analyst });
    expect(after.body).toMatchObject({ status: "Closed", classification: "TruePositive", alertCount: 1 });
    const dan = await host.call("GET", "/api/accounts", { token: analyst });
    expect(dan.body.items.find((a: { account: string }) => a.account === "dan@contoso.com")).toMatchObject({ openIncidents: 0, totalIncidents: 1 });
  });
});

describe("rules", () => {
  it("reports each rule's metadata and health from its checkpoint", async () => {
    const admin = await host.token({ roles: [ADMIN] });
    const r = await host.call("GET", "/api/rules", { token: admin });
    expect(r.status).toBe(200);
    expect(r.body.items.map((x: { id: string }) => x.id)).toEqual(rules.map((x) => x.meta.id));
    for (const item of r.body.items) {
      expect(item.health.status).toBe("ok");
      expect(Date.parse(item.health.checkpoint)).toBeGreaterThanOrEqual(TO);
      expect(item.health.lastRun).toBeNull();
    }
    // A scheduled run (what the timers do) records the rule's last run for the API.
    const outcome = await runScheduled(STS, { source, stores: host.stores, now: () => TO + 3_600_000, ingestionDelayMs: 0, maxWindows: 24 });
    expect(outcome.status).toBe("ok");
    const after = await host.call("GET", "/api/rules", { token: admin });
    const sts = after.body.items.find((x: { id: string }) => x.id === STS);
    expect(sts.health).toMatchObject({ status: "ok", lastRun: { failing: false, lastError: null, at: new Date(TO + 3_600_000).toISOString() } });
    const untouched = await fresh.call("GET", "/api/rules", { token: await fresh.token({ roles: [ADMIN] }) });
    expect(untouched.body.items.every((x: { health: { status: string } }) => x.health.status === "never-run")).toBe(true);
  });

  it("backfills a range without moving the checkpoint; a re-run adds nothing", async () => {
    const admin = await fresh.token({ roles: [ADMIN] });
    const body = { from: "2026-11-01T00:00:00Z", to: "2026-11-02T00:00:00Z" };
    const r = await fresh.call("POST", `/api/rules/${PIVOT}/backfill`, { token: admin, body });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ruleId: PIVOT, alerts: 1, incidents: 1 });
    expect(await fresh.stores.ruleState.get(PIVOT)).toBeUndefined();
    const listed = await fresh.call("GET", "/api/incidents", { token: await fresh.token({ roles: [READ] }) });
    expect(listed.body.items.map((i: { account: string }) => i.account)).toEqual(["dan@contoso.com"]);
    const again = await fresh.call("POST", `/api/rules/${PIVOT}/backfill`, { token: admin, body });
    expect(again.body).toMatchObject({ alerts: 0, incidents: 0 });

    // A rule with a per-user baseline learns it in memory: the live baseline and checkpoint stay as they are.
    const INTUNE = intuneTokenReuse.meta.id;
    const tables = async () => JSON.stringify([await fresh.store.list("Baselines"), await fresh.store.list("Checkpoints")]);
    const liveState = await tables();
    const intune = await fresh.call("POST", `/api/rules/${INTUNE}/backfill`, { token: admin, body });
    expect(intune.status).toBe(200);
    expect(intune.body.windows).toBeGreaterThan(0);
    expect(await tables()).toBe(liveState);

    const before = await fresh.dump();
    const bad: [string, unknown, number][] = [
      [`/api/rules/${PIVOT}/backfill`, { from: "2026-11-02T00:00:00Z", to: "2026-11-01T00:00:00Z" }, 400],
      [`/api/rules/${PIVOT}/backfill`, { from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z" }, 400],
      [`/api/rules/${PIVOT}/backfill`, { from: "2026-11-01T00:00:00Z", to: "2099-11-01T00:00:00Z" }, 400],
      [`/api/rules/${PIVOT}/backfill`, { from: "2026-11-01T00:00:00Z" }, 400],
      [`/api/rules/${PIVOT}/backfill`, { ...body, dryRun: true }, 400],
      ["/api/rules/00000000-0000-0000-0000-000000000000/backfill", body, 404],
    ];
    for (const [path, b, status] of bad) expect((await fresh.call("POST", path, { token: admin, body: b })).status, JSON.stringify(b)).toBe(status);
    expect(await fresh.dump()).toBe(before);
  });
});

describe("serve's schedule against a log source", () => {
  it("runs each rule as its timer would at start-up and the API shows their last runs; a restart redoes no window", async () => {
    const scheduledHost = await startHost({ source, ruleNow: () => TO + 3_600_000 });
    try {
      const lines: string[] = [];
      let now = TO + 3_600_000;
      const app = createApp({ ...scheduledHost.config, TOKENWATCH_INGESTION_DELAY_MINUTES: 0, TOKENWATCH_MAX_WINDOWS_PER_RUN: 24 }, { logSource: source, clock: () => now, consoleDir: null });
      const ticks = () => startRuleTicks(app, { intervalMs: 60_000, report: (outcomes) => lines.push(...ruleLines(outcomes)) });
      const schedule = ticks();
      await schedule.settled();
      await schedule.stop();
      expect(lines).toHaveLength(rules.length);
      const r = await scheduledHost.call("GET", "/api/rules", { token: await scheduledHost.token({ roles: [ADMIN] }) });
      for (const item of r.body.items) expect(item.health).toMatchObject({ status: "ok", lastRun: { failing: false, at: new Date(now).toISOString() } });
      now += 1;
      const again = ticks();
      await again.settled();
      await again.stop();
      await app.close();
      // A new scheduler runs each rule once at start-up; its checkpoint makes the run a no-op.
      expect(lines.slice(rules.length).every((l) => l.endsWith("0 window(s), 0 alert(s)"))).toBe(true);
    } finally {
      await scheduledHost.close();
    }
  });
});
