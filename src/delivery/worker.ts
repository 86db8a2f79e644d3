// The delivery worker, run right after detection and every minute by its own timer.
// 1. Fan-out: every outbox row (written with the incident change it announces) becomes
//    one delivery per matching subscription, recorded before the outbox row is deleted,
//    so a crash at any point repeats the fan-out (deliveries are created only if absent,
//    with deterministic ids) and loses nothing.
// 2. Send: for each (subscription, incident), the oldest pending delivery only, when due.
//    A later event for an incident never overtakes an earlier one that is still pending;
//    a dead-lettered one no longer holds the queue. Each attempt is claimed with an ETag
//    first, so two workers running at once do not send the same attempt twice.
// 3. Teams and Slack subscriptions: one message per incident at most every
//    `throttleSeconds`. The head delivery waits until then; its message then summarises
//    it and every later pending event of the incident, which are marked delivered
//    (`mergedInto` the head) only after the message is accepted. Nothing is dropped: a
//    failed message is retried with whatever has joined the queue meanwhile.
import { createHash } from "node:crypto";
import type { Alert } from "../model/incident.js";
import { compareTime } from "../model/time.js";
import { alertFromEntity } from "../store/incidents.js";
import { prefixRange } from "../store/keys.js";
import { forEachLimit, odata, statusOf, type TableStore } from "../store/tables.js";
import { DeliveryRepository, MAX_BODY_CHARS, deliveryOrder, type Attempt, type Delivery } from "./deliveries.js";
import { OUTBOX, outboxEventFromEntity, type OutboxEntity, type OutboxEvent } from "../store/outbox.js";
import { isChat, summarise } from "./chat.js";
import { chatRequest, signedEvent, type Outgoing } from "./message.js";
import { purgeExpired, type RetentionPolicy, type RetentionReport } from "./retention.js";
import { backoff, parseRetryAfter, RETRY_AFTER_STATUSES } from "./schedule.js";
import { buildEvent, type WebhookEvent } from "./schema.js";
import { send } from "./send.js";
import { matches, SubscriptionRepository, type SubscriptionWithSecrets } from "./subscriptions.js";
import type { Resolver, TargetPolicy } from "./targets.js";

export interface WorkerOptions {
  policy: TargetPolicy;
  /** Scheduling clock (backoff, due times, secret expiry), epoch ms. */
  now?: () => number;
  /** The clock behind `webhook-timestamp`: receivers compare it with their own wall clock. */
  wallClock?: () => number;
  /** Jitter source, [0, 1). */
  random?: () => number;
  /** Per-attempt timeout (connect, send, response). */
  timeoutMs?: number;
  /** Attempts in flight at once (different incidents or subscriptions). */
  concurrency?: number;
  resolver?: Resolver;
  /** The console's base URL, for the incident link in Teams and Slack messages (none when null). */
  consoleUrl?: string | null;
  /** Retention: a run ends by deleting what has outlived it (retention.ts), hourly or, during a backlog, every run; none when absent. */
  retention?: RetentionPolicy;
}

export interface WorkerReport {
  fannedOut: number;
  deliveriesCreated: number;
  attempted: number;
  delivered: number;
  failed: number;
  deadLettered: number;
  /** Teams / Slack events summarised in another event's message. */
  merged: number;
  /** Rows deleted by retention in this run (absent when retention did not run). */
  purged?: RetentionReport;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Retention runs this long after a run that found no backlog. */
export const RETENTION_IDLE_MS = 60 * 60_000;
const ALERTS_PER_QUERY = 40;

/** The delivery id (= webhook-id): one per event and subscription, the same on every retry. */
export function deliveryId(eventId: string, subscriptionId: string): string {
  return `msg_${createHash("sha256").update(`${eventId}\u0000${subscriptionId}`).digest("hex").slice(0, 32)}`;
}

export class DeliveryWorker {
  readonly subscriptions: SubscriptionRepository;
  readonly deliveries: DeliveryRepository;
  private readonly now: () => number;
  private readonly wallClock: () => number;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private nextPurgeAt = 0;

  constructor(
    private readonly store: TableStore,
    private readonly options: WorkerOptions,
  ) {
    this.subscriptions = new SubscriptionRepository(store);
    this.deliveries = new DeliveryRepository(store);
    this.now = options.now ?? Date.now;
    this.wallClock = options.wallClock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.concurrency = options.concurrency ?? 8;
  }

  /** Fans out the outbox, sends what is due, then applies retention. */
  async run(): Promise<WorkerReport> {
    const report: WorkerReport = { fannedOut: 0, deliveriesCreated: 0, attempted: 0, delivered: 0, failed: 0, deadLettered: 0, merged: 0 };
    const subscriptions = await this.subscriptions.list();
    await this.fanOut(subscriptions, report);
    await this.sendDue(subscriptions, report);
    if (this.options.retention && this.now() >= this.nextPurgeAt) {
      const purged = (report.purged = await purgeExpired(this.store, this.options.retention, this.now()));
      // Its filters scan tables: again next run only while a backlog lasts (the run used its whole bound).
      const backlog = purged.incidentRows + purged.deliveries + purged.auditRows >= this.options.retention.maxDeletesPerRun;
      this.nextPurgeAt = backlog ? 0 : this.now() + RETENTION_IDLE_MS;
    }
    return report;
  }

  private async fanOut(subscriptions: readonly SubscriptionWithSecrets[], report: WorkerReport): Promise<void> {
    const range = prefixRange(OUTBOX);
    const rows = await this.store.list<Omit<OutboxEntity, "partitionKey" | "rowKey">>("Incidents", `RowKey ge ${odata(range.ge)} and RowKey lt ${odata(range.lt)}`);
    const events = rows.map((row) => ({ row, event: outboxEventFromEntity(row) })).sort((a, b) => a.event.time - b.event.time || a.event.seq - b.event.seq);
    await forEachLimit(events, this.concurrency, async ({ row, event }) => {
      const targets = subscriptions.filter((s) => matches(s, event.type, event.incident.severity));
      if (targets.length > 0) {
        const body = JSON.stringify(buildEvent({ ...event, alerts: await this.alertsOf(row.partitionKey!, event) }));
        const fitted = body.length <= MAX_BODY_CHARS ? body : await this.fit(row.partitionKey!, event);
        const now = this.now();
        for (const sub of targets) {
          const created = await this.deliveries.createIfAbsent(
            {
              id: deliveryId(event.id, sub.id),
              subscriptionId: sub.id,
              eventId: event.id,
              eventType: event.type,
              incidentId: event.incident.id,
              account: event.incident.account,
              eventTime: event.time,
              seq: event.seq,
              status: "pending",
              attemptCount: 0,
              firstAttemptAt: 0,
              nextAttemptAt: now,
              createdAt: now,
              updatedAt: now,
              attempts: [],
            },
            fitted,
          );
          if (created) report.deliveriesCreated++;
        }
      }
      // Only now that every delivery is recorded does the announcement leave the outbox.
      const client = await this.store.table("Incidents");
      try {
        await client.deleteEntity(row.partitionKey!, row.rowKey!, { etag: row.etag });
      } catch (error) {
        if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
      }
      report.fannedOut++;
    });
  }

  /** An event too large for one row keeps its incident (with every alert id) and as many alerts as fit. */
  private async fit(partitionKey: string, event: OutboxEvent): Promise<string> {
    const alerts = await this.alertsOf(partitionKey, event);
    let keep = alerts.length;
    let body = "";
    do {
      keep = Math.floor(keep / 2);
      body = JSON.stringify(buildEvent({ ...event, alerts: alerts.slice(0, keep) }));
    } while (body.length > MAX_BODY_CHARS && keep > 0);
    return body;
  }

  private async alertsOf(partitionKey: string, event: OutboxEvent): Promise<Alert[]> {
    const alerts: Alert[] = [];
    for (let i = 0; i < event.alertIds.length; i += ALERTS_PER_QUERY) {
      const terms = event.alertIds.slice(i, i + ALERTS_PER_QUERY).map((id) => `RowKey eq ${odata(`alert:${id}`)}`);
      const found = await this.store.list<Parameters<typeof alertFromEntity>[0]>("Incidents", `PartitionKey eq ${odata(partitionKey)} and (${terms.join(" or ")})`);
      alerts.push(...found.map(alertFromEntity));
    }
    return alerts.sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
  }

  private async sendDue(subscriptions: readonly SubscriptionWithSecrets[], report: WorkerReport): Promise<void> {
    const byId = new Map(subscriptions.map((s) => [s.id, s]));
    const queues = new Map<string, Delivery[]>();
    for (const d of await this.deliveries.pending()) {
      const key = `${d.subscriptionId}\u0000${d.incidentId}`;
      const queue = queues.get(key);
      if (queue) queue.push(d);
      else queues.set(key, [d]);
    }
    await forEachLimit(queues.values(), this.concurrency, async (queue) => {
      queue.sort(deliveryOrder);
      const sub = byId.get(queue[0]!.subscriptionId);
      // A disabled subscription's deliveries wait; a deleted one's are removed with it.
      if (!sub || !sub.enabled) return;
      if (isChat(sub.format)) return this.sendChat(sub, queue, report);
      // In order: the head must succeed (or be dead-lettered) before the next one goes.
      for (const delivery of queue) {
        if (delivery.nextAttemptAt > this.now()) return;
        const outcome = await this.attempt(sub, delivery, report);
        if (outcome === "pending") return;
      }
    });
  }

  /**
   * A Teams / Slack queue: the head goes when due and when the incident's last message is
   * `throttleSeconds` old, carrying every later pending event of the incident with it. A
   * redelivered head carries again the events its first message summarised.
   */
  private async sendChat(sub: SubscriptionWithSecrets, queue: Delivery[], report: WorkerReport): Promise<void> {
    const head = queue[0]!;
    const now = this.now();
    if (head.nextAttemptAt > now) return;
    const history = await this.deliveries.forSubscription(sub.id, { incidentId: head.incidentId });
    const sentAt = history.flatMap((d) => d.attempts.filter(accepted).map((a) => a.at));
    if (sentAt.length > 0 && Math.max(...sentAt) + sub.throttleSeconds * 1000 > now) return;
    const followers = [...history.filter((d) => d.mergedInto === head.id), ...queue.slice(1)].sort(deliveryOrder);
    await this.attempt(sub, head, report, followers);
  }

  /** The request for an attempt: the stored CloudEvent signed, or the chat message summarising the events. */
  private async outgoing(sub: SubscriptionWithSecrets, delivery: Delivery, followers: readonly Delivery[], now: number): Promise<Outgoing | undefined> {
    const body = await this.deliveries.body(delivery.subscriptionId, delivery.id);
    if (body === undefined) return undefined;
    if (!isChat(sub.format)) return signedEvent(sub, delivery.id, body, now, this.wallClock());
    const more = await Promise.all(followers.map((d) => this.deliveries.body(d.subscriptionId, d.id)));
    const events = [body, ...more.filter((b) => b !== undefined)].map((b) => JSON.parse(b) as WebhookEvent);
    return chatRequest(sub.format, summarise(events, this.options.consoleUrl ?? null));
  }

  /** One attempt of one delivery (with the events its chat message summarises): claims it, sends, records. */
  private async attempt(sub: SubscriptionWithSecrets, delivery: Delivery, report: WorkerReport, followers: readonly Delivery[] = []): Promise<Delivery["status"]> {
    const now = this.now();
    // Claim: another worker that sees the old ETag skips this attempt. Should we die
    // mid-attempt, the claim expires and the delivery is due again.
    const claimed = await this.deliveries.update(delivery, delivery.etag, { nextAttemptAt: now + 2 * this.timeoutMs + 60_000, updatedAt: now });
    if (!claimed) return "pending";
    const request = await this.outgoing(sub, delivery, followers, now);
    if (request === undefined) return "pending";
    report.attempted++;
    const result = await send({ url: sub.url, ...request, timeoutMs: this.timeoutMs, policy: this.options.policy, resolver: this.options.resolver });
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const attemptCount = delivery.attemptCount + 1;
    const firstAttemptAt = delivery.attemptCount === 0 ? now : delivery.firstAttemptAt;
    const entry: Attempt = { at: now, statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error };
    if (!ok && result.error === null && result.statusCode !== null) {
      entry.error = result.statusCode >= 300 && result.statusCode < 400 ? `redirect (${result.statusCode}) not followed` : `HTTP ${result.statusCode}`;
    }
    let status: Delivery["status"] = "delivered";
    let nextAttemptAt = now;
    if (!ok) {
      const retryAfterHeader = result.headers["retry-after"];
      const retryAfter = result.statusCode !== null && RETRY_AFTER_STATUSES.has(result.statusCode) ? parseRetryAfter(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader, now) : null;
      if (retryAfter !== null) entry.retryAfterMs = retryAfter;
      const wait = backoff(attemptCount, firstAttemptAt, now, this.random);
      if (wait === null) status = "dead";
      else {
        status = "pending";
        nextAttemptAt = now + (retryAfter ?? wait);
      }
    }
    const attempts = [...delivery.attempts, entry];
    const saved = await this.deliveries.update(delivery, claimed, { status, attemptCount, firstAttemptAt, nextAttemptAt, attempts, updatedAt: this.now() });
    if (saved === null) return "pending";
    if (status === "delivered") report.delivered++;
    else if (status === "dead") report.deadLettered++;
    else report.failed++;
    // Only once the message is accepted do the events it summarised leave the queue.
    if (status === "delivered") {
      for (const f of followers.filter((d) => d.status === "pending")) {
        const done = this.now();
        if (await this.deliveries.update(f, f.etag, { status: "delivered", mergedInto: delivery.id, updatedAt: done })) report.merged++;
      }
    }
    return status;
  }
}

const accepted = (a: Attempt) => a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300;
