// Chat formats: a subscription's events as a message people read in Microsoft Teams (an
// Adaptive Card 1.5 in the Workflows "message with attachments" envelope) or Slack (a
// Block Kit message for an incoming webhook). Pure: events in, message out. A message
// summarises one or more events of one incident (throttling merges them, see worker.ts):
// the incident in its latest state, and the alerts these events announced.
import type { ActionsBlock, ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from "@slack/types";
import type { Severity } from "../model/severity.js";
import type { WebhookEvent } from "./schema.js";

export const FORMATS = ["cloudevents", "teams", "slack"] as const;
export type Format = (typeof FORMATS)[number];
export type ChatFormat = Exclude<Format, "cloudevents">;
export const isChat = (format: Format): format is ChatFormat => format !== "cloudevents";

/** The console's page for an incident: the one place that knows the console's URL scheme. */
export function incidentLink(consoleUrl: string, incidentId: string): string {
  return `${consoleUrl.replace(/\/+$/, "")}/#/incident/${encodeURIComponent(incidentId)}`;
}

type WebhookIncident = WebhookEvent["data"]["incident"];
type WebhookAlert = WebhookEvent["data"]["alerts"][number];

export interface ChatSummary {
  /** What the message announces: the strongest of its events (correlated > created > alertAdded > updated). */
  kind: "correlated" | "created" | "alertAdded" | "updated" | "test";
  /** The incident as of the last event. */
  incident: WebhookIncident;
  /** Alerts the summarised events announced (created: the incident's; alertAdded: those added). */
  newAlerts: number;
  /** Rule names of the incident and of the announced alerts. */
  rules: string[];
  /** Addresses and countries of the announced alerts (none for an update alone). */
  ips: string[];
  countries: string[];
  /** The incident in the console; null when no console URL is configured. */
  link: string | null;
}

/** Detail columns holding a country or region (the pivot and Intune rules' custom details). */
const COUNTRY_DETAIL = /(^Location$|Country$)/;
/** Detail columns holding an IP address besides the alert's own (the pivot rule's InteractiveIP). */
const IP_DETAIL = /IP$/;

const unique = (values: readonly string[]) => [...new Set(values.filter((v) => v.trim() !== ""))];

export function alertIps(a: WebhookAlert): string[] {
  const fromDetails = Object.entries(a.details).flatMap(([k, v]) => (IP_DETAIL.test(k) && typeof v === "string" ? [v] : []));
  const fromEntities = a.entities.flatMap((e) => (e.type === "ip" ? [e.address] : []));
  return unique([...(a.ip ? [a.ip] : []), ...fromEntities, ...fromDetails]);
}

export function alertCountries(a: WebhookAlert): string[] {
  return unique(Object.entries(a.details).flatMap(([k, v]) => (COUNTRY_DETAIL.test(k) && typeof v === "string" ? [v] : [])));
}

/** One message's content from the events it summarises, oldest first (at least one). */
export function summarise(events: readonly WebhookEvent[], consoleUrl: string | null): ChatSummary {
  const last = events[events.length - 1];
  if (!last) throw new Error("a message summarises at least one event");
  const types = new Set(events.map((e) => e.type));
  const kind = types.has("com.tokenwatch.incident.correlated")
    ? "correlated"
    : types.has("com.tokenwatch.incident.created")
      ? "created"
      : types.has("com.tokenwatch.incident.alertAdded")
        ? "alertAdded"
        : "updated";
  const alerts = events.flatMap((e) => e.data.alerts);
  const founding = (e: WebhookEvent) => e.type === "com.tokenwatch.incident.created" || e.type === "com.tokenwatch.incident.correlated";
  const newAlerts = events.reduce((n, e) => n + (founding(e) ? e.data.incident.alertCount : e.data.alerts.length), 0);
  // A correlated incident's own rule name says nothing: the rules it links do.
  const correlated = last.data.incident.memberIncidentIds !== undefined;
  return {
    kind,
    incident: last.data.incident,
    newAlerts,
    rules: unique([...(correlated ? [] : [last.data.incident.ruleName]), ...alerts.map((a) => a.ruleName)]),
    ips: unique(alerts.flatMap(alertIps)),
    countries: unique(alerts.flatMap(alertCountries)),
    link: consoleUrl === null ? null : incidentLink(consoleUrl, last.data.incident.id),
  };
}

/** What a "send test message" shows: an incident of every field, marked as a test. */
export function testSummary(at: number): ChatSummary {
  const time = new Date(at).toISOString();
  return {
    kind: "test",
    incident: {
      id: "test",
      ruleId: "test",
      ruleName: "Interactive to Non-Interactive Token Theft Pivot",
      account: "test.user@contoso.com",
      severity: "High",
      status: "New",
      title: "Test message from tokenwatch: incident messages to this subscription look like this",
      firstAlertTime: time,
      lastAlertTime: time,
      alertIds: ["test"],
      alertCount: 1,
      createdAt: time,
      updatedAt: time,
      owner: null,
      classification: null,
    },
    newAlerts: 1,
    rules: ["Interactive to Non-Interactive Token Theft Pivot"],
    ips: ["203.0.113.10", "198.51.100.7"],
    countries: ["NL", "US"],
    link: null,
  };
}

// ---- shared wording ----

/** Items a list shows before "and N more": keeps a message short and inside the limits. */
export const MAX_LISTED = 10;

function listed(values: readonly string[]): string {
  if (values.length === 0) return "none";
  const shown = values.slice(0, MAX_LISTED).join(", ");
  return values.length > MAX_LISTED ? `${shown} and ${values.length - MAX_LISTED} more` : shown;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function headline(s: ChatSummary): string {
  const subject = `${s.incident.severity} incident for ${s.incident.account}`;
  switch (s.kind) {
    case "correlated":
      return `Correlated ${subject}: ${plural(s.rules.length, "rule")} hit one account`;
    case "created":
      return `New ${subject}`;
    case "alertAdded":
      return `${plural(s.newAlerts, "new alert")} on ${subject}`;
    case "updated":
      return `${subject} is now ${s.incident.status}`;
    case "test":
      return `Test message from tokenwatch`;
  }
}

/** "2026-11-22 08:00:00 UTC": unambiguous in any client's locale. */
const utc = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

/** The facts every message shows, in order: label and plain-text value. */
export function facts(s: ChatSummary): [string, string][] {
  return [
    ["Severity", s.incident.severity],
    ["Account", s.incident.account],
    [s.rules.length === 1 ? "Rule" : "Rules", listed(s.rules)],
    ["IP addresses", listed(s.ips)],
    ["Countries", listed(s.countries)],
    ["First alert", utc(s.incident.firstAlertTime)],
    ["Last alert", utc(s.incident.lastAlertTime)],
    ["Alerts", s.incident.memberIncidentIds ? `${s.incident.alertCount} in ${plural(s.incident.memberIncidentIds.length, "linked incident")}` : String(s.incident.alertCount)],
    ["New in this message", String(s.newAlerts)],
    ["Status", s.incident.owner ? `${s.incident.status} (owner ${s.incident.owner})` : s.incident.status],
  ];
}

/** Cuts text to `max` characters, marking the cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

// ---- Microsoft Teams: Adaptive Card 1.5 in the Workflows envelope ----

type TextColor = "Default" | "Accent" | "Warning" | "Attention";
const SEVERITY_COLOR: Record<Severity, TextColor> = { Informational: "Default", Low: "Accent", Medium: "Warning", High: "Attention" };

/** A TextRun is never read as Markdown: data shows as written. */
interface TextRun {
  type: "TextRun";
  text: string;
  weight?: "Bolder";
  size?: "Medium";
  color?: TextColor;
  isSubtle?: boolean;
}
interface RichTextBlock {
  type: "RichTextBlock";
  inlines: TextRun[];
  spacing?: "None";
}
interface FactSet {
  type: "FactSet";
  facts: { title: string; value: string }[];
}
interface OpenUrl {
  type: "Action.OpenUrl";
  title: string;
  url: string;
}
export interface AdaptiveCard {
  $schema: "http://adaptivecards.io/schemas/adaptive-card.json";
  type: "AdaptiveCard";
  version: "1.5";
  fallbackText: string;
  body: (RichTextBlock | FactSet)[];
  actions?: OpenUrl[];
}
/** What a Teams Workflows "When a Teams webhook request is received" trigger takes. */
export interface TeamsMessage {
  type: "message";
  attachments: [{ contentType: "application/vnd.microsoft.card.adaptive"; contentUrl: null; content: AdaptiveCard }];
}

export function teamsMessage(s: ChatSummary): TeamsMessage {
  const title = headline(s);
  const card: AdaptiveCard = {
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: "1.5",
    fallbackText: `${title}: ${s.incident.title}`,
    body: [
      { type: "RichTextBlock", inlines: [{ type: "TextRun", text: title, weight: "Bolder", size: "Medium", color: SEVERITY_COLOR[s.incident.severity] }] },
      { type: "RichTextBlock", inlines: [{ type: "TextRun", text: s.incident.title, isSubtle: true }], spacing: "None" },
      { type: "FactSet", facts: facts(s).map(([title, value]) => ({ title, value })) },
    ],
    ...(s.link ? { actions: [{ type: "Action.OpenUrl", title: "Open in tokenwatch", url: s.link }] } : {}),
  };
  return { type: "message", attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null, content: card }] };
}

// ---- Slack: Block Kit for an incoming webhook ----

/** Slack's limits (Block Kit reference): blocks per message, and characters per text. */
export const SLACK_LIMITS = { blocks: 50, sectionText: 3000, fieldText: 2000, fields: 10, headerText: 150, buttonUrl: 3000, messageText: 40_000 } as const;

export interface SlackMessage {
  /** The notification and fallback text. */
  text: string;
  blocks: KnownBlock[];
}

/** Slack mrkdwn needs only &, < and > escaped (https://api.slack.com/reference/surfaces/formatting#escaping). */
const escapeMrkdwn = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function slackMessage(s: ChatSummary): SlackMessage {
  const title = headline(s);
  const header: HeaderBlock = { type: "header", text: { type: "plain_text", text: clip(title, SLACK_LIMITS.headerText), emoji: false } };
  const intro: SectionBlock = { type: "section", text: { type: "mrkdwn", text: clip(escapeMrkdwn(s.incident.title), SLACK_LIMITS.sectionText) } };
  const details: SectionBlock = {
    type: "section",
    fields: facts(s)
      .slice(0, SLACK_LIMITS.fields)
      .map(([label, value]) => ({ type: "mrkdwn", text: clip(`*${label}*\n${escapeMrkdwn(value)}`, SLACK_LIMITS.fieldText) })),
  };
  const blocks: KnownBlock[] = [header, intro, details];
  if (s.link && s.link.length <= SLACK_LIMITS.buttonUrl) {
    const open: ActionsBlock = { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open in tokenwatch" }, url: s.link, action_id: "open-incident" }] };
    blocks.push(open);
  }
  const footer: ContextBlock = { type: "context", elements: [{ type: "mrkdwn", text: clip(escapeMrkdwn(`tokenwatch · incident ${s.incident.id}`), SLACK_LIMITS.sectionText) }] };
  blocks.push(footer);
  return { text: clip(`${title}: ${s.incident.title}`, SLACK_LIMITS.messageText), blocks };
}

/** The JSON body of a chat message. */
export function renderChat(format: ChatFormat, summary: ChatSummary): string {
  return JSON.stringify(format === "teams" ? teamsMessage(summary) : slackMessage(summary));
}
