import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TABLES, simulateTenant, type SimulationResult } from "../../src/sim/simulate.js";
import { RULES, evaluate, has, type Row } from "./reference.js";

const OPTIONS = { users: 40, days: 1, historyDays: 14 } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const root = mkdtempSync(join(tmpdir(), "tokenwatch-sim-"));
const dirA = join(root, "a");
const dirB = join(root, "b");
let result: SimulationResult;
let tables: Record<string, Row[]>;

const readLines = (dir: string, table: string): string[] =>
  readFileSync(join(dir, `${table}.ndjson`), "utf8").split("\n").filter((l) => l !== "");
const parse = (v: unknown): unknown => (typeof v === "string" ? JSON.parse(v) : v);
const at = (iso: string): number => Date.parse(iso);
const key = (a: { ruleId: string; account: string; ip: string | null }) => `${a.ruleId}|${a.account}|${a.ip}`;

beforeAll(async () => {
  result = await simulateTenant(dirA, OPTIONS);
  tables = Object.fromEntries(TABLES.map((t) => [t, readLines(dirA, t).map((l) => JSON.parse(l) as Row)]));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("simulateTenant", () => {
  it("is deterministic: the same options give byte-identical files", async () => {
    const again = await simulateTenant(dirB, OPTIONS);
    expect(again).toEqual(result);
    for (const file of [...TABLES.map((t) => `${t}.ndjson`), "manifest.json"]) {
      expect(readFileSync(join(dirB, file)).equals(readFileSync(join(dirA, file))), file).toBe(true);
    }
  });

  it("writes a manifest that matches the result and the files", () => {
    expect(JSON.parse(readFileSync(join(dirA, "manifest.json"), "utf8"))).toEqual(result);
    expect(result.to).toBe("2026-11-02T00:00:00.000Z");
    expect(result.from).toBe("2026-11-01T00:00:00.000Z");
    for (const t of TABLES) {
      expect(result.rows[t], t).toBeGreaterThan(0);
      expect(tables[t]!.length, t).toBe(result.rows[t]);
    }
  });

  it("writes rows inside the range, in time order, each arriving after it happened", () => {
    const start = at(result.from) - OPTIONS.historyDays * DAY;
    const end = at(result.to);
    const problems: string[] = [];
    for (const t of TABLES) {
      let previous = start;
      for (const row of tables[t]!) {
        const generated = at(String(row.TimeGenerated));
        const received = at(String(row._TimeReceived));
        if (!(generated >= previous && generated < end && received >= generated)) problems.push(`${t} ${row.TimeGenerated} ${row._TimeReceived}`);
        previous = generated;
      }
    }
    expect(problems).toEqual([]);
  });

  it("uses the Log Analytics value styles of each table", () => {
    const problems: string[] = [];
    const check = (ok: boolean, what: string) => {
      if (!ok) problems.push(what);
    };
    for (const row of tables.AADNonInteractiveUserSignInLogs!) {
      for (const column of ["LocationDetails", "DeviceDetail", "Status", "AuthenticationDetails"]) {
        check(typeof row[column] === "string" && typeof JSON.parse(String(row[column])) === "object", `NI ${column}`);
      }
      check(row.Category === "NonInteractiveUserSignInLogs" && row.IsInteractive === false, "NI category");
    }
    for (const row of tables.SigninLogs!) {
      check(typeof row.LocationDetails === "object" && typeof row.DeviceDetail === "object" && typeof row.Status === "object", "SI dynamic columns");
      check(typeof row.AuthenticationDetails === "string" && row.IsInteractive === true, "SI AuthenticationDetails");
    }
    for (const row of [...tables.SigninLogs!, ...tables.AADNonInteractiveUserSignInLogs!]) {
      check(/^\d+$/.test(String(row.ResultType)) && typeof row.ResultType === "string", "ResultType");
      check(/^\d+$/.test(String(row.AutonomousSystemNumber)) && typeof row.AutonomousSystemNumber === "string", "AutonomousSystemNumber");
      check(/^[A-Z]{2}$/.test(String(row.Location)), "Location");
    }
    for (const row of tables.AuditLogs!) check(typeof row.InitiatedBy === "object" && Array.isArray(row.TargetResources), "AuditLogs dynamic columns");
    for (const row of tables.CloudAppEvents!) check(typeof row.RawEventData === "object", "RawEventData");
    expect(problems.slice(0, 5)).toEqual([]);
  });

  it("has guests, failures and MFA among the sign-ins", () => {
    const signIns = [...tables.SigninLogs!, ...tables.AADNonInteractiveUserSignInLogs!];
    expect(signIns.some((r) => String(r.UserPrincipalName).includes("#EXT#@contoso.onmicrosoft.com"))).toBe(true);
    expect(signIns.some((r) => r.ResultType !== "0")).toBe(true);
    expect(tables.SigninLogs!.some((r) => r.AuthenticationRequirement === "multiFactorAuthentication" && has(String(r.AuthenticationDetails), "Multifactor"))).toBe(true);
  });

  it("plants one attack per rule, shaped as the rule expects (the pivot's replay is also a forked session)", () => {
    expect(result.planted.map((p) => p.ruleId).sort()).toEqual([...Object.values(RULES), RULES.forked].sort());
    const from = at(result.from);
    const to = at(result.to);
    for (const p of result.planted) {
      expect(at(p.time)).toBeGreaterThanOrEqual(from);
      expect(at(p.time)).toBeLessThan(to);
      expect(p.account).toBe(p.account.toLowerCase());
    }
    const planted = (ruleId: string) => result.planted.find((p) => p.ruleId === ruleId)!;
    const pivotReplay = result.planted.find((p) => p.ruleId === RULES.pivot)!;
    expect(result.planted.filter((p) => p.ruleId === RULES.forked).map((p) => p.time)).toContain(pivotReplay.time);

    const sts = planted(RULES.sts);
    const stsRow = tables.AuditLogs!.find((r) => r.TimeGenerated === sts.time && r.OperationName === "Update StsRefreshTokenValidFrom Timestamp")!;
    const by = stsRow.InitiatedBy as { user?: { userPrincipalName: string; ipAddress: string }; app?: { displayName: string } };
    expect((by.user?.userPrincipalName ?? by.app?.displayName)?.toLowerCase()).toBe(sts.account);
    expect(by.user?.ipAddress ?? null).toBe(sts.ip);
    const prop = (stsRow.TargetResources as { modifiedProperties: { displayName: string; oldValue: string; newValue: string }[] }[])[0]!.modifiedProperties[0]!;
    expect(prop.displayName).toBe("StsRefreshTokensValidFrom");
    expect(at(JSON.parse(prop.newValue)[0])).toBeGreaterThan(at(JSON.parse(prop.oldValue)[0]));

    const solorigate = planted(RULES.solorigate);
    const cloudRow = tables.CloudAppEvents!.find((r) => r.TimeGenerated === solorigate.time && r.IPAddress === solorigate.ip)!;
    expect(cloudRow.ActionType).toBe("Update StsRefreshTokenValidFrom Timestamp.");
    const raw = cloudRow.RawEventData as { UserId: string; ModifiedProperties: { Name: string }[] };
    expect(raw.UserId.toLowerCase()).toBe(solorigate.account);
    expect(raw.ModifiedProperties[0]!.Name).toBe("StsRefreshTokensValidFrom");
    expect(JSON.stringify(raw).toLowerCase()).not.toContain("directorysync");

    const ni = tables.AADNonInteractiveUserSignInLogs!;
    const intune = planted(RULES.intune);
    const intuneRow = ni.find((r) => r.TimeGenerated === intune.time && r.IPAddress === intune.ip)!;
    expect(intuneRow).toMatchObject({ ResourceDisplayName: "Microsoft Intune", ResultType: "0" });
    expect(String(intuneRow.AuthenticationDetails)).not.toMatch(/multifactor/i);
    const history = ni.filter((r) => String(r.UserPrincipalName).toLowerCase() === intune.account && at(String(r.TimeGenerated)) < from);
    expect(history.length).toBeGreaterThan(0);
    expect(history.some((r) => r.IPAddress === intune.ip || r.AutonomousSystemNumber === intuneRow.AutonomousSystemNumber)).toBe(false);

    const pivot = planted(RULES.pivot);
    const pivotRow = ni.find((r) => r.TimeGenerated === pivot.time && r.IPAddress === pivot.ip)!;
    expect(pivotRow.ResultType).toBe("0");
    expect(pivotRow.ResourceDisplayName).toBe("Office 365 Exchange Online");
    const upn = String(pivotRow.UserPrincipalName);
    const before = tables.SigninLogs!.filter((r) => {
      const gap = at(pivot.time) - at(String(r.TimeGenerated));
      return r.UserPrincipalName === upn && gap >= 5 * 60_000 && gap <= 100 * 60_000;
    });
    expect(before).toHaveLength(1);
    const interactive = before[0]!;
    expect(interactive.ResultType).toBe("0");
    expect(interactive.AuthenticationRequirement === "singleFactorAuthentication" || interactive.ConditionalAccessStatus === "notApplied").toBe(true);
    expect(interactive.Location).not.toBe(pivotRow.Location);
    expect(interactive.IPAddress).not.toBe(pivotRow.IPAddress);
    const usualIps = new Set(ni.filter((r) => r.UserPrincipalName === upn && at(String(r.TimeGenerated)) < from).map((r) => r.IPAddress));
    expect(usualIps.has(interactive.IPAddress)).toBe(true);
    expect((parse(pivotRow.LocationDetails) as { countryOrRegion: string }).countryOrRegion).toBe(pivotRow.Location);

    const forked = result.planted.find((p) => p.ruleId === RULES.forked && p.time !== pivotReplay.time)!;
    const replay = ni.find((r) => r.TimeGenerated === forked.time && r.IPAddress === forked.ip)!;
    expect(replay).toMatchObject({ ResultType: "0", UserAgent: "python-requests/2.31.0" });
    const earlier = [...tables.SigninLogs!, ...ni].filter((r) => r.SessionId === replay.SessionId && at(String(r.TimeGenerated)) < at(forked.time));
    expect(earlier.length).toBeGreaterThan(0);
    expect(earlier.some((r) => r.AutonomousSystemNumber === replay.AutonomousSystemNumber || r.UserAgent === replay.UserAgent)).toBe(false);
    expect(earlier.every((r) => r.Location === replay.Location)).toBe(true);
  });

  it("raises exactly the planted alerts under a plain reading of the seed queries", () => {
    const alerts = evaluate(tables, at(result.from), at(result.to));
    expect(alerts.map(key).sort()).toEqual(result.planted.map(key).sort());
  });

  it("raises nothing without attacks", async () => {
    const dir = join(root, "quiet");
    const quiet = await simulateTenant(dir, { ...OPTIONS, attacks: false, seed: 2 });
    expect(quiet.planted).toEqual([]);
    const rows = Object.fromEntries(TABLES.map((t) => [t, readLines(dir, t).map((l) => JSON.parse(l) as Row)]));
    expect(evaluate(rows, at(quiet.from), at(quiet.to))).toEqual([]);
  });

  it("rejects unusable options", async () => {
    await expect(simulateTenant(join(root, "bad"), { users: 0, days: 1 })).rejects.toThrow(/users/);
    await expect(simulateTenant(join(root, "bad"), { users: 5, days: 1, to: "soon" })).rejects.toThrow(/to/);
  });
});
