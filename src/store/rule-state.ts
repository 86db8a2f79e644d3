// Per-rule state in the Checkpoints table: the last fully processed window and what the
// baseline needs to know about the data's history, plus the lease that lets one invocation
// at a time process the rule's windows. One entity per rule, ETag-guarded. Next to it
// (row key `health`) the rule's health after its last run, for the API.
import { randomUUID } from "node:crypto";
import { actorColumns, actorFromColumns } from "../model/actor.js";
import { type RuleAuditRecord, type RuleHealth, type RuleSetting, type RuleState, StateConflict } from "../model/rule-state.js";
import { sortableIso, toDateTime } from "../model/time.js";
import { odata, statusOf, type TableStore } from "./tables.js";

interface StateEntity {
  windowEnd: string;
  firstWindowStart: string;
  dataSince?: string;
  leaseOwner?: string;
  leaseUntil?: string;
}

const ROW = "window";
const HEALTH_ROW = "health";
const SETTING_ROW = "setting";
/** Audit rows of a rule's enable/disable changes: `audit:<inverted time>`, newest first. */
const AUDIT_PREFIX = "audit:";

interface SettingEntity {
  enabled: boolean;
  changedBy: string;
  changedAt: string;
  reason: string;
}

const settingFromEntity = (e: SettingEntity): RuleSetting => ({ enabled: e.enabled, changedBy: actorFromColumns("changedBy", e), changedAt: Date.parse(e.changedAt), reason: e.reason });

interface HealthEntity {
  lastSuccessfulWindowEnd: string;
  windowsBehind: number;
  rowsRead: number;
  rowsRejected: number;
  eventsHeldBack?: number;
  windowsProcessed: number;
  durationMs: number;
  lastRunAt: string;
  failing: boolean;
  lastError: string;
  lastErrorAt: string;
  tableMissing?: string;
}

const isoOrEmpty = (t: number | null) => (t === null ? "" : new Date(t).toISOString());
const parseOrNull = (t: string | undefined) => (t ? Date.parse(t) : null);

function healthFromEntity(ruleId: string, e: HealthEntity): RuleHealth {
  return {
    ruleId,
    lastSuccessfulWindowEnd: parseOrNull(e.lastSuccessfulWindowEnd),
    windowsBehind: e.windowsBehind,
    rowsRead: e.rowsRead,
    rowsRejected: e.rowsRejected,
    eventsHeldBack: e.eventsHeldBack ?? 0,
    windowsProcessed: e.windowsProcessed,
    durationMs: e.durationMs,
    lastRunAt: Date.parse(e.lastRunAt),
    failing: e.failing,
    lastError: e.lastError || null,
    lastErrorAt: parseOrNull(e.lastErrorAt),
    tableMissing: e.tableMissing || null,
  };
}

function fromEntity(entity: StateEntity & { etag: string }): RuleState {
  return {
    windowEnd: Date.parse(entity.windowEnd),
    firstWindowStart: Date.parse(entity.firstWindowStart),
    dataSince: entity.dataSince ? toDateTime(entity.dataSince) : null,
    ...(entity.leaseOwner && entity.leaseUntil ? { lease: { owner: entity.leaseOwner, until: Date.parse(entity.leaseUntil) } } : {}),
    etag: entity.etag,
  };
}

export class RuleStateRepository {
  constructor(private readonly store: TableStore) {}

  async get(ruleId: string): Promise<RuleState | undefined> {
    const entity = await this.store.get<StateEntity>("Checkpoints", ruleId, ROW);
    return entity && fromEntity(entity);
  }

  /**
   * Writes the state if nobody else moved it since it was read (ETag), so two runs of
   * one rule can never both advance it; returns the new state with its ETag.
   * Throws StateConflict when it changed underneath.
   */
  async put(ruleId: string, state: RuleState): Promise<RuleState> {
    const client = await this.store.table("Checkpoints");
    const entity = {
      partitionKey: ruleId,
      rowKey: ROW,
      windowEnd: new Date(state.windowEnd).toISOString(),
      firstWindowStart: new Date(state.firstWindowStart).toISOString(),
      dataSince: state.dataSince === null ? "" : sortableIso(state.dataSince),
      leaseOwner: state.lease?.owner ?? "",
      leaseUntil: state.lease ? new Date(state.lease.until).toISOString() : "",
    };
    try {
      const response = state.etag
        ? await client.updateEntity(entity, "Replace", { etag: state.etag })
        : await client.createEntity(entity);
      return { ...state, etag: response.etag };
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409) throw new StateConflict(ruleId);
      throw error;
    }
  }

  async recordHealth(health: RuleHealth): Promise<void> {
    const client = await this.store.table("Checkpoints");
    const entity: HealthEntity & { partitionKey: string; rowKey: string } = {
      partitionKey: health.ruleId,
      rowKey: HEALTH_ROW,
      lastSuccessfulWindowEnd: isoOrEmpty(health.lastSuccessfulWindowEnd),
      windowsBehind: health.windowsBehind,
      rowsRead: health.rowsRead,
      rowsRejected: health.rowsRejected,
      eventsHeldBack: health.eventsHeldBack,
      windowsProcessed: health.windowsProcessed,
      durationMs: Math.round(health.durationMs),
      lastRunAt: new Date(health.lastRunAt).toISOString(),
      failing: health.failing,
      lastError: (health.lastError ?? "").slice(0, 8_000),
      lastErrorAt: isoOrEmpty(health.lastErrorAt),
      tableMissing: health.tableMissing ?? "",
    };
    await client.upsertEntity(entity, "Replace");
  }

  /** A rule's enable/disable setting as an admin last made it, or undefined (enabled). */
  async setting(ruleId: string): Promise<RuleSetting | undefined> {
    const entity = await this.store.get<SettingEntity>("Checkpoints", ruleId, SETTING_ROW);
    return entity && settingFromEntity(entity);
  }

  async allSettings(): Promise<Map<string, RuleSetting>> {
    const out = new Map<string, RuleSetting>();
    for (const entity of await this.store.list<SettingEntity>("Checkpoints", `RowKey eq ${odata(SETTING_ROW)}`)) out.set(entity.partitionKey, settingFromEntity(entity));
    return out;
  }

  /** Enables or disables a rule, and audits the change (who, when, why, before and after). */
  async putSetting(ruleId: string, setting: RuleSetting): Promise<void> {
    const before = await this.setting(ruleId);
    const client = await this.store.table("Checkpoints");
    const fields = { enabled: setting.enabled, ...actorColumns("changedBy", setting.changedBy), changedAt: new Date(setting.changedAt).toISOString(), reason: setting.reason };
    await client.upsertEntity({ partitionKey: ruleId, rowKey: SETTING_ROW, ...fields }, "Replace");
    const inverted = String(8_640_000_000_000_000 - setting.changedAt).padStart(16, "0");
    await client.createEntity({ partitionKey: ruleId, rowKey: `${AUDIT_PREFIX}${inverted}-${randomUUID().slice(0, 8)}`, ...fields, before: before === undefined ? "" : String(before.enabled) });
  }

  /** A rule's enable/disable changes, newest first. */
  async settingAudit(ruleId: string): Promise<RuleAuditRecord[]> {
    const entities = await this.store.list<SettingEntity & { before: string }>(
      "Checkpoints",
      `PartitionKey eq ${odata(ruleId)} and RowKey ge ${odata(AUDIT_PREFIX)} and RowKey lt ${odata(`${AUDIT_PREFIX}~`)}`,
    );
    return entities.sort((a, b) => (a.rowKey < b.rowKey ? -1 : 1)).map((e) => ({ ...settingFromEntity(e), before: e.before === "" ? null : e.before === "true" }));
  }

  /** The rule's health after its last scheduled run, or undefined before the first. */
  async health(ruleId: string): Promise<RuleHealth | undefined> {
    const entity = await this.store.get<HealthEntity>("Checkpoints", ruleId, HEALTH_ROW);
    return entity && healthFromEntity(ruleId, entity);
  }

  /** Every rule's health, by rule id. */
  async allHealth(): Promise<Map<string, RuleHealth>> {
    const out = new Map<string, RuleHealth>();
    for (const entity of await this.store.list<HealthEntity>("Checkpoints", `RowKey eq ${odata(HEALTH_ROW)}`))
      out.set(entity.partitionKey, healthFromEntity(entity.partitionKey, entity));
    return out;
  }

  async all(): Promise<Map<string, RuleState>> {
    const out = new Map<string, RuleState>();
    for (const entity of await this.store.list<StateEntity>("Checkpoints", `RowKey eq ${odata(ROW)}`)) out.set(entity.partitionKey, fromEntity(entity));
    return out;
  }
}
