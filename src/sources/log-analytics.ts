// The LogSource over a Log Analytics workspace, through LogsQueryClient. Each query runs
// the rule's KQL with the spec's TimeGenerated range as the request timespan; every row
// goes through the table's zod schema. An answer is accepted only when it is complete:
// a partial failure caused by a limit, or a result at the row or size limit (the service
// truncates at 500,000 rows / ~100 MB, without an error in some cases), is split into
// disjoint parts (arrival-time halves, then user-hash partitions for sign-in tables) and
// each part queried again until every part fits. A query text longer than MAX_QUERY_BYTES
// (a long account list) is split into queries over halves of the list before it is sent. Anything else that fails throws, so the
// engine leaves the window's checkpoint where it was.
import type { Agent } from "node:https";
import { LogsQueryClient, LogsQueryResultStatus, type LogsQueryResult, type LogsTable } from "@azure/monitor-query-logs";
import type { TokenCredential } from "@azure/identity";
import { toDateTime, type DateTime } from "../model/time.js";
import { type QuerySpec, scopeKql } from "../model/query.js";
import { type Fetched, parseRow, type Rejection, type RowOf, rowSchemas, type SignInSighting, signInSightingSchema, TableMissing, type TableName } from "../model/rows.js";

/** The query API's own caps: 500,000 rows; the size cap is ~100 MB, we stop well below it. */
export const SERVICE_ROW_LIMIT = 500_000;
export const DEFAULT_BYTE_LIMIT = 64 * 1024 * 1024;
/**
 * The longest query text tokenwatch sends: 64 KiB. Far below what the query API accepts in
 * a request body, and small enough that parsing the text is never a cost of its own; a
 * follow-up over 20,000 accounts is split into about six queries rather than sent as 340 KB.
 */
export const MAX_QUERY_BYTES = 64 * 1024;

export interface LogAnalyticsOptions {
  workspaceId: string;
  /** A result with this many rows is taken as truncated and split (default: the service's 500,000). */
  rowLimit?: number;
  /** A response body of this many bytes is taken as truncated and split. */
  byteLimit?: number;
  /** Client-side bound on one HTTP query, SDK retries included (default: server timeout + 30 s). */
  timeoutMs?: number;
  /** The server's own query timeout (Prefer: wait=N), 1..600 s; default 180. */
  serverTimeoutSeconds?: number;
  /** Attempts of one query when it times out (429 and 5xx are retried inside the SDK pipeline). */
  attempts?: number;
  /** First backoff after a timeout; doubles each attempt. */
  backoffMs?: number;
  /** Arrival (or event) slices are not split below this length; then users are partitioned. */
  minSliceMs?: number;
  /** The most user-hash partitions one slice is split into. */
  maxPartitions?: number;
  /** The most queries one spec may cost, splits included. */
  maxQueries?: number;
  /**
   * The longest query text sent, in UTF-8 bytes (default MAX_QUERY_BYTES): a longer one (a
   * follow-up's account list) is split into queries over parts of the list.
   */
  maxQueryBytes?: number;
  /** Called once per HTTP query answered (for measurements and logs). */
  onQuery?: (event: QueryEvent) => void;
}

export interface QueryEvent {
  label: string;
  table: TableName;
  rows: number;
  bytes: number;
  /** complete, or why the answer was split. */
  outcome: "complete" | "rows at limit" | "bytes at limit" | "partial: limit";
}

export interface ClientSettings {
  /** Query endpoint including the version, e.g. https://api.loganalytics.azure.cn/v1 (default: public cloud). */
  endpoint?: string;
  /** Retries of 429 (honouring Retry-After) and 5xx done by the SDK pipeline. */
  maxRetries?: number;
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** The HTTPS agent (tests: one trusting the local server's certificate). */
  agent?: Agent;
}

/**
 * The SDK client. A custom endpoint also sets the token scope to that cloud's audience
 * (this SDK version reads `credentials.scopes`, not `audience`, when it builds the pipeline).
 */
export function createLogsQueryClient(credential: TokenCredential, settings: ClientSettings = {}): LogsQueryClient {
  const audience = settings.endpoint ? `${new URL(settings.endpoint).origin}/.default` : undefined;
  return new LogsQueryClient(credential, {
    ...(settings.endpoint ? { endpoint: settings.endpoint.replace(/\/+$/, ""), audience, credentials: { scopes: [audience!] } } : {}),
    ...(settings.agent ? { agent: settings.agent } : {}),
    retryOptions: {
      maxRetries: settings.maxRetries ?? 4,
      retryDelayInMs: settings.retryDelayMs ?? 2_000,
      maxRetryDelayInMs: settings.maxRetryDelayMs ?? 60_000,
    },
  });
}

/** A query that could not be answered completely: the window that needs it fails. */
export class LogAnalyticsQueryError extends Error {
  constructor(
    readonly label: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`query ${label}: ${message}`, options);
    this.name = "LogAnalyticsQueryError";
  }
}

const SIGN_IN_TABLES: readonly TableName[] = ["SigninLogs", "AADNonInteractiveUserSignInLogs"];

/** A part over each half of its account list (none when it has fewer than two accounts). */
function splitAccounts(part: Part): Part[] | null {
  const accounts = part.spec.accounts;
  if (!accounts || accounts.length < 2) return null;
  const mid = Math.ceil(accounts.length / 2);
  return [accounts.slice(0, mid), accounts.slice(mid)].map((half) => ({ ...part, spec: { ...part.spec, accounts: half } }));
}

/** One disjoint piece of a spec: a narrower spec, optionally one user-hash partition of it. */
interface Part {
  spec: QuerySpec;
  partition?: { n: number; k: number };
}

type RawRow = Record<string, unknown>;

export class LogAnalyticsSource {
  private readonly o: Required<Omit<LogAnalyticsOptions, "onQuery">> & Pick<LogAnalyticsOptions, "onQuery">;

  /** Per in-flight query: its deadline, and what the raw response showed. */
  private readonly inflight = new Map<string, Inflight>();
  private nextId = 0;

  constructor(
    private readonly client: LogsQueryClient,
    options: LogAnalyticsOptions,
  ) {
    // queryWorkspace() does not pass an abort signal or a response callback through, so one
    // outermost pipeline policy (around the SDK's retries) applies the query's deadline and
    // reads the final response's size and raw error, found by a request header.
    client.pipeline.addPolicy({
      name: "tokenwatchQueryBounds",
      sendRequest: async (request, next) => {
        const id = request.headers.get(QUERY_HEADER);
        const query = id === undefined ? undefined : this.inflight.get(id);
        if (!query) return next(request);
        request.headers.delete(QUERY_HEADER);
        request.abortSignal = query.signal;
        const response = await next(request);
        query.bytes = response.bodyAsText ? Buffer.byteLength(response.bodyAsText) : Number(response.headers.get("content-length") ?? 0);
        query.body = response.bodyAsText ?? undefined;
        return response;
      },
    });
    const serverTimeoutSeconds = options.serverTimeoutSeconds ?? 180;
    this.o = {
      workspaceId: options.workspaceId,
      rowLimit: options.rowLimit ?? SERVICE_ROW_LIMIT,
      byteLimit: options.byteLimit ?? DEFAULT_BYTE_LIMIT,
      serverTimeoutSeconds,
      timeoutMs: options.timeoutMs ?? (serverTimeoutSeconds + 30) * 1000,
      attempts: options.attempts ?? 3,
      backoffMs: options.backoffMs ?? 2_000,
      minSliceMs: options.minSliceMs ?? 60_000,
      maxPartitions: options.maxPartitions ?? 64,
      maxQueries: options.maxQueries ?? 512,
      maxQueryBytes: options.maxQueryBytes ?? MAX_QUERY_BYTES,
      onQuery: options.onQuery,
    };
  }

  async rows<T extends TableName>(spec: QuerySpec<T>, kql: string, label: string = spec.table): Promise<Fetched<RowOf<T>>> {
    const schema = rowSchemas[spec.table];
    const rows: RowOf<T>[] = [];
    const rejected: Rejection[] = [];
    let n = 0;
    for (const raw of await this.collect(spec, kql, label)) {
      n++;
      const parsed = parseRow(schema, raw);
      if (parsed.ok) rows.push(parsed.row as RowOf<T>);
      else rejected.push({ origin: `query ${label} row ${n}`, reason: parsed.reason });
    }
    return { rows, rejected };
  }

  async sightings(spec: QuerySpec, kql: string, label = `${spec.table}/sightings`): Promise<Fetched<SignInSighting>> {
    // Parts overlap in (account, ip, asn) when split by time: keep the latest sighting.
    const latest = new Map<string, SignInSighting>();
    const rejected: Rejection[] = [];
    let n = 0;
    for (const raw of await this.collect(spec, kql, label)) {
      n++;
      const parsed = parseRow(signInSightingSchema, raw);
      if (!parsed.ok) {
        rejected.push({ origin: `query ${label} row ${n}`, reason: parsed.reason });
        continue;
      }
      const s = parsed.row;
      const key = `${s.account}\u0000${s.ip}\u0000${s.asn}`;
      const seen = latest.get(key);
      if (!seen || seen.lastSeen < s.lastSeen) latest.set(key, s);
    }
    return { rows: [...latest.values()], rejected };
  }

  async earliest(spec: QuerySpec, kql: string, label = `${spec.table}/earliest`): Promise<DateTime | null> {
    let min: DateTime | null = null;
    for (const raw of await this.collect(spec, kql, label)) {
      const value = raw.earliest;
      if (value === null || value === undefined || value === "") continue;
      const ms = toDateTime(value as string | number);
      if (ms === null) throw new LogAnalyticsQueryError(label, `earliest is not a datetime: ${JSON.stringify(value)}`);
      if (min === null || ms < min) min = ms;
    }
    return min;
  }

  /** The spec's rows as the query API gives them, unvalidated (`tokenwatch export` writes them as they are). */
  async rawRows(spec: QuerySpec, kql: string, label: string = spec.table): Promise<Record<string, unknown>[]> {
    return this.collect(spec, kql, label);
  }

  /** Every row of the spec, from as many disjoint parts as it takes for each to be complete. */
  private async collect(spec: QuerySpec, kql: string, label: string): Promise<RawRow[]> {
    if (spec.time.from >= spec.time.to || spec.accounts?.length === 0) return [];
    const scope = scopeKql(spec);
    // Splitting re-renders the scope; the rule's own clauses follow it unchanged.
    const rest = kql.startsWith(scope) ? kql.slice(scope.length) : undefined;
    const render = (part: Part) => {
      if (rest === undefined) return kql;
      const partition = part.partition
        ? `\n| where (hash(tolower(UserPrincipalName)) % ${part.partition.n} + ${part.partition.n}) % ${part.partition.n} == ${part.partition.k}`
        : "";
      return scopeKql(part.spec) + partition + rest;
    };
    const out: RawRow[] = [];
    const queue: Part[] = [{ spec }];
    let queries = 0;
    while (queue.length > 0) {
      const part = queue.shift()!;
      const text = render(part);
      if (Buffer.byteLength(text) > this.o.maxQueryBytes) {
        // Too long to send: the account list in halves, each a query of its own.
        const halves = rest === undefined ? null : splitAccounts(part);
        if (!halves) throw new LogAnalyticsQueryError(label, `query text of ${Buffer.byteLength(text)} bytes exceeds ${this.o.maxQueryBytes}, and it has no account list to split`);
        queue.unshift(...halves);
        continue;
      }
      if (++queries > this.o.maxQueries) throw new LogAnalyticsQueryError(label, `still incomplete after ${this.o.maxQueries} queries`);
      const answer = await this.query(text, part.spec, label);
      if (answer.complete) {
        out.push(...answer.rows);
        continue;
      }
      const parts = rest === undefined ? null : this.split(part);
      if (!parts) throw new LogAnalyticsQueryError(label, `${answer.reason}, and the query cannot be split further`);
      queue.unshift(...parts); // depth first: at most one pending sibling per level
    }
    return out;
  }

  /** Two disjoint parts whose union is `part`: arrival halves, else event-time halves, else user-hash partitions. */
  private split(part: Part): Part[] | null {
    const { spec } = part;
    if (!part.partition) {
      const { arrived, time } = spec;
      if (arrived.from !== undefined && arrived.to - arrived.from > this.o.minSliceMs) {
        const mid = arrived.from + Math.floor((arrived.to - arrived.from) / 2);
        return [
          { spec: { ...spec, arrived: { from: arrived.from, to: mid } } },
          { spec: { ...spec, arrived: { from: mid, to: arrived.to } } },
        ];
      }
      if (arrived.from === undefined && time.to - time.from > this.o.minSliceMs) {
        const mid = time.from + Math.floor((time.to - time.from) / 2);
        return [{ spec: { ...spec, time: { from: time.from, to: mid } } }, { spec: { ...spec, time: { from: mid, to: time.to } } }];
      }
    }
    if (!SIGN_IN_TABLES.includes(spec.table)) return null;
    // h mod n == k  <=>  h mod 2n is k or k + n.
    const { n, k } = part.partition ?? { n: 1, k: 0 };
    if (n * 2 > this.o.maxPartitions) return null;
    return [
      { spec, partition: { n: n * 2, k } },
      { spec, partition: { n: n * 2, k: k + n } },
    ];
  }

  private async query(text: string, spec: QuerySpec, label: string): Promise<{ complete: true; rows: RawRow[] } | { complete: false; reason: string }> {
    for (let attempt = 1; ; attempt++) {
      const id = String(++this.nextId);
      const inflight: Inflight = { signal: AbortSignal.timeout(this.o.timeoutMs), bytes: 0 };
      this.inflight.set(id, inflight);
      let result: LogsQueryResult;
      try {
        result = await this.client.queryWorkspace(
          this.o.workspaceId,
          text,
          { startTime: new Date(spec.time.from), endTime: new Date(spec.time.to) },
          { serverTimeoutInSeconds: this.o.serverTimeoutSeconds, requestOptions: { headers: { [QUERY_HEADER]: id } } },
        );
      } catch (error) {
        if (isTimeout(error) && attempt < this.o.attempts) {
          await sleep(this.o.backoffMs * 2 ** (attempt - 1));
          continue;
        }
        if (missingTable(inflight.body, spec.table)) throw new TableMissing(spec.table);
        throw new LogAnalyticsQueryError(label, describe(error, this.o.timeoutMs), { cause: error });
      } finally {
        this.inflight.delete(id);
      }
      const { bytes } = inflight;
      const table = spec.table;
      if (result.status === LogsQueryResultStatus.PartialFailure) {
        // The SDK keeps only code and message of the error's details; the limit codes are deeper.
        const detail = rawError(inflight.body) ?? JSON.stringify(result.partialError);
        if (!isLimitError(detail)) throw new LogAnalyticsQueryError(label, `partial failure: ${result.partialError.code ?? ""} ${result.partialError.message ?? ""}`.trim());
        this.o.onQuery?.({ label, table, rows: rowCount(result.partialTables[0]), bytes, outcome: "partial: limit" });
        return { complete: false, reason: `partial result (${result.partialError.message})` };
      }
      // The answer's text is only read for errors: let it go before its rows become objects (it is as large as they are).
      inflight.body = undefined;
      const first = result.tables[0];
      const rows = rowCount(first);
      if (rows >= this.o.rowLimit) {
        this.o.onQuery?.({ label, table, rows, bytes, outcome: "rows at limit" });
        return { complete: false, reason: `${rows} rows, at the ${this.o.rowLimit}-row limit` };
      }
      if (bytes >= this.o.byteLimit) {
        this.o.onQuery?.({ label, table, rows, bytes, outcome: "bytes at limit" });
        return { complete: false, reason: `${bytes} bytes, at the ${this.o.byteLimit}-byte limit` };
      }
      this.o.onQuery?.({ label, table, rows, bytes, outcome: "complete" });
      return { complete: true, rows: first ? toObjects(first) : [] };
    }
  }
}

const QUERY_HEADER = "x-tokenwatch-query";

interface Inflight {
  signal: AbortSignal;
  bytes: number;
  body?: string;
}

/** Whether an error response is Kusto's "Failed to resolve table ... named '<table>'" for the queried table. */
function missingTable(body: string | undefined, table: TableName): boolean {
  return body !== undefined && body.includes(`Failed to resolve table or column expression named '${table}'`);
}

/** The `error` member of a raw response body, as JSON text. */
function rawError(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    return error === undefined ? undefined : JSON.stringify(error);
  } catch {
    return undefined;
  }
}

const rowCount = (table: LogsTable | undefined) => table?.rows.length ?? 0;

/** Rows keyed by column name; the SDK's Date objects back to ISO text for the zod datetime. */
function toObjects(table: LogsTable): RawRow[] {
  const names = table.columnDescriptors.map((c, i) => c.name ?? `Column${i}`);
  return table.rows.map((row) => {
    const out: RawRow = {};
    names.forEach((name, i) => {
      const value = row[i];
      out[name] = value instanceof Date ? (Number.isNaN(value.getTime()) ? String(value) : value.toISOString()) : value;
    });
    return out;
  });
}

/** Kusto's result-size and resource limits (E_QUERY_RESULT_SET_TOO_LARGE, memory, "exceeded ... limit"). */
function isLimitError(detail: string): boolean {
  return /E_QUERY_RESULT_SET_TOO_LARGE|E_LOW_MEMORY|E_RUNAWAY_QUERY|LimitsExceeded|exceeded .*limit|too large|truncat/i.test(detail);
}

function isTimeout(error: unknown): boolean {
  const e = error as { name?: string; code?: string } | null;
  return e?.name === "AbortError" || e?.name === "TimeoutError" || e?.code === "ETIMEDOUT" || e?.code === "ESOCKETTIMEDOUT";
}

function describe(error: unknown, timeoutMs: number): string {
  if (isTimeout(error)) return `timed out after ${timeoutMs} ms`;
  const e = error as { statusCode?: number; code?: string; message?: string } | null;
  const status = e?.statusCode ? `HTTP ${e.statusCode} ` : "";
  return `${status}${e?.code ?? ""} ${e?.message ?? String(error)}`.replace(/\s+/g, " ").trim();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
