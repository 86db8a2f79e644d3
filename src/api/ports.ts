// The ports the API owns: what its route groups read and write in storage, as interfaces.
// The Table Storage repositories (src/store/) satisfy them structurally; the composition root
// (src/app.ts) assigns them to these types, so tsc checks conformance there.
import type { RuleStatePort, RuleStatusPort } from "../engine/ports.js";
import type { z } from "zod";
import type { Actor } from "../model/actor.js";
import type { Alert, Incident, IncidentChange, IncidentChanges, IncidentQuery, Listed } from "../model/incident.js";
import type { DateTime } from "../model/time.js";
import type { AllowlistEntry, AuditRecord, EntryInput, EntryResult, ListName } from "../model/allowlists.js";
import type { RuleHealth, RuleSetting, RuleState } from "../model/rule-state.js";
import type { AccountPageSchema } from "./schemas.js";

type WithEtag = { entry: AllowlistEntry; etag: string };

/** Allowlist administration: entries with their ETags, ETag-guarded writes, and each list's audit. */
export interface AllowlistAdminPort {
  all(): Promise<AllowlistEntry[]>;
  entriesWithEtags(list: ListName): Promise<WithEtag[]>;
  entry(list: ListName, id: string): Promise<WithEtag | undefined>;
  add(list: ListName, input: EntryInput, actor: Actor, now: number): Promise<EntryResult<"exists">>;
  update(list: ListName, id: string, etag: string, input: EntryInput, actor: Actor, now: number): Promise<EntryResult<"exists" | "stale" | "missing">>;
  remove(list: ListName, id: string, etag: string | undefined, actor: Actor, now: number): Promise<EntryResult<"stale" | "missing">>;
  /** A page of the list's audit, newest first, after the given record id. */
  auditLog(list: ListName, limit: number, after?: string): Promise<{ records: AuditRecord[]; more: boolean }>;
}

/** The rules' checkpoints, health and on/off settings, one rule or all of them (by rule id). */
export interface RuleAdminPort extends Pick<RuleStatePort, "get">, Pick<RuleStatusPort, "health" | "setting"> {
  all(): Promise<Map<string, RuleState>>;
  allHealth(): Promise<Map<string, RuleHealth>>;
  allSettings(): Promise<Map<string, RuleSetting>>;
  putSetting(ruleId: string, setting: RuleSetting): Promise<void>;
}

/** Incidents as the API lists, reads and updates them (ETag-guarded, with their history), and the per-account view. */
export interface IncidentPort {
  /** A page of incidents matching `q`, newest first, strictly after the cursor. */
  incidentPage(q: IncidentQuery, limit: number, after?: { t: DateTime; id: string }): Promise<{ items: Listed[]; more: boolean }>;
  getIncident(id: string): Promise<Incident | undefined>;
  queryIncidents(q?: IncidentQuery): Promise<Incident[]>;
  alertsOf(incident: Incident): Promise<Alert[]>;
  historyPage(incident: Incident, limit: number, after?: string): Promise<{ changes: IncidentChange[]; next: string | null }>;
  updateIncident(
    incident: Incident,
    etag: string,
    changes: IncidentChanges,
    actor: Actor,
    now: number,
  ): Promise<{ ok: true; incident: Incident; changes: IncidentChange[] } | { ok: false; reason: "stale" | "missing" }>;
  accountPage(limit: number, after?: string): Promise<{ items: z.infer<typeof AccountPageSchema>["items"]; next: string | null }>;
}

/** What the API's route groups read and write. */
export interface ApiStores {
  incidents: IncidentPort;
  allowlists: AllowlistAdminPort;
  ruleState: RuleAdminPort;
}
