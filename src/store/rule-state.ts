// Per-rule state in the Checkpoints table: the last fully processed window and what the
// baseline needs to know about the data's history, plus the lease that lets one invocation
// at a time process the rule's windows. One entity per rule, ETag-guarded. Next to it
// (row key `health`) the rule's health after its last run, for the API.
import { randomUUID } from "node:crypto";
import { actorColumns, actorFromColumns, type Actor } from "../audit.js";
import { sortableIso, toDateTime, type DateTime } from "../rules/kql.js";
import { odata, statusOf, type TableStore } from "./tables.js";

/** Who processes the rule's windows now, and until when the claim holds without renewal. */
export interface Lease {
  owner: string;
  until: number;
}

export interface RuleState {
  /** End of the last window whose alerts, incidents and baseline updates are all stored. */
  windowEnd: number;
  /** Start of the rule's first window: data that arrived before it is the bootstrap history. */
  firstWindowStart: number;
  /** Earliest TimeGenerated the rule's baseline table has shown (null: none yet), exact. */
  dataSince: DateTime | null;
  /**
   * While the rule's baseline is still being bootstrapped: the day up to which the history is
   * recorded (the bootstrap resumes there); absent once it is complete, or for a rule without one.
   */
  bootstrapUntil?: number;
  /** Absent when no run holds the rule (released, or never taken). */
  lease?: Lease;
  etag?: string;
}

interface StateEntity {
  windowEnd: string;
  firstWindowStart: string;
  dataSince?: string;
  bootstrapUntil?: string;
  leaseOwner?: string;
  leaseUntil?: string;
}

const ROW = "window";
const HEALTH_ROW = "health";
const SETTING_ROW = "setting";
/** Audit rows of a rule's enable/disable changes: `audit:<inverted time>`, newest first. */
const AUDIT_PREFIX = "audit:";

/** Whether a rule runs, as an admin last set it over the API (absent: enabled). */
export interface RuleSetting {
  enabled: boolean;
  changedBy: Actor;
  changedAt: number;
  reason: string;
}

export interface RuleAuditRecord extends RuleSetting {
  /** The setting before this change (null: never set, so enabled). */
  before: boolean | null;
}

interface SettingEntity {
  enabled: boolean;
  changedBy: string;
  changedAt: string;
  reason: string;
}

const settingFromEntity = (e: SettingEntity): RuleSetting => ({ enabled: e.enabled, changedBy: actorFromColumns("changedBy", e), changedAt: Date.parse(e.changedAt), reason: e.reason });

/** A rule's health after its last scheduled run. */
export interface RuleHealth {
  ruleId: string;
  /** End of the last window processed completely (the checkpoint), null before the first. */
  lastSuccessfulWindowEnd: number | null;
  /** Whole windows due but not yet processed after the last run (catch-up still to do). */
  windowsBehind: number;
  /** Rows read from the logs by the last run, and rows of it rejected by validation. */
  rowsRead: number;
  rowsRejected: number;
  /** Events the last run's rule could not judge yet (users without a baseline while learning). */
  eventsHeldBack: number;
  /** Windows the last run completed. */
  windowsProcessed: number;
  durationMs: number;
  lastRunAt: number;
  /** Whether the last run ended in an error (its window stays un-checkpointed). */
  failing: boolean;
  /** The most recent error and when it happened; kept after later successes. */
  lastError: string | null;
  lastErrorAt: number | null;
  /** The table the last run found missing from the workspace (its connector is not connected), else null. */
  tableMissing: string | null;
}

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
    ...(entity.bootstrapUntil ? { bootstrapUntil: Date.parse(entity.bootstrapUntil) } : {}),
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
      bootstrapUntil: state.bootstrapUntil === undefined ? "" : new Date(state.bootstrapUntil).toISOString(),
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

  /**
   * Claims the rule for `owner` until `now + ttlMs`: only when nobody else holds an
   * unexpired lease, and only if the entity is unchanged since it was read (If-Match), so
   * of two invocations racing for it exactly one wins. Built on get() and put(), so a
   * repository that keeps state elsewhere leases there too. Throws LeaseHeld.
   */
  async acquireLease(ruleId: string, owner: string, now: number, ttlMs: number): Promise<RuleState> {
    const state = await this.get(ruleId);
    if (!state) throw new Error(`rule ${ruleId}: no checkpoint to lease`);
    if (state.lease && state.lease.owner !== owner && state.lease.until > now) throw new LeaseHeld(ruleId, state.lease);
    try {
      return await this.put(ruleId, { ...state, lease: { owner, until: now + ttlMs } });
    } catch (error) {
      if (error instanceof StateConflict) throw new LeaseHeld(ruleId);
      throw error;
    }
  }

  /** Gives the lease up; a lease lost meanwhile (expired and taken) is left to its new owner. */
  async releaseLease(ruleId: string, state: RuleState): Promise<void> {
    try {
      await this.put(ruleId, { ...state, lease: undefined });
    } catch (error) {
      if (!(error instanceof StateConflict)) throw error;
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

/**
 * How long a claim on a rule holds without renewal: a run that crashed (process killed,
 * host recycled) keeps the rule from the next invocation at most this long.
 */
export const LEASE_TTL_MS = 2 * 60_000;
/** How often a live run renews its claim: a quarter of the TTL, so a slow storage call or two cannot lose it. */
export const LEASE_RENEW_MS = 30_000;

/**
 * A lease held by a live run: renewed in the background every `renewMs` while the run works
 * on a window, and the one way the run writes the rule's state, so renewals and checkpoint
 * moves take turns on the entity's ETag instead of racing each other. A renewal that finds
 * the lease taken (it expired, say the event loop was blocked past the TTL) stops; the run's
 * next checkpoint move then fails with StateConflict, as it would without renewals.
 */
export class HeldLease {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private released = false;

  constructor(
    private readonly repository: LeaseStore,
    private readonly ruleId: string,
    private readonly owner: string,
    private readonly now: () => number,
    private readonly ttlMs: number,
    renewMs: number,
    /** The rule's state as last written by this lease (its ETag current). */
    public state: RuleState,
  ) {
    this.timer = setInterval(() => void this.renew(), renewMs);
    this.timer.unref();
  }

  /** Moves the checkpoint (or the bootstrap's progress) and renews the lease in one write; StateConflict when the lease was lost. */
  advance(update: Partial<Pick<RuleState, "windowEnd" | "dataSince" | "bootstrapUntil">>): Promise<RuleState> {
    return this.serially(async () => (this.state = await this.repository.put(this.ruleId, { ...this.state, ...update, lease: this.claim() })));
  }

  /** Stops renewing and gives the lease up (left to expire if that write fails). */
  release(): Promise<void> {
    this.released = true;
    clearInterval(this.timer);
    return this.serially(() => this.repository.releaseLease(this.ruleId, this.state)).catch(() => undefined);
  }

  private renew(): Promise<void> {
    return this.serially(async () => {
      if (this.released) return;
      this.state = await this.repository.put(this.ruleId, { ...this.state, lease: this.claim() });
    }).catch((error: unknown) => {
      if (error instanceof StateConflict) clearInterval(this.timer); // taken over: the next advance() reports it
      // Anything else (storage briefly unreachable): the next tick tries again.
    });
  }

  private claim(): Lease {
    return { owner: this.owner, until: this.now() + this.ttlMs };
  }

  private serially<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

type LeaseStore = Pick<RuleStateRepository, "acquireLease" | "put" | "releaseLease">;

/** Acquires the rule's lease (LeaseHeld when another run has it) and keeps it renewed until released: what a run holds while it works. */
export async function holdLease(repository: LeaseStore, ruleId: string, owner: string, now: () => number, ttlMs = LEASE_TTL_MS, renewMs = LEASE_RENEW_MS): Promise<HeldLease> {
  return new HeldLease(repository, ruleId, owner, now, ttlMs, renewMs, await repository.acquireLease(ruleId, owner, now(), ttlMs));
}

/** Another invocation holds the rule: this one has nothing to do. */
export class LeaseHeld extends Error {
  constructor(
    ruleId: string,
    readonly lease?: Lease,
  ) {
    super(`rule ${ruleId}: being processed by another run${lease ? ` (lease held until ${new Date(lease.until).toISOString()})` : ""}`);
    this.name = "LeaseHeld";
  }
}

export class StateConflict extends Error {
  constructor(ruleId: string) {
    super(`rule ${ruleId}: checkpoint changed by another run`);
  }
}
