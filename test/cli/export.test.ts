// `tokenwatch export` and `detect --workspace` through the production LogAnalyticsSource and
// LogsQueryClient over HTTPS, against the local query API (test/support/fake-log-analytics.ts).
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { detect, parseDetectArgs } from "../../src/cli/detect.js";
import { exportKql, exportLogs, parseExportArgs } from "../../src/cli/export.js";
import { InputError, UsageError } from "../../src/cli/usage.js";
import { TABLE_COLUMNS } from "../../src/model/rows.js";
import { FakeLogAnalytics, type Row } from "../support/fake-log-analytics.js";
import { fakeSource } from "../support/detection-harness.js";
import { cleanupTempDirs, interactiveSignIn, nonInteractiveSignIn, stsAudit, tempDir } from "../support/replay-fixtures.js";
import { validateKql } from "../support/kusto.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const FROM = Date.parse("2026-11-01T00:00:00Z");
const TO = Date.parse("2026-11-02T00:00:00Z");
const PIVOT = interactiveToNonInteractivePivot.meta.id;
const STS = stsRefreshTokenModification.meta.id;

let fake: FakeLogAnalytics;
beforeEach(async () => {
  fake = await FakeLogAnalytics.start();
});
afterEach(async () => fake.close());
afterAll(cleanupTempDirs);

const rowsOf = (text: string) => text.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Row);

function tenant() {
  fake.add("SigninLogs", [interactiveSignIn({ time: "2026-11-01T09:10:00Z", upn: "Dan@Contoso.com", ip: "198.18.1.10", country: "US" })]);
  fake.add("AADNonInteractiveUserSignInLogs", [
    nonInteractiveSignIn({ time: "2026-11-01T09:40:00Z", upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE" }),
    // Arrived 3 hours late: exported with its real arrival time.
    nonInteractiveSignIn({ time: "2026-11-01T20:00:00Z", upn: "erin@contoso.com", ip: "198.18.1.11", country: "US", received: "2026-11-01T23:00:00Z" }),
  ]);
  fake.add(
    "AuditLogs",
    Array.from({ length: 7 }, (_, i) => stsAudit({ time: `2026-11-01T${String(10 + i).padStart(2, "0")}:15:00Z`, app: `App ${i}` })),
  );
}

describe("tokenwatch export", () => {
  it("writes the replay layout: only the rules' columns, _TimeReceived from ingestion_time(), a table the workspace lacks named and skipped", async () => {
    tenant();
    fake.missingTables.add("CloudAppEvents");
    const out = join(await tempDir(), "export");
    const lines: string[] = [];
    const summary = await exportLogs(fakeSource(fake), { workspace: fake.workspaceId, from: FROM, to: TO, out }, (l) => lines.push(l));
    expect(summary.tables).toEqual({ SigninLogs: 1, AADNonInteractiveUserSignInLogs: 2, AuditLogs: 7, CloudAppEvents: null });
    expect((await readdir(out)).sort()).toEqual(["AADNonInteractiveUserSignInLogs.ndjson", "AuditLogs.ndjson", "SigninLogs.ndjson"]);
    expect(lines.join("\n")).toMatch(/CloudAppEvents does not exist in the workspace/);

    const nonInteractive = rowsOf(await readFile(join(out, "AADNonInteractiveUserSignInLogs.ndjson"), "utf8"));
    expect(Object.keys(nonInteractive[0]!).sort()).toEqual([...TABLE_COLUMNS.AADNonInteractiveUserSignInLogs, "_TimeReceived"].sort());
    expect(nonInteractive.map((r) => [r.UserPrincipalName, r._TimeReceived])).toEqual([
      ["dan@contoso.com", "2026-11-01T09:40:00.000Z"],
      ["erin@contoso.com", "2026-11-01T23:00:00.000Z"],
    ]);
    // Every query projected the rules' columns and ingestion_time(), nothing else.
    for (const r of fake.requests) expect(r.query?.columns.map(([name]) => name).sort()).toEqual([...TABLE_COLUMNS[r.query!.table as keyof typeof TABLE_COLUMNS], "_TimeReceived"].sort());
  });

  it("splits a day that reaches the row limit into queries that each fit, losing no row", async () => {
    tenant();
    fake.rowLimit = 3;
    const out = await tempDir();
    const summary = await exportLogs(fakeSource(fake, { rowLimit: 3 }), { workspace: fake.workspaceId, from: FROM, to: TO, out }, () => undefined);
    expect(summary.tables.AuditLogs).toBe(7);
    expect(rowsOf(await readFile(join(out, "AuditLogs.ndjson"), "utf8")).map((r) => (r.InitiatedBy as { app: { displayName: string } }).app.displayName)).toEqual(
      Array.from({ length: 7 }, (_, i) => `App ${i}`),
    );
    expect(fake.requests.filter((r) => r.query?.table === "AuditLogs").length).toBeGreaterThan(2);
    expect(fake.requests.every((r) => r.rows <= 3)).toBe(true);
  });

  // Two whole-day detect runs side by side, each starting its own Azurite (as the command does
  // without storage settings): more than the suite's 60 s on a loaded 2-core machine.
  it("an export replays to the same alerts as detect --workspace finds live", async () => {
    tenant();
    const out = await tempDir();
    await exportLogs(fakeSource(fake), { workspace: fake.workspaceId, from: FROM, to: TO, out }, () => undefined);
    const [replayed, live] = await Promise.all([
      detect({ logs: out, from: FROM, to: TO, log: () => undefined }),
      detect({ workspace: fake.workspaceId, source: fakeSource(fake), from: FROM, to: TO, log: () => undefined }),
    ]);
    const keys = (o: typeof live) => o.alerts.map((a) => `${a.ruleId}|${a.account}|${a.ip}|${a.time}`).sort();
    expect(keys(live)).toEqual(keys(replayed));
    expect(live.alerts.filter((a) => a.ruleId === PIVOT).map((a) => a.account)).toEqual(["dan@contoso.com"]);
    expect(live.alerts.filter((a) => a.ruleId === STS)).toHaveLength(7);
    expect(live.stats.rowsRead).toBeGreaterThan(0);
  }, 150_000);

  it("the export KQL is valid against the Log Analytics schemas", () => {
    for (const table of Object.keys(TABLE_COLUMNS) as (keyof typeof TABLE_COLUMNS)[])
      expect(validateKql(exportKql({ table, time: { from: FROM, to: TO }, arrived: { to: TO + 86_400_000 } }))).toEqual([]);
  });
});

describe("detect --workspace", () => {
  it("a workspace with no rows in the range: exit 2's error, not an all-clear", async () => {
    await expect(detect({ workspace: fake.workspaceId, source: fakeSource(fake), from: FROM, to: TO, log: () => undefined })).rejects.toThrow(InputError);
  });

  it("a table the workspace lacks names the rule and how to switch it off", async () => {
    tenant();
    fake.missingTables.add("CloudAppEvents");
    await expect(detect({ workspace: fake.workspaceId, source: fakeSource(fake), from: FROM, to: TO, log: () => undefined })).rejects.toThrow(
      /UpdateStsRefreshToken\[Solorigate\]: table CloudAppEvents does not exist.*TOKENWATCH_DISABLED_RULES=634dfbd6/,
    );
  });

  it("arguments: --logs or --workspace, a workspace id is a GUID", async () => {
    const range = { from: "2026-11-01T00:00:00Z", to: "2026-11-02T00:00:00Z" };
    expect(await parseDetectArgs({ ...range, workspace: fake.workspaceId })).toMatchObject({ workspace: fake.workspaceId });
    await expect(parseDetectArgs({ ...range, workspace: "contoso" })).rejects.toThrow(/not a workspace id/);
    await expect(parseDetectArgs({ ...range, workspace: fake.workspaceId, logs: "." })).rejects.toThrow(UsageError);
    expect(() => parseExportArgs({ ...range, workspace: fake.workspaceId })).toThrow(/--out DIR is required/);
    expect(() => parseExportArgs({ from: "2026-09-01T00:00:00Z", to: "2026-11-01T00:00:00Z", workspace: fake.workspaceId, out: "x" })).toThrow(/more than 45 days/);
  });
});
