// What happened to an incident, as the outbox records it and webhooks announce it. A module
// of its own, without imports, so the web console (web/admin.ts) offers exactly these.
export const EVENT_TYPES = ["incident.created", "incident.updated", "incident.alertAdded", "incident.correlated"] as const;
export type EventType = (typeof EVENT_TYPES)[number];
