// The allowlists: their names, what a valid entry of each is, their defaults, and an entry as stored.
import type { Actor } from "../model/actor.js";
import { parseNetwork } from "../net/ip.js";

export const LIST_NAMES = ["network", "principals"] as const;
export type ListName = (typeof LIST_NAMES)[number];

export const LIST_DESCRIPTIONS: Record<ListName, string> = {
  network:
    "IPv4/IPv6 addresses and CIDR ranges never alerted on: the Intune rule's NetworkAllowlist watchlist and the pivot rule's KnownSafeIPs and KnownSafeNetworks.",
  principals: "Initiating users or applications whose STS refresh token changes are expected: the STS rule's AllowedUserList.",
};

/** The seeds' own values: the STS rule's AllowedUserList; the network lists ship empty. */
export const LIST_DEFAULTS: Record<ListName, readonly string[]> = {
  network: [],
  principals: ["Microsoft Cloud App Security", "ADConnectSyncAccount1", "SyncAccount2"],
};

export type Canonical = { ok: true; value: string; key: string } | { ok: false; error: string };

/**
 * Validates an entry and gives its canonical form plus the key that makes two entries
 * duplicates: networks by canonical address/range, principals case-insensitively (the
 * rule compares with !in~).
 */
export function canonicalEntry(list: ListName, raw: string): Canonical {
  if (list === "network") {
    const network = parseNetwork(raw);
    if (!network) return { ok: false, error: `not an IPv4/IPv6 address or CIDR range: ${JSON.stringify(raw.slice(0, 80))}` };
    return { ok: true, value: network.canonical, key: network.canonical };
  }
  const value = raw.trim();
  if (value === "" || value.length > 256 || /[\u0000-\u001f\u007f]/.test(value))
    return { ok: false, error: "a principal is 1 to 256 printable characters" };
  return { ok: true, value, key: value.toLowerCase() };
}

export interface AllowlistEntry {
  id: string;
  list: ListName;
  value: string;
  reason: string;
  /** Epoch ms after which the entry no longer applies; null = never expires. */
  expiresAt: number | null;
  createdBy: Actor;
  createdAt: number;
}

/** An entry as an administrator writes it. */
export interface EntryInput {
  value: string;
  reason: string;
  expiresAt: number | null;
}

export type EntryResult<R extends string> = { ok: true; entry: AllowlistEntry; etag: string } | { ok: false; reason: R };

/** One change to a list, as its audit log records it. */
export interface AuditRecord {
  id: string;
  at: number;
  actor: Actor;
  action: string;
  before: unknown;
  after: unknown;
}
