// UpdateStsRefreshToken[Solorigate]: one named case per condition of the seed hunting
// query, each the base CloudAppEvents row plus the fields it is about.
import { describe, expect, it } from "vitest";
import { parseRow, rowSchemas } from "../../src/model/rows.js";

import { solorigateStsRefreshToken as rule } from "../../src/rules/solorigate-sts-refresh-token.js";
import { asJsonText, at, tick, context, evaluate, parse, raw, row, summary, type ContextOptions, type Overrides, NARROW_RANGE, RANGE_EDGE_CASES } from "../support/rows.js";

const PROP = "RawEventData.ModifiedProperties.0";

const runRows = (overrides: readonly Overrides[], options: ContextOptions = {}) =>
  evaluate(rule, { events: overrides.map((o) => row("CloudAppEvents", o)) }, context(options));
const run = (overrides: Overrides = {}, options: ContextOptions = {}) => runRows([overrides], options);
const alerts = (overrides: Overrides = {}, options: ContextOptions = {}) => run(overrides, options).length;

describe("Solorigate STS refresh token update: the base row", () => {
  it("alerts on an app updating a user's StsRefreshTokensValidFrom", () => {
    const [alert, ...rest] = run();
    expect(rest).toHaveLength(0);
    expect(summary(alert!)).toEqual({ account: "evil app", ip: "203.0.113.77", time: "2026-11-01T10:05:00.000Z" });
    expect(alert!.details).toMatchObject({
      accountObjectId: "efc5d310-a1cd-39f2-360a-ea574bb510c3",
      accountDisplayName: "Evil App",
      // Actor[-1]: the LAST actor's ID
      role: "a09fb1af-f043-8a41-92b3-c375a2e750e7",
      isAnonymousProxy: false,
      isp: "Contoso ISP",
      target: "victim@contoso.com",
      // 2026-10-01T00:00 -> 2026-11-01T09:55
      tokenMinutesAdded: 31 * 1440 + 595,
      // Timestamp 10:05 - 09:55
      tokenMinutesRemaining: 10,
    });
  });

  it("gives the same identity for the same event twice, and another for another tuple", () => {
    const first = run()[0]!.identity;
    expect(run()[0]!.identity).toEqual(first);
    expect(run({ IPAddress: "203.0.113.78" })[0]!.identity).not.toEqual(first);
  });
});

describe('where ActionType == "Update StsRefreshTokenValidFrom Timestamp." (exact, trailing period included)', () => {
  it.each([
    ["without the trailing period", "Update StsRefreshTokenValidFrom Timestamp"],
    ["in another case (== is case-sensitive)", "update stsrefreshtokenvalidfrom timestamp."],
    ["another action", "Update user."],
  ])("raises nothing %s", (_name, actionType) => {
    expect(alerts({ ActionType: actionType })).toBe(0);
  });
});

describe('where RawEventData !has "Directorysync"', () => {
  it.each([
    ["the user id of the scenario's sync account", { "RawEventData.UserId": "Directorysync@contoso.com" }],
    ["upper case anywhere in the event (has is case-insensitive)", { "RawEventData.Actor.0.ID": "DIRECTORYSYNC" }],
    ["inside a modified property's value", { [`${PROP}.NewValue`]: '["2026-11-01T09:55:00Z","DirectorySync"]' }],
  ])("excludes %s", (_name, overrides) => {
    expect(alerts(overrides)).toBe(0);
  });

  it("does not exclude DirectorySyncX (has matches whole terms only)", () => {
    expect(alerts({ "RawEventData.UserId": "DirectorySyncX" })).toBe(1);
  });

  it("looks inside RawEventData only: a display name column mentioning Directorysync still alerts", () => {
    const [alert] = run({ AccountDisplayName: "Directorysync Service" });
    expect(alert?.details.accountDisplayName).toBe("Directorysync Service");
  });

  it("applies to RawEventData delivered as JSON text", () => {
    const excluded = raw("CloudAppEvents", { "RawEventData.UserId": "Directorysync@contoso.com" });
    expect(evaluate(rule, { events: [parse("CloudAppEvents", asJsonText(excluded, "RawEventData"))] }, context())).toHaveLength(0);
  });
});

describe('where RawEventData.ModifiedProperties[0].Name == "StsRefreshTokensValidFrom"', () => {
  it("compares case-sensitively (==)", () => {
    expect(alerts({ [`${PROP}.Name`]: "stsrefreshtokensvalidfrom" })).toBe(0);
  });

  it("reads the first modified property only", () => {
    const sts = raw("CloudAppEvents").RawEventData as { ModifiedProperties: unknown[] };
    const other = { Name: "Included Updated Properties", NewValue: "StsRefreshTokensValidFrom", OldValue: "" };
    expect(alerts({ "RawEventData.ModifiedProperties": [other, ...sts.ModifiedProperties] })).toBe(0);
    expect(alerts({ "RawEventData.ModifiedProperties": [...sts.ModifiedProperties, other] })).toBe(1);
  });

  it("raises nothing without modified properties", () => {
    expect(alerts({ "RawEventData.ModifiedProperties": [] })).toBe(0);
  });

  it("still alerts when the old value is missing, with tokenMinutesAdded null (the seed does not filter on it)", () => {
    const [alert] = run({ [`${PROP}.OldValue`]: undefined });
    expect(alert?.details.tokenMinutesAdded).toBeNull();
    expect(alert?.details.tokenMinutesRemaining).toBe(10);
  });
});

describe("account: RawEventData.UserId lowercased, else AccountDisplayName", () => {
  it("takes the user id when present", () => {
    expect(run({ "RawEventData.UserId": "Admin@Contoso.com" })[0]?.account).toBe("admin@contoso.com");
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
  ])("falls back to the display name when the user id is %s", (_name, userId) => {
    expect(run({ "RawEventData.UserId": userId, AccountDisplayName: "Token Tool" })[0]?.account).toBe("token tool");
  });

  it("has no IP when IPAddress is empty", () => {
    expect(run({ IPAddress: "" })[0]?.ip).toBeNull();
  });
});

describe("distinct AccountObjectId, AccountDisplayName, Role, IPAddress, IsAnonymousProxy, ISP, tokenMinutesAdded, tokenMinutesRemaining", () => {
  // The same change delivered twice: another report id and arrival, the same values.
  const duplicate = { ReportId: "1f0e4d2c-0000-4000-8000-000000000002", TimeGenerated: "2026-11-01T10:06:00.000Z" };

  it("raises one alert for two events with the same tuple, at the earlier event, whatever their order", () => {
    for (const order of [[{}, duplicate], [duplicate, {}]]) {
      const result = runRows(order);
      expect(result).toHaveLength(1);
      expect(result[0]!.time).toBe(tick("2026-11-01T10:05:00Z"));
    }
  });

  it("keeps events apart whose tuples differ in any column", () => {
    const variants: Overrides[] = [
      { AccountObjectId: "2d5b6a7c-0000-4000-8000-000000000003" },
      { AccountDisplayName: "Other App" },
      { "RawEventData.Actor.1.ID": "9c8b7a6d-0000-4000-8000-000000000004" },
      { IPAddress: "203.0.113.78" },
      { IsAnonymousProxy: true },
      { ISP: "Fabrikam Hosting" },
      { [`${PROP}.OldValue`]: '["2026-10-02T00:00:00Z"]' },
      { Timestamp: "2026-11-01T10:06:00.000Z" },
    ];
    for (const variant of variants) expect(runRows([{}, { ...duplicate, ...variant }]), JSON.stringify(variant)).toHaveLength(2);
  });

  // IsAnonymousProxy is a bool column: the query API answers false, exports write 0, "0",
  // "false", or Python's "False" (az monitor log-analytics query); one value for distinct.
  it.each([
    ["0 and false", 0, false],
    ['"0" and false', "0", false],
    ['"False" and false', "False", false],
    ['"false" and 0', "false", 0],
    ["1 and true", 1, true],
    ['"True" and true', "True", true],
    ['"None" and null', "None", null],
    ['"" and null', "", null],
  ])("compares IsAnonymousProxy as a bool: %s are one tuple, one alert", (_name, a, b) => {
    expect(runRows([{ IsAnonymousProxy: a }, { ...duplicate, IsAnonymousProxy: b }])).toHaveLength(1);
  });

  it.each([
    ["false and null", false, null],
    ["0 and None", 0, "None"],
    ["true and false", "True", "False"],
  ])("keeps IsAnonymousProxy values apart that differ as bools: %s", (_name, a, b) => {
    expect(runRows([{ IsAnonymousProxy: a }, { ...duplicate, IsAnonymousProxy: b }])).toHaveLength(2);
  });

  it("gives the same alert identity to an event however its bool was exported", () => {
    const identities = [false, 0, "0", "False", "false"].map((v) => run({ IsAnonymousProxy: v })[0]!.identity);
    for (const identity of identities) expect(identity).toEqual(identities[0]);
  });

  it("reads Python's \"None\" (az monitor log-analytics query) as null in typed columns: Timestamp and RawEventData", () => {
    expect(parseRow(rowSchemas.CloudAppEvents, raw("CloudAppEvents", { Timestamp: "None" }))).toMatchObject({ ok: true, row: { Timestamp: null } });
    expect(parseRow(rowSchemas.AuditLogs, raw("AuditLogs", { InitiatedBy: "None" }))).toMatchObject({ ok: true, row: { InitiatedBy: null } });
  });

  it("rejects a row whose IsAnonymousProxy is not a bool in any spelling", () => {
    expect(parseRow(rowSchemas.CloudAppEvents, raw("CloudAppEvents", { IsAnonymousProxy: "maybe" }))).toEqual({ ok: false, reason: 'IsAnonymousProxy: not a bool: "maybe"' });
  });

  it("ignores columns outside the tuple: another ReportId or UserId does not make a second alert", () => {
    expect(runRows([{}, { ...duplicate, "RawEventData.UserId": "someone@contoso.com" }])).toHaveLength(1);
  });

  it("is distinct within a run only: the same tuple recurring in a later run is a new alert with its own identity", () => {
    // A job that extends the same user's tokens by a day every day, at the same minute: every
    // column of the tuple repeats. Each hourly Sentinel run raises its own alert; the engine
    // hashes `identity` into the alert id, so the second day must not reuse the first's.
    const nextDay = {
      ReportId: "7a6b5c4d-0000-4000-8000-000000000008",
      TimeGenerated: "2026-11-02T10:05:00.000Z",
      Timestamp: "2026-11-02T10:05:00.000Z",
      [`${PROP}.OldValue`]: '["2026-10-02T00:00:00Z"]',
      [`${PROP}.NewValue`]: '["2026-11-02T09:55:00Z"]',
    };
    const dayTwo = { start: at("2026-11-02T10:00:00Z"), end: at("2026-11-02T11:00:00Z") };
    const [first] = run();
    const [second] = run(nextDay, { window: dayTwo, eventRange: { from: at("2026-11-01T00:00:00Z"), to: at("2026-11-03T00:00:00Z") } });
    expect(second?.details.tokenMinutesAdded).toBe(first?.details.tokenMinutesAdded);
    expect(second?.details.tokenMinutesRemaining).toBe(first?.details.tokenMinutesRemaining);
    expect(second!.identity).not.toEqual(first!.identity);
  });

  it("keeps the identity of a run's alert whatever the order of its duplicate events, also at the same time", () => {
    expect(runRows([duplicate, {}])[0]!.identity).toEqual(runRows([{}, duplicate])[0]!.identity);
    const sameTime = { ReportId: "0a0b0c0d-0000-4000-8000-000000000009" };
    const forward = runRows([{}, sameTime]);
    const backward = runRows([sameTime, {}]);
    expect(forward).toHaveLength(1);
    expect(backward[0]!.identity).toEqual(forward[0]!.identity);
    expect(backward[0]!.details.reportId).toBe("0a0b0c0d-0000-4000-8000-000000000009");
  });
});

describe("time bounds: only events with TimeGenerated in [from, to) are new", () => {
  const range = NARROW_RANGE;
  it.each(RANGE_EDGE_CASES)("%s (%s) -> %i alert(s)", (_name, time, expected) => {
    expect(alerts({ TimeGenerated: time }, { eventRange: range })).toBe(expected);
  });

  it("a history event does not suppress a new one with the same tuple", () => {
    const result = runRows([{ TimeGenerated: "2026-11-01T09:30:00.000Z" }, {}], { eventRange: range });
    expect(result.map(summary)).toEqual([{ account: "evil app", ip: "203.0.113.77", time: "2026-11-01T10:05:00.000Z" }]);
  });
});

describe("RawEventData as an object or as JSON text", () => {
  it("raises the same alert", () => {
    const objects = raw("CloudAppEvents");
    const fromObjects = evaluate(rule, { events: [parse("CloudAppEvents", objects)] }, context());
    const fromText = evaluate(rule, { events: [parse("CloudAppEvents", asJsonText(objects, "RawEventData"))] }, context());
    expect(fromText).toHaveLength(1);
    expect(fromText).toEqual(fromObjects);
  });
});
