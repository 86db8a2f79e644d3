// Forked session: one named case per condition. The session is dan's laptop session, begun
// with an interactive sign-in at 09:10 from the office (198.18.1.10, AS8075, US) in Edge on
// his registered laptop; each case is a non-interactive sign-in of the same session in the
// 10:00-11:00 window, the base row (10:40, 203.0.113.90, AS64501, DE) plus what it is about.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { clientFamily, remember, SessionFold } from "../../src/rules/sessions.js";
import { forget, type SessionState } from "../../src/model/sessions.js";
import { forkedSession as rule, forkOf } from "../../src/rules/forked-session.js";
import { sessionSignIn } from "../../src/rules/sessions.js";
import { MemorySessions } from "../../src/store/memory.js";
import { at, context, evaluate, row, summary, tick, type ContextOptions, type Overrides } from "../support/rows.js";

const SI = "SigninLogs";
const NI = "AADNonInteractiveUserSignInLogs";
const SESSION = "54b4f7f9-dae2-145f-61c4-8b2c2092041c";

const EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0";
const WAM = "Windows-AzureAD-Authentication-Provider/1.0";
const IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const LAPTOP = { deviceId: "5a1c0b7e-0000-4000-8000-00000000a001", operatingSystem: "Windows10", browser: "Edge 130.0.0" };
const PHONE = { deviceId: "5a1c0b7e-0000-4000-8000-00000000b002", operatingSystem: "Ios", browser: "Rich Client 4.66.0.0" };

/** dan's laptop in Edge, at home in the US: a new ASN only. Each case changes what it is about. */
const SAME_LAPTOP: Overrides = { DeviceDetail: JSON.stringify(LAPTOP), UserAgent: EDGE, Location: "US" };

/** dan's session as stored before the window: the 09:10 interactive sign-in, and a refresh from WAM on the same laptop. */
function laptopSession(overrides: Overrides = {}): SessionState {
  const first = row(SI, { TimeGenerated: "2026-11-01T09:10:00.000Z", DeviceDetail: LAPTOP, UserAgent: EDGE, ...overrides });
  const refresh = row(NI, { TimeGenerated: "2026-11-01T09:30:00.000Z", IPAddress: "198.18.1.10", AutonomousSystemNumber: "8075", Location: "US", DeviceDetail: JSON.stringify(LAPTOP), UserAgent: WAM, Id: "b4130a81-0000-4000-8000-000000000001" });
  return remember(remember(undefined, first), refresh);
}

const run = (overrides: Overrides = {}, options: ContextOptions = {}) =>
  evaluate(rule, { interactive: [], nonInteractive: [row(NI, { ...SAME_LAPTOP, ...overrides })] }, context({ sessions: [laptopSession()], ...options }));
const alerts = (overrides: Overrides = {}, options: ContextOptions = {}) => run(overrides, options).length;

/** The attacker's replay: a hosting ASN, no device id, python-requests. */
const ATTACKER: Overrides = { DeviceDetail: '{"deviceId":"","operatingSystem":"Linux","browser":"Python Requests 2.31"}', UserAgent: "python-requests/2.31.0", IPAddress: "20.81.7.4", AutonomousSystemNumber: "8068", Location: "US" };

describe("Forked session: the attack", () => {
  it("alerts on the session replayed from a hosting ASN by another client, with the first and the new sign-in side by side", () => {
    const [alert, ...rest] = run(ATTACKER);
    expect(rest).toHaveLength(0);
    expect(summary(alert!)).toEqual({ account: "dan@contoso.com", ip: "20.81.7.4", time: "2026-11-01T10:40:00.000Z" });
    expect(alert!.details).toMatchObject({
      SessionId: SESSION,
      New: "ASN 8068; no device id; operating system Linux; client python-requests",
      FirstTime: "2026-11-01T09:10:00.000Z",
      FirstIP: "198.18.1.10",
      FirstASN: "8075",
      FirstCountry: "US",
      FirstDeviceId: LAPTOP.deviceId,
      FirstOS: "Windows10",
      FirstBrowser: "Edge",
      FirstClient: "Microsoft Edge",
      NewTime: "2026-11-01T10:40:00.000Z",
      NewIP: "20.81.7.4",
      NewASN: "8068",
      NewDeviceId: "",
      NewOS: "Linux",
      NewClient: "python-requests",
      SeenASNs: "8075",
      SeenClients: "Microsoft Edge, Windows-AzureAD-Authentication-Provider",
    });
    expect(alert!.entities).toEqual([{ type: "account", name: "dan@contoso.com" }, { type: "ip", address: "20.81.7.4" }]);
  });

  it("gives the same identity for the same sign-in twice, and another for another sign-in", () => {
    const first = run(ATTACKER)[0]!.identity;
    expect(run(ATTACKER)[0]!.identity).toEqual(first);
    expect(run({ ...ATTACKER, Id: "0d6c1b2a-0000-4000-8000-000000000005" })[0]!.identity).not.toEqual(first);
  });

  it("judges interactive sign-ins of the session too", () => {
    const signIn = row(SI, { ...ATTACKER, TimeGenerated: "2026-11-01T10:50:00.000Z", Id: "187190c4-0000-4000-8000-000000000009" });
    expect(evaluate(rule, { interactive: [signIn], nonInteractive: [] }, context({ sessions: [laptopSession()] }))).toHaveLength(1);
  });

  it("alerts once for a forked session: the attacker's next sign-ins in the window are no longer new", () => {
    const replays = [10, 20, 30].map((m) => row(NI, { ...ATTACKER, TimeGenerated: `2026-11-01T10:${m}:00.000Z`, Id: `b4130a81-0000-4000-8000-0000000000${m}` }));
    const result = evaluate(rule, { interactive: [], nonInteractive: replays.reverse() }, context({ sessions: [laptopSession()] }));
    expect(result.map((a) => summary(a).time)).toEqual(["2026-11-01T10:10:00.000Z"]);
  });

  it("sees a fork of a session begun earlier in the same window", () => {
    const start = row(SI, { DeviceDetail: LAPTOP, UserAgent: EDGE, TimeGenerated: "2026-11-01T10:05:00.000Z" });
    const result = evaluate(rule, { interactive: [start], nonInteractive: [row(NI, ATTACKER)] }, context());
    expect(result.map(summary)).toEqual([{ account: "dan@contoso.com", ip: "20.81.7.4", time: "2026-11-01T10:40:00.000Z" }]);
  });
});

describe("a new ASN AND a new device or client", () => {
  it("roaming phone: the same phone moving from Wi-Fi to its carrier (new ASN, same device id) does not alert", () => {
    const phoneSession = remember(undefined, row(NI, { TimeGenerated: "2026-11-01T09:40:00.000Z", IPAddress: "198.51.100.7", AutonomousSystemNumber: "7922", DeviceDetail: JSON.stringify(PHONE), UserAgent: IOS, Location: "US" }));
    const carrier = { IPAddress: "172.58.9.1", AutonomousSystemNumber: "21928", Location: "US", DeviceDetail: JSON.stringify(PHONE), UserAgent: IOS };
    expect(alerts(carrier, { sessions: [phoneSession] })).toBe(0);
  });

  it("roaming phone without a registered device: the same OS and client on the carrier does not alert", () => {
    const unregistered = { deviceId: "", operatingSystem: "Android", browser: "Rich Client 4.66.0.0" };
    const ua = "Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A.231005.007)";
    const phoneSession = remember(undefined, row(NI, { TimeGenerated: "2026-11-01T09:40:00.000Z", AutonomousSystemNumber: "7922", Location: "US", DeviceDetail: JSON.stringify(unregistered), UserAgent: ua }));
    expect(alerts({ AutonomousSystemNumber: "21928", Location: "US", DeviceDetail: JSON.stringify({ ...unregistered, browser: "Chrome Mobile 130" }), UserAgent: ua }, { sessions: [phoneSession] })).toBe(0);
  });

  it("sessions shared across apps: the laptop from home in another app (known device id, new client) does not alert", () => {
    expect(alerts({ AutonomousSystemNumber: "7922", Location: "US", UserAgent: "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928)" })).toBe(0);
  });

  it("new country: the same laptop and client from another country's ASN does not alert on its own (the pivot rule's pattern, and a traveller's)", () => {
    expect(alerts({ Location: "DE" })).toBe(0);
  });

  it("new country with a new client: alerts, and names the country among what is new", () => {
    const [alert] = run({ ...ATTACKER, Location: "NL" });
    expect(alert?.details.New).toBe("ASN 8068; no device id; operating system Linux; client python-requests; country NL");
  });

  it("new device: another registered device id alerts", () => {
    const [alert] = run({ DeviceDetail: JSON.stringify({ ...LAPTOP, deviceId: "5a1c0b7e-0000-4000-8000-00000000c003" }) });
    expect(alert?.details.New).toBe("ASN 64501; device 5a1c0b7e-0000-4000-8000-00000000c003");
  });

  it("new device: no device id in a session only ever used with one alerts, even with the same OS and client", () => {
    const [alert] = run({ DeviceDetail: JSON.stringify({ ...LAPTOP, deviceId: "" }) });
    expect(alert?.details.New).toBe("ASN 64501; no device id");
  });

  it("new device: another operating system without a device id alerts", () => {
    const bare = laptopSession({ DeviceDetail: { deviceId: "", operatingSystem: "Windows10", browser: "Edge 130.0.0" } });
    expect(alerts({ DeviceDetail: JSON.stringify({ deviceId: "", operatingSystem: "MacOs", browser: "Edge 130.0.0" }) }, { sessions: [bare] })).toBe(1);
  });

  it("new client: another user-agent family from a device not known by id alerts; a new version of the same does not", () => {
    const bare = laptopSession({ DeviceDetail: { deviceId: "", operatingSystem: "Windows10", browser: "Edge 130.0.0" } });
    const noId = JSON.stringify({ deviceId: "", operatingSystem: "Windows10", browser: "Chrome 120.0.0" });
    expect(alerts({ DeviceDetail: noId, UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36" }, { sessions: [bare] })).toBe(1);
    expect(alerts({ DeviceDetail: noId, UserAgent: EDGE.replaceAll("130.0.0.0", "131.0.0.0") }, { sessions: [bare] })).toBe(0);
  });

  it("a known ASN does not alert, whatever the device and client", () => {
    expect(alerts({ ...ATTACKER, AutonomousSystemNumber: "8075" })).toBe(0);
  });

  it("an empty ASN is unknown, never new", () => {
    expect(alerts({ ...ATTACKER, AutonomousSystemNumber: "" })).toBe(0);
  });

  it("reads AutonomousSystemNumber given as a number like its text", () => {
    expect(alerts({ ...ATTACKER, AutonomousSystemNumber: 8075 })).toBe(0);
    expect(run({ ...ATTACKER, AutonomousSystemNumber: 8068 })[0]?.details.NewASN).toBe("8068");
  });

  it("the measured variants: a new ASN alone, and a new country counting like a new device", () => {
    const state = laptopSession();
    const sameLaptopAbroad = sessionSignIn(row(NI, { ...SAME_LAPTOP, Location: "DE" }));
    expect(forkOf(state, sameLaptopAbroad)).toBeNull();
    expect(forkOf(state, sameLaptopAbroad, "asn+device-client-or-country")).toEqual(["ASN 64501", "country DE"]);
    expect(forkOf(state, sessionSignIn(row(NI, { ...SAME_LAPTOP, Location: "US" })), "asn")).toEqual(["ASN 64501"]);
  });
});

describe("what the rule judges", () => {
  it("allowlisted network: a fork from an address in the `network` list does not alert", () => {
    expect(alerts(ATTACKER, { lists: { network: ["20.81.0.0/16"] } })).toBe(0);
    expect(alerts(ATTACKER, { lists: { network: ["20.82.0.0/16"] } })).toBe(1);
  });

  it("empty SessionId never matches: no session, no alert, nothing remembered", () => {
    const blank = laptopSession({ SessionId: "" });
    expect(alerts({ ...ATTACKER, SessionId: "" }, { sessions: [blank] })).toBe(0);
    expect([...rule.sessions!.refs({ interactive: [row(SI, { SessionId: "" })], nonInteractive: [] } as never)]).toEqual([]);
  });

  it("an unknown session (no state) is the session's first use: no alert", () => {
    expect(alerts(ATTACKER, { sessions: [] })).toBe(0);
  });

  it("expired session state: values last seen before the lifetime are forgotten, and a session with none left is unknown", async () => {
    const state = laptopSession();
    expect(forget(state, tick("2026-11-01T09:30:00.000Z"))).toBeUndefined();
    const partly = forget(state, tick("2026-11-01T09:20:00.000Z"))!;
    expect([...partly.seen.client.keys()]).toEqual(["Windows-AzureAD-Authentication-Provider"]);
    // As the engine reads it: 14 days after the session's last use, the store no longer has it, and the fork is a first use.
    const store = new MemorySessions();
    await store.save([state]);
    const fresh = await store.load([{ sessionId: SESSION, account: state.account }], at("2026-11-01T10:00:00Z") - 14 * 86_400_000);
    const expired = await store.load([{ sessionId: SESSION, account: state.account }], at("2026-11-15T09:31:00Z") - 14 * 86_400_000);
    expect(alerts(ATTACKER, { sessions: [...fresh.values()] })).toBe(1);
    expect(expired.size).toBe(0);
    expect(alerts(ATTACKER, { sessions: [...expired.values()] })).toBe(0);
  });

  it("a failed sign-in is neither judged nor remembered", () => {
    expect(alerts({ ...ATTACKER, ResultType: "50126" })).toBe(0);
    expect([...rule.sessions!.refs({ interactive: [], nonInteractive: [row(NI, { ResultType: "53003" })] } as never)]).toEqual([]);
  });

  it("late arrival: a sign-in that happened before the window and arrived in it is judged (once, in the window it arrived in)", () => {
    const late = { ...ATTACKER, TimeGenerated: "2026-11-01T06:00:00.000Z", _TimeReceived: "2026-11-01T10:30:00.000Z" };
    expect(run(late).map(summary)).toEqual([{ account: "dan@contoso.com", ip: "20.81.7.4", time: "2026-11-01T06:00:00.000Z" }]);
  });

  it("history (TimeGenerated before --from) is remembered but raises nothing", () => {
    expect(alerts(ATTACKER, { eventRange: { from: at("2026-11-01T11:00:00Z"), to: at("2026-11-02T00:00:00Z") } })).toBe(0);
  });

  it("reports the account lowercased", () => {
    expect(run({ ...ATTACKER, UserPrincipalName: "Dan@Contoso.COM" })[0]?.account).toBe("dan@contoso.com");
  });
});

describe("session state", () => {
  it("keeps the earliest sign-in as the first, whatever the order rows are remembered in", () => {
    const a = row(NI, { TimeGenerated: "2026-11-01T08:00:00.000Z" });
    const b = row(NI, { TimeGenerated: "2026-11-01T07:00:00.000Z", IPAddress: "198.18.1.10" });
    expect(remember(remember(undefined, a), b).first.ip).toBe("198.18.1.10");
    expect(remember(remember(undefined, b), a).first.ip).toBe("198.18.1.10");
  });

  it("keeps each value's latest sighting: a late row never moves it back", () => {
    const newer = row(NI, { TimeGenerated: "2026-11-01T08:00:00.000Z" });
    const older = row(NI, { TimeGenerated: "2026-11-01T07:00:00.000Z" });
    expect(remember(remember(undefined, newer), older).seen.asn.get("64501")).toBe(tick("2026-11-01T08:00:00.000Z"));
  });

  it("a window's fold gives what remember() gives one sign-in at a time, and leaves the states it started from as they were", () => {
    // Few values and times, so that sessions share them, tie, and pass 32 values per facet.
    const signIn = fc.record({
      session: fc.constantFrom("s1", "s2", "s3"),
      minute: fc.integer({ min: 0, max: 59 }),
      id: fc.constantFrom("a", "b", "c"),
      asn: fc.integer({ min: 0, max: 40 }),
      device: fc.constantFrom("", "d1", "d2"),
      country: fc.constantFrom("", "US", "DE"),
    });
    const rowOf = (s: { session: string; minute: number; id: string; asn: number; device: string; country: string }) =>
      row(NI, {
        SessionId: s.session,
        Id: s.id,
        TimeGenerated: `2026-11-01T10:${String(s.minute).padStart(2, "0")}:00.000Z`,
        AutonomousSystemNumber: s.asn === 0 ? "" : String(s.asn),
        Location: s.country,
        DeviceDetail: JSON.stringify({ ...LAPTOP, deviceId: s.device }),
      });
    fc.assert(
      fc.property(fc.array(signIn, { maxLength: 30 }), fc.array(signIn, { minLength: 1, maxLength: 120 }), (history, window) => {
        const before = new Map<string, SessionState>();
        for (const r of history.map(rowOf)) before.set(r.SessionId, remember(before.get(r.SessionId), r));
        const snapshot = structuredClone([...before]);
        const fold = new SessionFold((id) => before.get(id));
        const oneByOne = new Map(before);
        for (const r of window.map(rowOf)) {
          expect(fold.get(r.SessionId)).toEqual(oneByOne.get(r.SessionId));
          fold.add(r);
          oneByOne.set(r.SessionId, remember(oneByOne.get(r.SessionId), r));
        }
        const touched = [...fold.touched()];
        expect(new Set(touched.map((s) => s.sessionId))).toEqual(new Set(window.map((s) => s.session)));
        for (const state of touched) expect(state).toEqual(oneByOne.get(state.sessionId));
        expect([...before]).toEqual(snapshot);
      }),
      { numRuns: 300 },
    );
  });

  it("names user-agent families without versions, and clients Bowser does not know by their product token", () => {
    expect(clientFamily(EDGE)).toBe("Microsoft Edge");
    expect(clientFamily(WAM)).toBe("Windows-AzureAD-Authentication-Provider");
    expect(clientFamily("python-requests/2.31.0")).toBe("python-requests");
    expect(clientFamily("")).toBe("");
  });
});
