// Analyst views: accounts (the landing view), the incidents list, and one incident with
// its alerts, entities, history and triage.
import { useState } from "preact/hooks";
import { api, canWrite, type ApiError, type Session } from "./api.js";
import { hash, html, isoOf, Loading, localOf, Pager, ProblemPanel, Severity, toApiError, useLoad, usePages, when, type SessionProps } from "./ui.js";

interface Incident {
  id: string;
  ruleId: string;
  ruleName: string;
  account: string;
  severity: string;
  status: string;
  title: string;
  firstAlertTime: string;
  lastAlertTime: string;
  alertCount: number;
  owner: string | null;
  classification: string | null;
  etag: string;
}
type Detail = string | number | boolean | null;
interface Alert {
  id: string;
  ruleId: string;
  severity: string;
  time: string;
  account: string;
  ip: string | null;
  title: string;
  details: Record<string, Detail>;
  entities: Record<string, string>[];
}
interface LinkedIncident {
  id: string;
  relation: "member" | "correlated";
  ruleName: string;
  severity: string;
  status: string;
  title: string;
  alertCount: number;
}
interface IncidentDetail extends Incident {
  linkedIncidents: LinkedIncident[];
  alerts: Alert[];
  entities: Record<string, string>[];
  history: { at: string; actor: string; field: string; before: string | null; after: string | null }[];
}
interface Page<T> {
  items: T[];
  continuation: string | null;
}
interface Account {
  account: string;
  openIncidents: number;
  totalIncidents: number;
  highestSeverity: string;
  highestOpenSeverity: string | null;
  rules: { id: string; name: string }[];
  multipleRules: boolean;
  correlated: boolean;
  lastSeen: string;
}

const PAGE = "50";

export function AccountsView({ session }: SessionProps) {
  const pages = usePages();
  const loaded = useLoad(() => api<Page<Account>>(session, "/accounts", { query: { limit: PAGE, continuation: pages.current } }), pages.current ?? "");
  const [upn, setUpn] = useState("");
  const search = (e: Event) => {
    e.preventDefault();
    // Lower-cased so a UPN typed in any case finds the (lower-case) member accounts even
    // where the API compares accounts exactly.
    const account = upn.trim().toLowerCase();
    if (account) location.hash = hash("/incidents", { account });
  };
  return html`<h1>Accounts</h1>
    <p class="lead">Accounts with incidents: correlated ones first (several rules within a day, or on one session), then those hit by several rules, then by severity and latest activity.</p>
    <form class="filters" role="search" onSubmit=${search}>
      <label>Find an account (UPN) <input type="search" name="upn" value=${upn} onInput=${(e: Event) => setUpn((e.target as HTMLInputElement).value)} placeholder="user@contoso.com" /></label>
      <button type="submit">Search</button>
    </form>
    <${Loading} loaded=${loaded}>${(page: Page<Account>) =>
      page.items.length === 0
        ? html`<p>No incidents yet.</p>`
        : html`<table>
              <caption class="visually-hidden">Accounts with incidents</caption>
              <thead><tr><th scope="col">Account</th><th scope="col">Open / total</th><th scope="col">Highest open severity</th><th scope="col">Rules</th><th scope="col">Last activity</th></tr></thead>
              <tbody>
                ${page.items.map(
                  (a) => html`<tr key=${a.account}>
                    <td><a href=${hash("/incidents", { account: a.account })}>${a.account}</a>${a.correlated ? html` <span class="badge correlated">Correlated</span>` : null}${a.multipleRules ? html` <span class="badge">${a.rules.length} rules</span>` : null}</td>
                    <td>${a.openIncidents} / ${a.totalIncidents}</td>
                    <td><${Severity} value=${a.highestOpenSeverity} /></td>
                    <td>${a.rules.map((r) => r.name).join(", ")}</td>
                    <td>${when(a.lastSeen)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
            <${Pager} pages=${pages} continuation=${page.continuation} />`}<//
    >`;
}

const STATUSES = ["New", "Active", "Closed"];
const SEVERITIES = ["High", "Medium", "Low", "Informational"];
const CLASSIFICATIONS = ["TruePositive", "BenignPositive", "FalsePositive", "Undetermined"];

/** The rule ids the incidents filter accepts, from the API's own OpenAPI document (readers may not list rules). */
async function ruleIds(session: Session): Promise<string[]> {
  const doc = await api<any>(session, "/openapi.json");
  const param = (doc.paths?.["/api/incidents"]?.get?.parameters ?? doc.paths?.["/incidents"]?.get?.parameters ?? []).find((p: { name: string }) => p.name === "ruleId");
  return param?.schema?.enum ?? [];
}

export function IncidentsView({ session, query }: SessionProps & { query: URLSearchParams }) {
  const filters = { status: query.get("status") ?? "", severity: query.get("severity") ?? "", ruleId: query.get("ruleId") ?? "", account: query.get("account") ?? "", from: query.get("from") ?? "", to: query.get("to") ?? "" };
  const key = query.toString();
  // main.ts keys this view by its query: new filters are a fresh view starting at page 1.
  const pages = usePages();
  const limit = query.get("limit") ?? PAGE;
  const loaded = useLoad(() => api<Page<Incident>>(session, "/incidents", { query: { ...filters, limit, continuation: pages.current } }), key + (pages.current ?? ""));
  const rules = useLoad(() => ruleIds(session).catch(() => []), "rules");
  // The form's own state: a re-render (the rule list arriving) keeps what the analyst picked.
  const [draft, setDraft] = useState({ ...filters, from: localOf(filters.from), to: localOf(filters.to) });
  const field = (name: keyof typeof draft) => ({ name, value: draft[name], onInput: (e: Event) => setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value }) });
  const apply = (e: Event) => {
    e.preventDefault();
    location.hash = hash("/incidents", { ...draft, account: draft.account.trim().toLowerCase(), from: isoOf(draft.from), to: isoOf(draft.to) });
  };
  return html`<h1>Incidents</h1>
    <form class="filters" onSubmit=${apply}>
      <label>Status <select ...${field("status")}>
        <option value="">Any</option><option value="New,Active">Open (New, Active)</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Severity <select ...${field("severity")}><option value="">Any</option>${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Rule <select ...${field("ruleId")}><option value="">Any</option>${(rules.data ?? []).map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <label>Account <input ...${field("account")} placeholder="user@contoso.com" /></label>
      <label>From <input type="datetime-local" ...${field("from")} /></label>
      <label>To <input type="datetime-local" ...${field("to")} /></label>
      <button type="submit">Apply</button>
      <a href="#/incidents">Clear</a>
    </form>
    <${Loading} loaded=${loaded}>${(page: Page<Incident>) =>
      page.items.length === 0
        ? html`<p>No incidents match.</p>`
        : html`<table>
              <caption class="visually-hidden">Incidents, newest first</caption>
              <thead><tr><th scope="col">Incident</th><th scope="col">Account</th><th scope="col">Severity</th><th scope="col">Status</th><th scope="col">Owner</th><th scope="col">Alerts</th><th scope="col">Last alert</th></tr></thead>
              <tbody>
                ${page.items.map(
                  (i) => html`<tr key=${i.id}>
                    <td><a href=${hash(`/incident/${i.id}`)}>${i.title}</a><div class="muted">${i.ruleName}</div></td>
                    <td>${i.account}</td>
                    <td><${Severity} value=${i.severity} /></td>
                    <td>${i.status}${i.classification ? html`<div class="muted">${i.classification}</div>` : null}</td>
                    <td>${i.owner ?? "—"}</td>
                    <td>${i.alertCount}</td>
                    <td>${when(i.lastAlertTime)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>
            <${Pager} pages=${pages} continuation=${page.continuation} />`}<//
    >`;
}

const words = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/^./, (c) => c.toUpperCase());
const entityText = (e: Record<string, string>) => Object.entries(e).filter(([k]) => k !== "type").map(([, v]) => v).join(" ");

function AlertCard({ alert, index }: { alert: Alert; index: number }) {
  return html`<article class="alert" aria-labelledby=${`alert-${alert.id}`}>
    <h3 id=${`alert-${alert.id}`}>${index + 1}. ${alert.title}</h3>
    <p class="muted">${when(alert.time)} · <${Severity} value=${alert.severity} /> · IP ${alert.ip ?? "—"}</p>
    <dl class="details">
      ${Object.entries(alert.details).map(([k, v]) => html`<div><dt>${words(k)}</dt><dd>${v === null ? "—" : String(v)}</dd></div>`)}
    </dl>
  </article>`;
}

export function IncidentView({ session, id }: SessionProps & { id: string }) {
  const loaded = useLoad(() => api<IncidentDetail>(session, `/incidents/${encodeURIComponent(id)}`), id);
  return html`<p><a href="#/incidents">← Incidents</a></p>
    <${Loading} loaded=${loaded}>${(incident: IncidentDetail) => html`
      <h1>${incident.title}</h1>
      <p class="lead"><${Severity} value=${incident.severity} /> · ${incident.ruleName} · account <a href=${hash("/incidents", { account: incident.account })}>${incident.account}</a></p>
      <dl class="summary">
        <div><dt>Status</dt><dd>${incident.status}</dd></div>
        <div><dt>Owner</dt><dd>${incident.owner ?? "—"}</dd></div>
        <div><dt>Classification</dt><dd>${incident.classification ?? "—"}</dd></div>
        <div><dt>First alert</dt><dd>${when(incident.firstAlertTime)}</dd></div>
        <div><dt>Last alert</dt><dd>${when(incident.lastAlertTime)}</dd></div>
      </dl>
      ${incident.linkedIncidents.length === 0
        ? null
        : html`<section aria-labelledby="linked-h"><h2 id="linked-h">${incident.linkedIncidents[0]!.relation === "member" ? "Linked incidents (correlated by this one)" : "Correlated by"}</h2>
            <ul class="linked">${incident.linkedIncidents.map(
              (l) => html`<li key=${l.id}><a href=${hash(`/incident/${l.id}`)}>${l.title}</a> <${Severity} value=${l.severity} /> · ${l.status} · ${l.alertCount} alert${l.alertCount === 1 ? "" : "s"}<div class="muted">${l.ruleName}</div></li>`,
            )}</ul>
          </section>`}
      ${canWrite(session)
        ? html`<${Triage} session=${session} incident=${incident} onSaved=${loaded.reload} />`
        : html`<p class="note">Read-only: triage needs the app role Incidents.Write.</p>`}
      <section aria-labelledby="alerts-h"><h2 id="alerts-h">Alerts (${incident.alerts.length}), in time order</h2>
        ${[...incident.alerts].sort((a, b) => a.time.localeCompare(b.time)).map((a, i) => html`<${AlertCard} key=${a.id} alert=${a} index=${i} />`)}
      </section>
      <section aria-labelledby="entities-h"><h2 id="entities-h">Entities</h2>
        <ul class="entities">${incident.entities.map((e) => html`<li><span class="badge">${e.type}</span> ${entityText(e)}</li>`)}</ul>
      </section>
      <section aria-labelledby="history-h"><h2 id="history-h">History</h2>
        ${incident.history.length === 0
          ? html`<p>No changes yet.</p>`
          : html`<table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
            <tbody>${incident.history.map((h) => html`<tr><td>${when(h.at)}</td><td>${h.actor}</td><td>${h.field}</td><td>${h.before ?? "—"}</td><td>${h.after ?? "—"}</td></tr>`)}</tbody></table>`}
      </section>`}<//
    >`;
}

/**
 * Status, owner, classification and a comment, sent with If-Match. A 412 (someone else
 * changed the incident) says so and keeps what was typed: reloading refreshes the incident
 * underneath, and saving again sends the same edits against the new version.
 */
function Triage({ session, incident, onSaved }: SessionProps & { incident: IncidentDetail; onSaved(): void }) {
  // Only the fields the analyst touched: after a reload, the others show the new version.
  const [edits, setEdits] = useState<Partial<Record<"status" | "owner" | "classification" | "comment", string>>>({});
  const [error, setError] = useState<ApiError | undefined>();
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const current = { status: incident.status, owner: incident.owner ?? "", classification: incident.classification ?? "", comment: "" };
  const form = { ...current, ...edits };
  const set = (name: keyof typeof current) => (e: Event) => setEdits({ ...edits, [name]: (e.target as HTMLInputElement).value });
  const save = async (e: Event) => {
    e.preventDefault();
    const patch: Record<string, unknown> = {};
    if (form.status !== current.status) patch.status = form.status;
    if (form.owner.trim() !== current.owner) patch.owner = form.owner.trim() || null;
    if (form.classification !== current.classification) patch.classification = form.classification || null;
    if (form.comment.trim()) patch.comment = form.comment.trim();
    if (Object.keys(patch).length === 0) return setError(undefined);
    setSaving(true);
    setSaved(false);
    try {
      await api(session, `/incidents/${incident.id}`, { method: "PATCH", body: patch, ifMatch: incident.etag });
      setError(undefined);
      setEdits({});
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setSaving(false);
    }
  };
  const stale = error?.status === 412;
  return html`<form class="triage" onSubmit=${save} aria-labelledby="triage-h">
    <h2 id="triage-h">Triage</h2>
    <div class="row">
      <label>Status <select name="status" value=${form.status} onChange=${set("status")}>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Owner <input name="owner" value=${form.owner} onInput=${set("owner")} placeholder="unassigned" /></label>
      <button type="button" class="link" onClick=${() => setEdits({ ...edits, owner: session.name })}>Assign to me</button>
      <label>Classification <select name="classification" value=${form.classification} onChange=${set("classification")}>
        <option value="">None</option>${CLASSIFICATIONS.map((c) => html`<option value=${c}>${words(c)}</option>`)}
      </select></label>
    </div>
    <label class="block">Comment <textarea name="comment" rows="3" aria-describedby="comment-hint" value=${form.comment} onInput=${set("comment")}></textarea></label>
    <p class="muted" id="comment-hint">Give the reason for a classification here; it is kept in the history.</p>
    ${stale
      ? html`<div class="problem" role="alert"><strong>Changed by someone else — reload.</strong>
          <p>This incident changed since you opened it. Your edits are kept: reload to see the other change, then save again.</p>
          <button type="button" onClick=${() => (setError(undefined), onSaved())}>Reload incident</button></div>`
      : error
        ? html`<${ProblemPanel} error=${error} />`
        : saved
          ? html`<p class="ok" role="status">Saved.</p>`
          : null}
    <button type="submit" disabled=${saving}>${saving ? "Saving…" : "Save"}</button>
  </form>`;
}
