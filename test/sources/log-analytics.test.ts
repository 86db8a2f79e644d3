// The Log Analytics source through the real LogsQueryClient over HTTP, against the fake
// query API: wire format, row validation, limits and splitting, retries and timeouts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { arrivedIn, type QuerySpec } from "../../src/model/query.js";
import { fromMs, isoOf } from "../../src/model/time.js";
import { rules } from "../../src/rules/index.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";
import { createLogsQueryClient, LogAnalyticsSource, MAX_QUERY_BYTES, type LogAnalyticsOptions, type QueryEvent } from "../../src/sources/log-analytics.js";
import { FakeLogAnalytics, staticCredential } from "../support/fake-log-analytics.js";
import { HOUR, at, interactiveSignIn, nonInteractiveSignIn, stsAudit } from "../support/replay-fixtures.js";

let fake: FakeLogAnalytics;
const T = at("2026-11-10T10:00:00Z");
const window = { start: T, end: T + HOUR };

beforeAll(async () => {
  fake = await FakeLogAnalytics.start();
});
afterAll(async () => fake.close());
afterEach(() => {
  fake.clearFaults();
  fake.rowLimit = Infinity;
  fake.reportTruncation = false;
});

function source(options: Partial<LogAnalyticsOptions> = {}, events: QueryEvent[] = []) {
  const client = createLogsQueryClient(staticCredential, { endpoint: fake.endpoint, agent: fake.agent, maxRetries: 3, retryDelayMs: 5, maxRetryDelayMs: 20 });
  return new LogAnalyticsSource(client, { workspaceId: fake.workspaceId, timeoutMs: 2_000, backoffMs: 5, onQuery: (e) => events.push(e), ...options });
}

const rowsKql = (spec: QuerySpec) => intuneTokenReuse.kql("signIns", spec);

describe("LogAnalyticsSource over the query API wire format", () => {
  it("returns the spec's rows, typed by the table schema, with datetimes and dynamic columns converted", async () => {
    fake.add("AuditLogs", [stsAudit({ time: T + 10 * 60_000, user: "admin@contoso.com", ip: "1.2.3.4", received: T + 12 * 60_000 })]);
    const spec = arrivedIn("AuditLogs", window);
    const { rows, rejected } = await source().rows(spec, stsRefreshTokenModification.kql("audit", spec), "sts/audit");
    expect(rejected).toEqual([]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.TimeGenerated).toBe(fromMs(T + 10 * 60_000));
    expect(rows[0]!.arrival).toBe(fromMs(T + 12 * 60_000));
    expect(rows[0]!.InitiatedBy).toEqual({ user: { userPrincipalName: "admin@contoso.com", ipAddress: "1.2.3.4" } });
  });

  it("keeps datetimes to the 100-ns tick through LogsQueryClient (which would turn datetime columns into milliseconds)", async () => {
    const time = `${new Date(T + 10 * 60_000).toISOString().slice(0, -1)}4567Z`; // .0004567 s: sub-millisecond
    const received = `${new Date(T + 12 * 60_000).toISOString().slice(0, -1)}0001Z`;
    fake.add("AuditLogs", [{ ...stsAudit({ time: T + 10 * 60_000, user: "admin@contoso.com", ip: "1.2.3.4" }), TimeGenerated: time, _TimeReceived: received }]);
    const spec = arrivedIn("AuditLogs", window);
    const { rows } = await source().rows(spec, stsRefreshTokenModification.kql("audit", spec), "sts/audit");
    expect(rows.map((r) => [isoOf(r.TimeGenerated), isoOf(r.arrival)])).toContainEqual([time, received]);
    const tick = `${new Date(T + 20 * 60_000).toISOString().slice(0, -1)}0009Z`;
    fake.add("AADNonInteractiveUserSignInLogs", [nonInteractiveSignIn({ time: tick, upn: "tick@contoso.com", ip: "10.1.1.1", asn: "1" })]);
    const summarySpec: QuerySpec = { table: "AADNonInteractiveUserSignInLogs", arrived: { to: window.end }, time: { from: window.start, to: window.end } };
    const sightings = await source().sightings(summarySpec, intuneTokenReuse.baseline!.sightingsKql(summarySpec));
    expect(sightings.rows.map((r) => isoOf(r.lastSeen))).toEqual([tick]);
    const earliest = await source().earliest(summarySpec, intuneTokenReuse.baseline!.earliestKql(summarySpec));
    expect(isoOf(earliest!)).toBe(tick);
  });

  it("reports a row that fails its schema with origin `query <rule>/<name> row N`, and keeps the others", async () => {
    fake.add("CloudAppEvents", [
      { TimeGenerated: new Date(T + 60_000).toISOString(), ActionType: "x", RawEventData: "{not json" },
      { TimeGenerated: new Date(T + 120_000).toISOString(), ActionType: "y", RawEventData: { a: 1 } },
    ]);
    const spec = arrivedIn("CloudAppEvents", window);
    const kql = rules.find((r) => r.meta.requiredDataConnectors[0]!.dataTypes.includes("CloudAppEvents"))!.kql("events", spec);
    const { rows, rejected } = await source().rows(spec, kql, "solorigate/events");
    expect(rows.map((r) => r.ActionType)).toEqual(["y"]);
    expect(rejected).toEqual([{ origin: "query solorigate/events row 1", reason: "RawEventData: dynamic column is not valid JSON" }]);
  });

  it("parses every rule's projection: columns a query does not project read as empty, never reject the row", async () => {
    const base = at("2026-11-09T10:00:00Z");
    const w = { start: base, end: base + HOUR };
    fake.add("SigninLogs", [interactiveSignIn({ time: base + 60_000, upn: "proj@contoso.com", ip: "192.0.2.1" })]);
    fake.add("AADNonInteractiveUserSignInLogs", [nonInteractiveSignIn({ time: base + 60_000, upn: "proj@contoso.com", ip: "192.0.2.2", resource: "Microsoft Intune" })]);
    fake.add("AuditLogs", [stsAudit({ time: base + 60_000, user: "proj@contoso.com" })]);
    fake.add("CloudAppEvents", [{ TimeGenerated: new Date(base + 60_000).toISOString(), ActionType: "Update StsRefreshTokenValidFrom Timestamp.", RawEventData: {} }]);
    for (const rule of rules)
      for (const [name, spec] of Object.entries(rule.queries(w))) {
        const { rows, rejected } = await source().rows(spec, rule.kql(name, spec), `${rule.meta.name}/${name}`);
        expect(rejected, `${rule.meta.name}/${name}`).toEqual([]);
        expect(rows.length, `${rule.meta.name}/${name}`).toBe(1);
      }
  });

  it("sends LocationDetails and AuthenticationDetails only for sign-ins to the Intune rule's resources (has_any, terms), empty for the others", async () => {
    const base = at("2026-11-08T10:00:00Z");
    const w = { start: base, end: base + HOUR };
    const resources = ["Microsoft Intune", "microsoft graph", "Windows 365 Cloud PC", "Office 365 Exchange Online", "Microsoft Graphs", "Device Managementx"];
    fake.add(
      "AADNonInteractiveUserSignInLogs",
      resources.map((resource, i) => nonInteractiveSignIn({ time: base + (i + 1) * 60_000, upn: `trim${i}@contoso.com`, ip: "192.0.2.3", resource, mfa: true, country: "NL" })),
    );
    const spec = arrivedIn("AADNonInteractiveUserSignInLogs", w);
    const { rows, rejected } = await source().rows(spec, intuneTokenReuse.kql("signIns", spec));
    expect(rejected).toEqual([]);
    const sent = rows.map((r) => [r.ResourceDisplayName, r.AuthenticationDetails !== "", r.LocationDetails !== ""]);
    expect(sent).toEqual(resources.map((resource, i) => [resource, i < 3, i < 3]));
    // The kept values arrive whole: the rule reads the country and the MFA term from them.
    expect(rows[0]!.AuthenticationDetails).toContain("Multifactor authentication");
    expect(rows[0]!.LocationDetails).toBe(JSON.stringify({ countryOrRegion: "NL" }));
  });

  it("sends the spec's TimeGenerated range as the request timespan", async () => {
    const spec = arrivedIn("SigninLogs", window);
    const before = fake.requests.length;
    await source().rows(spec, interactiveToNonInteractivePivot.kql("interactive", spec));
    expect(fake.requests[before]!.query!.timespan).toEqual({ from: spec.time.from, to: spec.time.to });
  });

  it("sends a bearer token and the server timeout, and keeps its own bookkeeping header off the wire", async () => {
    const spec = arrivedIn("AuditLogs", window);
    const before = fake.requests.length;
    await source({ serverTimeoutSeconds: 120 }).rows(spec, stsRefreshTokenModification.kql("audit", spec));
    const { headers } = fake.requests[before]!;
    expect(headers.authorization).toBe("Bearer test-token");
    expect(headers.prefer).toBe("wait=120");
    expect(Object.keys(headers).filter((h) => h.startsWith("x-tokenwatch"))).toEqual([]);
  });
});

describe("incomplete answers are never accepted", () => {
  const ids = (rows: { Id: string }[]) => rows.map((r) => r.Id).sort();

  it("a result cut at the row limit (silently, as the service does) is split by arrival time until every part fits", async () => {
    const base = at("2026-11-11T10:00:00Z");
    const w = { start: base, end: base + HOUR };
    const rows = Array.from({ length: 40 }, (_, i) =>
      nonInteractiveSignIn({ time: base + i * 90_000, upn: `u${i % 7}@contoso.com`, ip: "10.0.0.1", resource: "Microsoft Intune", id: `split-${i}` }),
    );
    fake.add("AADNonInteractiveUserSignInLogs", rows);
    fake.rowLimit = 8;
    const events: QueryEvent[] = [];
    const spec = arrivedIn("AADNonInteractiveUserSignInLogs", w);
    const result = await source({ rowLimit: 8 }, events).rows(spec, rowsKql(spec), "intune/signIns");
    expect(ids(result.rows)).toEqual(rows.map((r) => String(r.Id)).sort());
    expect(events.filter((e) => e.outcome === "rows at limit").length).toBeGreaterThan(0);
    expect(events.filter((e) => e.outcome === "complete").reduce((n, e) => n + e.rows, 0)).toBe(40);
  });

  it("rows that arrived in the same instant are split by user hash (negative hashes included) and come back exactly once", async () => {
    const instant = at("2026-11-12T10:20:00Z");
    const w = { start: at("2026-11-12T10:00:00Z"), end: at("2026-11-12T11:00:00Z") };
    const rows = Array.from({ length: 30 }, (_, i) =>
      nonInteractiveSignIn({ time: instant, upn: `Burst${i}@Contoso.com`, ip: "10.0.0.2", resource: "Microsoft Intune", id: `burst-${i}` }),
    );
    fake.add("AADNonInteractiveUserSignInLogs", rows);
    fake.rowLimit = 6;
    const events: QueryEvent[] = [];
    const spec = arrivedIn("AADNonInteractiveUserSignInLogs", w);
    const result = await source({ rowLimit: 6 }, events).rows(spec, rowsKql(spec));
    expect(ids(result.rows)).toEqual(rows.map((r) => String(r.Id)).sort());
    const partitioned = fake.requests.filter((r) => r.query?.partition && r.query.arrived.from !== undefined && r.query.arrived.from >= w.start && r.query.arrived.to <= w.end);
    expect(partitioned.length).toBeGreaterThan(0);
  });

  it("a partial failure caused by the result-size limit is split; the summarized baseline query merges parts to the latest sighting", async () => {
    const base = at("2026-11-13T10:00:00Z");
    const w = { start: base, end: base + HOUR };
    fake.add("AADNonInteractiveUserSignInLogs", [
      nonInteractiveSignIn({ time: base + 5 * 60_000, upn: "Same@contoso.com", ip: "10.9.9.9", asn: "1", id: "s1" }),
      nonInteractiveSignIn({ time: base + 50 * 60_000, upn: "same@contoso.com", ip: "10.9.9.9", asn: "1", id: "s2" }),
    ]);
    fake.inject({ kind: "partial", reason: "limit" }, { times: 1 });
    const spec = arrivedIn("AADNonInteractiveUserSignInLogs", w);
    const events: QueryEvent[] = [];
    const { rows } = await source({}, events).sightings(spec, intuneTokenReuse.baseline!.sightingsKql(spec));
    expect(events[0]!.outcome).toBe("partial: limit");
    expect(rows).toEqual([{ account: "same@contoso.com", ip: "10.9.9.9", asn: "1", lastSeen: fromMs(base + 50 * 60_000) }]);
  });

  it("a response at the size limit is split too (the service also truncates by bytes)", async () => {
    const base = at("2026-11-15T10:00:00Z");
    const w = { start: base, end: base + HOUR };
    const rows = Array.from({ length: 12 }, (_, i) => stsAudit({ time: base + i * 4 * 60_000, user: `big${i}@contoso.com`, id: `big-${i}` }));
    fake.add("AuditLogs", rows);
    const events: QueryEvent[] = [];
    const spec = arrivedIn("AuditLogs", w);
    const result = await source({ byteLimit: 4_000 }, events).rows(spec, stsRefreshTokenModification.kql("audit", spec));
    expect(result.rows.map((r) => r.Id).sort()).toEqual(rows.map((r) => String(r.Id)).sort());
    expect(events.some((e) => e.outcome === "bytes at limit")).toBe(true);
    expect(events.filter((e) => e.outcome === "complete").every((e) => e.bytes < 4_000)).toBe(true);
  });

  it("fails, rather than answers, when a table cannot be split further (audit rows in one instant over the limit)", async () => {
    const instant = at("2026-11-14T10:30:00Z");
    fake.add("AuditLogs", Array.from({ length: 5 }, (_, i) => stsAudit({ time: instant, user: `a${i}@contoso.com`, id: `audit-burst-${i}` })));
    fake.rowLimit = 3;
    const spec = arrivedIn("AuditLogs", { start: at("2026-11-14T10:00:00Z"), end: at("2026-11-14T11:00:00Z") });
    await expect(source({ rowLimit: 3 }).rows(spec, stsRefreshTokenModification.kql("audit", spec), "sts/audit")).rejects.toThrow(
      /query sts\/audit: 3 rows, at the 3-row limit, and the query cannot be split further/,
    );
  });

  it("fails on a partial failure that is not about size (nothing to gain from splitting)", async () => {
    fake.inject({ kind: "partial", reason: "other" });
    const spec = arrivedIn("AuditLogs", window);
    await expect(source().rows(spec, stsRefreshTokenModification.kql("audit", spec), "sts/audit")).rejects.toThrow(/partial failure: PartialError/);
  });
});

describe("query text bound", () => {
  it("splits a follow-up over 20,000 accounts into queries of at most MAX_QUERY_BYTES, each account in exactly one, every row once", async () => {
    const base = at("2026-11-16T10:00:00Z");
    const accounts = Array.from({ length: 20_000 }, (_, i) => `user.with.a.long.name.${i}@contoso.onmicrosoft.com`);
    const wanted = accounts.filter((_, i) => i % 1000 === 7);
    fake.add("SigninLogs", [
      ...wanted.map((upn, i) => interactiveSignIn({ time: base - 30 * 60_000, upn: upn.toUpperCase(), ip: "192.0.2.9", id: `bound-${i}` })),
      interactiveSignIn({ time: base - 30 * 60_000, upn: "someone.else@contoso.com", ip: "192.0.2.9", id: "bound-other" }),
    ]);
    const spec: QuerySpec<"SigninLogs"> = { table: "SigninLogs", arrived: { to: base }, time: { from: base - HOUR, to: base }, accounts };
    const kql = interactiveToNonInteractivePivot.kql("earlierInteractive", spec);
    expect(Buffer.byteLength(kql)).toBeGreaterThan(MAX_QUERY_BYTES * 10);
    const before = fake.requests.length;
    const { rows } = await source().rows(spec, kql, "pivot/earlierInteractive");
    const sent = fake.requests.slice(before);
    expect(rows.map((r) => r.Id).sort()).toEqual(wanted.map((_, i) => `bound-${i}`).sort());
    expect(sent.length).toBeGreaterThan(10);
    for (const request of sent) expect(Buffer.byteLength(request.text!)).toBeLessThanOrEqual(MAX_QUERY_BYTES);
    const asked = sent.flatMap((r) => r.query!.accounts!);
    expect(asked.length).toBe(accounts.length);
    expect(new Set(asked)).toEqual(new Set(accounts));
  });

  it("fails, rather than sends, a text over the bound that has no account list to split", async () => {
    const spec = arrivedIn("AuditLogs", window);
    await expect(source({ maxQueryBytes: 100 }).rows(spec, stsRefreshTokenModification.kql("audit", spec), "sts/audit")).rejects.toThrow(/exceeds 100, and it has no account list/);
  });
});

describe("retries and timeouts", () => {
  const spec = arrivedIn("AuditLogs", window);
  const kql = stsRefreshTokenModification.kql("audit", spec);

  it("retries 429 after the Retry-After the service asked for", async () => {
    const before = fake.requests.length;
    fake.inject({ kind: "status", status: 429, retryAfterSeconds: 1 });
    await source().rows(spec, kql);
    const [throttled, retried] = fake.requests.slice(before);
    expect(throttled!.status).toBe(429);
    expect(retried!.status).toBe(200);
    // Retry-After is a lower bound on the wait (seconds on the wire).
    expect(retried!.at - throttled!.at).toBeGreaterThanOrEqual(950);
  });

  it("retries 500 and 503 with backoff, then answers", async () => {
    const before = fake.requests.length;
    fake.inject({ kind: "status", status: 500 }, { times: 2 });
    fake.inject({ kind: "status", status: 503 });
    const { rows } = await source().rows(spec, kql);
    expect(rows.length).toBeGreaterThan(0);
    expect(fake.requests.slice(before).map((r) => r.status)).toEqual([500, 500, 503, 200]);
  });

  it("gives up after the bounded retries with the status in the error", async () => {
    fake.inject({ kind: "status", status: 500 }, { times: 10 });
    await expect(source().rows(spec, kql, "sts/audit")).rejects.toThrow(/query sts\/audit: HTTP 500/);
  });

  it("enforces the client timeout, retries a query that hung, and fails one that keeps hanging", async () => {
    fake.inject({ kind: "hang", ms: 1_500 });
    const before = fake.requests.length;
    const { rows } = await source({ timeoutMs: 300 }).rows(spec, kql);
    expect(rows.length).toBeGreaterThan(0);
    expect(fake.requests.slice(before).map((r) => r.fault ?? "none")).toEqual(["hang", "none"]);
    fake.inject({ kind: "hang", ms: 1_500 }, { times: 3 });
    await expect(source({ timeoutMs: 300, attempts: 2 }).rows(spec, kql, "sts/audit")).rejects.toThrow(/timed out after 300 ms/);
  });

  it("does not retry a 400 (a query the service rejects will not get better)", async () => {
    const before = fake.requests.length;
    fake.inject({ kind: "status", status: 400 });
    await expect(source().rows(spec, kql)).rejects.toThrow(/HTTP 400/);
    expect(fake.requests.length - before).toBe(1);
  });
});
