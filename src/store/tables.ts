// One place that turns a storage setting into TableClients. Repositories get their
// client from here; nothing else in the app talks to @azure/data-tables directly.
import { randomUUID } from "node:crypto";
import { TableClient, type TableEntity, type TransactionAction } from "@azure/data-tables";
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/identity";
import { z } from "zod";
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
  /** Sends this store's transactions and strings() queries through each client's own pipeline (see transact()). */
  private readonly http: HttpClient = createDefaultHttpClient();
  /** Plain HTTP only to a loopback emulator, as the clients themselves are configured. */
  private readonly insecure: boolean;

  constructor(private readonly target: StorageTarget) {
    this.insecure = "connectionString" in target && isLoopback(target.connectionString);
  }

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
          ? TableClient.fromConnectionString(this.target.connectionString, tableName, { allowInsecureConnection: this.insecure, ...counting })
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
    for (let i = 0; i < actions.length; i += MAX_BATCH) await transact(client, this.http, this.insecure, actions.slice(i, i + MAX_BATCH));
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
      const written = await transact(client, this.http, this.insecure, actions);
      if (etags) transaction.forEach((action, i) => written[i] && etags.set(String(action[1].rowKey), written[i]));
      etag = written[actions.length - 1];
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

  /**
   * All entities matching an OData filter, every page, as the service's JSON without type
   * annotations (odata=nometadata): for tables whose properties are all strings (an Int64 or
   * DateTime property would arrive as its string). A selected property an entity lacks is
   * absent or null. One GET per page through the client's own pipeline (auth, retries, the
   * request count), the JSON parsed directly: ~3 µs of CPU per entity and ~0.8-1.3 ms per
   * request, where list() costs ~5-7 µs and ~1.4-1.9 ms (Node 22, Azurite, this machine).
   */
  async strings(name: TableKey, filter: string, select?: string[]): Promise<Record<string, string | null>[]> {
    const out: Record<string, string | null>[] = [];
    await this.stringPages(name, filter, select, (page) => {
      for (const entity of page) out.push(entity);
    });
    return out;
  }

  /** strings(), a page at a time: what a caller keeps of a page is all it holds of it. */
  async stringPages(name: TableKey, filter: string, select: string[] | undefined, onPage: (page: Record<string, string | null>[]) => void): Promise<void> {
    const client = await this.table(name);
    const [account, sas] = client.url.split("?");
    const base = `${account!.replace(/\/$/, "")}/${client.tableName}()`;
    const query = [`$filter=${encodeURIComponent(filter)}`, ...(select ? [`$select=${encodeURIComponent(select.join(","))}`] : []), ...(sas ? [sas] : [])].join("&");
    for (let next = ""; ; ) {
      const request = createPipelineRequest({
        url: `${base}?${query}${next}`,
        method: "GET",
        headers: createHttpHeaders({ Accept: "application/json;odata=nometadata", DataServiceVersion: "3.0", "x-ms-version": "2019-02-02" }),
        allowInsecureConnection: this.insecure,
      });
      const response = await client.pipeline.sendRequest(this.http, request);
      if (response.status !== 200) throw serviceError(response.bodyAsText ?? "", response.status, request, response);
      const page: unknown = JSON.parse(response.bodyAsText ?? "");
      onPage(plainEntities(page) ?? PlainPage.parse(page).value);
      const partition = response.headers.get("x-ms-continuation-NextPartitionKey");
      if (!partition) return;
      const row = response.headers.get("x-ms-continuation-NextRowKey");
      next = `&NextPartitionKey=${encodeURIComponent(partition)}${row ? `&NextRowKey=${encodeURIComponent(row)}` : ""}`;
    }
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

/**
 * Submits one entity-group transaction and returns each action's new ETag, in order (none for
 * a delete). The same request TableClient.submitTransaction sends (its `$batch` multipart body,
 * headers and sub-requests, read from @azure/data-tables 13.3.2's TableTransaction and
 * TablePolicies), assembled here as text: the SDK runs its whole pipeline once per entity to
 * assemble the body (~0.15 ms of CPU per entity measured, 14 ms for 100). The request still goes
 * through the client's own pipeline: its authentication (SharedKey, SAS or Entra), retries and
 * this store's request count. A failed sub-request throws a RestError whose statusCode is that
 * sub-request's status (409, 412, 404...), as the SDK's does.
 */
async function transact(client: TableClient, http: HttpClient, insecure: boolean, actions: TransactionAction[]): Promise<(string | undefined)[]> {
  const [account, sas = ""] = client.url.split("?");
  const base = account!.endsWith("/") ? account!.slice(0, -1) : account!;
  const table = `${base}/${client.tableName}`;
  const batch = `batch_${randomUUID()}`;
  const changeset = `changeset_${randomUUID()}`;
  const parts = [`--${batch}\r\ncontent-type: multipart/mixed; boundary=${changeset}\r\n\r\n`];
  for (const [kind, entity, mode = "Merge", options] of actions) {
    const at = `${table}(PartitionKey='${keyInUrl(entity.partitionKey)}',RowKey='${keyInUrl(entity.rowKey)}')`;
    const body = JSON.stringify(serializeEntity(entity));
    const etag = kind === "update" ? (options?.etag ?? "*") : undefined;
    const lines =
      kind === "create"
        ? [`POST ${table} HTTP/1.1`, "Content-Type: application/json;odata=nometadata", "Accept: application/json;odata=minimalmetadata", "DataServiceVersion: 3.0", "Prefer: return-no-content"]
        : kind === "delete"
          ? [`DELETE ${at} HTTP/1.1`, "Accept: application/json;odata=minimalmetadata", "DataServiceVersion: 3.0", "If-Match: *"]
          : [`${mode === "Replace" ? "PUT" : "MERGE"} ${at} HTTP/1.1`, "Content-Type: application/json", "DataServiceVersion: 3.0", "Accept: application/json", ...(etag ? [`If-Match: ${etag}`] : [])];
    parts.push([`--${changeset}`, "content-type: application/http", "content-transfer-encoding: binary", "", ...lines, "\r\n", ...(kind === "delete" ? [] : [body])].join("\r\n"));
  }
  const request = createPipelineRequest({
    url: `${base}/$batch${sas ? `?${sas}` : ""}`,
    method: "POST",
    body: `${parts.join("\r\n")}\r\n--${changeset}--\r\n--${batch}--\r\n`,
    headers: createHttpHeaders({
      accept: "application/json",
      "x-ms-version": "2019-02-02",
      DataServiceVersion: "3.0;",
      MaxDataServiceVersion: "3.0;NetFx",
      "Content-Type": `multipart/mixed; boundary=${batch}`,
      "Accept-Charset": "UTF-8",
      Connection: "Keep-Alive",
    }),
    allowInsecureConnection: insecure,
  });
  const response = await client.pipeline.sendRequest(http, request);
  const text = response.bodyAsText ?? "";
  if (response.status < 200 || response.status >= 300) throw serviceError(text, response.status, request, response);
  // One part per sub-response, in request order; a failed changeset answers with the failing one only.
  const subResponses = text.split("--changesetresponse_").slice(1, -1);
  return subResponses.map((part) => {
    const status = Number(/HTTP\/1\.1 (\d+)/.exec(part)?.[1]);
    if (!Number.isInteger(status)) throw new Error(`Table service sub-response without a status:\n${part}`);
    if (status >= 300) throw serviceError(/\{.*\}/s.exec(part)?.[0] ?? "", status, request, response);
    return /^ETag: (.*?)\r?$/im.exec(part)?.[1];
  });
}

/** A key as the SDK puts it in an entity's URL: quotes doubled, then percent-encoded. */
const keyInUrl = (key: string | undefined) => encodeURIComponent(String(key ?? "").replaceAll("'", "''"));

/** A failed request or sub-request as a RestError (as the SDK throws), its code and message from the service's odata.error when it sent one. */
function serviceError(body: string, statusCode: number, request: PipelineRequest, response: PipelineResponse): RestError {
  let error: { code?: string; message?: { value?: string } } | undefined;
  try {
    error = (JSON.parse(body) as { "odata.error"?: typeof error })["odata.error"];
  } catch {
    error = undefined;
  }
  return new RestError(error?.message?.value ?? `Table service answered ${statusCode}`, { code: error?.code, statusCode, request, response });
}

/**
 * An entity as the SDK serializes it (@azure/data-tables' serialize()): the keys and the ETag
 * under their service names, bigint as Edm.Int64, Date as Edm.DateTime, bytes as Edm.Binary,
 * `{ value, type }` as that Edm type, other values as they are.
 */
function serializeEntity(entity: TableEntity): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity)) {
    const key = SERVICE_NAMES[name] ?? name;
    let type: string | undefined;
    let json: unknown = value;
    if (typeof value === "bigint") [json, type] = [value.toString(), "Int64"];
    else if (value instanceof Date) type = "DateTime";
    else if (value instanceof Uint8Array) [json, type] = [Buffer.from(value).toString("base64"), "Binary"];
    else if (value !== null && typeof value === "object") {
      const typed = value as { value?: unknown; type?: unknown };
      if (typed.value === undefined || typed.type === undefined) throw new Error(`Unknown EDM type of ${name}`);
      if (!EDM_TYPES.has(String(typed.type))) throw new Error(`Unknown EDM type ${String(typed.type)}`);
      [json, type] = [typed.value, String(typed.type)];
    }
    out[key] = json;
    if (type) out[`${key}@odata.type`] = `Edm.${type}`;
  }
  return out;
}

/** A page of a nometadata query: its entities, each property a string (RowKey, lastSeen...) or null (selected, not set). */
export const PlainPage = z.object({ value: z.array(z.record(z.string(), z.string().nullable())) });

/**
 * A page's entities when PlainPage would take it as it is, checked without zod (a slice reads
 * thousands of entities, and zod's check of each cost about as much as the JSON.parse of the
 * page), else undefined: PlainPage then says what is wrong.
 */
export function plainEntities(page: unknown): Record<string, string | null>[] | undefined {
  if (typeof page !== "object" || page === null || !Array.isArray((page as { value?: unknown }).value)) return undefined;
  const entities = (page as { value: unknown[] }).value;
  for (const entity of entities) {
    if (typeof entity !== "object" || entity === null || Array.isArray(entity)) return undefined;
    for (const key in entity) {
      // JSON.parse keeps a "__proto__" key as the entity's own property; PlainPage's copy drops it.
      if (key === "__proto__") return undefined;
      const value = (entity as Record<string, unknown>)[key];
      if (value !== null && typeof value !== "string") return undefined;
    }
  }
  return entities as Record<string, string | null>[];
}

const SERVICE_NAMES: Record<string, string> = { partitionKey: "PartitionKey", rowKey: "RowKey", etag: "odata.etag", timestamp: "Timestamp" };
const EDM_TYPES = new Set(["Boolean", "DateTime", "Double", "Guid", "Int32", "Int64", "String", "Binary"]);

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
