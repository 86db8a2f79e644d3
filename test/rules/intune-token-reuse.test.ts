// Intune - Possible refresh token / PRT reuse: one named case per condition of the seed,
// each the base AADNonInteractiveUserSignInLogs row (dan refreshing a Microsoft Graph
// token from 203.0.113.90, AS64501, Germany, password only) plus the fields it is about.
import { describe, expect, it } from "vitest";

import { intuneTokenReuse as rule } from "../../src/rules/intune-token-reuse.js";
import { at, context, entry, evaluate, row, summary, WINDOW, type ContextOptions, type Overrides, NARROW_RANGE, RANGE_EDGE_CASES } from "../support/rows.js";

const NI = "AADNonInteractiveUserSignInLogs";
/** dan's 14 days: his office network only. */
const OFFICE = { "dan@contoso.com": { ips: ["198.18.1.10"], asns: ["8075"] } };

const run = (overrides: Overrides = {}, options: ContextOptions = {}) =>
  evaluate(rule, { signIns: [row(NI, overrides)] }, context({ baseline: OFFICE, ...options }));
const alerts = (overrides: Overrides = {}, options: ContextOptions = {}) => run(overrides, options).length;

describe("Intune token reuse: the base row", () => {
  it("alerts on a password-only Graph token from an IP and ASN unseen for the user", () => {
    const [alert, ...rest] = run();
    expect(rest).toHaveLength(0);
    expect(summary(alert!)).toEqual({ account: "dan@contoso.com", ip: "203.0.113.90", time: "2026-11-01T10:40:00.000Z" });
    expect(alert!.details).toMatchObject({
      ASN: "64501",
      ResourceDisplayName: "Microsoft Graph",
      AppDisplayName: "Microsoft Authentication Broker",
      UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
      Location: "DE",
      baseline: "IP and ASN unseen in the baseline period",
    });
  });

  it("gives the same identity for the same sign-in twice, and another for another sign-in", () => {
    const first = run()[0]!.identity;
    expect(run()[0]!.identity).toEqual(first);
    expect(run({ Id: "0d6c1b2a-0000-4000-8000-000000000005" })[0]!.identity).not.toEqual(first);
  });

  it("names each seed output row: two sign-ins without Id or token id at the same time, to two resources, are two identities", () => {
    const blank = { Id: "", UniqueTokenIdentifier: "" };
    const result = evaluate(rule, { signIns: [row(NI, blank), row(NI, { ...blank, ResourceDisplayName: "Microsoft Intune" })] }, context({ baseline: OFFICE }));
    expect(result).toHaveLength(2);
    expect(new Set(result.map((a) => a.identity.join("|"))).size).toBe(2);
  });

  it("asks for the baselines of the candidate users only, lowercased", () => {
    const signIns = [row(NI, { UserPrincipalName: "Dan@Contoso.com" }), row(NI, { UserPrincipalName: "erin@contoso.com", ResultType: "50126" })];
    expect([...rule.baselineAccounts!({ signIns }, context())]).toEqual(["dan@contoso.com"]);
  });
});

describe("join kind=leftouter baseline on UPN | where isnull(KnownIPs) or (IP unseen and ASN unseen)", () => {
  it("alerts when the user has no baseline", () => {
    const [alert] = run({}, { baseline: {} });
    expect(alert?.details.baseline).toBe("no baseline for this user");
  });

  it("alerts when the user's baseline is stale (aged out of the view, so absent from it)", () => {
    expect(alerts({}, { baseline: { "erin@contoso.com": { ips: ["203.0.113.90"], asns: ["64501"] } } })).toBe(1);
  });

  it("raises nothing from a known IP, even in a new ASN", () => {
    expect(alerts({ IPAddress: "198.18.1.10" })).toBe(0);
  });

  it("raises nothing from a known ASN, even from a new IP", () => {
    expect(alerts({ AutonomousSystemNumber: "8075" })).toBe(0);
  });

  it("reads AutonomousSystemNumber given as a number like its text", () => {
    expect(alerts({ AutonomousSystemNumber: 8075 })).toBe(0);
    const [alert] = run({ AutonomousSystemNumber: 64501 });
    expect(alert?.details.ASN).toBe("64501");
  });

  it("looks the baseline up by lowercase UPN and reports the account lowercased", () => {
    expect(alerts({ UserPrincipalName: "Dan@Contoso.COM", IPAddress: "198.18.1.10" })).toBe(0);
    expect(run({ UserPrincipalName: "Dan@Contoso.COM" })[0]?.account).toBe("dan@contoso.com");
  });

});

describe("while the tenant's baseline is still learning (not established)", () => {
  const learning = (overrides: Overrides = {}, options: ContextOptions = {}) => {
    const signIns = [row(NI, overrides)];
    const ctx = context({ baseline: OFFICE, established: false, ...options });
    return { alerts: evaluate(rule, { signIns }, ctx).length, heldBack: rule.heldBack!({ signIns }, ctx) };
  };

  it("still alerts on a user who has a baseline, from a new IP and a new ASN", () => {
    expect(learning()).toEqual({ alerts: 1, heldBack: 0 });
  });

  it("raises nothing for a user with a baseline from a known IP or a known ASN", () => {
    expect(learning({ IPAddress: "198.18.1.10" })).toEqual({ alerts: 0, heldBack: 0 });
    expect(learning({ AutonomousSystemNumber: "8075" })).toEqual({ alerts: 0, heldBack: 0 });
  });

  it("holds back a user without a baseline, and counts the sign-in", () => {
    expect(learning({}, { baseline: {} })).toEqual({ alerts: 0, heldBack: 1 });
  });

  it("counts only sign-ins that pass the seed's other filters", () => {
    expect(learning({ ResultType: "50126" }, { baseline: {} })).toEqual({ alerts: 0, heldBack: 0 });
    expect(learning({ ResourceDisplayName: "Office 365 Exchange Online" }, { baseline: {} })).toEqual({ alerts: 0, heldBack: 0 });
  });

  it("holds nothing back once the baseline is established: a user without one alerts", () => {
    expect(learning({}, { baseline: {}, established: true })).toEqual({ alerts: 1, heldBack: 0 });
  });
});

describe("where ResultType == 0", () => {
  it.each([
    ["text", "0", 1],
    ["a number", 0, 1],
    ["a failure code as text", "50126", 0],
    ["a failure code as a number", 50126, 0],
  ])("ResultType as %s (%j) -> %i alert(s)", (_name, resultType, expected) => {
    expect(alerts({ ResultType: resultType })).toBe(expected);
  });
});

describe("where ResourceDisplayName has_any (intuneResources)", () => {
  it.each(["Microsoft Intune", "Microsoft Intune API", "Device Management", "Windows 365", "Microsoft Graph"])("%j alerts", (resource) => {
    expect(alerts({ ResourceDisplayName: resource })).toBe(1);
  });

  it.each([
    ["in another case (has_any is case-insensitive)", "microsoft intune", 1],
    ["containing a listed name as whole terms", "Microsoft Intune Enrollment", 1],
    ["another resource", "Office 365 Exchange Online", 0],
    ["a listed name only inside a longer term", "Microsoft Intunes", 0],
    ["part of a listed name", "Intune", 0],
    // A multi-term needle is a phrase: its separators match literally (README, "has_any phrases").
    ["the terms joined by another separator", "Microsoft.Intune", 0],
    ["the terms with two spaces between them", "Microsoft  Intune", 0],
    ["the phrase bounded by punctuation", "(Microsoft Intune)", 1],
  ])("%s: %j -> %i alert(s)", (_name, resource, expected) => {
    expect(alerts({ ResourceDisplayName: resource })).toBe(expected);
  });
});

describe('where tostring(AuthenticationDetails) !has "Multifactor"', () => {
  const step = (requirement: string) =>
    JSON.stringify([{ authenticationMethod: "Mobile app notification", succeeded: true, authenticationStepRequirement: requirement }]);

  it.each([
    ["a multifactor step", step("Multifactor authentication"), 0],
    ["in lower case (has is case-insensitive)", step("multifactor authentication"), 0],
    ["only inside a longer term", step("MultifactorAuthentication"), 1],
    ["a password step", step("Primary authentication"), 1],
  ])("%s -> %i alert(s)", (_name, details, expected) => {
    expect(alerts({ AuthenticationDetails: details })).toBe(expected);
  });

  it("reads AuthenticationDetails given as an array (dynamic) like its JSON text", () => {
    expect(alerts({ AuthenticationDetails: JSON.parse(step("Multifactor authentication")) })).toBe(0);
    expect(alerts({ AuthenticationDetails: JSON.parse(step("Primary authentication")) })).toBe(1);
  });
});

describe("where not(ipv4_is_in_any_range(IPAddress, NetworkAllowlist)) (the network allowlist)", () => {
  it.each([
    ["an IPv4 address", "203.0.113.90", {}, 0],
    ["another IPv4 address", "203.0.113.91", {}, 1],
    ["an IPv4 CIDR holding the IP", "203.0.113.0/24", {}, 0],
    ["an IPv4 CIDR not holding it", "203.0.114.0/24", {}, 1],
    ["an IPv6 CIDR holding an IPv6 sign-in", "2001:db8::/32", { IPAddress: "2001:db8:1f::25" }, 0],
    ["an IPv6 CIDR not holding it", "2001:db8::/32", { IPAddress: "2001:db9::25" }, 1],
  ])("%s (%s) -> %i alert(s)", (_name, allowed, overrides, expected) => {
    expect(alerts(overrides, { lists: { network: [allowed] } })).toBe(expected);
  });

  it("stops applying an entry once it has expired (as of the window's end)", () => {
    const expiring = (expiresAt: number) => ({ entries: [entry("network", "203.0.113.0/24", expiresAt)] });
    expect(alerts({}, expiring(WINDOW.end + 1))).toBe(0);
    expect(alerts({}, expiring(WINDOW.end - 1))).toBe(1);
  });

  it.each([
    ["empty", ""],
    ["not an address", "203.0.113"],
  ])("drops a sign-in whose IP is %s (not(null) is null in KQL), baseline or not", (_name, ip) => {
    expect(alerts({ IPAddress: ip })).toBe(0);
    expect(alerts({ IPAddress: ip }, { baseline: {} })).toBe(0);
  });
});

describe("time bounds: only events with TimeGenerated in [from, to) are new", () => {
  const range = NARROW_RANGE;
  it.each(RANGE_EDGE_CASES)("%s (%s) -> %i alert(s)", (_name, time, expected) => {
    expect(alerts({ TimeGenerated: time }, { eventRange: range })).toBe(expected);
  });
});

describe("LocationDetails as JSON text or as an object", () => {
  it("reports countryOrRegion either way", () => {
    const location = { city: "Berlin", state: "Berlin", countryOrRegion: "DE" };
    expect(run({ LocationDetails: location })[0]?.details.Location).toBe("DE");
    expect(run({ LocationDetails: JSON.stringify(location) })[0]?.details.Location).toBe("DE");
  });
});
