// Incidents and the per-account view: list (filters, newest first, continuation), one
// incident with its alerts, entities and history, ETag-guarded analyst updates.
import { flatActor } from "../model/actor.js";
import { z } from "zod";
import { CORRELATION_RULE_ID, isCorrelation } from "../model/correlation.js";
import type { Repositories } from "../store/repositories.js";
import { alertJson, incidentJson, uniqueEntities, type Alert, type Incident } from "../engine/incidents.js";
import { compareTime, isoOf } from "../model/time.js";
import { severityRank, type Severity } from "../model/severity.js";
import type { IncidentChange } from "../store/incidents.js";
import { HttpError, notFound, READERS, route, type RouteDef } from "./router.js";
import {
  AccountPageSchema,
  HISTORY_IN_DETAIL,
  HistoryPageSchema,
  IncidentDetailSchema,
  IncidentListQuery,
  IncidentPageSchema,
  IncidentPatch,
  PageQuery,
  isKeyable,
} from "./schemas.js";
import { decodeContinuation, encodeContinuation, httpEtag, iso, stale, writeIfMatch } from "./tokens.js";

export interface IncidentDeps {
  stores: Repositories;
  now(): number;
}

const DEFAULT_PAGE = 50;
const ID = /^[0-9a-f]{32}$/;

/** An incident as the API shows it, with what a list needs to be read without opening each one. */
export function incidentView(i: Incident, alerts: readonly Alert[]) {
  const ips = [...new Set(alerts.flatMap((a) => (a.ip === null ? [] : [a.ip])))];
  const json = incidentJson(i);
  const summary = [
    json.severity,
    json.ruleName,
    `${json.alertCount} alert${json.alertCount === 1 ? "" : "s"}`,
    ips.length ? `IPs ${ips.slice(0, 5).join(", ")}${ips.length > 5 ? ` and ${ips.length - 5} more` : ""}` : "no IP",
    json.firstAlertTime === json.lastAlertTime ? json.firstAlertTime : `${json.firstAlertTime} .. ${json.lastAlertTime}`,
  ].join(" | ");
  return { ...json, ips, summary, etag: httpEtag(i.etag ?? "") };
}

const historyView = (c: IncidentChange) => ({ at: iso(c.at), ...flatActor("actor", c.actor), field: c.field, before: c.before, after: c.after });

/** Newest first: latest alert, then id for a stable order. */
const newestFirst = (a: Incident, b: Incident) => compareTime(b.lastAlertTime, a.lastAlertTime) || a.id.localeCompare(b.id);

/** The cursor holds the last item's exact time as decimal ticks (JSON has no bigint). */
const IncidentCursor = z.strictObject({ t: z.string().regex(/^-?\d{1,20}$/).transform((t) => BigInt(t)), id: z.string().regex(ID) });

/** Keyset pagination: a page starts strictly after the cursor, so new incidents never shift pages. */
async function page(deps: IncidentDeps, incidents: Incident[], limit: number, scope: string, token: string | undefined) {
  const cursor = decodeContinuation(token, scope, IncidentCursor);
  const sorted = incidents.sort(newestFirst);
  const rest = cursor ? sorted.filter((i) => i.lastAlertTime < cursor.t || (i.lastAlertTime === cursor.t && i.id > cursor.id)) : sorted;
  const items = rest.slice(0, limit);
  const last = items.at(-1);
  const alerts = await deps.stores.incidents.alertsOfIncidents(items);
  return { items: items.map((i) => incidentView(i, alerts.get(i.id)!)), continuation: rest.length > limit && last ? encodeContinuation(scope, { t: last.lastAlertTime.toString(), id: last.id }) : null };
}


async function loadIncident(deps: IncidentDeps, id: string): Promise<Incident> {
  const incident = ID.test(id) ? await deps.stores.incidents.getIncident(id) : undefined;
  if (!incident) throw notFound(`incident ${id}`);
  return incident;
}

/** History is paged by row: the cursor is the last row's key after the incident's prefix (inverted time, sequence). */
const HistoryCursor = z.strictObject({ k: z.string().regex(/^\d{16}:\d{2,}$/) });
const historyScope = (incident: Incident) => JSON.stringify(["history", incident.id]);

async function historyPage(deps: IncidentDeps, incident: Incident, limit: number, token: string | undefined) {
  const cursor = decodeContinuation(token, historyScope(incident), HistoryCursor);
  const { changes, next } = await deps.stores.incidents.historyPage(incident, limit, cursor?.k);
  return { items: changes.map(historyView), continuation: next === null ? null : encodeContinuation(historyScope(incident), { k: next }) };
}

/** Both directions of a correlation: a correlated incident's members, or the correlated incidents linking a rule's incident (one partition query). */
async function linkedIncidents(deps: IncidentDeps, incident: Incident) {
  const link = (relation: "member" | "correlated") => (i: Incident) => ({ id: i.id, relation, ruleId: i.ruleId, ruleName: i.ruleName, severity: i.severity, status: i.status, title: i.title, alertCount: i.alertIds.length });
  if (isCorrelation(incident)) {
    const members = new Set(incident.memberIncidentIds);
    return (await deps.stores.incidents.queryIncidents({ account: incident.account })).filter((i) => members.has(i.id)).sort(newestFirst).map(link("member"));
  }
  const correlated = await deps.stores.incidents.queryIncidents({ account: incident.account, ruleId: CORRELATION_RULE_ID });
  return correlated.filter((c) => c.memberIncidentIds?.includes(incident.id)).sort(newestFirst).map(link("correlated"));
}

async function detail(deps: IncidentDeps, incident: Incident) {
  const [alerts, history, linked] = await Promise.all([deps.stores.incidents.alertsOf(incident), historyPage(deps, incident, HISTORY_IN_DETAIL, undefined), linkedIncidents(deps, incident)]);
  return { ...incidentView(incident, alerts), linkedIncidents: linked, alerts: alerts.map(alertJson), entities: uniqueEntities(alerts), history: history.items, historyContinuation: history.continuation };
}

export function incidentRoutes(deps: IncidentDeps): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/incidents",
      group: "incidents",
      roles: READERS,
      summary: "Incidents, newest first (by latest alert), filtered and paginated",
      query: IncidentListQuery,
      response: { status: 200, schema: IncidentPageSchema },
      async handler(req) {
        const q = req.query;
        const incidents = await deps.stores.incidents.queryIncidents({ status: q.status, severity: q.severity, ruleId: q.ruleId, account: q.account, from: q.from, to: q.to });
        const scope = JSON.stringify(["incidents", q.status, q.severity, q.ruleId, q.account, q.from, q.to]);
        return { status: 200, body: await page(deps, incidents, q.limit ?? DEFAULT_PAGE, scope, q.continuation) };
      },
    }),
    route({
      method: "GET",
      path: "/incidents/{id}",
      group: "incidents",
      roles: READERS,
      summary: "One incident with its alerts, entities and change history",
      response: { status: 200, schema: IncidentDetailSchema },
      async handler(req) {
        const incident = await loadIncident(deps, req.params.id!);
        return { status: 200, headers: { etag: httpEtag(incident.etag ?? "") }, body: await detail(deps, incident) };
      },
    }),
    route({
      method: "GET",
      path: "/incidents/{id}/history",
      group: "incidents",
      roles: READERS,
      summary: "An incident's change history, newest first, paginated (the detail carries the newest page)",
      query: PageQuery,
      response: { status: 200, schema: HistoryPageSchema },
      async handler(req) {
        const incident = await loadIncident(deps, req.params.id!);
        return { status: 200, body: await historyPage(deps, incident, req.query.limit ?? DEFAULT_PAGE, req.query.continuation) };
      },
    }),
    route({
      method: "PATCH",
      path: "/incidents/{id}",
      group: "incidents",
      roles: ["Incidents.Write"],
      summary: "Update status, owner, classification or add a comment (If-Match required)",
      body: IncidentPatch,
      requestHeaders: [{ name: "If-Match", required: true, description: "the ETag of the incident as last read" }],
      response: { status: 200, schema: IncidentDetailSchema },
      async handler(req) {
        const body = req.body;
        const read = async () => {
          const incident = await loadIncident(deps, req.params.id!);
          return { ...incident, etag: incident.etag ?? "" };
        };
        const result = await writeIfMatch(req.headers, true, read, async (incident, etag) => {
          const status = body.status ?? incident.status;
          const classification = body.classification === undefined ? incident.classification : body.classification;
          if (status === "Closed" && classification === null)
            throw new HttpError(400, "classification: required to close an incident", [{ field: "body.classification", message: "required to close an incident" }]);
          return deps.stores.incidents.updateIncident(incident, etag, body, req.principal!, deps.now());
        });
        if (!result.ok) throw result.reason === "stale" ? stale() : notFound(`incident ${req.params.id!}`);
        return { status: 200, headers: { etag: httpEtag(result.incident.etag ?? "") }, body: await detail(deps, result.incident) };
      },
    }),
    route({
      method: "GET",
      path: "/accounts",
      group: "accounts",
      roles: READERS,
      summary: "Accounts with incidents: accounts with a correlated incident first, then those hit by more than one rule, then by severity and recency",
      query: PageQuery,
      response: { status: 200, schema: AccountPageSchema },
      async handler(req) {
        const accounts = summarize(await deps.stores.incidents.queryIncidents());
        const scope = "accounts";
        const cursor = decodeContinuation(req.query.continuation, scope, z.strictObject({ o: z.number().int().min(0) }));
        const offset = cursor?.o ?? 0;
        const limit = req.query.limit ?? DEFAULT_PAGE;
        const items = accounts.slice(offset, offset + limit);
        return { status: 200, body: { items, continuation: offset + limit < accounts.length ? encodeContinuation(scope, { o: offset + limit }) : null } };
      },
    }),
    route({
      method: "GET",
      path: "/accounts/{account}/incidents",
      group: "accounts",
      roles: READERS,
      summary: "One account's incidents across all rules, newest first",
      query: PageQuery,
      response: { status: 200, schema: IncidentPageSchema },
      async handler(req) {
        // Accounts are stored lowercase; a UPN or display name is looked up in any case.
        const account = req.params.account!.toLowerCase();
        if (account.length > 512 || !isKeyable(account)) throw notFound(`account ${account.slice(0, 40)}…`);
        const incidents = await deps.stores.incidents.queryIncidents({ account });
        if (incidents.length === 0) throw notFound(`account ${account} (no incidents)`);
        return { status: 200, body: await page(deps, incidents, req.query.limit ?? DEFAULT_PAGE, JSON.stringify(["account", account]), req.query.continuation) };
      },
    }),
  ];
}

export interface AccountSummary {
  account: string;
  openIncidents: number;
  totalIncidents: number;
  highestSeverity: Severity;
  highestOpenSeverity: Severity | null;
  rules: { id: string; name: string }[];
  multipleRules: boolean;
  correlated: boolean;
  firstSeen: string;
  lastSeen: string;
}

const higher = (a: Severity | null, b: Severity) => (a === null || severityRank[b] > severityRank[a] ? b : a);

/** Incidents grouped by account; correlated accounts first, then those hit by several rules, then severity, then latest. */
export function summarize(incidents: readonly Incident[]): AccountSummary[] {
  const byAccount = new Map<string, Incident[]>();
  for (const i of incidents) byAccount.set(i.account, [...(byAccount.get(i.account) ?? []), i]);
  const rows = [...byAccount].map(([account, list]) => {
    // The rules that hit the account: a correlated incident is not one of them, it says they agree.
    const rules = new Map(list.filter((i) => !isCorrelation(i)).map((i) => [i.ruleId, i.ruleName]));
    let highest: Severity | null = null;
    let highestOpen: Severity | null = null;
    for (const i of list) {
      highest = higher(highest, i.severity);
      if (i.status !== "Closed") highestOpen = higher(highestOpen, i.severity);
    }
    return {
      account,
      openIncidents: list.filter((i) => i.status !== "Closed").length,
      totalIncidents: list.length,
      highestSeverity: highest!,
      highestOpenSeverity: highestOpen,
      rules: [...rules].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
      multipleRules: rules.size > 1,
      correlated: list.some(isCorrelation),
      first: list.reduce((t, i) => (i.firstAlertTime < t ? i.firstAlertTime : t), list[0]!.firstAlertTime),
      last: list.reduce((t, i) => (i.lastAlertTime > t ? i.lastAlertTime : t), list[0]!.lastAlertTime),
    };
  });
  rows.sort(
    (a, b) =>
      Number(b.correlated) - Number(a.correlated) ||
      Number(b.multipleRules) - Number(a.multipleRules) ||
      b.rules.length - a.rules.length ||
      severityRank[b.highestSeverity] - severityRank[a.highestSeverity] ||
      compareTime(b.last, a.last) ||
      a.account.localeCompare(b.account),
  );
  return rows.map(({ first, last, ...r }) => ({ ...r, firstSeen: isoOf(first), lastSeen: isoOf(last) }));
}
