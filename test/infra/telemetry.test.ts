// Run telemetry (src/engine/telemetry.ts) and the KQL in docs/deploy.md that reads it: the
// lines a run writes, and the queries analysed by the Kusto language service against the
// Application Insights tables, using only fields the lines have.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kqlValidator } from "../support/kusto.js";
import { runRuleWithTelemetry, RUN_EVENT, WINDOW_EVENT, type RunRecord, type WindowRecord } from "../../src/engine/telemetry.js";
import type { EngineDeps } from "../../src/engine/run.js";
import type { LogSource } from "../../src/engine/ports.js";
import type { Repositories } from "../../src/store/repositories.js";
import { rules } from "../../src/rules/index.js";
import { frequencyOf } from "../../src/rules/rule.js";
import { LeaseHeld, type RuleState } from "../../src/model/rule-state.js";

const rule = rules.find((r) => !r.baseline)!;
const HOUR = frequencyOf(rule);
const T0 = Date.UTC(2026, 10, 22, 0, 0, 0);

function deps(options: { failOnWindowStart?: number; leaseHeld?: boolean } = {}) {
  // Another invocation's unexpired lease: acquiring it fails with LeaseHeld.
  const held = options.leaseHeld ? { lease: { owner: "another-invocation", until: T0 + 100 * HOUR } } : {};
  let state: RuleState = { windowEnd: T0, firstWindowStart: T0, dataSince: null, ...held };
  const ruleState = {
    get: async () => state,
    put: async (_id: string, next: RuleState) => (state = next),
  };
  const stores = {
    ruleState,
    allowlists: { all: async () => [] },
    incidents: { place: async () => ({ alerts: [], incidents: [] }) },
    baselines: { record: async () => undefined, load: async () => new Map() },
  } as unknown as Repositories;
  const source: LogSource = {
    rows: async (spec) => {
      if (options.failOnWindowStart !== undefined && spec.arrived.from === options.failOnWindowStart) throw new Error("Log Analytics: 503 Service Unavailable");
      return { rows: [], rejected: [{ origin: "query row 1", reason: "TimeGenerated: invalid" }] };
    },
    sightings: async () => ({ rows: [], rejected: [] }),
    earliest: async () => null,
  };
  const engine: EngineDeps = { source, stores, now: () => T0 + 5 * HOUR };
  return engine;
}

function capture() {
  const lines: { level: "info" | "error"; record: WindowRecord | RunRecord }[] = [];
  return {
    lines,
    logger: {
      info: (m: string) => lines.push({ level: "info", record: JSON.parse(m) }),
      error: (m: string) => lines.push({ level: "error", record: JSON.parse(m) }),
    },
  };
}

/** A clock that advances 250 ms per reading. */
const ticking = () => {
  let t = 0;
  return () => (t += 250);
};

describe("run telemetry", () => {
  it("writes one line per window and one per run, as JSON with the event first", async () => {
    const { lines, logger } = capture();
    const reports = await runRuleWithTelemetry(rule, deps(), { startAt: T0, until: T0 + 3 * HOUR }, logger, ticking());
    expect(reports).toHaveLength(3);
    expect(lines.map((l) => [l.level, l.record.event])).toEqual([
      ["info", WINDOW_EVENT],
      ["info", WINDOW_EVENT],
      ["info", WINDOW_EVENT],
      ["info", RUN_EVENT],
    ]);
    const first = lines[0]!.record as WindowRecord;
    expect(first).toMatchObject({
      ruleId: rule.meta.id,
      rule: rule.meta.name,
      windowStart: new Date(T0).toISOString(),
      windowEnd: new Date(T0 + HOUR).toISOString(),
      alerts: 0,
      incidents: 0,
      outcome: "ok",
      error: null,
    });
    expect(first.rowsRejected).toBeGreaterThan(0);
    expect(first.durationMs).toBeGreaterThan(0);
    expect(lines[3]!.record).toMatchObject({ windows: 3, outcome: "ok", until: new Date(T0 + 3 * HOUR).toISOString() });
    expect(JSON.stringify(lines[0]!.record).startsWith(`{"event":"${WINDOW_EVENT}"`)).toBe(true);
  });

  it("logs the failed window (from the unchanged checkpoint) at Error and rethrows", async () => {
    const { lines, logger } = capture();
    await expect(runRuleWithTelemetry(rule, deps({ failOnWindowStart: T0 + HOUR }), { startAt: T0, until: T0 + 3 * HOUR }, logger, ticking())).rejects.toThrow(/503/);
    expect(lines.map((l) => [l.level, l.record.event, l.record.outcome])).toEqual([
      ["info", WINDOW_EVENT, "ok"],
      ["error", WINDOW_EVENT, "error"],
      ["error", RUN_EVENT, "error"],
    ]);
    expect(lines[1]!.record).toMatchObject({ windowStart: new Date(T0 + HOUR).toISOString(), windowEnd: new Date(T0 + 2 * HOUR).toISOString() });
    expect((lines[1]!.record as WindowRecord).error).toMatch(/503 Service Unavailable/);
    expect(lines[2]!.record).toMatchObject({ windows: 1 });
  });

  it("a lease held by another invocation is busy, not a failure", async () => {
    const { lines, logger } = capture();
    await expect(runRuleWithTelemetry(rule, deps({ leaseHeld: true }), { startAt: T0, until: T0 + 3 * HOUR }, logger, ticking())).rejects.toBeInstanceOf(LeaseHeld);
    expect(lines.map((l) => [l.level, l.record.event, l.record.outcome])).toEqual([["info", RUN_EVENT, "busy"]]);
  });
});

// ---- The KQL in docs/deploy.md.

/** Kusto.Language over the Application Insights `traces` table and its workspace form `AppTraces`. */
function appInsightsValidator(): (query: string) => string[] {
  return kqlValidator(
    {
      traces: {
        timestamp: "datetime",
        message: "string",
        severityLevel: "int",
        itemType: "string",
        customDimensions: "dynamic",
        operation_Name: "string",
        operation_Id: "string",
        cloud_RoleName: "string",
      },
      AppTraces: { TimeGenerated: "datetime", Message: "string", SeverityLevel: "int", Properties: "dynamic", OperationName: "string", AppRoleName: "string" },
    },
    "AppInsights",
  );
}

describe("docs/deploy.md KQL", () => {
  const doc = readFileSync(new URL("../../docs/deploy.md", import.meta.url), "utf8");
  const queries = [...doc.matchAll(/```kusto\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it("has the 'did every rule run every hour?' query", () => {
    expect(queries.length).toBeGreaterThanOrEqual(1);
    expect(queries[0]).toMatch(/tokenwatch\.window/);
  });

  it("every query analyses cleanly against traces, also in its AppTraces form", () => {
    const validate = appInsightsValidator();
    const problems: string[] = [];
    for (const [i, q] of queries.entries()) {
      for (const p of validate(q)) problems.push(`query ${i + 1}: ${p}`);
      const workspaceForm = q.replace(/\btraces\b/g, "AppTraces").replace(/\bmessage\b/g, "Message").replace(/\btimestamp\b/g, "TimeGenerated");
      for (const p of validate(workspaceForm)) problems.push(`query ${i + 1} (AppTraces): ${p}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it("reads only fields the telemetry lines have", async () => {
    const { lines, logger } = capture();
    await runRuleWithTelemetry(rule, deps(), { startAt: T0, until: T0 + HOUR }, logger, ticking());
    const fields = new Set(lines.flatMap((l) => Object.keys(l.record)));
    const used = new Set(queries.flatMap((q) => [...q.matchAll(/\bd\.(\w+)/g)].map((m) => m[1]!)));
    expect([...used].filter((f) => !fields.has(f))).toEqual([]);
    for (const q of queries) for (const e of q.matchAll(/"(tokenwatch\.\w+)"/g)) expect([WINDOW_EVENT, RUN_EVENT]).toContain(e[1]);
  });
});
