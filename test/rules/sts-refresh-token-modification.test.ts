// Interactive STS refresh token modifications: one named case per condition of the seed
// (Azure-Sentinel StsRefreshTokenModification.yaml), each the base AuditLogs row plus the
// fields it is about.
import { describe, expect, it } from "vitest";

import { stsRefreshTokenModification as rule } from "../../src/rules/sts-refresh-token-modification.js";
import { asJsonText, at, context, entry, evaluate, parse, raw, row, summary, WINDOW, type ContextOptions, type Overrides, NARROW_RANGE, RANGE_EDGE_CASES } from "../support/rows.js";

const PROPS = "TargetResources.0.modifiedProperties";
const STS_PROP = { displayName: "StsRefreshTokensValidFrom", oldValue: '["2026-10-01T00:00:00Z"]', newValue: '["2026-11-01T10:10:00Z"]' };

const run = (overrides: Overrides = {}, options: ContextOptions = {}) => evaluate(rule, { audit: [row("AuditLogs", overrides)] }, context(options));
const alerts = (overrides: Overrides = {}, options: ContextOptions = {}) => run(overrides, options).length;

describe("STS refresh token modification: the base row", () => {
  it("alerts on an application extending a user's refresh tokens, with the initiator as account", () => {
    const [alert, ...rest] = run();
    expect(rest).toHaveLength(0);
    expect(summary(alert!)).toEqual({ account: "evil app", ip: null, time: "2026-11-01T10:15:00.000Z" });
    expect(alert!.details).toMatchObject({
      targetUserOrApp: "bob@contoso.com",
      // 2026-10-01T00:00 -> 2026-11-01T10:10: 31 days and 610 minutes
      tokenMinutesAdded: 31 * 1440 + 610,
      // TimeGenerated 10:15 - new valid-from 10:10
      tokenMinutesRemaining: 5,
      oldStsRefreshValidFrom: "2026-10-01T00:00:00.000Z",
      newStsRefreshValidFrom: "2026-11-01T10:10:00.000Z",
    });
    expect(alert!.entities).toEqual([
      { type: "account", name: "Evil App" },
      { type: "cloudApplication", name: "Evil App" },
    ]);
  });

  it("gives the same identity for the same event twice, and another for another event", () => {
    const first = run()[0]!.identity;
    expect(run()[0]!.identity).toEqual(first);
    expect(run({ Id: "Directory_00000000-0000-0000-0000-000000000001" })[0]!.identity).not.toEqual(first);
  });

  it("keeps every seed output row apart when Id is empty: one operation (one CorrelationId) changing two users is two alerts", () => {
    const onBob = { Id: "", "TargetResources.0.userPrincipalName": "bob@contoso.com" };
    const onCarol = { Id: "", "TargetResources.0.userPrincipalName": "carol@contoso.com" };
    const result = evaluate(rule, { audit: [row("AuditLogs", onBob), row("AuditLogs", onCarol)] }, context());
    expect(result.map((a) => a.details.targetUserOrApp).sort()).toEqual(["bob@contoso.com", "carol@contoso.com"]);
    expect(new Set(result.map((a) => a.identity.join("|"))).size).toBe(2);
  });

  it("keeps apart two changes without Id or CorrelationId at two times, and names the same row the same way", () => {
    const blank = { Id: "", CorrelationId: "" };
    const later = { ...blank, TimeGenerated: "2026-11-01T10:16:00.000Z" };
    const result = evaluate(rule, { audit: [row("AuditLogs", blank), row("AuditLogs", later)] }, context());
    expect(new Set(result.map((a) => a.identity.join("|"))).size).toBe(2);
    expect(run(blank)[0]!.identity).toEqual(run(blank)[0]!.identity);
  });
});

describe("where OperationName has 'StsRefreshTokenValidFrom'", () => {
  it.each([
    ["the operation itself", "Update StsRefreshTokenValidFrom Timestamp", 1],
    ["in another case (has is case-insensitive)", "update stsrefreshtokenvalidfrom timestamp", 1],
    ["another operation", "Update user", 0],
    ["the name only inside a longer term", "Update StsRefreshTokenValidFromTimestamp", 0],
  ])("%s: %j -> %i alert(s)", (_name, operation, expected) => {
    expect(alerts({ OperationName: operation })).toBe(expected);
  });
});

describe("where TargetResources[0].modifiedProperties != '[]'", () => {
  it("raises nothing when no property was modified", () => {
    expect(alerts({ [PROPS]: [] })).toBe(0);
  });

  it("reads only the first target resource", () => {
    const target = raw("AuditLogs").TargetResources as unknown[];
    const other = { id: "x", type: "User", userPrincipalName: "other@contoso.com", modifiedProperties: [] };
    expect(alerts({ TargetResources: [other, ...target] })).toBe(0);
    expect(alerts({ TargetResources: [...target, other] })).toBe(1);
  });
});

describe("where TargetResources[0].modifiedProperties !has 'DirectorySync'", () => {
  it.each([
    ["a property value naming DirectorySync", { displayName: "Included Updated Properties", oldValue: null, newValue: '"DirectorySync"' }],
    ["in lower case (has is case-insensitive)", { displayName: "Included Updated Properties", oldValue: null, newValue: '"directorysync"' }],
    ["as a term of a longer text", { displayName: "SyncSource", oldValue: null, newValue: '"Azure AD DirectorySync agent"' }],
  ])("excludes %s", (_name, extra) => {
    expect(alerts({ [PROPS]: [STS_PROP, extra] })).toBe(0);
  });

  it("does not exclude DirectorySyncX (has matches whole terms only)", () => {
    expect(alerts({ [PROPS]: [STS_PROP, { displayName: "SyncSource", oldValue: null, newValue: '"DirectorySyncX"' }] })).toBe(1);
  });

  it("looks at the modified properties only: an initiator named DirectorySync is not excluded by this filter", () => {
    const [alert] = run({ "InitiatedBy.app.displayName": "DirectorySync" });
    expect(alert?.account).toBe("directorysync");
  });
});

describe("mv-expand modifiedProperties | where displayName =~ 'StsRefreshTokensValidFrom'", () => {
  it("raises one alert per StsRefreshTokensValidFrom property, each with its own values and identity", () => {
    const second = { displayName: "StsRefreshTokensValidFrom", oldValue: '["2026-11-01T10:10:00Z"]', newValue: '["2026-11-01T10:12:00Z"]' };
    const result = run({ [PROPS]: [STS_PROP, second] });
    expect(result.map((a) => a.details.tokenMinutesAdded)).toEqual([31 * 1440 + 610, 2]);
    expect(result.map((a) => a.details.tokenMinutesRemaining)).toEqual([5, 3]);
    expect(new Set(result.map((a) => a.identity.join("|"))).size).toBe(2);
  });

  it("matches the property name case-insensitively (=~)", () => {
    expect(alerts({ [PROPS]: [{ ...STS_PROP, displayName: "stsrefreshtokensvalidfrom" }] })).toBe(1);
  });

  it.each([
    ["another property only", "Included Updated Properties"],
    ["a longer name", "StsRefreshTokensValidFromX"],
  ])("raises nothing for %s", (_name, displayName) => {
    expect(alerts({ [PROPS]: [{ ...STS_PROP, displayName }] })).toBe(0);
  });

  it("still alerts when the old value is missing, with tokenMinutesAdded null (the seed does not filter on it)", () => {
    const [alert] = run({ [PROPS]: [{ ...STS_PROP, oldValue: null }] });
    expect(alert?.details.tokenMinutesAdded).toBeNull();
    expect(alert?.details.tokenMinutesRemaining).toBe(5);
  });

  it("counts calendar minutes (datetime_diff): 10:09:59 -> 10:10:00 is one minute added", () => {
    const [alert] = run({ [PROPS]: [{ ...STS_PROP, oldValue: '["2026-11-01T10:09:59Z"]' }] });
    expect(alert?.details.tokenMinutesAdded).toBe(1);
  });
});

describe("InitiatingUserOrApp: the user's UPN, else the app's display name", () => {
  const user = { userPrincipalName: "Admin@Contoso.com", ipAddress: "198.51.100.23", id: "6f1a0c9e-0000-4000-8000-000000000042" };

  it("names a user initiator by UPN (lowercased) and takes the user's IP", () => {
    const [alert] = run({ InitiatedBy: { user } });
    expect(summary(alert!)).toEqual({ account: "admin@contoso.com", ip: "198.51.100.23", time: "2026-11-01T10:15:00.000Z" });
    expect(alert!.entities).toEqual([
      { type: "account", name: "Admin", upnSuffix: "Contoso.com" },
      { type: "ip", address: "198.51.100.23" },
    ]);
  });

  it("falls back to the app when the user's UPN is empty or the user is null", () => {
    expect(run({ InitiatedBy: { user: { ...user, userPrincipalName: "" }, app: { displayName: "Backup App" } } })[0]?.account).toBe("backup app");
    expect(run({ "InitiatedBy.user": null })[0]?.account).toBe("evil app");
  });

  it("takes the app's IP when the user's is empty, and none when neither has one", () => {
    expect(run({ InitiatedBy: { user: { ...user, ipAddress: "" }, app: { displayName: "Evil App", ipAddress: "203.0.113.5" } } })[0]?.ip).toBe("203.0.113.5");
    expect(run({ "InitiatedBy.app.ipAddress": "203.0.113.6" })[0]?.ip).toBe("203.0.113.6");
    expect(run()[0]?.ip).toBeNull();
  });
});

describe("where InitiatingUserOrApp !in~ (AllowedUserList) (the principals allowlist)", () => {
  it.each(["Microsoft Cloud App Security", "ADConnectSyncAccount1", "SyncAccount2"])("the default %j does not alert", (name) => {
    expect(alerts({ "InitiatedBy.app.displayName": name })).toBe(0);
  });

  it("compares case-insensitively (!in~)", () => {
    expect(alerts({ "InitiatedBy.app.displayName": "MICROSOFT CLOUD APP SECURITY" })).toBe(0);
  });

  it("compares whole values: a longer name still alerts", () => {
    expect(alerts({ "InitiatedBy.app.displayName": "Microsoft Cloud App Security Proxy" })).toBe(1);
  });

  it("applies custom entries to users and apps, case-insensitively", () => {
    expect(alerts({}, { lists: { principals: ["evil app"] } })).toBe(0);
    expect(alerts({ InitiatedBy: { user: { userPrincipalName: "Admin@Contoso.com" } } }, { lists: { principals: ["admin@contoso.com"] } })).toBe(0);
    expect(alerts({}, { lists: { principals: ["Other App"] } })).toBe(1);
  });

  it("stops applying an entry once it has expired (as of the window's end)", () => {
    const expiring = (expiresAt: number) => ({ entries: [entry("principals", "Evil App", expiresAt)] });
    expect(alerts({}, expiring(WINDOW.end + 1))).toBe(0);
    expect(alerts({}, expiring(WINDOW.end - 1))).toBe(1);
  });
});

describe("time bounds: only events with TimeGenerated in [from, to) are new", () => {
  const range = NARROW_RANGE;
  it.each(RANGE_EDGE_CASES)("%s (%s) -> %i alert(s)", (_name, time, expected) => {
    expect(alerts({ TimeGenerated: time }, { eventRange: range })).toBe(expected);
  });
});

describe("dynamic columns as objects or as JSON text", () => {
  it("reads InitiatedBy and TargetResources delivered as JSON text the same as objects", () => {
    const objects = raw("AuditLogs", { "InitiatedBy.app.ipAddress": "203.0.113.6" });
    const fromObjects = evaluate(rule, { audit: [parse("AuditLogs", objects)] }, context());
    const fromText = evaluate(rule, { audit: [parse("AuditLogs", asJsonText(objects, "InitiatedBy", "TargetResources"))] }, context());
    expect(fromText).toHaveLength(1);
    expect(fromText).toEqual(fromObjects);
  });

  it("applies the DirectorySync exclusion to JSON text too", () => {
    const excluded = raw("AuditLogs", { [PROPS]: [STS_PROP, { displayName: "SyncSource", oldValue: null, newValue: '"DirectorySync"' }] });
    expect(evaluate(rule, { audit: [parse("AuditLogs", asJsonText(excluded, "TargetResources"))] }, context())).toHaveLength(0);
  });
});
