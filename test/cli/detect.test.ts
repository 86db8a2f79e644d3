// `tokenwatch detect`, the replay contract, through the built CLI as a user runs it:
// `node dist/src/cli/main.js detect ...`. Runs marked `ownAzurite` have no storage setting
// and start (and stop) their own in-memory Azurite, as the contract says; the others point
// at one Azurite this file starts, each with its own table prefix (starting Azurite is most
// of a run's CPU). Either way runs are independent and may go in parallel.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplaySource } from "../../src/sources/replay.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { cleanupTempDirs, interactiveSignIn, nonInteractiveSignIn, stsAudit, tempDir, writeLogs } from "../support/replay-fixtures.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { solorigateStsRefreshToken } from "../../src/rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = join(ROOT, "dist/src/cli/main.js");
const SCENARIOS = join(ROOT, "test/fixtures/scenarios");
const FROM = "2026-11-01T00:00:00.000Z";
const TO = "2026-11-02T00:00:00.000Z";

const PIVOT = interactiveToNonInteractivePivot.meta.id;
const STS = stsRefreshTokenModification.meta.id;

let azurite: AzuriteTables;
beforeAll(async () => {
  // `npm test` builds first; a bare `vitest run` builds here when dist is missing. tsc
  // emits JavaScript even when another module has a type error, so its status is not
  // the test: the entry point existing is.
  if (!existsSync(MAIN)) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, stdio: "ignore" });
  expect(existsSync(MAIN), `${MAIN} missing: run npm run build`).toBe(true);
  azurite = await startAzurite();
}, 120_000);
afterAll(async () => {
  await azurite?.stop();
  await cleanupTempDirs();
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Up to five CLI processes run side by side (describe.concurrent), each loading the CLI and
 * running every rule's windows over Azurite; on a loaded 2-core machine a test of several
 * runs takes more than the suite's 60 s, though no run hangs.
 */
const CLI_TIMEOUT = 150_000;

let runs = 0;
const runId = Math.random().toString(36).slice(2, 8);

/** Runs the CLI against the shared Azurite (fresh tables), or with no storage setting at all. */
function cli(args: readonly string[], options: { ownAzurite?: boolean; env?: Record<string, string> } = {}): Promise<CliResult> {
  const env = { ...process.env, ...options.env };
  for (const name of ["TOKENWATCH_STORAGE_CONNECTION_STRING", "TOKENWATCH_STORAGE_TABLE_ENDPOINT", "TOKENWATCH_TABLE_PREFIX"]) delete env[name];
  if (!options.ownAzurite) {
    env.TOKENWATCH_STORAGE_CONNECTION_STRING = azurite.connectionString;
    env.TOKENWATCH_TABLE_PREFIX = `cli${runId}r${++runs}`;
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

interface Output {
  alerts: {
    id: string;
    ruleId: string;
    ruleName: string;
    severity: string;
    time: string;
    account: string;
    ip: string | null;
    details: Record<string, unknown>;
    incidentId?: string;
  }[];
  incidents: {
    id: string;
    ruleId: string;
    account: string;
    severity: string;
    status: string;
    firstAlertTime: string;
    lastAlertTime: string;
    alertIds: string[];
  }[];
  stats: { rowsRead: number; rowsRejected: number; windows: number; [k: string]: unknown };
}

/** A detect run that must succeed: exit 0, stdout exactly one JSON document. */
async function detectOk(args: readonly string[], options: { ownAzurite?: boolean; env?: Record<string, string> } = {}): Promise<{ output: Output; stderr: string }> {
  const result = await cli(["detect", ...args], options);
  expect(result.code, result.stderr).toBe(0);
  return { output: JSON.parse(result.stdout) as Output, stderr: result.stderr };
}

const key = (a: { ruleId: string; account: string; ip: string | null }) => `${a.ruleId}|${a.account.toLowerCase()}|${a.ip === null || a.ip === "" ? null : a.ip.toLowerCase()}`;

/** The lines of stderr that are not the usage text printed after a usage error. */
function reasonLines(stderr: string): string[] {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  const usage = lines.findIndex((l) => l.startsWith("usage:"));
  return usage === -1 ? lines : lines.slice(0, usage);
}

/** Asserts the shape of the output: every field the contract names, with its type. */
function expectContractShape(output: Output) {
  expect(Object.keys(output)).toEqual(expect.arrayContaining(["alerts", "incidents", "stats"]));
  for (const a of output.alerts) {
    expect(typeof a.id).toBe("string");
    expect(typeof a.ruleId).toBe("string");
    expect(typeof a.ruleName).toBe("string");
    expect(["Informational", "Low", "Medium", "High"]).toContain(a.severity);
    // ISO 8601 UTC: milliseconds, or the source's seven fraction digits (100-ns ticks) when they are not zero.
    expect(a.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.(\d{3}|\d{7})Z$/);
    expect(new Date(Date.parse(a.time)).toISOString().slice(0, 23)).toBe(a.time.slice(0, 23));
    expect(a.account).toBe(a.account.toLowerCase());
    expect(a.ip === null || typeof a.ip === "string").toBe(true);
    expect(typeof a.details).toBe("object");
  }
  const alertIds = new Set(output.alerts.map((a) => a.id));
  expect(alertIds.size).toBe(output.alerts.length);
  for (const i of output.incidents) {
    for (const f of ["id", "ruleId", "account", "severity", "status", "firstAlertTime", "lastAlertTime"] as const) expect(typeof i[f]).toBe("string");
    expect(i.alertIds.length).toBeGreaterThan(0);
    expect(Date.parse(i.firstAlertTime)).toBeLessThanOrEqual(Date.parse(i.lastAlertTime));
  }
  // Every alert is in exactly one of the incidents reported.
  const owners = output.incidents.flatMap((i) => i.alertIds).filter((id) => alertIds.has(id));
  expect(owners.sort()).toEqual([...alertIds].sort());
  for (const f of ["rowsRead", "rowsRejected", "windows"] as const) expect(typeof output.stats[f]).toBe("number");
}

interface Expected {
  from: string;
  to: string;
  alerts: { ruleId: string; account: string; ip: string | null; time?: string; exactlyOnce?: boolean }[];
  incidents?: { ruleId: string; account: string; count: number }[];
  allowExtra?: boolean;
  minRejected?: number;
  maxRejected?: number;
}

/** Incidents per (rule, account) the public scenarios imply: one each. */
const SCENARIO_INCIDENTS: Record<string, { ruleId: string; account: string; count: number }[]> = {
  "intune-new-ip-and-asn": [{ ruleId: intuneTokenReuse.meta.id, account: "alice@contoso.com", count: 1 }],
  "pivot-basic": [{ ruleId: PIVOT, account: "dan@contoso.com", count: 1 }],
  "solorigate-cloudappevents-basic": [{ ruleId: solorigateStsRefreshToken.meta.id, account: "evil app", count: 1 }],
  "sts-auditlogs-basic": [{ ruleId: STS, account: "evil app", count: 1 }],
};

describe.concurrent("tokenwatch detect: public scenarios (copied into test/fixtures/scenarios)", { timeout: CLI_TIMEOUT }, async () => {
  const names = (await readdir(SCENARIOS, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();

  it("has the four public scenarios, and the project's own", () => {
    expect(names).toEqual(expect.arrayContaining(["intune-new-ip-and-asn", "pivot-basic", "solorigate-cloudappevents-basic", "sts-auditlogs-basic"]));
    expect(names).toEqual(expect.arrayContaining(["incidents-late-alert-regroups", "intune-learning-judges-known-users", "intune-late-row-keeps-last-seen", "pivot-100ns-bounds"]));
  });

  it("intune-learning-judges-known-users: bob's sign-in, held back while the tenant learns, is counted and said", async () => {
    const dir = join(SCENARIOS, "intune-learning-judges-known-users");
    const exp = JSON.parse(await readFile(join(dir, "expected.json"), "utf8")) as Expected;
    const { output, stderr } = await detectOk(["--logs", join(dir, "logs"), "--from", exp.from, "--to", exp.to]);
    const intune = (output.stats.rules as Record<string, { baselineEstablished: boolean; eventsHeldBack: number }>)[intuneTokenReuse.meta.id]!;
    expect(intune).toMatchObject({ baselineEstablished: false, eventsHeldBack: 1 });
    expect(stderr).toMatch(/1 sign-ins of users without a baseline held back/);
  });

  it("pivot-100ns-bounds: alert times keep the source's 100-ns ticks", async () => {
    const dir = join(SCENARIOS, "pivot-100ns-bounds");
    const exp = JSON.parse(await readFile(join(dir, "expected.json"), "utf8")) as Expected;
    const { output } = await detectOk(["--logs", join(dir, "logs"), "--from", exp.from, "--to", exp.to]);
    expect(output.alerts.map((a) => a.time).sort()).toEqual(["2026-11-01T09:11:00.9999999Z", "2026-11-01T11:10:00.1234567Z"]);
  });

  it.each(names)("%s: the expected alerts exactly, via --out FILE", async (name) => {
    const dir = join(SCENARIOS, name);
    const exp = JSON.parse(await readFile(join(dir, "expected.json"), "utf8")) as Expected;
    const out = join(await tempDir(), "out.json");
    const args = ["detect", "--logs", join(dir, "logs"), "--from", exp.from, "--to", exp.to, "--out", out];
    if (existsSync(join(dir, "allowlist.json"))) args.push("--allowlist", join(dir, "allowlist.json"));
    const result = await cli(args);
    expect(result.code, result.stderr).toBe(0);
    // With --out, stdout stays empty; progress still goes to stderr.
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/windows/);
    const output = JSON.parse(await readFile(out, "utf8")) as Output;
    expectContractShape(output);

    for (const e of exp.alerts) {
      const hits = output.alerts.filter((a) => key(a) === key(e));
      expect(hits.filter((a) => !e.time || Date.parse(a.time) === Date.parse(e.time)).length, `missing ${key(e)}`).toBeGreaterThan(0);
      if (e.exactlyOnce) expect(hits, `${key(e)} exactly once`).toHaveLength(1);
    }
    if (!exp.allowExtra) expect([...new Set(output.alerts.map(key))].sort()).toEqual([...new Set(exp.alerts.map(key))].sort());
    for (const i of [...(exp.incidents ?? []), ...(SCENARIO_INCIDENTS[name] ?? [])]) {
      const n = output.incidents.filter((x) => x.ruleId === i.ruleId && x.account.toLowerCase() === i.account).length;
      expect(n, `incidents of ${i.ruleId}|${i.account}`).toBe(i.count);
    }
    if (exp.minRejected !== undefined) expect(output.stats.rowsRejected).toBeGreaterThanOrEqual(exp.minRejected);
    if (exp.maxRejected !== undefined) expect(output.stats.rowsRejected).toBeLessThanOrEqual(exp.maxRejected);
  });
});

describe.concurrent("tokenwatch detect: output and exit status", { timeout: CLI_TIMEOUT }, () => {
  it("writes nothing but one JSON document to stdout, progress to stderr, and exits 0 with alerts", async () => {
    // No storage setting: the command starts its own Azurite, and says nothing of it on stdout.
    const result = await cli(["detect", "--logs", join(SCENARIOS, "pivot-basic/logs"), "--from", FROM, "--to", TO], { ownAzurite: true });
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as Output; // throws on anything but JSON
    expect(result.stdout.trim().startsWith("{")).toBe(true);
    expect(output.alerts.map(key)).toEqual([`${PIVOT}|dan@contoso.com|203.0.113.90`]);
    expect(output.alerts[0]!.time).toBe("2026-11-01T09:40:00.000Z");
    expect(output.stats.windows).toBeGreaterThan(0);
    expect(output.stats.rowsRead).toBe(4);
    expect(output.stats.rowsRejected).toBe(0);
    expect(result.stderr).toMatch(/Interactive to Non-Interactive Token Theft Pivot/);
    expect(result.stderr).not.toContain('"alerts"');
    expectContractShape(output);
  });

  it("--allowlist: a network list holding the pivot's non-interactive IP as a /24 suppresses the alert", async () => {
    const file = join(await tempDir(), "allowlist.json");
    await writeFile(file, JSON.stringify({ network: ["203.0.113.0/24", "2001:db8::/32"] }));
    const { output } = await detectOk(["--logs", join(SCENARIOS, "pivot-basic/logs"), "--from", FROM, "--to", TO, "--allowlist", file]);
    expect(output.alerts).toEqual([]);
    expect(output.incidents).toEqual([]);
  });

  it("--allowlist: principals suppress the STS alert of an allowlisted initiator", async () => {
    const file = join(await tempDir(), "allowlist.json");
    await writeFile(file, JSON.stringify({ principals: ["EVIL APP", "Microsoft Cloud App Security"] }));
    const { output } = await detectOk(["--logs", join(SCENARIOS, "sts-auditlogs-basic/logs"), "--from", FROM, "--to", TO, "--allowlist", file]);
    expect(output.alerts).toEqual([]);
  });

  it("--allowlist with an invalid CIDR: exit non-zero, one line naming the entry, nothing on stdout", async () => {
    const file = join(await tempDir(), "allowlist.json");
    await writeFile(file, JSON.stringify({ network: ["203.0.113.0/24", "10.0.0.0/33"] }));
    const result = await cli(["detect", "--logs", join(SCENARIOS, "pivot-basic/logs"), "--from", FROM, "--to", TO, "--allowlist", file]);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stdout).toBe("");
    const reason = reasonLines(result.stderr);
    expect(reason).toHaveLength(1);
    expect(reason[0]).toContain("10.0.0.0/33");
  });

  it("--allowlist naming an unknown list, or holding invalid JSON: exit non-zero with one line", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "unknown.json"), JSON.stringify({ networks: ["203.0.113.0/24"] }));
    await writeFile(join(dir, "broken.json"), "{ network: [");
    for (const file of ["unknown.json", "broken.json"]) {
      const result = await cli(["detect", "--logs", join(SCENARIOS, "pivot-basic/logs"), "--from", FROM, "--to", TO, "--allowlist", join(dir, file)]);
      expect(result.code, file).not.toBe(0);
      expect(result.stdout).toBe("");
      expect(reasonLines(result.stderr), file).toHaveLength(1);
      expect(reasonLines(result.stderr)[0]).toContain(file);
    }
  });

  it("bad rows are skipped, counted and reported with file:line; the run goes on and exits 0", async () => {
    const good1 = stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" });
    const good2 = stsAudit({ time: "2026-11-01T15:00:00Z", app: "Other App", asText: true });
    const { TimeGenerated: _dropped, ...noTime } = stsAudit({ time: "2026-11-01T10:00:00Z", app: "Evil App" });
    const badDynamic = { ...stsAudit({ time: "2026-11-01T11:00:00Z", app: "Evil App" }), InitiatedBy: '{"app": {"displayName": "Evil App"' };
    const dir = await writeLogs({
      AuditLogs: [good1, '{"TimeGenerated": "2026-11-01T09:20:00Z", "OperationName": ', noTime, badDynamic, "", good2, "[1, 2, 3]"],
      "Foo.ndjson": [{ TimeGenerated: "2026-11-01T09:00:00Z", Bar: 1 }, { TimeGenerated: "2026-11-01T09:05:00Z", Bar: 2 }],
    });
    const { output, stderr } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(output.alerts.map((a) => a.account).sort()).toEqual(["evil app", "other app"]);
    // Lines 2 (not JSON), 3 (no TimeGenerated), 4 (InitiatedBy not JSON), 7 (not an object); Foo's 2 rows.
    expect(output.stats.rowsRejected).toBe(6);
    expect(output.stats.rowsRead).toBe(8);
    for (const where of ["AuditLogs.ndjson:2", "AuditLogs.ndjson:3", "AuditLogs.ndjson:4", "AuditLogs.ndjson:7", "Foo.ndjson:1", "Foo.ndjson:2"]) expect(stderr).toContain(where);
    expect(stderr).toMatch(/AuditLogs\.ndjson:3\b.*TimeGenerated/);
    expect(stderr).toMatch(/AuditLogs\.ndjson:4\b.*InitiatedBy/);
    expect(stderr).not.toContain("AuditLogs.ndjson:1:");
    expect(stderr).not.toContain("AuditLogs.ndjson:5");
    expect(stderr).not.toContain("AuditLogs.ndjson:6");
  });

  it("reads files as Windows tools write them: a UTF-8 byte order mark and CRLF line ends", async () => {
    const dir = await tempDir();
    const rows = [stsAudit({ time: "2026-11-01T09:15:00Z", app: "Bom App" }), stsAudit({ time: "2026-11-01T10:15:00Z", app: "Crlf App" })];
    await writeFile(join(dir, "AuditLogs.ndjson"), "\uFEFF" + rows.map((r) => JSON.stringify(r)).join("\r\n") + "\r\n");
    const source = await ReplaySource.open(dir);
    expect(source.load.rejected).toEqual([]);
    expect(source.load.rowsRead).toBe(2);
  });

  it("accepts the .jsonl extension", async () => {
    const dir = await writeLogs({
      "SigninLogs.jsonl": [interactiveSignIn({ time: "2026-11-01T09:10:00Z", upn: "Dan@Contoso.com", ip: "198.18.1.10", country: "US" })],
      "AADNonInteractiveUserSignInLogs.jsonl": [nonInteractiveSignIn({ time: "2026-11-01T09:40:00Z", upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE" })],
      "AuditLogs.jsonl": [stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" })],
    });
    const { output } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(output.alerts.map(key).sort()).toEqual([`${STS}|evil app|null`, `${PIVOT}|dan@contoso.com|203.0.113.90`].sort());
    expect(output.stats.rowsRejected).toBe(0);
  });

  it("an empty logs dir with --allow-empty: no alerts, no incidents, exit 0", async () => {
    const dir = await tempDir();
    const { output } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO, "--allow-empty"], { ownAzurite: true });
    expect(output.alerts).toEqual([]);
    expect(output.incidents).toEqual([]);
    expect(output.stats.rowsRead).toBe(0);
    expect(output.stats.rowsRejected).toBe(0);
  });

  it("rows before --from are history (no alert); a late row of the range arriving after --to is still evaluated once", async () => {
    const dir = await writeLogs({
      AuditLogs: [
        stsAudit({ time: "2026-10-31T23:00:00Z", app: "Before App" }),
        stsAudit({ time: "2026-11-01T23:50:00Z", app: "Late App", received: "2026-11-02T02:10:00Z" }),
        stsAudit({ time: "2026-11-02T00:00:00Z", app: "After App" }),
      ],
    });
    const { output } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(output.alerts.map((a) => `${a.account}@${a.time}`)).toEqual(["late app@2026-11-01T23:50:00.000Z"]);
  });

  it("unaligned --from/--to: exactly the events with TimeGenerated in [from, to) raise alerts", async () => {
    const dir = await writeLogs({
      AuditLogs: ["00:10", "00:30", "00:40", "23:20", "23:30", "23:45"].map((t) => stsAudit({ time: `2026-11-01T${t}:00Z`, app: `App ${t}` })),
    });
    const { output } = await detectOk(["--logs", dir, "--from", "2026-11-01T00:30:00Z", "--to", "2026-11-01T23:30:00+00:00"]);
    expect(output.alerts.map((a) => a.account)).toEqual(["app 00:30", "app 00:40", "app 23:20"]);
  });

  it("a row arriving days late is evaluated once within TOKENWATCH_MAX_LATENESS_HOURS, and reported, not evaluated, past it, as a live run", async () => {
    const dir = await writeLogs({
      AuditLogs: [
        stsAudit({ time: "2026-11-01T09:15:00Z", app: "Very Late App", received: "2026-11-04T12:10:00Z" }), // 3 days late
        stsAudit({ time: "2026-11-01T10:15:00Z", app: "Very Late App", received: "2026-11-20T00:00:00Z" }), // 19 days late
      ],
    });
    const byDefault = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(byDefault.output.alerts.map((a) => `${a.account}@${a.time}`)).toEqual(["very late app@2026-11-01T09:15:00.000Z"]);
    expect(byDefault.output.stats.rowsTooLate).toBe(1);
    expect(byDefault.stderr).toMatch(/1 rows arrived more than 168 h after their TimeGenerated and were not evaluated/);
    const longer = await detectOk(["--logs", dir, "--from", FROM, "--to", TO], { env: { TOKENWATCH_MAX_LATENESS_HOURS: String(30 * 24) } });
    expect(longer.output.alerts.map((a) => `${a.account}@${a.time}`)).toEqual(["very late app@2026-11-01T09:15:00.000Z", "very late app@2026-11-01T10:15:00.000Z"]);
    expect(longer.output.stats.rowsTooLate).toBe(0);
    expect(longer.output.incidents).toHaveLength(1);
    // The bound is the window's look-back: 2 h short of it is still seen, 2 h past it is not.
    const edge = await writeLogs({
      AuditLogs: [
        stsAudit({ time: "2026-11-01T09:15:00Z", app: "Edge App", received: "2026-11-08T07:15:00Z" }),
        stsAudit({ time: "2026-11-01T10:15:00Z", app: "Edge App", received: "2026-11-08T12:15:00Z" }),
      ],
    });
    const atEdge = await detectOk(["--logs", edge, "--from", FROM, "--to", TO]);
    expect(atEdge.output.alerts.map((a) => a.time)).toEqual(["2026-11-01T09:15:00.000Z"]);
    expect(atEdge.output.stats.rowsTooLate).toBe(1);
  });
});

describe.concurrent("tokenwatch detect: unusable arguments exit 2 with a one-line reason", { timeout: CLI_TIMEOUT }, () => {
  const logs = join(SCENARIOS, "pivot-basic/logs");
  it.each([
    ["missing --from", ["--logs", logs, "--to", TO], /--from/],
    ["--from after --to", ["--logs", logs, "--from", TO, "--to", FROM], /--from/],
    ["--from not a time", ["--logs", logs, "--from", "yesterday", "--to", TO], /--from/],
    ["nonexistent --logs dir", ["--logs", join(logs, "does-not-exist"), "--from", FROM, "--to", TO], /does-not-exist/],
    ["unknown flag", ["--logs", logs, "--from", FROM, "--to", TO, "--bogus", "1"], /bogus/],
  ] as const)("%s", async (_name, args, mentions) => {
    const result = await cli(["detect", ...args]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const reason = reasonLines(result.stderr);
    expect(reason, result.stderr).toHaveLength(1);
    expect(reason[0]).toMatch(mentions);
  });
});

/** A detect run that must fail with exit 2 and one line of reason, nothing on stdout; returns that line and the warnings before it. */
async function detectRefused(args: readonly string[]): Promise<{ reason: string; warnings: string[] }> {
  const result = await cli(["detect", ...args]);
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe("");
  const lines = result.stderr.split("\n").filter((l) => l !== "");
  const reasons = lines.filter((l) => l.startsWith("tokenwatch: "));
  expect(reasons, result.stderr).toHaveLength(1);
  expect(lines.at(-1)).toBe(reasons[0]);
  return { reason: reasons[0]!, warnings: lines.filter((l) => l.startsWith("warning: ")) };
}

describe.concurrent("tokenwatch detect: no silent all-clear", { timeout: CLI_TIMEOUT }, () => {
  const pivotRows = () => [interactiveSignIn({ time: "2026-11-01T09:10:00Z", upn: "Dan@Contoso.com", ip: "198.18.1.10", country: "US" })];

  it("an empty folder: exit 2, one line saying no rows were read", async () => {
    const { reason } = await detectRefused(["--logs", await tempDir(), "--from", FROM, "--to", TO]);
    expect(reason).toMatch(/no rows read from .*the folder is empty.*--allow-empty/);
  });

  it("an export one folder too deep: exit 2, and the line names the folder to pass instead", async () => {
    const top = await tempDir();
    await mkdir(join(top, "export"));
    await writeLogs({ SigninLogs: pivotRows() }, join(top, "export"));
    const { reason, warnings } = await detectRefused(["--logs", top, "--from", FROM, "--to", TO]);
    expect(reason).toContain(`did you mean --logs ${join(top, "export")}?`);
    expect(warnings.join("\n")).toContain("export/ not read");
  });

  it("AuditLogs.json and SigninLogs.csv: exit 2, every file named, with the file name meant", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "AuditLogs.json"), `${JSON.stringify(stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" }))}\n`);
    await writeFile(join(dir, "SigninLogs.csv"), "TimeGenerated,UserPrincipalName\n2026-11-01T09:10:00Z,dan@contoso.com\n");
    await writeFile(join(dir, "README.txt"), "exported by hand\n");
    const { reason, warnings } = await detectRefused(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(reason).toContain("did you mean AuditLogs.ndjson?");
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/AuditLogs\.json not read.*did you mean AuditLogs\.ndjson\?/);
    expect(warnings[1]).toMatch(/README\.txt not read/);
    expect(warnings[2]).toMatch(/SigninLogs\.csv not read.*did you mean SigninLogs\.ndjson\?/);
  });

  it("a well-formed export with a stray file: the run goes on, the stray file is named", async () => {
    const dir = await writeLogs({ AuditLogs: [stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" })] });
    await writeFile(join(dir, "notes.md"), "# notes\n");
    const { output, stderr } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(output.alerts.map((a) => a.account)).toEqual(["evil app"]);
    expect(stderr).toMatch(/warning: .*notes\.md not read/);
  });

  it("table file names in any case are read as their table: signinlogs.ndjson is SigninLogs", async () => {
    const dir = await writeLogs({
      "signinlogs.ndjson": pivotRows(),
      "AADNONINTERACTIVEUSERSIGNINLOGS.jsonl": [nonInteractiveSignIn({ time: "2026-11-01T09:40:00Z", upn: "dan@contoso.com", ip: "203.0.113.90", country: "DE" })],
    });
    const { output, stderr } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(output.alerts.map(key)).toEqual([`${PIVOT}|dan@contoso.com|203.0.113.90`]);
    expect(output.stats.rowsRejected).toBe(0);
    expect(stderr).not.toContain("warning");
  });

  it("every row of a table rejected: exit 2 with one line naming the file, a few warnings and one count", async () => {
    const dir = await writeLogs({
      AuditLogs: [stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" })],
      // A CSV export renamed to .ndjson: no line is a JSON row.
      CloudAppEvents: Array.from({ length: 40 }, (_, i) => `2026-11-01T09:${String(i).padStart(2, "0")}:00Z,UpdateStsRefreshToken.,${i}`),
    });
    const { reason, warnings } = await detectRefused(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(reason).toMatch(/every row of CloudAppEvents\.ndjson \(40\) was rejected.*CloudAppEvents\.ndjson:1/);
    expect(warnings.filter((w) => /CloudAppEvents\.ndjson:\d+/.test(w))).toHaveLength(5);
    expect(warnings.filter((w) => w.includes("35 more rows rejected (40 of 40 in all)"))).toHaveLength(1);
  });

  it("many bad rows among good ones: five warnings, one count, exit 0", async () => {
    const good = stsAudit({ time: "2026-11-01T09:15:00Z", app: "Evil App" });
    const dir = await writeLogs({ AuditLogs: [good, ...Array.from({ length: 200 }, () => "not json")] });
    const { output, stderr } = await detectOk(["--logs", dir, "--from", FROM, "--to", TO]);
    expect(output.stats.rowsRejected).toBe(200);
    expect(stderr.split("\n").filter((l) => l.startsWith("warning:"))).toHaveLength(6);
    expect(stderr).toContain("AuditLogs.ndjson: 195 more rows rejected (200 of 201 in all)");
  });

  it.each([
    ["a missing folder", (dir: string) => join(dir, "no-such-folder", "out.json"), /does not exist/],
    ["a folder", (dir: string) => dir, /is a folder/],
  ])("--out naming %s fails before the run, with one line", async (_name, out, mentions) => {
    const dir = await tempDir();
    const result = await cli(["detect", "--logs", join(SCENARIOS, "pivot-basic/logs"), "--from", FROM, "--to", TO, "--out", out(dir)]);
    expect(result.code).toBe(2);
    expect(reasonLines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(mentions);
    // Refused while parsing arguments: no rule ran (each rule's run ends with a "windows" line).
    expect(result.stderr).not.toMatch(/windows/);
  });
});

describe.concurrent("tokenwatch detect: output formats", { timeout: CLI_TIMEOUT }, () => {
  const args = ["--logs", join(SCENARIOS, "pivot-basic/logs"), "--from", FROM, "--to", TO];

  it("--format table prints the per-account summary; --out still gets the contract's JSON", async () => {
    const out = join(await tempDir(), "out.json");
    const result = await cli(["detect", ...args, "--format", "table", "--out", out]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/1 incidents, 1 alerts, 1 accounts/);
    expect(result.stdout).toMatch(/High {4}dan@contoso\.com/);
    expect(result.stdout).toContain("- Interactive to Non-Interactive Token Theft Pivot");
    expect((JSON.parse(await readFile(out, "utf8")) as Output).alerts).toHaveLength(1);
  });

  it("--format json and a pipe give the same document", async () => {
    const [piped, asked] = await Promise.all([cli(["detect", ...args]), cli(["detect", ...args, "--format", "json"])]);
    const strip = (text: string) => JSON.stringify({ ...(JSON.parse(text) as Output), alerts: [], incidents: [] });
    expect(strip(asked.stdout)).toBe(strip(piped.stdout));
    expect((JSON.parse(asked.stdout) as Output).alerts.map(key)).toEqual((JSON.parse(piped.stdout) as Output).alerts.map(key));
  });

  it("--format yaml: exit 2 naming the choices", async () => {
    const result = await cli(["detect", ...args, "--format", "yaml"]);
    expect(result.code).toBe(2);
    expect(reasonLines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/json, table/);
  });

  it("on a terminal: progress on stderr (windows done of total, rows/s) and the summary by default", () => {
    // `script` gives the command a pseudo-terminal for stdout and stderr alike.
    const env = { ...process.env, TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString, TOKENWATCH_TABLE_PREFIX: `cli${runId}tty` };
    const command = [process.execPath, MAIN, "detect", ...args].map((a) => `'${a}'`).join(" ");
    const run = spawnSync("script", ["-qec", command, "/dev/null"], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/windows \d+ of \d+, [\d,]+ rows\/s/);
    expect(run.stdout).toMatch(/1 incidents, 1 alerts, 1 accounts/);
    expect(run.stdout).not.toContain('"alerts"');
  });
});

describe("fixtures", () => {
  it("test/fixtures/scenarios are a copy of the shared scenarios when those are present", async () => {
    const shared = resolve(ROOT, "../shared/scenarios");
    if (!existsSync(shared)) return;
    for (const name of await readdir(SCENARIOS)) {
      if (!existsSync(join(shared, name))) continue;
      expect(await readFile(join(SCENARIOS, name, "expected.json"), "utf8")).toBe(await readFile(join(shared, name, "expected.json"), "utf8"));
    }
  });
});
