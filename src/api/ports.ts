// The ports the API owns: what its route groups read and write in storage, as interfaces.
// The Table Storage repositories (src/store/) satisfy them structurally; the composition root
// (src/app.ts) assigns them to these types, so tsc checks conformance there.
import type { RuleStatePort, RuleStatusPort } from "../engine/ports.js";
import type { Actor } from "../model/actor.js";
import type { AllowlistEntry, AuditRecord, EntryInput, EntryResult, ListName } from "../model/allowlists.js";
import type { RuleHealth, RuleSetting, RuleState } from "../model/rule-state.js";

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

/** What the API's own route groups read and write (incidents: see IncidentDeps in incidents.ts). */
export interface ApiStores {
  allowlists: AllowlistAdminPort;
  ruleState: RuleAdminPort;
}
