// Interactive to Non-Interactive Token Theft Pivot: one named case per condition of the
// seed. The base pair is dan's single-factor interactive sign-in from Seattle (10:10,
// 198.18.1.10, US) and his session's token refresh from Berlin 30 minutes later (10:40,
// 203.0.113.90, DE); each case changes only the fields it is about.
import { describe, expect, it } from "vitest";

import { interactiveToNonInteractivePivot as rule } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import type { SignInRow } from "../../src/model/rows.js";
import { at, tick, context, entry, evaluate, row, summary, WINDOW, type ContextOptions, type Overrides } from "../support/rows.js";

const NI = "AADNonInteractiveUserSignInLogs";
const INTERACTIVE = "SigninLogs";
const ni = (overrides: Overrides = {}) => row(NI, overrides);
const session = (overrides: Overrides = {}) => row(INTERACTIVE, overrides);

interface Inputs {
  nonInteractive?: SignInRow[];
  interactive?: SignInRow[];
  earlierInteractive?: SignInRow[];
  earlierNonInteractive?: SignInRow[];
}
const runInputs = (inputs: Inputs, options: ContextOptions = {}) =>
  evaluate(rule, { nonInteractive: [], interactive: [], earlierInteractive: [], earlierNonInteractive: [], ...inputs }, context(options));
/** The base pair, both sides new in this window, with a case's changes to either side. */
const run = (niOverrides: Overrides = {}, sessionOverrides: Overrides = {}, options: ContextOptions = {}) =>
  runInputs({ nonInteractive: [ni(niOverrides)], interactive: [session(sessionOverrides)] }, options);
const alerts = (niOverrides: Overrides = {}, sessionOverrides: Overrides = {}, options: ContextOptions = {}) =>
  run(niOverrides, sessionOverrides, options).length;

describe("token pivot: the base pair", () => {
  it("names each seed output row: two refreshes without Id or token id, at the same time from two IPs, are two alerts", () => {
    const blank = { Id: "", UniqueTokenIdentifier: "" };
    const result = runInputs({ nonInteractive: [ni(blank), ni({ ...blank, IPAddress: "203.0.113.91" })], interactive: [session({ Id: "", UniqueTokenIdentifier: "" })] });
    expect(result).toHaveLength(2);
    expect(new Set(result.map((a) => a.identity.join("|"))).size).toBe(2);
  });

  it("alerts on the refresh from another IP and country 30 minutes after a single-factor sign-in", () => {
    const [alert, ...rest] = run();
    expect(rest).toHaveLength(0);
    expect(summary(alert!)).toEqual({ account: "dan@contoso.com", ip: "203.0.113.90", time: "2026-11-01T10:40:00.000Z" });
    expect(alert!.title).toBe("Token Pivot - dan@contoso.com NI token from 203.0.113.90 after interactive auth");
    expect(alert!.details).toMatchObject({
      InteractiveIP: "198.18.1.10",
      InteractiveCountry: "US",
      NonInteractiveCountry: "DE",
      AppDisplayName: "Microsoft Authentication Broker",
      InteractiveTime: "2026-11-01T10:10:00.000Z",
      TimeSinceInteractiveMinutes: 30,
      CorrelationId: "8b218d10-9586-cbe3-7246-b66d81a0f365",
      UniqueTokenIdentifier: "ee5ed326-dad1-19b1-056",
    });
  });

  it("gives the same identity for the same pair twice, and another for another pair", () => {
    const first = run()[0]!.identity;
    expect(run()[0]!.identity).toEqual(first);
    expect(run({}, { Id: "5e4d3c2b-0000-4000-8000-000000000006" })[0]!.identity).not.toEqual(first);
  });

  it("raises one alert per matching pair: two sessions, two alerts", () => {
    const second = session({ Id: "5e4d3c2b-0000-4000-8000-000000000007", TimeGenerated: "2026-11-01T10:20:00.000Z", IPAddress: "198.18.1.11" });
    const result = runInputs({ nonInteractive: [ni()], interactive: [session(), second] });
    expect(result.map((a) => a.details.InteractiveIP).sort()).toEqual(["198.18.1.10", "198.18.1.11"]);
    expect(new Set(result.map((a) => a.identity.join("|"))).size).toBe(2);
  });
});

describe("join on UserPrincipalName", () => {
  it("pairs a user's own sign-ins only", () => {
    expect(alerts({ UserPrincipalName: "erin@contoso.com" })).toBe(0);
  });

  it("compares accounts lowercased and reports them lowercased", () => {
    const [alert] = run({ UserPrincipalName: "Dan@Contoso.com" }, { UserPrincipalName: "DAN@contoso.com" });
    expect(alert?.account).toBe("dan@contoso.com");
  });
});

describe("where IPAddress != InteractiveIP and Location != InteractiveCountry", () => {
  it.each([
    ["the same IP (and another country)", { IPAddress: "198.18.1.10" }, 0],
    ["the same country (and another IP), as erin's refresh in the scenario", { Location: "US" }, 0],
    ["the same IP and country", { IPAddress: "198.18.1.10", Location: "US" }, 0],
    ["another IP and another country", {}, 1],
  ])("%s -> %i alert(s)", (_name, overrides, expected) => {
    expect(alerts(overrides)).toBe(expected);
  });

  it("compares the country case-sensitively (!=): 'us' differs from 'US'", () => {
    expect(alerts({ Location: "us" })).toBe(1);
  });
});

describe("where (TimeGenerated - InteractiveTime) between (1m .. 2h)", () => {
  it.each([
    ["59 seconds", "2026-11-01T10:10:59.000Z", 0],
    ["exactly 1 minute", "2026-11-01T10:11:00.000Z", 1],
    ["exactly 2 hours", "2026-11-01T12:10:00.000Z", 1],
    ["2 hours and 1 second", "2026-11-01T12:10:01.000Z", 0],
    // Log Analytics datetimes are 100-ns ticks: the bounds are exact to the tick.
    ["1 minute less 100 ns", "2026-11-01T10:10:59.9999999Z", 0],
    ["2 hours and 100 ns", "2026-11-01T12:10:00.0000001Z", 0],
    ["2 hours and 0.5 ms (within a millisecond of the bound)", "2026-11-01T12:10:00.0005Z", 0],
    ["1 minute and 100 ns", "2026-11-01T10:11:00.0000001Z", 1],
    ["2 hours less 100 ns", "2026-11-01T12:09:59.9999999Z", 1],
    ["the refresh before the sign-in", "2026-11-01T10:00:00.000Z", 0],
  ])("a refresh %s after the sign-in (%s) -> %i alert(s)", (_name, time, expected) => {
    expect(alerts({ TimeGenerated: time })).toBe(expected);
  });

  it("measures the gap between two sub-millisecond times exactly", () => {
    // Both sides off the millisecond: 2 h exactly apart alerts, 2 h + 100 ns does not.
    expect(alerts({ TimeGenerated: "2026-11-01T12:10:00.1234567Z" }, { TimeGenerated: "2026-11-01T10:10:00.1234567Z" })).toBe(1);
    expect(alerts({ TimeGenerated: "2026-11-01T12:10:00.1234568Z" }, { TimeGenerated: "2026-11-01T10:10:00.1234567Z" })).toBe(0);
    expect(run({ TimeGenerated: "2026-11-01T10:40:00.1234567Z" })[0]!.time).toBe(tick("2026-11-01T10:40:00.1234567Z"));
    expect(summary(run({ TimeGenerated: "2026-11-01T10:40:00.1234567Z" })[0]!).time).toBe("2026-11-01T10:40:00.1234567Z");
  });

  it("reports the gap in minutes", () => {
    expect(run({ TimeGenerated: "2026-11-01T12:10:00.000Z" })[0]?.details.TimeSinceInteractiveMinutes).toBe(120);
  });
});

describe("interactive side: where ResultType == 0 and (singleFactorAuthentication or notApplied)", () => {
  it.each([
    ["single factor, CA not applied", "singleFactorAuthentication", "notApplied", 1],
    ["single factor, CA applied", "singleFactorAuthentication", "success", 1],
    ["multifactor, CA not applied", "multiFactorAuthentication", "notApplied", 1],
    ["multifactor, CA applied", "multiFactorAuthentication", "success", 0],
    ["single factor in another case (== is case-sensitive), CA applied", "SingleFactorAuthentication", "success", 0],
    ["multifactor, CA status in another case (== is case-sensitive)", "multiFactorAuthentication", "NotApplied", 0],
  ])("%s -> %i alert(s)", (_name, requirement, caStatus, expected) => {
    expect(alerts({}, { AuthenticationRequirement: requirement, ConditionalAccessStatus: caStatus })).toBe(expected);
  });

  it.each([
    ["text", "0", 1],
    ["a number", 0, 1],
    ["a failure code", "50126", 0],
    ["a failure code as a number", 50126, 0],
  ])("interactive ResultType as %s (%j) -> %i alert(s)", (_name, resultType, expected) => {
    expect(alerts({}, { ResultType: resultType })).toBe(expected);
  });
});

describe("non-interactive side: where ResultType == 0", () => {
  it.each([
    ["text", "0", 1],
    ["a number", 0, 1],
    ["a failure code", "50173", 0],
    ["a failure code as a number", 50173, 0],
  ])("ResultType as %s (%j) -> %i alert(s)", (_name, resultType, expected) => {
    expect(alerts({ ResultType: resultType })).toBe(expected);
  });

  it("does not look at the refresh's authentication requirement", () => {
    expect(alerts({ AuthenticationRequirement: "multiFactorAuthentication", ConditionalAccessStatus: "success" })).toBe(1);
  });
});

describe("KnownSafeIPs / KnownSafeNetworks (the network allowlist), on both sides", () => {
  it.each([
    ["the refresh's IPv4 address", "203.0.113.90", {}, {}, 0],
    ["the sign-in's IPv4 address", "198.18.1.10", {}, {}, 0],
    ["an IPv4 CIDR holding the refresh", "203.0.113.0/24", {}, {}, 0],
    ["an IPv4 CIDR holding the sign-in", "198.18.0.0/15", {}, {}, 0],
    ["an IPv4 CIDR holding neither", "192.0.2.0/24", {}, {}, 1],
    ["an IPv6 CIDR holding an IPv6 refresh", "2001:db8::/32", { IPAddress: "2001:db8:1f::25" }, {}, 0],
    ["an IPv6 CIDR holding an IPv6 sign-in", "2001:db8::/32", {}, { IPAddress: "2001:db8:1f::10" }, 0],
    ["an IPv6 CIDR holding neither", "2001:db8::/32", { IPAddress: "2001:db9::25" }, {}, 1],
    ["the default (empty) list", null, {}, {}, 1],
  ])("%s (%s) -> %i alert(s)", (_name, allowed, niOverrides, sessionOverrides, expected) => {
    const options = allowed === null ? {} : { lists: { network: [allowed] } };
    expect(alerts(niOverrides, sessionOverrides, options)).toBe(expected);
  });

  it("stops applying an entry once it has expired (as of the window's end)", () => {
    const expiring = (expiresAt: number) => ({ entries: [entry("network", "203.0.113.0/24", expiresAt)] });
    expect(alerts({}, {}, expiring(WINDOW.end + 1))).toBe(0);
    expect(alerts({}, {}, expiring(WINDOW.end - 1))).toBe(1);
  });

  it("keeps a refresh whose IP is not an address (ipv4_lookup with return_unmatched keeps it)", () => {
    expect(run({ IPAddress: "203.0.113" }, {}, { lists: { network: ["203.0.113.0/24"] } }).map(summary)).toEqual([
      { account: "dan@contoso.com", ip: "203.0.113", time: "2026-11-01T10:40:00.000Z" },
    ]);
    expect(run({ IPAddress: "" })[0]?.ip).toBeNull();
  });
});

describe("time bounds: the refresh must be a new event, TimeGenerated in [from, to)", () => {
  const range = { from: at("2026-11-01T10:30:00Z"), to: at("2026-11-01T11:00:00Z") };
  it.each([
    ["before from", "2026-11-01T10:29:59.999Z", 0],
    ["at from", "2026-11-01T10:30:00.000Z", 1],
    ["just before to", "2026-11-01T10:59:59.999Z", 1],
    ["at to", "2026-11-01T11:00:00.000Z", 0],
  ])("refresh %s (%s) -> %i alert(s)", (_name, time, expected) => {
    expect(alerts({ TimeGenerated: time }, {}, { eventRange: range })).toBe(expected);
  });

  it("pairs a new refresh with a sign-in from before from (history is context, not a trigger)", () => {
    // The sign-in at 10:10 precedes `from` (10:30); the refresh at 10:40 is new.
    expect(alerts({}, {}, { eventRange: range })).toBe(1);
  });
});

describe("follow-up inputs: the other side of a pair that arrived in an earlier window", () => {
  it("pairs a new refresh with an earlier-arrived sign-in", () => {
    expect(runInputs({ nonInteractive: [ni()], earlierInteractive: [session()] }).map(summary)).toEqual([
      { account: "dan@contoso.com", ip: "203.0.113.90", time: "2026-11-01T10:40:00.000Z" },
    ]);
  });

  it("pairs an earlier-arrived refresh with a sign-in that arrived in this window (a late sign-in)", () => {
    expect(runInputs({ earlierNonInteractive: [ni()], interactive: [session()] })).toHaveLength(1);
  });

  it("does not pair an earlier-arrived refresh with an earlier-arrived sign-in: an earlier run saw that pair", () => {
    expect(runInputs({ earlierNonInteractive: [ni()], earlierInteractive: [session()] })).toHaveLength(0);
  });

  it("applies the same filters to follow-up rows", () => {
    expect(runInputs({ nonInteractive: [ni()], earlierInteractive: [session({ AuthenticationRequirement: "multiFactorAuthentication", ConditionalAccessStatus: "success" })] })).toHaveLength(0);
    expect(runInputs({ earlierNonInteractive: [ni({ Location: "US" })], interactive: [session()] })).toHaveLength(0);
    expect(runInputs({ earlierNonInteractive: [ni({ TimeGenerated: "2026-11-01T12:10:01.000Z" })], interactive: [session()] })).toHaveLength(0);
  });

  it("gives a pair the same identity whichever side arrived last", () => {
    const viaNew = runInputs({ nonInteractive: [ni()], earlierInteractive: [session()] });
    const viaLate = runInputs({ earlierNonInteractive: [ni()], interactive: [session()] });
    expect(viaLate[0]!.identity).toEqual(viaNew[0]!.identity);
  });
});

describe("followUp: which earlier-arrived rows each side fetches", () => {
  it("asks for the users' sign-ins that arrived before the window, 2h to 1m before each new refresh (both ends included)", () => {
    const first = { nonInteractive: [ni({ UserPrincipalName: "Dan@Contoso.com" })], interactive: [] };
    const spec = rule.followUp!(WINDOW, first).earlierInteractive!;
    expect(spec).toMatchObject({ table: INTERACTIVE, arrived: { to: WINDOW.start }, accounts: ["dan@contoso.com"] });
    // [10:40 - 2h, 10:40 - 1m] as a half-open range
    expect(spec.time).toEqual({ from: at("2026-11-01T08:40:00Z"), to: at("2026-11-01T10:39:00Z") + 1 });
  });

  it("asks for the users' refreshes that arrived before the window, 1m to 2h after each new sign-in (both ends included)", () => {
    const first = { nonInteractive: [], interactive: [session()] };
    const spec = rule.followUp!(WINDOW, first).earlierNonInteractive!;
    expect(spec).toMatchObject({ table: NI, arrived: { to: WINDOW.start }, accounts: ["dan@contoso.com"] });
    expect(spec.time).toEqual({ from: at("2026-11-01T10:11:00Z"), to: at("2026-11-01T12:10:00Z") + 1 });
  });

  it("asks for nobody when the window brought no successful sign-in", () => {
    const first = { nonInteractive: [ni({ ResultType: "50173" })], interactive: [] };
    expect(rule.followUp!(WINDOW, first).earlierInteractive!.accounts).toEqual([]);
  });
});
