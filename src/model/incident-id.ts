// Incident ids. An incident is named after its founding alert (the first alert of its group
// when it was created): a digest of (rule, account, alert). New ids also carry the account
// they belong to, `<digest>.<account as base64url>`, because the account is the incident's
// Table Storage partition: GET /incidents/{id} is then a point read. Ids made before that
// (the bare digest, "legacy") stay valid; they are found by a query on their row key.
import { createHash } from "node:crypto";

const DIGEST = /^[0-9a-f]{32}$/;
const ID = /^([0-9a-f]{32})(?:\.([A-Za-z0-9_-]{1,680}))?$/;
/** Accounts longer than this (as base64url) keep a bare digest id: the id stays a storable key. */
const MAX_ACCOUNT_TEXT = 680;

const digest = (parts: readonly string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

/** The bare-digest id incidents had before ids carried their account. */
export const legacyIncidentId = (ruleId: string, account: string, alertId: string) => digest(["incident", ruleId, account, alertId]);

/** The id of an incident founded by this alert. */
export function incidentId(ruleId: string, account: string, alertId: string): string {
  const text = Buffer.from(account, "utf8").toString("base64url");
  const base = legacyIncidentId(ruleId, account, alertId);
  return text.length > MAX_ACCOUNT_TEXT ? base : `${base}.${text}`;
}

/** Whether this incident was founded by this alert, under either id form. */
export const foundedBy = (id: string, ruleId: string, account: string, alertId: string) =>
  id === incidentId(ruleId, account, alertId) || id === legacyIncidentId(ruleId, account, alertId);

/** Whether text has the shape of an incident id (either form). */
export const isIncidentId = (text: string) => ID.test(text);

/**
 * The account an id names, or null for a legacy id (or text that is no id). Only a
 * canonical encoding counts, so two spellings never name one incident.
 */
export function accountOfIncidentId(text: string): string | null {
  const match = ID.exec(text);
  if (!match?.[2]) return null;
  const account = Buffer.from(match[2], "base64url").toString("utf8");
  return Buffer.from(account, "utf8").toString("base64url") === match[2] ? account : null;
}

export const isLegacyIncidentId = (text: string) => DIGEST.test(text);
