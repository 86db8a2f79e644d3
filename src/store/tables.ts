// One place that turns a storage setting into TableClients. Repositories get their
// client from here; nothing else in the app talks to @azure/data-tables directly.
import { TableClient, type TableEntity, type TransactionAction } from "@azure/data-tables";
import type { TokenCredential } from "@azure/identity";
import { storableKey } from "../model/keys.js";

export const TABLE_NAMES = ["Checkpoints", "Allowlists", "AllowlistAudit", "Baselines", "Sessions", "Incidents", "IncidentIndex", "Outbox", "Subscriptions", "Deliveries", "Shards"] as const;
export type TableKey = (typeof TABLE_NAMES)[number];

/** A storage account by connection string (Azurite, or keys) or by endpoint + Entra credential. */
export type StorageTarget =
  | { connectionString: string; tablePrefix?: string }
  | { endpoint: string; credential: TokenCredential; tablePrefix?: string };

/** The most entities one entity-group transaction may hold. */
export const MAX_BATCH = 100;

export class TableStore {
  /** Table Storage requests made through this store: the storage cost figure in benchmarks. */
  requests = 0;
  private readonly clients = new Map<TableKey, TableClient>();
  private readonly created = new Map<TableKey, Promise<void>>();

  constructor(private readonly target: StorageTarget) {}

  /** The client for a table, created on first use (one CreateTable per process and table). */
  async table(name: TableKey): Promise<TableClient> {
    let client = this.clients.get(name);
    if (!client) {
      const tableName = `${this.target.tablePrefix ?? ""}${name}`;
      const counting = {
        additionalPolicies: [
          { position: "perCall" as const, policy: { name: "countRequests", sendRequest: (req: never, next: (r: never) => Promise<never>) => (this.requests++, next(req)) } },
        ],
      };
      client =
        "connectionString" in this.target
          ? TableClient.fromConnectionString(this.target.connectionString, tableName, { allowInsecureConnection: isLoopback(this.target.connectionString), ...counting })
          : new TableClient(this.target.endpoint, tableName, this.target.credential, counting);
      this.clients.set(name, client);
    }
    let created = this.created.get(name);
    if (!created) {
      const c = client;
      created = c.createTable().catch((error: unknown) => {
        this.created.delete(name);
        throw error;
      });
      this.created.set(name, created);
    }
    await created;
    return client;
  }

  /**
   * Writes actions of one partition in entity-group transactions of at most 100: each
   * transaction is all-or-nothing, and they are submitted in order, so callers put the
   * entity that records completion (an incident, a checkpoint) in the last one.
   */
  async submit(name: TableKey, actions: TransactionAction[]): Promise<void> {
    if (actions.length === 0) return;
    const client = await this.table(name);
    for (let i = 0; i < actions.length; i += MAX_BATCH) await client.submitTransaction(actions.slice(i, i + MAX_BATCH));
  }

  /**
   * Writes one partition's transactions (at most MAX_BATCH - 1 actions each), each also
   * rewriting a guard row under the ETag the previous one left, starting from `etag` (the
   * guard as read before the caller decided what to write; undefined: it did not exist).
   * Two writers of one partition therefore cannot interleave: the second to write fails with
   * 412/409 and starts again from a new read. Returns the guard's new ETag.
   */
  async submitGuarded(
    name: TableKey,
    guard: { partitionKey: string; rowKey: string } & Record<string, unknown>,
    etag: string | undefined,
    transactions: TransactionAction[][],
    /** Filled with the new ETag of each row written, by RowKey. */
    etags?: Map<string, string>,
  ): Promise<string | undefined> {
    const client = await this.table(name);
    for (const transaction of transactions) {
      const actions: TransactionAction[] = [...transaction, etag ? ["update", guard, "Replace", { etag }] : ["create", guard]];
      const response = await client.submitTransaction(actions);
      if (etags) transaction.forEach((action, i) => response.subResponses[i]?.etag && etags.set(String(action[1].rowKey), response.subResponses[i]!.etag!));
      // Sub-responses come in request order; an update's carries no RowKey, so by position.
      etag = response.subResponses[actions.length - 1]?.etag;
      if (!etag) throw new Error("Table service returned no ETag for the guard row");
    }
    return etag;
  }

  /** All entities matching an OData filter, every page. */
  async list<T extends object>(name: TableKey, filter?: string, select?: string[]): Promise<(TableEntity<T> & { etag: string })[]> {
    const client = await this.table(name);
    const out: (TableEntity<T> & { etag: string })[] = [];
    for await (const entity of client.listEntities<T>({ queryOptions: { filter, select } })) out.push(entity as TableEntity<T> & { etag: string });
    return out;
  }

  /** At most `max` entities matching an OData filter: a bounded scan (pages stop being read once it has them). */
  async first<T extends object>(name: TableKey, filter: string, max: number, select?: string[]): Promise<(TableEntity<T> & { etag: string })[]> {
    const client = await this.table(name);
    const out: (TableEntity<T> & { etag: string })[] = [];
    if (max <= 0) return out;
    for await (const entity of client.listEntities<T>({ queryOptions: { filter, select } })) {
      out.push(entity as TableEntity<T> & { etag: string });
      if (out.length >= max) break;
    }
    return out;
  }

  /** One entity, or undefined when it does not exist (as no entity has a key Table Storage cannot hold: see storableKey). */
  async get<T extends object>(name: TableKey, partitionKey: string, rowKey: string): Promise<(TableEntity<T> & { etag: string }) | undefined> {
    if (!storableKey(partitionKey) || !storableKey(rowKey)) return undefined;
    const client = await this.table(name);
    try {
      return (await client.getEntity<T>(partitionKey, rowKey)) as TableEntity<T> & { etag: string };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }
}

const isLoopback = (connectionString: string) =>
  /UseDevelopmentStorage=true/i.test(connectionString) || /Endpoint=http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/i.test(connectionString);

/** The HTTP status of a storage error, for 404 / 409 / 412 handling. */
export function statusOf(error: unknown): number | undefined {
  if (error && typeof error === "object" && "statusCode" in error && typeof error.statusCode === "number") return error.statusCode;
  return undefined;
}

/** OData literal for a string in a filter. */
export function odata(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Deletes rows as read (each under its ETag), a few at a time; one changed or deleted since
 * it was read stays. Returns how many were deleted.
 */
export async function deleteRows(store: TableStore, name: TableKey, rows: readonly { partitionKey?: string; rowKey?: string; etag: string }[]): Promise<number> {
  const client = await store.table(name);
  let deleted = 0;
  await forEachLimit(rows, 8, async (row) => {
    try {
      await client.deleteEntity(row.partitionKey!, row.rowKey!, { etag: row.etag });
      deleted++;
    } catch (error) {
      const status = statusOf(error);
      if (status !== 412 && status !== 404) throw error;
    }
  });
  return deleted;
}

/** Runs fn over items with at most `limit` in flight (one storage request each, typically). */
export async function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  });
  await Promise.all(workers);
}
