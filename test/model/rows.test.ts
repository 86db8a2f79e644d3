// The row schemas at the edge: each column read by its type, the first column that does not
// read naming the rejection, and Log Analytics' own datetime text read by the fast path to
// the same ticks as the general parser.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { auditSchema, cloudAppEventSchema, parseRow, signInSchema, signInSightingSchema } from "../../src/model/rows.js";
import { toDateTime } from "../../src/model/time.js";

const SIGN_IN = {
  TimeGenerated: "2026-11-03T09:00:06.341Z",
  _TimeReceived: "2026-11-03T09:01:48.7381234Z",
  Id: "66ee788e",
  UserPrincipalName: "Ethan.Brown@contoso.com",
  IPAddress: "79.192.180.25",
  AutonomousSystemNumber: 3320,
  ResultType: 0,
  AuthenticationDetails: [{ authenticationMethod: "Password" }],
  LocationDetails: '{"countryOrRegion":"DE"}',
  Category: "NonInteractiveUserSignInLogs",
};

describe("row schemas", () => {
  it("reads a sign-in: text columns as text (absent: \"\"), exact times, arrival, unread columns dropped", () => {
    const outcome = parseRow(signInSchema, SIGN_IN);
    if (!outcome.ok) throw new Error(outcome.reason);
    const row = outcome.row;
    expect(row.TimeGenerated).toBe(toDateTime("2026-11-03T09:00:06.341Z"));
    expect(row._TimeReceived).toBe(BigInt(Date.parse("2026-11-03T09:01:48.738Z")) * 10_000n + 1234n);
    expect(row.arrival).toBe(row._TimeReceived);
    expect([row.ResultType, row.AutonomousSystemNumber, row.Location, row.SessionId]).toEqual(["0", "3320", "", ""]);
    expect(row.AuthenticationDetails).toBe('[{"authenticationMethod":"Password"}]');
    expect(row.LocationDetails).toBe('{"countryOrRegion":"DE"}');
    expect(row.DeviceDetail).toBeNull();
    expect("Category" in row).toBe(false);
    expect(SIGN_IN.ResultType).toBe(0); // the raw row is not changed
  });

  it("takes an arrival before the event (clock skew), or none, as the event time", () => {
    for (const received of ["2026-11-03T08:00:00Z", undefined, null, "", "None", "not a time"]) {
      const outcome = parseRow(signInSchema, { ...SIGN_IN, _TimeReceived: received });
      expect(outcome.ok && outcome.row.arrival).toBe(toDateTime(SIGN_IN.TimeGenerated));
    }
  });

  it.each([
    [{ UserPrincipalName: { upn: "x" } }, "UserPrincipalName: expected text"],
    [{ TimeGenerated: undefined }, "TimeGenerated: expected a datetime"],
    [{ TimeGenerated: "2026-02-30T00:00:00Z" }, 'TimeGenerated: not a datetime: "2026-02-30T00:00:00Z"'],
    [{ _TimeReceived: true }, "_TimeReceived: expected a datetime"],
    // Two offending columns: the first in column order names the row.
    [{ TimeGenerated: "yesterday", IPAddress: ["1.2.3.4"] }, 'TimeGenerated: not a datetime: "yesterday"'],
    [{ IPAddress: ["1.2.3.4"], SessionId: {} }, "IPAddress: expected text"],
  ])("rejects %j: %s", (change, reason) => {
    expect(parseRow(signInSchema, { ...SIGN_IN, ...change })).toEqual({ ok: false, reason });
  });

  it("reads dynamic and bool columns as exports write them, and names what does not read", () => {
    const audit = { TimeGenerated: "2026-11-03T09:04:14Z", InitiatedBy: '{"user":{"userPrincipalName":"a@b.c"}}', TargetResources: [] };
    const ok = parseRow(auditSchema, audit);
    expect(ok.ok && ok.row.InitiatedBy).toEqual({ user: { userPrincipalName: "a@b.c" } });
    expect(parseRow(auditSchema, { ...audit, InitiatedBy: "{user" })).toEqual({ ok: false, reason: "InitiatedBy: dynamic column is not valid JSON" });
    const event = { TimeGenerated: "2026-11-03T09:04:14Z", Timestamp: "None", RawEventData: {} };
    for (const [value, read] of [[" True ", true], ["0", false], [0, false], [1, true], [false, false], ["None", null], [undefined, null]] as const) {
      const outcome = parseRow(cloudAppEventSchema, { ...event, IsAnonymousProxy: value });
      expect(outcome.ok && outcome.row.IsAnonymousProxy).toBe(read);
      expect(outcome.ok && outcome.row.Timestamp).toBeNull();
    }
    expect(parseRow(cloudAppEventSchema, { ...event, IsAnonymousProxy: "maybe" })).toEqual({ ok: false, reason: 'IsAnonymousProxy: not a bool: "maybe"' });
    // Names an object inherits are not bool texts either.
    for (const text of ["constructor", "toString", "__proto__"])
      expect(parseRow(cloudAppEventSchema, { ...event, IsAnonymousProxy: text })).toEqual({ ok: false, reason: `IsAnonymousProxy: not a bool: "${text}"` });
  });

  it("reads a baseline sighting, its account lower-cased", () => {
    expect(parseRow(signInSightingSchema, { account: "A@B.C", ip: "1.2.3.4", asn: 8075, lastSeen: "2026-11-03T09:00:00.0000001Z", extra: 1 })).toEqual({
      ok: true,
      row: { account: "a@b.c", ip: "1.2.3.4", asn: "8075", lastSeen: toDateTime("2026-11-03T09:00:00Z")! + 1n },
    });
    expect(parseRow(signInSightingSchema, { account: 7, lastSeen: "2026-11-03T09:00:00Z" })).toEqual({ ok: false, reason: "account: Invalid input: expected string, received number" });
  });
});

describe("parseRow without zod's safeParse", () => {
  it("gives what the table's zod schema gives, row or rejection, for rows of every table", () => {
    const schemas = { signIn: signInSchema, audit: auditSchema, cloudAppEvent: cloudAppEventSchema, sighting: signInSightingSchema };
    const columns = ["TimeGenerated", "_TimeReceived", "Timestamp", "Id", "UserPrincipalName", "IPAddress", "AutonomousSystemNumber", "ResultType", "AuthenticationDetails", "LocationDetails", "DeviceDetail", "InitiatedBy", "TargetResources", "IsAnonymousProxy", "RawEventData", "account", "ip", "asn", "lastSeen"];
    // Each column a value its type reads now and then, or any JSON value.
    const value = fc.oneof(
      fc.constantFrom("2026-11-03T09:00:06.341Z", "2026-11-03 09:00", "not a time", "None", "", "true", "0", '{"a":1}', "{user"),
      fc.constantFrom(0, 1, 3320, 1.5, true, false, null),
      fc.jsonValue(),
    );
    // The columns a row cannot do without, mostly readable.
    const time = fc.oneof({ weight: 9, arbitrary: fc.constant("2026-11-03T09:00:06.341Z") }, { weight: 1, arbitrary: value });
    const required = fc.record({ TimeGenerated: time, lastSeen: time, account: fc.oneof({ weight: 9, arbitrary: fc.string() }, { weight: 1, arbitrary: value }) });
    const raw = fc.tuple(required, fc.dictionary(fc.constantFrom(...columns), value, { maxKeys: 4 })).map(([base, more]) => ({ ...base, ...more }));
    const outcomes = { read: 0, rejected: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(schemas)), raw, (schema, row) => {
        const viaZod = schema.safeParse(row);
        outcomes[viaZod.success ? "read" : "rejected"]++;
        const expected = viaZod.success ? { ok: true, row: viaZod.data } : { ok: false, reason: `${viaZod.error.issues[0]!.path.join(".")}: ${viaZod.error.issues[0]!.message}` };
        expect(parseRow(schema, row)).toEqual(expected);
      }),
      { numRuns: 3_000 },
    );
    // Both outcomes were compared often.
    expect(Math.min(outcomes.read, outcomes.rejected)).toBeGreaterThan(300);
  });
});

describe("datetime text as Log Analytics writes it", () => {
  const pad = (n: number, width: number) => String(n).padStart(width, "0");
  // Fields a little past their ranges too (month 13, day 32, hour 24, second 60), and 0 to 8 fraction digits.
  const text = fc
    .tuple(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 }), fc.stringMatching(/^(\.\d{0,8})?$/))
    .map(([y, mo, d, h, mi, s, fraction]) => `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${fraction}Z`);

  it("reads to the same ticks (or null) as the general ISO parser", () => {
    // A leading space is not the fast path's form: the general parser (which trims) reads it.
    fc.assert(fc.property(text, (t) => toDateTime(t) === toDateTime(` ${t}`)), { numRuns: 20_000 });
  });

  it("keeps all seven fraction digits and checks the day exists", () => {
    expect(toDateTime("2026-11-03T09:01:48.7381234Z")).toBe(BigInt(Date.parse("2026-11-03T09:01:48.738Z")) * 10_000n + 1234n);
    expect(toDateTime("2024-02-29T00:00:00Z")).toBe(BigInt(Date.UTC(2024, 1, 29)) * 10_000n);
    expect(toDateTime("2023-02-29T00:00:00Z")).toBeNull();
  });
});
