// Admin views: allowlists (entries, add/edit/delete with the API's validation messages,
// expired entries apart, audit), rules (metadata and health for every role; switch off/on
// with a reason and backfill for admins) and webhooks (subscriptions, deliveries, redeliver,
// rotate secret shown once).
import { useState } from "preact/hooks";
import { api, isAdmin, type ApiError } from "./api.js";
import { EVENT_TYPES } from "../src/model/event-types.js";
import { hash, html, isoOf, Loading, localOf, ProblemPanel, Severity, toApiError, useLoad, when, type SessionProps } from "./ui.js";

interface Entry {
  id: string;
  list: string;
  value: string;
  reason: string;
  expiresAt: string | null;
  expired: boolean;
  createdBy: string;
  createdAt: string;
  etag: string;
}
interface Audit {
  id: string;
  at: string;
  actor: string;
  action: string;
  before: { value?: string } | null;
  after: { value?: string; expiresAt?: number | null } | null;
}

/** An action's error state and runner: the error is the API's problem. */
function useAction() {
  const [error, setError] = useState<ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await action();
      setError(undefined);
      return true;
    } catch (err) {
      setError(toApiError(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, clear: () => setError(undefined) };
}

const FieldMessage = ({ error, field, id }: { error?: ApiError; field: string; id: string }) => {
  const message = error?.field(field);
  return message ? html`<span class="field-error" role="alert" id=${id}>${message}</span>` : null;
};

export function AllowlistsView({ session, list }: SessionProps & { list?: string }) {
  const lists = useLoad(() => api<{ items: { name: string; description: string; entries: number; activeEntries: number }[] }>(session, "/allowlists").then((r) => r.items), "lists");
  return html`<h1>Allowlists</h1>
    <${Loading} loaded=${lists}>${(items: { name: string; description: string; entries: number; activeEntries: number }[]) => {
      const current = list ?? items[0]?.name;
      return html`<nav class="tabs" aria-label="Allowlists">
          ${items.map((l) => html`<a href=${hash(`/allowlists/${l.name}`)} aria-current=${l.name === current ? "page" : undefined}>${l.name} (${l.activeEntries})</a>`)}
        </nav>
        ${current ? html`<${ListView} key=${current} session=${session} name=${current} description=${items.find((l) => l.name === current)?.description ?? ""} onChange=${lists.reload} />` : null}`;
    }}<//>`;
}

function ListView({ session, name, description, onChange }: SessionProps & { name: string; description: string; onChange(): void }) {
  const entries = useLoad(() => api<{ entries: Entry[] }>(session, `/allowlists/${name}`).then((r) => r.entries), name);
  const audit = useLoad(() => api<{ items: Audit[] }>(session, `/allowlists/${name}/audit`, { query: { limit: "20" } }).then((r) => r.items), name);
  const changed = () => (entries.reload(), audit.reload(), onChange());
  const network = name.toLowerCase().includes("ip") || name.toLowerCase().includes("network");
  return html`<p class="lead">${description}</p>
    <${EntryForm} session=${session} list=${name} placeholder=${network ? "203.0.113.7, 2001:db8::/32" : "user@contoso.com"} onDone=${changed} />
    <${Loading} loaded=${entries}>${(all: Entry[]) => html`
      <h2>Active entries</h2>
      <${EntryTable} session=${session} entries=${all.filter((e) => !e.expired)} onChange=${changed} caption="Active entries" />
      <h2>Expired entries</h2>
      <p class="muted">The rules ignore these.</p>
      <${EntryTable} session=${session} entries=${all.filter((e) => e.expired)} onChange=${changed} caption="Expired entries" />`}<//
    >
    <h2>Audit</h2>
    <${Loading} loaded=${audit}>${(items: Audit[]) =>
      items.length === 0
        ? html`<p>No changes yet.</p>`
        : html`<table class="audit"><caption class="visually-hidden">Audit of ${name}</caption>
            <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
            <tbody>${items.map((a) => html`<tr key=${a.id}><td>${when(a.at)}</td><td>${a.actor}</td><td>${a.action}</td><td>${a.before?.value ?? "—"}</td><td>${a.after?.value ?? "—"}</td></tr>`)}</tbody></table>`}<//
    >`;
}

function EntryTable({ session, entries, onChange, caption }: SessionProps & { entries: Entry[]; onChange(): void; caption: string }) {
  const [editing, setEditing] = useState<string | null>(null);
  const action = useAction();
  if (entries.length === 0) return html`<p>None.</p>`;
  const remove = (e: Entry) => action.run(() => api(session, `/allowlists/${e.list}/entries/${e.id}`, { method: "DELETE", ifMatch: e.etag })).then((ok) => ok && onChange());
  return html`${action.error ? html`<${ProblemPanel} error=${action.error} />` : null}
    <table><caption class="visually-hidden">${caption}</caption>
      <thead><tr><th scope="col">Value</th><th scope="col">Reason</th><th scope="col">Expires</th><th scope="col">Added by</th><th scope="col">Actions</th></tr></thead>
      <tbody>${entries.map((e) =>
        editing === e.id
          ? html`<tr key=${e.id}><td colspan="5"><${EntryForm} session=${session} list=${e.list} entry=${e} onDone=${() => (setEditing(null), onChange())} onCancel=${() => setEditing(null)} /></td></tr>`
          : html`<tr key=${e.id}>
              <td><code>${e.value}</code></td><td>${e.reason}</td><td>${e.expiresAt ? when(e.expiresAt) : "never"}</td><td>${e.createdBy}<div class="muted">${when(e.createdAt)}</div></td>
              <td class="actions"><button type="button" onClick=${() => setEditing(e.id)}>Edit</button>
                <button type="button" class="danger" disabled=${action.busy} onClick=${() => confirm(`Delete ${e.value}?`) && remove(e)}>Delete</button></td>
            </tr>`,
      )}</tbody>
    </table>`;
}

/** The entry body's fields: the API's messages for them show beside their inputs. */
const FIELDS = ["value", "reason", "expiresAt"];

/** Add an entry, or edit one (PUT with If-Match): the API validates and canonicalises the value. */
function EntryForm({ session, list, entry, placeholder, onDone, onCancel }: SessionProps & { list: string; entry?: Entry; placeholder?: string; onDone(): void; onCancel?(): void }) {
  const [form, setForm] = useState({ value: entry?.value ?? "", reason: entry?.reason ?? "", expiresAt: localOf(entry?.expiresAt ?? null) });
  const action = useAction();
  const set = (name: keyof typeof form) => (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    const body = { value: form.value.trim(), reason: form.reason, expiresAt: isoOf(form.expiresAt) ?? null };
    const ok = await action.run(() =>
      entry
        ? api(session, `/allowlists/${list}/entries/${entry.id}`, { method: "PUT", body, ifMatch: entry.etag })
        : api(session, `/allowlists/${list}/entries`, { method: "POST", body }),
    );
    if (ok) {
      if (!entry) setForm({ value: "", reason: "", expiresAt: "" });
      onDone();
    }
  };
  const id = `${list}-${entry?.id ?? "new"}`;
  const invalid = (field: string) => (action.error?.field(field) ? { "aria-invalid": "true", "aria-describedby": `${id}-err-${field}` } : {});
  return html`<form class="entry-form" onSubmit=${submit} aria-label=${entry ? `Edit ${entry.value}` : `Add to ${list}`}>
    ${entry ? null : html`<h2>Add an entry</h2>`}
    <div class="row">
      <label for=${`${id}-value`}>Value</label><input id=${`${id}-value`} name="value" required value=${form.value} onInput=${set("value")} placeholder=${placeholder} ...${invalid("value")} />
      <${FieldMessage} error=${action.error} field="value" id=${`${id}-err-value`} />
      <label for=${`${id}-reason`}>Reason</label><input id=${`${id}-reason`} name="reason" required value=${form.reason} onInput=${set("reason")} ...${invalid("reason")} />
      <${FieldMessage} error=${action.error} field="reason" id=${`${id}-err-reason`} />
      <label for=${`${id}-expires`}>Expires (optional)</label><input id=${`${id}-expires`} type="datetime-local" name="expiresAt" value=${form.expiresAt} onInput=${set("expiresAt")} ...${invalid("expiresAt")} />
      <${FieldMessage} error=${action.error} field="expiresAt" id=${`${id}-err-expiresAt`} />
      <button type="submit" disabled=${action.busy}>${entry ? "Save" : "Add"}</button>
      ${onCancel ? html`<button type="button" onClick=${onCancel}>Cancel</button>` : null}
    </div>
    ${action.error && !FIELDS.some((f) => action.error?.field(f)) ? html`<${ProblemPanel} error=${action.error} />` : null}
  </form>`;
}

interface Rule {
  id: string;
  name: string;
  description: string;
  severity: string;
  tactics: string[];
  relevantTechniques: string[];
  queryFrequency: string;
  queryPeriod: string;
  tables: string[];
  connectors: string[];
  enabled: boolean;
  disabled: { by: string | null; at: string | null; reason: string } | null;
  health: {
    status: string;
    tableMissing: string | null;
    checkpoint: string | null;
    lagMinutes: number | null;
    lastRun: { at: string; windowsBehind: number; lastError: string | null; lastErrorAt: string | null; windowsProcessed: number } | null;
  };
}

/** Every rule's metadata and health, for any role that reads; switching a rule and backfill are for admins. */
export function RulesView({ session }: SessionProps) {
  const rules = useLoad(() => api<{ items: Rule[] }>(session, "/rules").then((r) => r.items), "rules");
  const admin = isAdmin(session);
  return html`<h1>Rules</h1>
    <${Loading} loaded=${rules}>${(items: Rule[]) =>
      items.map((r) => {
        const run = r.health.lastRun;
        return html`<section class="rule" key=${r.id} aria-labelledby=${`rule-${r.id}`}>
          <h2 id=${`rule-${r.id}`}>${r.name} <${Severity} value=${r.severity} /> ${r.enabled ? null : html`<span class="badge">disabled</span>`}</h2>
          <p>${r.description}</p>
          <dl class="summary">
            <div><dt>Tactics</dt><dd>${r.tactics.join(", ")}</dd></div>
            <div><dt>Techniques</dt><dd>${r.relevantTechniques.join(", ")}</dd></div>
            <div><dt>Tables</dt><dd>${r.tables.join(", ")}</dd></div>
            <div><dt>Connectors</dt><dd>${r.connectors.join(", ")}</dd></div>
            <div><dt>Schedule</dt><dd>every ${r.queryFrequency}, looking back ${r.queryPeriod}</dd></div>
          </dl>
          <dl class="summary">
            <div><dt>Health</dt><dd><span class=${`health health-${r.health.status}`}>${r.health.status}</span>${r.health.tableMissing ? ` (no ${r.health.tableMissing} table in the workspace)` : null}</dd></div>
            <div><dt>Last window end</dt><dd>${when(r.health.checkpoint)}</dd></div>
            <div><dt>Lag</dt><dd>${r.health.lagMinutes === null ? "—" : `${Math.round(r.health.lagMinutes)} min`}</dd></div>
            <div><dt>Last run</dt><dd>${when(run?.at)}</dd></div>
            <div><dt>Windows behind</dt><dd>${run?.windowsBehind ?? "—"}</dd></div>
            <div><dt>Last error</dt><dd>${run?.lastError ? `${run.lastError} (${when(run.lastErrorAt)})` : "none"}</dd></div>
          </dl>
          ${r.disabled ? html`<p class="muted">Switched off by ${r.disabled.by ?? "unknown"}${r.disabled.at ? `, ${when(r.disabled.at)}` : ""}: ${r.disabled.reason}</p>` : null}
          ${admin ? html`<${RuleSwitch} session=${session} rule=${r} onChange=${rules.reload} /><${Backfill} session=${session} rule=${r} />` : null}
        </section>`;
      })}<//
    >`;
}

/** Switch a rule off or on with a reason (audited); the API refuses one the TOKENWATCH_DISABLED_RULES setting switched off, and its message shows. */
function RuleSwitch({ session, rule, onChange }: SessionProps & { rule: Rule; onChange(): void }) {
  const [reason, setReason] = useState("");
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(() => api(session, `/rules/${rule.id}/enabled`, { method: "PUT", body: { enabled: !rule.enabled, reason } }));
    if (ok) {
      setReason("");
      onChange();
    }
  };
  const id = `switch-${rule.id}`;
  const verb = rule.enabled ? "Switch off" : "Switch on";
  return html`<form class="row" onSubmit=${submit} aria-label=${`${verb} ${rule.name}`}>
    <label for=${`${id}-reason`}>Reason</label><input id=${`${id}-reason`} required value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} />
    <button type="submit" disabled=${action.busy}>${verb}</button>
  </form>
  ${action.error ? html`<${ProblemPanel} error=${action.error} />` : null}`;
}

function Backfill({ session, rule }: SessionProps & { rule: Rule }) {
  const [range, setRange] = useState({ from: "", to: "" });
  const [result, setResult] = useState<{ windows: number; alerts: number; incidents: number } | null>(null);
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    setResult(null);
    void action.run(async () => setResult(await api<{ windows: number; alerts: number; incidents: number }>(session, `/rules/${rule.id}/backfill`, { method: "POST", body: { from: isoOf(range.from), to: isoOf(range.to) } })));
  };
  const id = `backfill-${rule.id}`;
  return html`<form class="row" onSubmit=${submit} aria-label=${`Backfill ${rule.name}`}>
    <label for=${`${id}-from`}>Backfill from</label><input id=${`${id}-from`} type="datetime-local" required value=${range.from} onInput=${(e: Event) => setRange({ ...range, from: (e.target as HTMLInputElement).value })} />
    <label for=${`${id}-to`}>to</label><input id=${`${id}-to`} type="datetime-local" required value=${range.to} onInput=${(e: Event) => setRange({ ...range, to: (e.target as HTMLInputElement).value })} />
    <button type="submit" disabled=${action.busy}>${action.busy ? "Running…" : "Run backfill"}</button>
    ${result ? html`<span role="status">${result.windows} window(s), ${result.alerts} alert(s), ${result.incidents} incident(s)</span>` : null}
  </form>
  ${action.error ? html`<${ProblemPanel} error=${action.error} />` : null}`;
}

interface Subscription {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  minSeverity: string;
  enabled: boolean;
  createdBy: string;
  createdAt: string;
  secrets: { createdAt: string; expiresAt: string | null }[];
  etag: string;
}
interface Delivery {
  id: string;
  eventType: string;
  incidentId: string;
  account: string;
  status: string;
  attemptCount: number;
  updatedAt: string;
  attempts: { at: string; statusCode: number | null; error: string | null }[];
}

export function WebhooksView({ session }: SessionProps) {
  const subs = useLoad(() => api<{ items: Subscription[] }>(session, "/webhooks/subscriptions").then((r) => r.items), "subs");
  const [secret, setSecret] = useState<{ id: string; secret: string } | null>(null);
  return html`<h1>Webhooks</h1>
    ${secret
      ? html`<div class="secret" role="alert"><strong>Signing secret — shown once, store it now:</strong> <code>${secret.secret}</code>
          <button type="button" onClick=${() => setSecret(null)}>I have stored it</button></div>`
      : null}
    <${NewSubscription} session=${session} onCreated=${(s: { subscription: Subscription; secret: string }) => (setSecret({ id: s.subscription.id, secret: s.secret }), subs.reload())} />
    <${Loading} loaded=${subs}>${(items: Subscription[]) =>
      items.length === 0
        ? html`<p>No subscriptions.</p>`
        : items.map((s) => html`<${SubscriptionCard} key=${s.id} session=${session} sub=${s} onSecret=${(value: string) => setSecret({ id: s.id, secret: value })} onChange=${subs.reload} />`)}<//
    >`;
}

function NewSubscription({ session, onCreated }: SessionProps & { onCreated(s: { subscription: Subscription; secret: string }): void }) {
  const [url, setUrl] = useState("");
  const [types, setTypes] = useState<string[]>([...EVENT_TYPES]);
  const [minSeverity, setMinSeverity] = useState("Informational");
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const created = await api<{ subscription: Subscription; secret: string }>(session, "/webhooks/subscriptions", { method: "POST", body: { url, eventTypes: types, minSeverity } });
      setUrl("");
      onCreated(created);
    });
  };
  return html`<form class="entry-form" onSubmit=${submit} aria-labelledby="newsub-h">
    <h2 id="newsub-h">New subscription</h2>
    <div class="row">
      <label for="sub-url">URL</label><input id="sub-url" type="url" required value=${url} onInput=${(e: Event) => setUrl((e.target as HTMLInputElement).value)} placeholder="https://siem.example.com/hooks/tokenwatch" />
      <fieldset><legend>Events</legend>${EVENT_TYPES.map(
        (t) => html`<label><input type="checkbox" checked=${types.includes(t)} onChange=${(e: Event) => setTypes((e.target as HTMLInputElement).checked ? [...types, t] : types.filter((x) => x !== t))} /> ${t}</label>`,
      )}</fieldset>
      <label for="sub-sev">Minimum severity</label><select id="sub-sev" value=${minSeverity} onChange=${(e: Event) => setMinSeverity((e.target as HTMLSelectElement).value)}>
        ${["Informational", "Low", "Medium", "High"].map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <button type="submit" disabled=${action.busy}>Create</button>
    </div>
    ${action.error ? html`<${ProblemPanel} error=${action.error} />` : null}
  </form>`;
}

function SubscriptionCard({ session, sub, onSecret, onChange }: SessionProps & { sub: Subscription; onSecret(secret: string): void; onChange(): void }) {
  const [open, setOpen] = useState(false);
  const action = useAction();
  const base = `/webhooks/subscriptions/${sub.id}`;
  const rotate = () => action.run(async () => onSecret((await api<{ secret: string }>(session, `${base}/rotate-secret`, { method: "POST", body: {}, ifMatch: sub.etag })).secret)).then((ok) => ok && onChange());
  const remove = () => action.run(() => api(session, base, { method: "DELETE", ifMatch: sub.etag })).then((ok) => ok && onChange());
  return html`<section class="rule" aria-label=${`Subscription ${sub.url}`}>
    <h2><code>${sub.url}</code> ${sub.enabled ? null : html`<span class="badge">disabled</span>`}</h2>
    <p class="muted">${sub.eventTypes.join(", ")} · minimum ${sub.minSeverity} · ${sub.secrets.length} secret(s) in use · by ${sub.createdBy}, ${when(sub.createdAt)}</p>
    <div class="row">
      <button type="button" onClick=${() => setOpen(!open)} aria-expanded=${open}>${open ? "Hide deliveries" : "Deliveries"}</button>
      <button type="button" disabled=${action.busy} onClick=${rotate}>Rotate secret</button>
      <button type="button" class="danger" disabled=${action.busy} onClick=${() => confirm(`Delete the subscription to ${sub.url}?`) && remove()}>Delete</button>
    </div>
    ${action.error ? html`<${ProblemPanel} error=${action.error} />` : null}
    ${open ? html`<${Deliveries} session=${session} base=${base} />` : null}
  </section>`;
}

function Deliveries({ session, base }: SessionProps & { base: string }) {
  const deliveries = useLoad(() => api<{ items: Delivery[] }>(session, `${base}/deliveries`, { query: { limit: "20" } }).then((r) => r.items), base);
  const action = useAction();
  const redeliver = (d: Delivery) => action.run(() => api(session, `${base}/deliveries/${d.id}/redeliver`, { method: "POST" })).then((ok) => ok && deliveries.reload());
  return html`${action.error ? html`<${ProblemPanel} error=${action.error} />` : null}
    <${Loading} loaded=${deliveries}>${(items: Delivery[]) =>
      items.length === 0
        ? html`<p>No deliveries yet.</p>`
        : html`<table><caption class="visually-hidden">Recent deliveries</caption>
            <thead><tr><th scope="col">Event</th><th scope="col">Incident</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last response</th><th scope="col">Actions</th></tr></thead>
            <tbody>${items.map((d) => {
              const last = d.attempts.at(-1);
              return html`<tr key=${d.id}><td>${d.eventType}<div class="muted">${when(d.updatedAt)}</div></td><td><a href=${hash(`/incident/${d.incidentId}`)}>${d.account}</a></td>
                <td>${d.status}</td><td>${d.attemptCount}</td><td>${last ? (last.statusCode ?? last.error ?? "—") : "—"}</td>
                <td><button type="button" disabled=${action.busy || d.status === "pending"} onClick=${() => redeliver(d)}>Redeliver</button></td></tr>`;
            })}</tbody></table>`}<//
    >`;
}
