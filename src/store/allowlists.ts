// Allowlists table: one partition per list, one entity per entry (RowKey derived from the
// canonical value, so a duplicate is a 409 from the service itself), plus a marker entity
// recording that the list's defaults were seeded once. Every change is audited.
import { actorColumns, actorFromColumns, systemActor, type Actor } from "../model/actor.js";
import { createHash, randomUUID } from "node:crypto";
import type { TransactionAction } from "@azure/data-tables";
import {
  LIST_DEFAULTS,
  LIST_NAMES,
  canonicalEntry,
  type AllowlistEntry,
  type AuditRecord,
  type EntryInput,
  type EntryResult,
  type ListName,
} from "../model/allowlists.js";
import { encodeKey } from "../model/keys.js";
import { invertedTime } from "./keys.js";
import { deleteRows, odata, statusOf, type TableStore } from "./tables.js";

const MARKER = "~seeded";

interface EntryEntity {
  value: string;
  reason: string;
  expiresAt: string;
  createdBy: string;
  createdById?: string;
  createdByTenantId?: string;
  createdAt: string;
}

export const entryId = (list: ListName, key: string) => createHash("sha256").update(`${list}\n${key}`).digest("hex").slice(0, 24);

export class AllowlistRepository {
  private seeded = new Set<ListName>();

  constructor(private readonly store: TableStore) {}

  /** Every entry of every list (expired ones included; the caller decides by time). */
  async all(): Promise<AllowlistEntry[]> {
    await Promise.all(LIST_NAMES.map((list) => this.seedDefaults(list)));
    const entities = await this.store.list<EntryEntity>("Allowlists");
    return entities.filter((e) => e.rowKey !== MARKER && isListName(e.partitionKey)).map((e) => fromEntity(e.partitionKey as ListName, e));
  }

  async list(list: ListName): Promise<AllowlistEntry[]> {
    return (await this.entriesWithEtags(list)).map((e) => e.entry);
  }

  /**
   * Replaces a whole list in one go (replay's --allowlist file, an admin import), auditing
   * the before and after. Values are validated first: nothing is written if one is invalid.
   */
  async replace(list: ListName, values: readonly string[], actor: Actor, reason: string, now = Date.now()): Promise<void> {
    const canonical = values.map((raw) => {
      const c = canonicalEntry(list, raw);
      if (!c.ok) throw new Error(`${list}: ${c.error}`);
      return c;
    });
    const before = await this.list(list);
    const after = new Map<string, AllowlistEntry>();
    for (const c of canonical) {
      const id = entryId(list, c.key);
      if (!after.has(id)) after.set(id, { id, list, value: c.value, reason, expiresAt: null, createdBy: actor, createdAt: now });
    }
    // A transaction may not touch one entity twice: entries that stay are only rewritten.
    const actions: TransactionAction[] = [
      ...before.filter((e) => !after.has(e.id)).map((e): TransactionAction => ["delete", { partitionKey: list, rowKey: e.id }]),
      ...[...after.values()].map((e): TransactionAction => ["upsert", toEntity(e), "Replace"]),
      ["upsert", { partitionKey: list, rowKey: MARKER, seededAt: new Date(now).toISOString() }, "Replace"],
    ];
    await this.store.submit("Allowlists", actions);
    this.seeded.add(list);
    await this.audit(list, actor, "replace", before.map((e) => e.value), canonical.map((c) => c.value), now);
  }

  /** Retention: deletes allowlist audit rows recorded before `before` (epoch ms), at most `max`. Returns how many were deleted. */
  async purgeAudit(before: number, max: number): Promise<number> {
    const rows = await this.store.first("AllowlistAudit", `at lt ${odata(new Date(before).toISOString())}`, max, ["PartitionKey", "RowKey"]);
    return deleteRows(this.store, "AllowlistAudit", rows);
  }

  async audit(list: ListName, actor: Actor, action: string, before: unknown, after: unknown, now = Date.now()): Promise<void> {
    const client = await this.store.table("AllowlistAudit");
    await client.createEntity({
      partitionKey: encodeKey(list),
      rowKey: `${invertedTime(now)}-${randomUUID().slice(0, 8)}`,
      ...actorColumns("actor", actor),
      action,
      at: new Date(now).toISOString(),
      before: JSON.stringify(before),
      after: JSON.stringify(after),
    });
  }

  // ---- HTTP API: single-entry administration, each change audited ----

  /** A list's entries with their ETags (expired ones included). */
  async entriesWithEtags(list: ListName): Promise<{ entry: AllowlistEntry; etag: string }[]> {
    await this.seedDefaults(list);
    const entities = await this.store.list<EntryEntity>("Allowlists", `PartitionKey eq ${odata(list)}`);
    return entities.filter((e) => e.rowKey !== MARKER).map((e) => ({ entry: fromEntity(list, e), etag: e.etag }));
  }

  /** One entry and its ETag. */
  async entry(list: ListName, id: string): Promise<{ entry: AllowlistEntry; etag: string } | undefined> {
    await this.seedDefaults(list);
    if (id === MARKER) return undefined;
    const entity = await this.store.get<EntryEntity>("Allowlists", list, id);
    return entity && { entry: fromEntity(list, entity), etag: entity.etag };
  }

  /** Adds an entry; "exists" when the list already holds the same canonical value. */
  async add(list: ListName, input: EntryInput, actor: Actor, now = Date.now()): Promise<EntryResult<"exists">> {
    const c = canonicalOrThrow(list, input.value);
    await this.seedDefaults(list);
    const entry: AllowlistEntry = { id: entryId(list, c.key), list, value: c.value, reason: input.reason, expiresAt: input.expiresAt, createdBy: actor, createdAt: now };
    const client = await this.store.table("Allowlists");
    let etag: string | undefined;
    try {
      etag = (await client.createEntity(toEntity(entry))).etag;
    } catch (error) {
      if (statusOf(error) === 409) return { ok: false, reason: "exists" };
      throw error;
    }
    await this.audit(list, actor, "add", null, auditView(entry), now);
    return { ok: true, entry, etag: etag ?? "" };
  }

  /**
   * Replaces an entry's value, reason and expiry if it is unchanged since `etag`. A new
   * value with a different canonical form moves the entry to that value's id (delete and
   * create in one transaction).
   */
  async update(list: ListName, id: string, etag: string, input: EntryInput, actor: Actor, now = Date.now()): Promise<EntryResult<"exists" | "stale" | "missing">> {
    const c = canonicalOrThrow(list, input.value);
    const current = await this.entry(list, id);
    if (!current) return { ok: false, reason: "missing" };
    const entry: AllowlistEntry = {
      ...current.entry,
      id: entryId(list, c.key),
      value: c.value,
      reason: input.reason,
      expiresAt: input.expiresAt,
    };
    const client = await this.store.table("Allowlists");
    let newEtag: string | undefined;
    try {
      if (entry.id === id) newEtag = (await client.updateEntity(toEntity(entry), "Replace", { etag })).etag;
      else {
        // A transaction's delete cannot carry an ETag: compare it just before instead (the
        // window for a lost update is the one round trip between the two requests).
        if (current.etag !== etag) return { ok: false, reason: "stale" };
        const response = await client.submitTransaction([
          ["delete", { partitionKey: list, rowKey: id }],
          ["create", toEntity(entry)],
        ]);
        newEtag = response.getResponseForEntity(entry.id)?.etag;
      }
    } catch (error) {
      const status = statusOf(error);
      if (status === 412) return { ok: false, reason: "stale" };
      if (status === 404) return { ok: false, reason: "missing" };
      if (status === 409) return { ok: false, reason: "exists" };
      throw error;
    }
    if (!newEtag) newEtag = (await this.entry(list, entry.id))?.etag ?? "";
    await this.audit(list, actor, "update", auditView(current.entry), auditView(entry), now);
    return { ok: true, entry, etag: newEtag };
  }

  /** Deletes an entry (only if unchanged since `etag`, when one is given). */
  async remove(list: ListName, id: string, etag: string | undefined, actor: Actor, now = Date.now()): Promise<EntryResult<"stale" | "missing">> {
    const current = await this.entry(list, id);
    if (!current) return { ok: false, reason: "missing" };
    const client = await this.store.table("Allowlists");
    try {
      await client.deleteEntity(list, id, { etag: etag ?? current.etag });
    } catch (error) {
      const status = statusOf(error);
      if (status === 412) return { ok: false, reason: "stale" };
      if (status === 404) return { ok: false, reason: "missing" };
      throw error;
    }
    await this.audit(list, actor, "delete", auditView(current.entry), null, now);
    return { ok: true, entry: current.entry, etag: "" };
  }

  /** A list's audit log, newest first: `limit` records after the record `after` (its id). */
  async auditLog(list: ListName, limit: number, after?: string): Promise<{ records: AuditRecord[]; more: boolean }> {
    const client = await this.store.table("AllowlistAudit");
    const filter = `PartitionKey eq ${odata(encodeKey(list))}${after ? ` and RowKey gt ${odata(after)}` : ""}`;
    const records: AuditRecord[] = [];
    for await (const e of client.listEntities<AuditEntity>({ queryOptions: { filter } })) {
      if (records.length === limit) return { records, more: true };
      records.push({ id: e.rowKey!, at: Date.parse(e.at), actor: actorFromColumns("actor", e), action: e.action, before: parseJson(e.before), after: parseJson(e.after) });
    }
    return { records, more: false };
  }

  /** A list that was never written gets the seed's defaults, once. */
  private async seedDefaults(list: ListName): Promise<void> {
    if (this.seeded.has(list)) return;
    if (!(await this.store.get("Allowlists", list, MARKER))) {
      const now = Date.now();
      const actions: TransactionAction[] = LIST_DEFAULTS[list].map((value) => {
        const c = canonicalEntry(list, value);
        if (!c.ok) throw new Error(`default ${list} entry invalid: ${value}`);
        return ["upsert", toEntity({ id: entryId(list, c.key), list, value: c.value, reason: "seed rule default", expiresAt: null, createdBy: systemActor("tokenwatch"), createdAt: now }), "Replace"];
      });
      try {
        await this.store.submit("Allowlists", [...actions, ["create", { partitionKey: list, rowKey: MARKER, seededAt: new Date(now).toISOString() }]]);
      } catch (error) {
        // Another instance seeded it first: its defaults stand.
        if (statusOf(error) !== 409) throw error;
      }
    }
    this.seeded.add(list);
  }
}

export function toEntity(e: AllowlistEntry) {
  return {
    partitionKey: e.list,
    rowKey: e.id,
    value: e.value,
    reason: e.reason,
    expiresAt: e.expiresAt === null ? "" : new Date(e.expiresAt).toISOString(),
    ...actorColumns("createdBy", e.createdBy),
    createdAt: new Date(e.createdAt).toISOString(),
  };
}

function fromEntity(list: ListName, e: EntryEntity & { rowKey?: string }): AllowlistEntry {
  return {
    id: e.rowKey ?? "",
    list,
    value: e.value,
    reason: e.reason,
    expiresAt: e.expiresAt ? Date.parse(e.expiresAt) : null,
    createdBy: actorFromColumns("createdBy", e),
    createdAt: Date.parse(e.createdAt),
  };
}

const isListName = (name: string): name is ListName => (LIST_NAMES as readonly string[]).includes(name);

interface AuditEntity {
  actor: string;
  actorId?: string;
  actorTenantId?: string;
  action: string;
  at: string;
  before: string;
  after: string;
}

/** Thrown for a value that is not valid for its list (callers validate first to answer 400). */
export class InvalidEntry extends Error {}

function canonicalOrThrow(list: ListName, raw: string) {
  const c = canonicalEntry(list, raw);
  if (!c.ok) throw new InvalidEntry(c.error);
  return c;
}

const auditView = (e: AllowlistEntry) => ({
  id: e.id,
  value: e.value,
  reason: e.reason,
  expiresAt: e.expiresAt === null ? null : new Date(e.expiresAt).toISOString(),
});

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
