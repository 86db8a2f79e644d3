// The shape every rule has: Sentinel metadata, the queries that narrow the data in Log
// Analytics (or in a replay), and an evaluate() that decides (and changes nothing but the
// window's session memory, ctx.sessions, which it folds its sign-ins into).
import { z } from "zod";
import type { IpMatcher } from "../net/ip.js";
import { Severity } from "../model/severity.js";
import { type DateTime, inRange, type TimeRange, type Window } from "../model/time.js";
import type { KnownNetworks, RowOf, SignInRow, SignInSighting, TableName } from "../model/rows.js";
import type { QuerySpec } from "../model/query.js";
import type { ShardColumn } from "../model/shard.js";
import type { Entity } from "../model/incident.js";
import type { SessionRef, SessionState } from "../model/sessions.js";

/** Sentinel's duration texts as the rule YAML writes them: 5m, 1h, 14d (or ISO PT1H, P14D). */
export function parseDuration(text: string): number {
  const short = /^(\d+)([mhd])$/.exec(text);
  if (short) return Number(short[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[short[2] as "m" | "h" | "d"];
  const iso = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(text);
  if (iso && text !== "P" && !text.endsWith("T"))
    return (Number(iso[1] ?? 0) * 24 * 60 + Number(iso[2] ?? 0) * 60 + Number(iso[3] ?? 0)) * 60_000;
  throw new Error(`not a duration: ${text}`);
}
const duration = z.string().refine((s) => {
  try {
    const ms = parseDuration(s);
    // Sentinel accepts 5 minutes to 14 days for both frequency and period.
    return ms >= 5 * 60_000 && ms <= 14 * 86_400_000;
  } catch {
    return false;
  }
}, "a duration between 5m and 14d");


/** Rule metadata under Sentinel's field names, validated when the rule list loads. */
export const RuleMeta = z
  .object({
    id: z.uuid({ version: undefined }).or(z.string().regex(/^[0-9a-f-]{36}$/)),
    name: z.string().min(1),
    description: z.string().min(1),
    severity: Severity,
    tactics: z.array(z.string()).min(1),
    relevantTechniques: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/)),
    requiredDataConnectors: z.array(z.object({ connectorId: z.string(), dataTypes: z.array(z.string()) })),
    queryFrequency: duration,
    queryPeriod: duration,
    /** How far back the rule's own state reaches (the Intune baseline). */
    baselinePeriod: duration.optional(),
    entityMappings: z
      .array(
        z.object({
          entityType: z.enum(["Account", "IP", "CloudApplication"]),
          fieldMappings: z.array(z.object({ identifier: z.string(), columnName: z.string() })).min(1).max(3),
        }),
      )
      .min(1)
      .max(10),
    customDetails: z.record(z.string(), z.string()),
    incidentConfiguration: z.object({
      createIncident: z.boolean(),
      groupingConfiguration: z.object({
        enabled: z.boolean(),
        reopenClosedIncident: z.boolean(),
        lookbackDuration: z.string(),
        matchingMethod: z.enum(["AllEntities", "AnyAlert", "Selected"]),
        groupByEntities: z.array(z.string()),
      }),
    }),
    version: z.string(),
  })
  .refine((m) => parseDuration(m.queryFrequency) <= parseDuration(m.queryPeriod), {
    message: "queryFrequency must not exceed queryPeriod (Sentinel rejects gaps)",
    path: ["queryFrequency"],
  });
export type RuleMeta = z.infer<typeof RuleMeta>;

/** Incident grouping every rule here shares: Sentinel's default PT5H lookback, by account. */
export const groupByAccount = {
  createIncident: true,
  groupingConfiguration: {
    enabled: true,
    reopenClosedIncident: false,
    lookbackDuration: "PT5H",
    matchingMethod: "Selected",
    groupByEntities: ["Account"],
  },
} as const satisfies RuleMeta["incidentConfiguration"];

/** A rule's first-stage queries, by name. */
export type Specs = Record<string, QuerySpec>;
/** Follow-up queries, by name: each name's rows come from several disjoint queries (accounts grouped by time span). */
export type FollowUpSpecs = Record<string, readonly QuerySpec[]>;
type TableOf<S> = S extends readonly QuerySpec<infer T>[] ? T : S extends QuerySpec<infer T> ? T : never;
export type Results<S extends Specs | FollowUpSpecs> = { [K in keyof S]: RowOf<TableOf<S[K]>>[] };

export type { Entity };

/** What evaluate() raises; the engine adds the rule, the id and the incident. */
export interface AlertDraft {
  /** Window-independent identity of the triggering event(s): same event, same alert id. */
  identity: readonly string[];
  /** The triggering event's TimeGenerated. */
  time: DateTime;
  account: string;
  ip: string | null;
  title: string;
  details: Record<string, string | number | boolean | null>;
  entities: Entity[];
  /** Sign-in identifiers of the triggering rows (signInLinks): alerts of different rules sharing one are correlated. */
  links?: readonly string[];
}

/** A sign-in row's linkable identifiers, for AlertDraft.links: its SessionId and UniqueTokenIdentifier where present. */
export function signInLinks(row: { SessionId: string; UniqueTokenIdentifier: string }): string[] {
  return [...(row.SessionId ? [`SessionId:${row.SessionId}`] : []), ...(row.UniqueTokenIdentifier ? [`UniqueTokenIdentifier:${row.UniqueTokenIdentifier}`] : [])];
}

export interface Allowlists {
  /** `network`: addresses and CIDR ranges (IPv4 and IPv6) never alerted on. */
  network: IpMatcher;
  /** `principals`: initiating users or apps never alerted on. */
  principals: readonly string[];
}

export interface BaselineView {
  /**
   * False while the tenant has no baseline to compare with: no non-interactive history
   * before the rule first ran, and less than one baseline period since data began.
   * Without it every user would look new and every sign-in would alert.
   */
  established: boolean;
  /** The user's known IPs and ASNs in the baseline period; undefined when none. */
  get(account: string): KnownNetworks | undefined;
}

/**
 * A window's memory of its sessions (forked session), which the engine records once evaluate()
 * is done: get() is what a session was seen with before the sign-in being judged (undefined:
 * unknown or expired), add() folds a judged sign-in in (one with a session: hasSession). So
 * the window's sign-ins are folded once, in the order evaluate() judges them, for both.
 */
export interface SessionView {
  get(sessionId: string): SessionState | undefined;
  add(row: SignInRow): void;
}

export interface RuleContext {
  window: Window;
  /** Triggering events must have TimeGenerated here; older rows are history (replay `--from`). */
  eventRange: TimeRange;
  lists: Allowlists;
  baselines: BaselineView;
  sessions: SessionView;
}

export function isNewEvent(ctx: RuleContext, timeGenerated: DateTime): boolean {
  return inRange(timeGenerated, ctx.eventRange);
}

/**
 * An alert identity from typed values, so that the same event has the same identity however
 * it was exported: datetimes as exact ticks, booleans as true/false, null and undefined as "".
 */
export function identity(...parts: (string | number | bigint | boolean | null | undefined)[]): string[] {
  return parts.map((p) => (p === null || p === undefined ? "" : String(p)));
}

export interface RuleDefinition<S1 extends Specs = Specs, S2 extends FollowUpSpecs = FollowUpSpecs> {
  meta: RuleMeta;
  /**
   * Whether the rule decides each account on that account's rows alone (its queries read
   * UserPrincipalName): a large window can then be split into shards by account hash.
   */
  perAccount?: boolean;
  /**
   * For a rule that decides each event on its own (no baseline, sessions or follow-up): the
   * column its evaluation never combines rows across (each row alone, or a `distinct` that
   * includes it). A window expected to read more rows than one invocation should hold is then
   * read and evaluated in parts by that column's hash, one after another, so that memory holds
   * one part's rows.
   */
  partsBy?: ShardColumn;
  /** First-stage queries for a window. */
  queries(window: Window): S1;
  /** Optional second stage, parametrised by the first (the pivot's other side, per user). */
  followUp?(window: Window, first: Results<S1>): S2;
  /** The pushdown KQL for one of this rule's queries: it narrows, never decides. */
  kql(name: keyof S1 | keyof S2, spec: QuerySpec): string;
  /** The per-user baseline this rule keeps (Intune): which table feeds it, and how to summarize it. */
  baseline?: {
    table: TableName;
    /** Summarizes a spec's rows to (account, ip, asn, lastSeen): the bootstrap over past days. */
    sightingsKql(spec: QuerySpec): string;
    /** The earliest TimeGenerated among a spec's rows (column `earliest`). */
    earliestKql(spec: QuerySpec): string;
    /** What a window's own rows add to the baseline, once evaluated: the hourly update. */
    observe(inputs: Results<S1> & Results<S2>): Iterable<SignInSighting>;
  };
  /**
   * The per-session state this rule keeps (forked session): the engine loads the state of the
   * sessions evaluate() reads, and after evaluation folds the window's sign-ins into it.
   */
  sessions?: {
    /** The tables whose history before the first window bootstraps the state. */
    tables: readonly TableName[];
    /** The bootstrap query over one table's history: rows that fold into the state all of its rows would. */
    historyKql(spec: QuerySpec): string;
    /** The sessions whose state evaluate() reads (and folds each of the window's sign-ins into: ctx.sessions). */
    refs(inputs: Results<S1> & Results<S2>): Iterable<SessionRef>;
  };
  /**
   * How many of a window's would-be triggering events evaluate() could not judge (the Intune
   * rule's users without a baseline while the tenant is still learning): reported, never silent.
   */
  heldBack?(inputs: Results<S1> & Results<S2>, ctx: RuleContext): number;
  /** Accounts whose baseline evaluate() will read. */
  baselineAccounts?(inputs: Results<S1> & Results<S2>, ctx: RuleContext): Iterable<string>;
  evaluate(inputs: Results<S1> & Results<S2>, ctx: RuleContext): AlertDraft[];
}

/** A rule with its type parameters erased, for lists of rules. */
export type Rule = RuleDefinition<Specs, FollowUpSpecs>;

export function defineRule<S1 extends Specs, S2 extends FollowUpSpecs = Record<never, never>>(rule: RuleDefinition<S1, S2>): Rule {
  RuleMeta.parse(rule.meta);
  if (rule.partsBy && (rule.perAccount || rule.baseline || rule.sessions || rule.followUp)) throw new Error(`rule ${rule.meta.name}: only a rule that decides each event on its own rows is read in parts`);
  return rule as unknown as Rule;
}

export const frequencyOf = (rule: Rule) => parseDuration(rule.meta.queryFrequency);
export const periodOf = (rule: Rule) => parseDuration(rule.meta.queryPeriod);
