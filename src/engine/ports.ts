// The ports the engine owns: what a run needs from the logs and from storage, as
// interfaces. The Table Storage and in-memory implementations (src/store/) and the sources
// (src/sources/) satisfy them structurally; the composition root assigns them to these
// types, so tsc checks conformance there.
import type { Alert, Incident } from "./incidents.js";
import type { AllowlistEntry } from "../model/allowlists.js";
import type { QuerySpec } from "../model/query.js";
import type { Fetched, KnownNetworks, RowOf, SignInSighting, TableName } from "../model/rows.js";
import type { RuleHealth, RuleSetting, RuleState } from "../model/rule-state.js";
import type { DateTime } from "../model/time.js";
import type { ShardRecord } from "../model/shard.js";
import type { SessionRef, SessionState } from "../model/sessions.js";

// `label` (`<rule id>/<query name>`) names the query in rejections and errors.
export interface LogSource {
  rows<T extends TableName>(spec: QuerySpec<T>, kql: string, label?: string): Promise<Fetched<RowOf<T>>>;
  /** (account, ip, asn, lastSeen) of the spec's rows: a summarized query. */
  sightings(spec: QuerySpec, kql: string, label?: string): Promise<Fetched<SignInSighting>>;
  /** The earliest TimeGenerated among the spec's rows, or null when there are none. */
  earliest(spec: QuerySpec, kql: string, label?: string): Promise<DateTime | null>;
}

/** The rule's checkpoint, with its lease (ETag-guarded; leases are taken in src/engine/lease.ts). */
export interface RuleStatePort {
  get(ruleId: string): Promise<RuleState | undefined>;
  /** Writes the state if its ETag is still current; StateConflict otherwise. */
  put(ruleId: string, state: RuleState): Promise<RuleState>;
}

/** What the scheduled entry adds: the admin's on/off setting and the rule's health. */
export interface RuleStatusPort {
  recordHealth(health: RuleHealth): Promise<void>;
  health(ruleId: string): Promise<RuleHealth | undefined>;
  setting(ruleId: string): Promise<RuleSetting | undefined>;
}

/** The per-user baseline of known networks (the Intune rule). */
export interface BaselinePort {
  record(sightings: Iterable<SignInSighting>): Promise<void>;
  load(accounts: Iterable<string>, since: number): Promise<Map<string, KnownNetworks>>;
  /** Drops entries last seen at or before `since` in one of the hash buckets; how many went. */
  purge(bucketIndex: number, since: number): Promise<number>;
}

/** The per-session state (the forked-session rule): what each session was seen with. */
export interface SessionPort {
  /**
   * The states of these sessions, by id, without values last seen at or before `since` (epoch
   * ms); an expired session is absent, and so is a session stored as another account's.
   * `recentSince` is a hint: most sessions a window names were used after it (the window
   * before), which a store may read in bulk.
   */
  load(sessions: Iterable<SessionRef>, since: number, recentSince?: number): Promise<Map<string, SessionState>>;
  save(states: Iterable<SessionState>): Promise<void>;
  /** Deletes the sessions of one hash bucket last seen at or before `since`: one bucket per window sweeps them all. */
  purge(bucketIndex: number, since: number): Promise<number>;
}

export interface AllowlistPort {
  all(): Promise<AllowlistEntry[]>;
}

/** Where a window's alerts go: grouped into incidents and stored with their outbox events, atomically. */
export interface IncidentPort {
  place(alerts: readonly Omit<Alert, "incidentId">[], now: number): Promise<{ alerts: Alert[]; incidents: Incident[] }>;
}

/** Everything a run stores: the composition root passes the Table Storage implementations. */
export interface Stores {
  ruleState: RuleStatePort & RuleStatusPort;
  allowlists: AllowlistPort;
  baselines: BaselinePort;
  incidents: IncidentPort;
  sessions: SessionPort;
}

/** The state a backfill keeps to itself (in memory) instead of the live rule's. */
export interface BackfillStores {
  ruleState: RuleStatePort;
  baselines: BaselinePort;
  sessions: SessionPort;
}

/** What one run of a rule's windows stores (a backfill's checkpoint and baseline are its own). */
export type RunStores = Omit<Stores, "ruleState"> & { ruleState: RuleStatePort };

/** The Shards table: a sharded window's shards, and the rows each rule's last window read. */
export interface ShardPort {
  /** Records a window's shards (one transaction); false when they were recorded already. */
  plan(shards: readonly ShardRecord[]): Promise<boolean>;
  /** The shards of the rule's window starting at `windowStart` (none: not sharded). */
  window(ruleId: string, windowStart: number): Promise<ShardRecord[]>;
  get(ruleId: string, windowEnd: number, index: number): Promise<ShardRecord | undefined>;
  /** Changes one shard under its ETag (null: leave it); the row as it stands, undefined when none. */
  change(ruleId: string, windowEnd: number, index: number, change: (current: ShardRecord) => ShardRecord | null): Promise<ShardRecord | undefined>;
  /** Drops the shard rows of the rule's windows ending at or before `windowEnd`. */
  clear(ruleId: string, windowEnd: number): Promise<void>;
  lastLoad(ruleId: string): Promise<{ windowEnd: number; rows: number } | null>;
  recordLoad(ruleId: string, windowEnd: number, rows: number): Promise<void>;
}
