// Webhook subscriptions, table "Subscriptions" (one partition: there are few). The
// signing secrets are stored with the subscription because every attempt signs with
// them; they leave this module only towards the signer, and towards an admin exactly
// once, when generated (create, rotate). A Teams or Slack webhook URL is itself the
// credential (whoever has it can post to the channel) and such messages are not signed:
// its URL is kept like a secret, and reads show only its origin. In Azure the storage
// account is reachable only by the app's managed identity (no shared keys; see infra), so
// the table is as private as the app's own memory.
import { actorColumns, actorFromColumns, type Actor } from "../model/actor.js";
import { randomUUID } from "node:crypto";
import { severityRank, type Severity } from "../model/severity.js";
import { odata, statusOf, type TableStore } from "../store/tables.js";
import { isChat, type Format } from "./chat.js";
import type { EventType } from "./schema.js";
import { generateSecret } from "./signing.js";

const PARTITION = "subscription";

export interface SigningSecret {
  secret: string;
  createdAt: number;
  /** Set when rotated out: the secret still signs until then (the overlap). */
  expiresAt: number | null;
}

export interface Subscription {
  id: string;
  url: string;
  /** cloudevents (signed CloudEvents), teams (Adaptive Card) or slack (Block Kit); fixed at creation. */
  format: Format;
  /** teams and slack: at most one message per incident per this many seconds (0 for cloudevents). */
  throttleSeconds: number;
  description: string;
  eventTypes: EventType[];
  minSeverity: Severity;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  createdBy: Actor;
  /** Who made the last change (creation, settings, secret rotation). */
  updatedBy: Actor;
  etag: string;
}

/** A subscription with its secrets: for the worker only. */
export interface SubscriptionWithSecrets extends Subscription {
  secrets: SigningSecret[];
}

export type SubscriptionInput = Pick<Subscription, "url" | "format" | "throttleSeconds" | "description" | "eventTypes" | "minSeverity" | "enabled">;
export type SubscriptionChanges = Partial<Omit<SubscriptionInput, "format">>;

interface SubscriptionEntity {
  url: string;
  /** Absent on rows written before chat formats existed: cloudevents. */
  format?: string;
  throttleSeconds?: number;
  description: string;
  eventTypes: string;
  minSeverity: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  createdById?: string;
  createdByTenantId?: string;
  /** Absent on rows written before it was kept: the creator then. */
  updatedBy?: string;
  updatedById?: string;
  updatedByTenantId?: string;
  secrets: string;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; reason: "missing" | "stale" };

/** The secrets that sign at `now`, newest first. */
export function activeSecrets(sub: SubscriptionWithSecrets, now: number): string[] {
  return sub.secrets
    .filter((s) => s.expiresAt === null || s.expiresAt > now)
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((s) => s.secret);
}

/** Whether an event of this type and severity goes to the subscription. */
export function matches(sub: Subscription, type: EventType, severity: Severity): boolean {
  return sub.enabled && sub.eventTypes.includes(type) && severityRank[severity] >= severityRank[sub.minSeverity];
}

/** The scheme and host of a URL: all a read shows of a chat webhook URL. */
export function endpointOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

/** Without the secrets (and without a chat URL, which is one): what every read returns. */
export function publicView(
  sub: SubscriptionWithSecrets,
): Omit<Subscription, "url"> & { url: string | null; endpoint: string; secrets: { createdAt: number; expiresAt: number | null }[] } {
  const { secrets, url, ...rest } = sub;
  return { ...rest, url: isChat(sub.format) ? null : url, endpoint: endpointOf(url), secrets: secrets.map((s) => ({ createdAt: s.createdAt, expiresAt: s.expiresAt })) };
}

export class SubscriptionRepository {
  constructor(private readonly store: TableStore) {}

  /** A new subscription; a cloudevents one gets its signing secret, returned this once (chat formats are not signed: null). */
  async create(input: SubscriptionInput, createdBy: Actor, now: number): Promise<{ subscription: SubscriptionWithSecrets; secret: string | null }> {
    const id = randomUUID();
    const secret = isChat(input.format) ? null : generateSecret();
    const secrets = secret === null ? [] : [{ secret, createdAt: now, expiresAt: null }];
    const sub: Omit<SubscriptionWithSecrets, "etag"> = { ...input, id, createdAt: now, updatedAt: now, createdBy, updatedBy: createdBy, secrets };
    const client = await this.store.table("Subscriptions");
    const response = await client.createEntity(toEntity(sub));
    return { subscription: { ...sub, etag: response.etag ?? "" }, secret };
  }

  async get(id: string): Promise<SubscriptionWithSecrets | undefined> {
    const e = await this.store.get<SubscriptionEntity>("Subscriptions", PARTITION, id);
    return e && fromEntity(e);
  }

  async list(): Promise<SubscriptionWithSecrets[]> {
    const entities = await this.store.list<SubscriptionEntity>("Subscriptions", `PartitionKey eq ${odata(PARTITION)}`);
    return entities.map(fromEntity).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Changes settings if the subscription is unchanged since `etag` (any when undefined). */
  async update(id: string, changes: SubscriptionChanges, etag: string | undefined, actor: Actor, now: number): Promise<Outcome<SubscriptionWithSecrets>> {
    return this.replace(id, etag, (sub) => ({ ...sub, ...changes, updatedAt: now, updatedBy: actor }));
  }

  /**
   * A new secret, returned once. The previous ones keep signing for `overlapMs` (at most
   * until they were already due to expire), then drop out; expired ones are removed.
   */
  async rotate(id: string, overlapMs: number, etag: string | undefined, actor: Actor, now: number): Promise<Outcome<{ subscription: SubscriptionWithSecrets; secret: string }>> {
    const secret = generateSecret();
    const result = await this.replace(id, etag, (sub) => ({
      ...sub,
      updatedAt: now,
      updatedBy: actor,
      secrets: [
        { secret, createdAt: now, expiresAt: null },
        ...sub.secrets
          .filter((s) => s.expiresAt === null || s.expiresAt > now)
          .map((s) => ({ ...s, expiresAt: Math.min(s.expiresAt ?? Infinity, now + overlapMs) }))
          .filter((s) => s.expiresAt > now),
      ],
    }));
    return result.ok ? { ok: true, value: { subscription: result.value, secret } } : result;
  }

  async delete(id: string, etag: string | undefined): Promise<Outcome<null>> {
    const client = await this.store.table("Subscriptions");
    try {
      await client.deleteEntity(PARTITION, id, { etag: etag ?? "*" });
      return { ok: true, value: null };
    } catch (error) {
      return failure(error);
    }
  }

  private async replace(id: string, etag: string | undefined, change: (sub: SubscriptionWithSecrets) => Omit<SubscriptionWithSecrets, "etag">): Promise<Outcome<SubscriptionWithSecrets>> {
    const current = await this.get(id);
    if (!current) return { ok: false, reason: "missing" };
    if (etag !== undefined && etag !== current.etag) return { ok: false, reason: "stale" };
    const next = change(current);
    const client = await this.store.table("Subscriptions");
    try {
      const response = await client.updateEntity(toEntity(next), "Replace", { etag: current.etag });
      return { ok: true, value: { ...next, etag: response.etag ?? "" } };
    } catch (error) {
      return failure(error);
    }
  }
}

function failure(error: unknown): { ok: false; reason: "missing" | "stale" } {
  const status = statusOf(error);
  if (status === 404) return { ok: false, reason: "missing" };
  if (status === 412) return { ok: false, reason: "stale" };
  throw error;
}

function toEntity(s: Omit<SubscriptionWithSecrets, "etag">) {
  return {
    partitionKey: PARTITION,
    rowKey: s.id,
    url: s.url,
    format: s.format,
    throttleSeconds: s.throttleSeconds,
    description: s.description,
    eventTypes: JSON.stringify(s.eventTypes),
    minSeverity: s.minSeverity,
    enabled: s.enabled,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
    ...actorColumns("createdBy", s.createdBy),
    ...actorColumns("updatedBy", s.updatedBy),
    secrets: JSON.stringify(s.secrets),
  };
}

function fromEntity(e: SubscriptionEntity & { rowKey?: string; etag: string }): SubscriptionWithSecrets {
  return {
    id: e.rowKey ?? "",
    url: e.url,
    format: (e.format ?? "cloudevents") as Format,
    throttleSeconds: e.throttleSeconds ?? 0,
    description: e.description,
    eventTypes: JSON.parse(e.eventTypes) as EventType[],
    minSeverity: e.minSeverity as Severity,
    enabled: e.enabled,
    createdAt: Date.parse(e.createdAt),
    updatedAt: Date.parse(e.updatedAt),
    createdBy: actorFromColumns("createdBy", e),
    updatedBy: actorFromColumns(e.updatedBy ? "updatedBy" : "createdBy", e),
    etag: e.etag,
    secrets: JSON.parse(e.secrets) as SigningSecret[],
  };
}
