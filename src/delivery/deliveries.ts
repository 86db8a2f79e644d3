// Deliveries table: one row per (subscription, event), PartitionKey = subscription id,
// RowKey = delivery id (the `webhook-id`). The row holds the payload as built when the
// event was fanned out (every retry and redelivery sends the same bytes, newly signed),
// the state (pending / delivered / dead), the retry schedule and the attempt log.
import type { TransactionAction } from "@azure/data-tables";
import { deleteRows, odata, statusOf, type TableStore } from "../store/tables.js";
import type { EventType } from "./schema.js";

export const DELIVERY_STATUSES = ["pending", "delivered", "dead"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface Attempt {
  /** When the attempt started (scheduling clock), epoch ms. */
  at: number;
  /** The receiver's HTTP status; null when no response (refused target, network error, timeout). */
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** The wait the receiver asked for (Retry-After on 429 / 503), ms. */
  retryAfterMs?: number;
}

export interface Delivery {
  id: string;
  subscriptionId: string;
  eventId: string;
  eventType: EventType;
  incidentId: string;
  account: string;
  /** When the change happened; with `seq`, orders an incident's deliveries. */
  eventTime: number;
  seq: number;
  status: DeliveryStatus;
  /** Attempts in the current series (reset by a redelivery): drives the backoff. */
  attemptCount: number;
  /** When the current series began (its first attempt); 0 before it. */
  firstAttemptAt: number;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
  /** The most recent attempts, oldest first (at most MAX_LOGGED_ATTEMPTS). */
  attempts: Attempt[];
  /** teams / slack: the delivery whose message summarised this event (it had no message of its own). */
  mergedInto?: string | null;
  etag: string;
}

/** Attempts kept in a delivery's log. */
export const MAX_LOGGED_ATTEMPTS = 50;
/** Table Storage strings are at most 64 KiB (32 K UTF-16 units): the body is stored in parts. */
const PART_CHARS = 30_000;
/** An entity is at most 1 MiB: bodies stay below this many UTF-16 units. */
export const MAX_BODY_CHARS = 14 * PART_CHARS;
const META_COLUMNS = [
  "PartitionKey",
  "RowKey",
  "eventId",
  "eventType",
  "incidentId",
  "account",
  "eventTime",
  "seq",
  "status",
  "attemptCount",
  "firstAttemptAt",
  "nextAttemptAt",
  "createdAt",
  "updatedAt",
  "attempts",
  "mergedInto",
];

interface DeliveryEntity {
  eventId: string;
  eventType: string;
  incidentId: string;
  account: string;
  eventTime: string;
  seq: number;
  status: string;
  attemptCount: number;
  firstAttemptAt: string;
  nextAttemptAt: string;
  createdAt: string;
  updatedAt: string;
  attempts: string;
  /** "" or absent: none. */
  mergedInto?: string;
  bodyParts?: number;
  [part: `body${number}`]: string;
}

/** Orders an incident's deliveries: change time, then alert count, then id. */
export function deliveryOrder(a: Pick<Delivery, "eventTime" | "seq" | "id">, b: Pick<Delivery, "eventTime" | "seq" | "id">): number {
  return a.eventTime - b.eventTime || a.seq - b.seq || a.id.localeCompare(b.id);
}

export class DeliveryRepository {
  constructor(private readonly store: TableStore) {}

  /** Records a new delivery; false when it exists already (a fan-out repeated after a crash). */
  async createIfAbsent(d: Omit<Delivery, "etag">, body: string): Promise<boolean> {
    if (body.length > MAX_BODY_CHARS) throw new Error(`delivery body of ${body.length} characters exceeds ${MAX_BODY_CHARS}`);
    const parts: Record<string, string> = {};
    let n = 0;
    for (let i = 0; i < body.length || n === 0; i += PART_CHARS) parts[`body${n++}`] = body.slice(i, i + PART_CHARS);
    const client = await this.store.table("Deliveries");
    try {
      await client.createEntity({ ...toEntity(d), ...parts, bodyParts: n });
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  async get(subscriptionId: string, id: string): Promise<Delivery | undefined> {
    const e = await this.store.get<DeliveryEntity>("Deliveries", subscriptionId, id);
    return e && fromEntity(e);
  }

  /** The stored payload of a delivery. */
  async body(subscriptionId: string, id: string): Promise<string | undefined> {
    const e = await this.store.get<DeliveryEntity>("Deliveries", subscriptionId, id);
    if (!e) return undefined;
    let body = "";
    for (let i = 0; i < (e.bodyParts ?? 0); i++) body += e[`body${i}`] ?? "";
    return body;
  }

  /** Every pending delivery, without payloads. */
  async pending(): Promise<Delivery[]> {
    const entities = await this.store.list<DeliveryEntity>("Deliveries", `status eq ${odata("pending")}`, META_COLUMNS);
    return entities.map(fromEntity);
  }

  /** A subscription's delivery log, newest change first. */
  async forSubscription(subscriptionId: string, filter: { status?: DeliveryStatus; incidentId?: string } = {}): Promise<Delivery[]> {
    const terms = [`PartitionKey eq ${odata(subscriptionId)}`];
    if (filter.status) terms.push(`status eq ${odata(filter.status)}`);
    if (filter.incidentId) terms.push(`incidentId eq ${odata(filter.incidentId)}`);
    const entities = await this.store.list<DeliveryEntity>("Deliveries", terms.join(" and "), META_COLUMNS);
    return entities.map(fromEntity).sort((a, b) => b.createdAt - a.createdAt || -deliveryOrder(a, b));
  }

  /**
   * Merges changes if the row is unchanged since `etag`: the new ETag, or null when
   * another worker changed it first (it then owns the delivery).
   */
  async update(d: Pick<Delivery, "subscriptionId" | "id">, etag: string, changes: Partial<Omit<Delivery, "id" | "subscriptionId" | "etag">>): Promise<string | null> {
    const client = await this.store.table("Deliveries");
    try {
      const response = await client.updateEntity({ partitionKey: d.subscriptionId, rowKey: d.id, ...toPartialEntity(changes) }, "Merge", { etag });
      return response.etag ?? null;
    } catch (error) {
      if (statusOf(error) === 412 || statusOf(error) === 404) return null;
      throw error;
    }
  }

  /**
   * Retention: deletes delivered and dead-lettered deliveries last changed before `before`
   * (epoch ms), at most `max`; a pending one is never deleted, nor one redelivered since it
   * was read. Returns how many were deleted.
   */
  async purgeSettled(before: number, max: number): Promise<number> {
    const rows = await this.store.first("Deliveries", `status ne ${odata("pending")} and updatedAt lt ${odata(new Date(before).toISOString())}`, max, ["PartitionKey", "RowKey"]);
    return deleteRows(this.store, "Deliveries", rows);
  }

  /** Removes a subscription's deliveries (when the subscription is deleted). */
  async deleteForSubscription(subscriptionId: string): Promise<void> {
    const rows = await this.store.list("Deliveries", `PartitionKey eq ${odata(subscriptionId)}`, ["PartitionKey", "RowKey"]);
    const actions: TransactionAction[] = rows.map((r) => ["delete", { partitionKey: subscriptionId, rowKey: r.rowKey! }]);
    await this.store.submit("Deliveries", actions);
  }
}

function toPartialEntity(d: Partial<Omit<Delivery, "id" | "subscriptionId" | "etag">>): Partial<DeliveryEntity> {
  const out: Partial<DeliveryEntity> = {};
  if (d.eventId !== undefined) out.eventId = d.eventId;
  if (d.eventType !== undefined) out.eventType = d.eventType;
  if (d.incidentId !== undefined) out.incidentId = d.incidentId;
  if (d.account !== undefined) out.account = d.account;
  if (d.eventTime !== undefined) out.eventTime = new Date(d.eventTime).toISOString();
  if (d.seq !== undefined) out.seq = d.seq;
  if (d.status !== undefined) out.status = d.status;
  if (d.attemptCount !== undefined) out.attemptCount = d.attemptCount;
  if (d.firstAttemptAt !== undefined) out.firstAttemptAt = new Date(d.firstAttemptAt).toISOString();
  if (d.nextAttemptAt !== undefined) out.nextAttemptAt = new Date(d.nextAttemptAt).toISOString();
  if (d.createdAt !== undefined) out.createdAt = new Date(d.createdAt).toISOString();
  if (d.updatedAt !== undefined) out.updatedAt = new Date(d.updatedAt).toISOString();
  if (d.attempts !== undefined) out.attempts = JSON.stringify(d.attempts.slice(-MAX_LOGGED_ATTEMPTS));
  if (d.mergedInto !== undefined) out.mergedInto = d.mergedInto ?? "";
  return out;
}

function toEntity(d: Omit<Delivery, "etag">) {
  return { partitionKey: d.subscriptionId, rowKey: d.id, ...(toPartialEntity(d) as DeliveryEntity) };
}

function fromEntity(e: DeliveryEntity & { partitionKey?: string; rowKey?: string; etag: string }): Delivery {
  return {
    id: e.rowKey ?? "",
    subscriptionId: e.partitionKey ?? "",
    eventId: e.eventId,
    eventType: e.eventType as EventType,
    incidentId: e.incidentId,
    account: e.account,
    eventTime: Date.parse(e.eventTime),
    seq: e.seq,
    status: e.status as DeliveryStatus,
    attemptCount: e.attemptCount,
    firstAttemptAt: Date.parse(e.firstAttemptAt),
    nextAttemptAt: Date.parse(e.nextAttemptAt),
    createdAt: Date.parse(e.createdAt),
    updatedAt: Date.parse(e.updatedAt),
    attempts: JSON.parse(e.attempts) as Attempt[],
    mergedInto: e.mergedInto || null,
    etag: e.etag,
  };
}
