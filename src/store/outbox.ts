// The transactional outbox, as the incident store writes it and the delivery worker reads it. An incident change and the row announcing it are written in
// the same entity-group transaction of the Incidents table (same partition: the encoded
// account; RowKey `outbox:<eventId>`), so there is no moment at which a change is stored
// but unannounced: if the process dies right after, the row is still there and the
// delivery worker picks it up. The worker turns each row into one delivery per matching
// subscription and only then deletes it.
import { createHash } from "node:crypto";
import type { TransactionAction } from "@azure/data-tables";
import { isCorrelation } from "../model/correlation.js";
import type { EventType, Incident } from "../model/incident.js";
import { MAX_BATCH } from "./tables.js";

export const OUTBOX = "outbox:";

export interface OutboxEvent {
  id: string;
  type: EventType;
  /** When the change happened (the placement's `now`), epoch ms. */
  time: number;
  /** Orders an incident's events with equal `time`: its alert count after the change. */
  seq: number;
  incident: Incident;
  /** The alerts the event carries (created: all; alertAdded: the new ones; updated: none). */
  alertIds: string[];
}

export type OutboxEntity = {
  partitionKey: string;
  rowKey: string;
  eventType: string;
  eventTime: string;
  seq: number;
  incidentId: string;
  incident: string;
  alertIds: string;
};

const digest = (parts: readonly string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

/**
 * The event for an incident a placement created or added alerts to. Its id is derived
 * from the incident and the alerts added: an alert joins an incident once, so the id is
 * unique, and the same placement always yields the same id.
 */
export function placementEvent(incident: Incident, created: boolean, addedAlertIds: readonly string[], now: number): OutboxEvent {
  // A correlated incident is announced as its own event type, so a consumer can route it apart.
  const type: EventType = created ? (isCorrelation(incident) ? "incident.correlated" : "incident.created") : "incident.alertAdded";
  const { etag: _etag, ...state } = incident;
  return {
    id: `evt_${digest([type, incident.id, ...[...addedAlertIds].sort()])}`,
    type,
    time: now,
    seq: incident.alertIds.length,
    incident: state,
    alertIds: created ? [...incident.alertIds] : [...addedAlertIds],
  };
}

/**
 * The event for a change of an incident's own fields (status, owner, classification,
 * severity). For writers outside placement: append `outboxAction(partitionKey, event)`
 * to the transaction that updates the incident.
 */
export function updateEvent(incident: Incident, now: number): OutboxEvent {
  const { etag: _etag, ...state } = incident;
  return {
    id: `evt_${digest(["incident.updated", incident.id, String(incident.updatedAt), incident.status, incident.owner ?? "", incident.classification ?? "", incident.severity])}`,
    type: "incident.updated",
    time: now,
    seq: incident.alertIds.length,
    incident: state,
    alertIds: [],
  };
}

export function outboxAction(partitionKey: string, event: OutboxEvent): TransactionAction {
  const entity: OutboxEntity = {
    partitionKey,
    rowKey: OUTBOX + event.id,
    eventType: event.type,
    eventTime: new Date(event.time).toISOString(),
    seq: event.seq,
    incidentId: event.incident.id,
    incident: incidentText(event.incident),
    alertIds: JSON.stringify(event.alertIds),
  };
  return ["upsert", entity, "Replace"];
}

export function outboxEventFromEntity(e: Omit<OutboxEntity, "rowKey"> & { rowKey?: string }): OutboxEvent {
  return {
    id: (e.rowKey ?? "").slice(OUTBOX.length),
    type: e.eventType as EventType,
    time: Date.parse(e.eventTime),
    seq: e.seq,
    incident: incidentFromText(e.incident),
    alertIds: JSON.parse(e.alertIds) as string[],
  };
}

/**
 * Packs a placement's writes into transactions: the alerts first, then each incident
 * together with its outbox row, never split between two transactions. Everything fits in
 * one transaction in the common case (all or nothing); when it does not, an incident and
 * the announcement of its change still commit together.
 */
export function packTransactions(alertActions: readonly TransactionAction[], groups: readonly TransactionAction[][], limit = MAX_BATCH): TransactionAction[][] {
  const transactions: TransactionAction[][] = [];
  for (let i = 0; i < alertActions.length; i += limit) transactions.push(alertActions.slice(i, i + limit));
  for (const group of groups) {
    const last = transactions[transactions.length - 1];
    if (last && last.length + group.length <= limit) last.push(...group);
    else transactions.push([...group]);
  }
  return transactions;
}

/** An incident in an outbox row: JSON, with its exact event times as decimal ticks (JSON has no bigint). */
function incidentText(incident: Incident): string {
  return JSON.stringify({ ...incident, firstAlertTime: String(incident.firstAlertTime), lastAlertTime: String(incident.lastAlertTime) });
}

function incidentFromText(text: string): Incident {
  const stored = JSON.parse(text) as Omit<Incident, "firstAlertTime" | "lastAlertTime"> & { firstAlertTime: string; lastAlertTime: string };
  return { ...stored, firstAlertTime: BigInt(stored.firstAlertTime), lastAlertTime: BigInt(stored.lastAlertTime) };
}
