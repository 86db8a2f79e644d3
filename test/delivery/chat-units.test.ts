// Teams and Slack messages as pure functions: what a summary carries, the incident link,
// and every message checked against what the services accept (payloads.ts): the Adaptive
// Card 1.5 JSON schema and Slack's Block Kit limits, including for oversized incidents.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fromMs } from "../../src/model/time.js";
import { facts, incidentLink, slackMessage, summarise, teamsMessage, testSummary, type ChatSummary } from "../../src/delivery/chat.js";
import { buildEvent, type WebhookEvent } from "../../src/delivery/schema.js";
import type { Alert, Incident } from "../../src/engine/incidents.js";
import { factsOf, linkOf, slackProblems, teamsProblems } from "./payloads.js";

const T0 = Date.parse("2026-11-22T08:00:00Z");
const MIN = 60_000;

const incident = (alertIds: string[], patch: Partial<Incident> = {}): Incident => ({
  id: "inc_0123456789abcdef",
  ruleId: "rule-pivot",
  ruleName: "Interactive to Non-Interactive Token Theft Pivot",
  account: "alice@contoso.com",
  severity: "High",
  status: "New",
  title: "Token Pivot - alice@contoso.com NI token from 203.0.113.9 after interactive auth",
  firstAlertTime: fromMs(T0),
  lastAlertTime: fromMs(T0 + alertIds.length * MIN),
  alertIds,
  createdAt: T0,
  updatedAt: T0,
  owner: null,
  classification: null,
  ...patch,
});

const pivotAlert = (n: number, ip: string, country: string): Alert => ({
  id: `a${n}`,
  incidentId: "inc_0123456789abcdef",
  ruleId: "rule-pivot",
  ruleName: "Interactive to Non-Interactive Token Theft Pivot",
  severity: "High",
  time: fromMs(T0 + n * MIN),
  account: "alice@contoso.com",
  ip,
  title: `pivot ${n}`,
  details: { InteractiveIP: "198.51.100.1", InteractiveCountry: "NL", NonInteractiveCountry: country, AppDisplayName: "Outlook" },
  entities: [{ type: "account", name: "alice@contoso.com" }, { type: "ip", address: ip }],
});

const event = (type: "incident.created" | "incident.alertAdded" | "incident.updated", inc: Incident, alerts: Alert[]): WebhookEvent =>
  buildEvent({ id: `evt_${type}_${inc.alertIds.length}`, type, time: inc.updatedAt, incident: inc, alerts });

describe("chat summaries", () => {
  it("builds the console link in one place, whatever the base URL's trailing slashes", () => {
    expect(incidentLink("https://tw.example.com", "inc_1")).toBe("https://tw.example.com/#/incident/inc_1");
    expect(incidentLink("https://tw.example.com/console//", "a/b#c")).toBe("https://tw.example.com/console/#/incident/a%2Fb%23c");
  });

  it("summarises merged events: the latest incident state, every announced alert, their IPs and countries", () => {
    const a1 = pivotAlert(1, "203.0.113.9", "US");
    const a2 = pivotAlert(2, "203.0.113.10", "BR");
    const a3 = pivotAlert(3, "203.0.113.9", "US");
    const events = [
      event("incident.created", incident(["a1"]), [a1]),
      event("incident.alertAdded", incident(["a1", "a2", "a3"]), [a2, a3]),
      event("incident.updated", incident(["a1", "a2", "a3"], { status: "Active", owner: "bob@contoso.com" }), []),
    ];
    const s = summarise(events, "https://tw.example.com/");
    expect(s).toMatchObject({
      kind: "created",
      newAlerts: 3,
      rules: ["Interactive to Non-Interactive Token Theft Pivot"],
      ips: ["203.0.113.9", "198.51.100.1", "203.0.113.10"],
      countries: ["NL", "US", "BR"],
      link: "https://tw.example.com/#/incident/inc_0123456789abcdef",
    });
    expect(s.incident.status).toBe("Active");
    expect(summarise(events.slice(1, 2), null)).toMatchObject({ kind: "alertAdded", newAlerts: 2, link: null });
    expect(summarise(events.slice(2), null)).toMatchObject({ kind: "updated", newAlerts: 0, ips: [], countries: [] });

    const facts = factsOf("teams", teamsMessage(s));
    expect(facts).toEqual({
      Severity: "High",
      Account: "alice@contoso.com",
      Rule: "Interactive to Non-Interactive Token Theft Pivot",
      "IP addresses": "203.0.113.9, 198.51.100.1, 203.0.113.10",
      Countries: "NL, US, BR",
      "First alert": "2026-11-22 08:00:00 UTC",
      "Last alert": "2026-11-22 08:03:00 UTC",
      Alerts: "3",
      "New in this message": "3",
      Status: "Active (owner bob@contoso.com)",
    });
    expect(factsOf("slack", slackMessage(s))).toEqual(facts);
    expect(linkOf("teams", teamsMessage(s))).toBe(s.link);
    expect(linkOf("slack", slackMessage(s))).toBe(s.link);
  });
});

/** A summary far past what any message may hold: 400 IPs, long names, Slack markup characters. */
function oversized(): ChatSummary {
  const ips = Array.from({ length: 400 }, (_, i) => `2001:db8::${i.toString(16)}`);
  const s = summarise([event("incident.created", incident(["a1"]), [pivotAlert(1, "203.0.113.9", "US")])], "https://tw.example.com");
  return {
    ...s,
    ips,
    countries: Array.from({ length: 60 }, (_, i) => `Country <${i}> & more`),
    rules: Array.from({ length: 20 }, (_, i) => `rule ${i} ${"x".repeat(300)}`),
    incident: { ...s.incident, account: `${"very.long.name.".repeat(40)}@contoso.com`, title: "t".repeat(5000) },
  };
}

describe("Teams: Adaptive Card 1.5 in the Workflows envelope", () => {
  const cases: [string, ChatSummary][] = [
    ["a new incident", summarise([event("incident.created", incident(["a1"]), [pivotAlert(1, "203.0.113.9", "US")])], "https://tw.example.com")],
    ["an update without a console URL", summarise([event("incident.updated", incident(["a1"], { status: "Closed" }), [])], null)],
    ["the test message", testSummary(T0)],
    ["an oversized incident", oversized()],
  ];
  it.each(cases)("validates against the Adaptive Card 1.5 schema: %s", (_name, s) => {
    expect(teamsProblems(JSON.stringify(teamsMessage(s)))).toEqual([]);
  });

  it("the schema check is not vacuous: it rejects an unknown element and a bad action", () => {
    const message = teamsMessage(testSummary(T0));
    const card = message.attachments[0].content as unknown as Record<string, unknown[]>;
    card.body!.push({ type: "Gauge", value: 3 });
    expect(teamsProblems(JSON.stringify(message)).length).toBeGreaterThan(0);
    const noUrl = teamsMessage(cases[0]![1]) as unknown as { attachments: { content: { actions: Record<string, unknown>[] } }[] };
    delete noUrl.attachments[0]!.content.actions[0]!.url;
    expect(teamsProblems(JSON.stringify(noUrl)).length).toBeGreaterThan(0);
  });

  it("the card example in docs/webhooks.md is a valid message with today's facts", () => {
    const doc = readFileSync(new URL("../../docs/webhooks.md", import.meta.url), "utf8");
    const example = /<!-- teams-card-example -->\n```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(teamsProblems(example!)).toEqual([]);
    expect(Object.keys(factsOf("teams", JSON.parse(example!)))).toEqual(facts(cases[0]![1]).map(([label]) => label));
  });

  it("shows at most ten IPs and says how many more", () => {
    expect(factsOf("teams", teamsMessage(oversized()))["IP addresses"]).toMatch(/^2001:db8::0, .* and 390 more$/);
  });
});

describe("Slack: Block Kit within its limits", () => {
  it("keeps an oversized incident inside 50 blocks and the text limits, with mrkdwn escaped", () => {
    const message = slackMessage(oversized());
    expect(slackProblems(JSON.stringify(message))).toEqual([]);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    expect(factsOf("slack", message).Countries).toContain("Country &lt;0&gt; &amp; more");
  });

  it("the limit check is not vacuous: 51 blocks or a 3,001-character section fail", () => {
    const message = slackMessage(testSummary(T0));
    const many = { ...message, blocks: Array.from({ length: 51 }, () => message.blocks[1]) };
    expect(slackProblems(JSON.stringify(many)).length).toBeGreaterThan(0);
    const long = { ...message, blocks: [{ type: "section", text: { type: "mrkdwn", text: "x".repeat(3001) } }] };
    expect(slackProblems(JSON.stringify(long)).length).toBeGreaterThan(0);
  });
});
