// Incidents and the per-account view: list (filters, newest first, continuation), one
// incident with its alerts, entities and history, ETag-guarded analyst updates.
import { compareTime } from "../model/time.js";
import { flatActor } from "../model/actor.js";
import { z } from "zod";
import { CORRELATION_RULE_ID, isCorrelation } from "../model/correlation.js";
import { alertJson, incidentJson, uniqueEntities, type Alert, type Incident, type IncidentChange, type IncidentQuery } from "../model/incident.js";
import { isIncidentId } from "../model/incident-id.js";
import type { ApiStores } from "./ports.js";
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
  stores: Pick<ApiStores, "incidents">;
  now(): number;
}

const DEFAULT_PAGE = 50;

/** An incident as the API shows it, with what a list needs to be read without opening each one. */
export function incidentView(i: Incident, ips: readonly string[]) {
  const json = incidentJson(i);
  const summary = [
    json.severity,
    json.ruleName,
    `${json.alertCount} alert${json.alertCount === 1 ? "" : "s"}`,
    ips.length ? `IPs ${ips.slice(0, 5).join(", ")}${ips.length > 5 ? ` and ${ips.length - 5} more` : ""}` : "no IP",
    json.firstAlertTime === json.lastAlertTime ? json.firstAlertTime : `${json.firstAlertTime} .. ${json.lastAlertTime}`,
  ].join(" | ");
  return { ...json, ips: [...ips], summary, etag: httpEtag(i.etag ?? "") };
}

const historyView = (c: IncidentChange) => ({ at: iso(c.at), ...flatActor("actor", c.actor), field: c.field, before: c.before, after: c.after });

/** The cursor holds the last item's exact time as decimal ticks (JSON has no bigint). */
const IncidentCursor = z.strictObject({ t: z.string().regex(/^-?\d{1,20}$/).transform((t) => BigInt(t)), id: z.string().refine(isIncidentId) });

/** Keyset pagination: a page starts strictly after the cursor, so new incidents never shift pages. */
async function page(deps: IncidentDeps, q: IncidentQuery, limit: number, scope: string, token: string | undefined) {
  const cursor = decodeContinuation(token, scope, IncidentCursor);
  const { items, more } = await deps.stores.incidents.incidentPage(q, limit, cursor);
  const last = items.at(-1)?.incident;
  return {
    items: items.map(({ incident, ips }) => incidentView(incident, ips)),
    continuation: more && last ? encodeContinuation(scope, { t: last.lastAlertTime.toString(), id: last.id }) : null,
  };
}

async function loadIncident(deps: IncidentDeps, id: string): Promise<Incident> {
  const incident = isIncidentId(id) ? await deps.stores.incidents.getIncident(id) : undefined;
  if (!incident) throw notFound(`incident ${id}`);
  return incident;
}

/** The distinct IPs of some alerts, in the order of their first alert (alerts are oldest first). */
const ipsOf = (alerts: readonly Alert[]) => [...new Set(alerts.flatMap((a) => (a.ip === null ? [] : [a.ip])))];

/** History is paged by row: the cursor is the last row's key after the incident's prefix (inverted time, sequence). */
const HistoryCursor = z.strictObject({ k: z.string().regex(/^\d{16}:\d{2,}$/) });
const historyScope = (incident: Incident) => JSON.stringify(["history", incident.id]);

async function historyPage(deps: IncidentDeps, incident: Incident, limit: number, token: string | undefined) {
  const cursor = decodeContinuation(token, historyScope(incident), HistoryCursor);
  const { changes, next } = await deps.stores.incidents.historyPage(incident, limit, cursor?.k);
  return { items: changes.map(historyView), continuation: next === null ? null : encodeContinuation(historyScope(incident), { k: next }) };
}

const newestFirst = (a: Incident, b: Incident) => compareTime(b.lastAlertTime, a.lastAlertTime) || a.id.localeCompare(b.id);

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
  return { ...incidentView(incident, ipsOf(alerts)), linkedIncidents: linked, alerts: alerts.map(alertJson), entities: uniqueEntities(alerts), history: history.items, historyContinuation: history.continuation };
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
        const scope = JSON.stringify(["incidents", q.status, q.severity, q.ruleId, q.account, q.from, q.to]);
        const query = { status: q.status, severity: q.severity, ruleId: q.ruleId, account: q.account, from: q.from, to: q.to };
        return { status: 200, body: await page(deps, query, q.limit ?? DEFAULT_PAGE, scope, q.continuation) };
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
        const scope = "accounts";
        const cursor = decodeContinuation(req.query.continuation, scope, z.strictObject({ k: z.string().min(1).max(1024) }));
        const { items, next } = await deps.stores.incidents.accountPage(req.query.limit ?? DEFAULT_PAGE, cursor?.k);
        return { status: 200, body: { items, continuation: next === null ? null : encodeContinuation(scope, { k: next }) } };
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
        const body = await page(deps, { account }, req.query.limit ?? DEFAULT_PAGE, JSON.stringify(["account", account]), req.query.continuation);
        if (body.items.length === 0 && req.query.continuation === undefined) throw notFound(`account ${account} (no incidents)`);
        return { status: 200, body };
      },
    }),
  ];
}
