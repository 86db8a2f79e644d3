// A local stand-in for the Log Analytics query API (POST /v1/workspaces/{id}/query), so
// the real LogsQueryClient can be driven over HTTP, by the tests and by `tokenwatch bench`.
// It answers from rows in the replay row shape (TimeGenerated, optional _TimeReceived as
// arrival): fixture rows added in memory, or a RowProvider (the bench's generated tenant,
// src/bench/live-tenant.ts, which makes each query's rows when asked). It understands
// only what tokenwatch's queries say about scope: the table (first line), the TimeGenerated
// and ingestion_time() bounds and the account list scopeKql() writes, the user-hash
// partition the source adds when it splits, a sharded run's account-hash slice, the shape of the result (the `project`
// list, or the two baseline summaries) and the extends that turn a column to text or empty it
// unless another column `has_any` of a list. The rule's other clauses are not evaluated: the
// rules only narrow in KQL, so returning more rows is allowed. Tests inject faults.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Agent, createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeKqlLiteralList, KQL_LITERAL } from "./kql-literal.js";
import { hasTerms } from "../rules/kql.js";
import { LOG_ANALYTICS_SCHEMAS, type KustoType } from "./kusto-schemas.js";
import { sortableIso, toDateTime, type DateTime } from "../model/time.js";
import { inShard, SHARD_COLUMNS, type Shard, type ShardColumn } from "../model/shard.js";

export type Row = Record<string, unknown>;

export type Fault =
  /** An error status with the API's error body; Retry-After (seconds) when given. */
  | { kind: "status"; status: number; retryAfterSeconds?: number }
  /** Answers only after `ms` (a client with a shorter timeout gives up first). */
  | { kind: "hang"; ms: number }
  /** A 200 whose body has `error` alongside a partial table (half of the rows). */
  | { kind: "partial"; reason: "limit" | "other" };

export interface ParsedQuery {
  table: string;
  shape: "rows" | "sightings" | "earliest";
  time: { from: number; to: number };
  arrived: { from?: number; to: number };
  accounts?: string[];
  partition?: { n: number; k: number };
  /** A sharded run's slice (kql-text.ts), evaluated exactly: hash_xxhash64 as Kusto computes it. */
  shard?: Shard;
  /** The request's timespan (start/end), applied to TimeGenerated as the service does. */
  timespan?: { from: number; to: number };
  /** Projected columns: [output name, source column, or "@arrival" for ingestion_time()]. */
  columns: [string, string][];
  /** Columns the query turns to text (`| extend X = tostring(X)`): datetimes with their seven fraction digits. */
  asText: Set<string>;
  /** Columns the query keeps only where another column `has_any` of some terms, else "" (`| extend X = iff(C has_any (…), X, "")`). */
  keptWhen: Map<string, { column: string; anyOf: string[] }>;
}

export interface RequestRecord {
  at: number;
  status: number;
  query?: ParsedQuery;
  /** Rows in the answer (after truncation). */
  rows: number;
  /** The query text as sent. */
  text?: string;
  /** Request headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  fault?: Fault["kind"];
  /** With a RowProvider: rows the query's declared time range covers (its scan). */
  scanned?: number;
  /** Time the server spent answering, from request to response. */
  ms: number;
}

export interface StoredRow {
  raw: Row;
  time: number;
  arrival: number;
  /** TimeGenerated and arrival to the 100-ns tick, as the service keeps them. */
  exactTime: DateTime;
  exactArrival: DateTime;
}

/** Where the rows come from when they are not added in memory. */
export interface RowProvider {
  /** The rows in the query's scope (see `inScope`), in any order. */
  select(q: ParsedQuery): StoredRow[];
  /** Rows the query's declared TimeGenerated range covers in its table, whatever its other clauses: what the service scans. */
  scanned(q: ParsedQuery): number;
}

interface FaultRule {
  fault: Fault;
  remaining: number;
  match?: (q: ParsedQuery) => boolean;
}

export class LocalQueryApi {
  /** Answers with more rows than this are cut to it, silently (unless `reportTruncation`). */
  rowLimit = Infinity;
  /** Truncation also reports Kusto's E_QUERY_RESULT_SET_TOO_LARGE as a partial error. */
  reportTruncation = false;
  readonly requests: RequestRecord[] = [];
  /** Tables this workspace does not have (no connector sends them): queries on them fail as Kusto's do. */
  readonly missingTables = new Set<string>();
  private readonly tables = new Map<string, StoredRow[]>();
  private readonly faults: FaultRule[] = [];

  private constructor(
    private readonly server: Server,
    readonly workspaceId: string,
    /** The query endpoint including the API version, for the client's `endpoint`. */
    readonly endpoint: string,
    /** An HTTPS agent that trusts the server's self-signed certificate (the SDK sends bearer tokens over TLS only). */
    readonly agent: Agent,
    /** The server's certificate (PEM), for a client in another process to trust. */
    readonly certificate: string,
    private readonly provider?: RowProvider,
  ) {}

  static async start(workspaceId = "00000000-0000-4000-8000-000000000001", provider?: RowProvider): Promise<LocalQueryApi> {
    const { key, cert } = selfSignedLoopbackCertificate();
    let api: LocalQueryApi | undefined;
    const server = createServer({ key, cert }, (req, res) => void api!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    api = new LocalQueryApi(server, workspaceId, `https://127.0.0.1:${port}/v1`, new Agent({ ca: cert, keepAlive: true }), cert, provider);
    return api;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Adds fixture rows; arrival is `_TimeReceived` (never before TimeGenerated), else TimeGenerated. */
  add(table: string, rows: readonly Row[]): void {
    const list = this.tables.get(table) ?? [];
    for (const raw of rows) list.push(storedRow(raw));
    this.tables.set(table, list);
  }

  /** The next `times` matching requests get this fault. */
  inject(fault: Fault, options: { times?: number; match?: (q: ParsedQuery) => boolean } = {}): void {
    this.faults.push({ fault, remaining: options.times ?? 1, match: options.match });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Total rows returned so far (the "rows read" of a run). */
  get rowsServed(): number {
    return this.requests.reduce((n, r) => n + r.rows, 0);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: RequestRecord = { at: Date.now(), status: 200, rows: 0, headers: req.headers, ms: 0 };
    this.requests.push(record);
    const started = performance.now();
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      record.ms = performance.now() - started;
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string, headers?: Record<string, string>) =>
      send(status, { error: { code, message, correlationId: "00000000-0000-0000-0000-000000000000" } }, headers);

    const match = /^\/v1\/workspaces\/([^/]+)\/query$/.exec(req.url ?? "");
    if (req.method !== "POST" || !match) return error(404, "PathNotFoundError", `no route ${req.method} ${req.url}`);
    if (decodeURIComponent(match[1]!) !== this.workspaceId) return error(404, "WorkspaceNotFoundError", `workspace ${match[1]} not found`);
    if (!/^Bearer \S+/.test(req.headers.authorization ?? "")) return error(401, "AuthorizationRequiredError", "Valid authentication was not provided");
    let body: { query?: unknown; timespan?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch {
      return error(400, "BadArgumentError", "The request body is not valid JSON");
    }
    if (typeof body.query !== "string") return error(400, "BadArgumentError", "query is required");
    record.text = body.query;
    let query: ParsedQuery;
    try {
      query = parseQuery(body.query, typeof body.timespan === "string" ? body.timespan : undefined);
    } catch (e) {
      return error(400, "BadArgumentError", `The query could not be understood by the local query API: ${(e as Error).message}`);
    }
    record.query = query;
    if (this.missingTables.has(query.table))
      return send(400, {
        error: {
          code: "BadArgumentError",
          message: "The request had some invalid properties",
          correlationId: "00000000-0000-0000-0000-000000000000",
          innererror: {
            code: "SemanticError",
            message: "A semantic error occurred.",
            innererror: { code: "SEM0100", message: `'where' operator: Failed to resolve table or column expression named '${query.table}'` },
          },
        },
      });

    const rule = this.faults.find((f) => f.remaining > 0 && (!f.match || f.match(query)));
    if (rule) rule.remaining--;
    const fault = rule?.fault;
    record.fault = fault?.kind;
    if (fault?.kind === "status") {
      const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) };
      const code = fault.status === 429 ? "ThrottledError" : fault.status >= 500 ? "ServiceError" : "BadArgumentError";
      return error(fault.status, code, `injected ${fault.status}`, headers);
    }
    if (fault?.kind === "hang") await new Promise((resolve) => setTimeout(resolve, fault.ms));

    if (this.provider) record.scanned = this.provider.scanned(query);
    const table = this.answer(query);
    const limited = table.rows.length > this.rowLimit;
    if (limited) table.rows = table.rows.slice(0, this.rowLimit);
    if (fault?.kind === "partial") table.rows = table.rows.slice(0, Math.floor(table.rows.length / 2));
    record.rows = table.rows.length;
    const partialError =
      fault?.kind === "partial"
        ? fault.reason === "limit"
          ? truncationError()
          : { code: "PartialError", message: "There were some errors when processing your query.", details: [{ code: "EngineError", message: "Shard unavailable" }] }
        : limited && this.reportTruncation
          ? truncationError()
          : undefined;
    send(200, { tables: [table], ...(partialError ? { error: partialError } : {}) });
  }

  private answer(q: ParsedQuery): { name: string; columns: { name: string; type: KustoType }[]; rows: unknown[][] } {
    const selected = this.select(q);
    if (q.shape === "earliest") {
      const min = selected.reduce<DateTime | null>((m, r) => (m === null || r.exactTime < m ? r.exactTime : m), null);
      return { name: "PrimaryResult", columns: [{ name: "earliest", type: typeOf(q, "earliest", "datetime") }], rows: [[min === null ? null : sortableIso(min)]] };
    }
    if (q.shape === "sightings") {
      const latest = new Map<string, [string, string, string, DateTime]>();
      for (const r of selected) {
        const upn = String(r.raw.UserPrincipalName ?? "");
        if (upn === "") continue;
        const tuple: [string, string, string, DateTime] = [upn.toLowerCase(), String(r.raw.IPAddress ?? ""), String(r.raw.AutonomousSystemNumber ?? ""), r.exactTime];
        const key = tuple.slice(0, 3).join("\u0000");
        const seen = latest.get(key);
        if (!seen || seen[3] < r.exactTime) latest.set(key, tuple);
      }
      return {
        name: "PrimaryResult",
        columns: [
          { name: "account", type: "string" },
          { name: "ip", type: "string" },
          { name: "asn", type: "string" },
          { name: "lastSeen", type: typeOf(q, "lastSeen", "datetime") },
        ],
        rows: [...latest.values()].map(([a, ip, asn, t]) => [a, ip, asn, sortableIso(t)]),
      };
    }
    const schema = (LOG_ANALYTICS_SCHEMAS as Record<string, Record<string, KustoType>>)[q.table] ?? {};
    const columns = q.columns.map(([name, source]) => ({ name, type: typeOf(q, name, source === "@arrival" ? "datetime" : (schema[source] ?? "string")) }));
    const kept = q.columns.map(([name]) => {
      const when = q.keptWhen.get(name);
      if (!when) return undefined;
      const has = hasTerms(when.anyOf);
      return (raw: Row) => has(String(raw[when.column] ?? ""));
    });
    const rows = selected.map((r) =>
      q.columns.map(([name, source], i) => {
        if (source === "@arrival") return sortableIso(r.exactArrival);
        if (kept[i] && !kept[i](r.raw)) return "";
        return wire(r.raw[source], schema[source] ?? "string");
      }),
    );
    return { name: "PrimaryResult", columns, rows };
  }

  private select(q: ParsedQuery): StoredRow[] {
    const rows = this.provider ? this.provider.select(q) : (this.tables.get(q.table) ?? []).filter((r) => inScope(r, q));
    return rows.sort((a, b) => a.arrival - b.arrival || a.time - b.time);
  }
}

/** Whether a row of the query's table is in its scope: TimeGenerated, timespan, arrival, accounts and user-hash partition. */
export function inScope(r: StoredRow, q: ParsedQuery): boolean {
  if (r.time < q.time.from || r.time >= q.time.to) return false;
  if (q.timespan && (r.time < q.timespan.from || r.time > q.timespan.to)) return false;
  if (q.arrived.from !== undefined && r.arrival < q.arrived.from) return false;
  if (r.arrival >= q.arrived.to) return false;
  if (q.shard && !inShard(r.raw, q.shard)) return false;
  if (!q.accounts && !q.partition) return true;
  const upn = String(r.raw.UserPrincipalName ?? "").toLowerCase();
  if (q.accounts && !q.accounts.includes(upn)) return false;
  if (q.partition) {
    const { n, k } = q.partition;
    if ((((kustoLikeHash(upn) % n) + n) % n) !== k) return false;
  }
  return true;
}

/** The declared TimeGenerated range of a query: its scope clause intersected with the request's timespan. */
export function declaredRange(q: ParsedQuery): { from: number; to: number } {
  return q.timespan ? { from: Math.max(q.time.from, q.timespan.from), to: Math.min(q.time.to, q.timespan.to + 1) } : q.time;
}

/** A row in the replay shape as the service keeps it: arrival is `_TimeReceived` (never before TimeGenerated), else TimeGenerated. */
export function storedRow(raw: Row): StoredRow {
  const time = Date.parse(String(raw.TimeGenerated));
  const received = raw._TimeReceived === undefined ? time : Date.parse(String(raw._TimeReceived));
  const exactTime = toDateTime(raw.TimeGenerated) ?? 0n;
  const exactReceived = raw._TimeReceived === undefined ? exactTime : (toDateTime(raw._TimeReceived) ?? exactTime);
  return { raw, time, arrival: Math.max(time, received), exactTime, exactArrival: exactReceived > exactTime ? exactReceived : exactTime };
}

/** Kusto's answer when a result passes the record limit (as a partial error). */
function truncationError() {
  return {
    code: "PartialError",
    message: "There were some errors when processing your query.",
    details: [
      {
        code: "EngineError",
        message: "Something went wrong processing your query on the server.",
        innererror: {
          code: "-2133196797",
          message: "Query result set has exceeded the internal record count limit 500000 (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)",
          severity: 2,
          severityName: "Error",
        },
      },
    ],
  };
}

/** A signed 32-bit FNV-1a: negative values too, as KQL's hash() may return. */
function kustoLikeHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** A column's type in the answer: text when the query applied tostring() to it. */
const typeOf = (q: ParsedQuery, name: string, type: KustoType): KustoType => (q.asText.has(name) ? "string" : type);

/** A value as the query API writes it: datetimes as ISO text with seven fraction digits (tostring() writes the same), dynamic as JSON text. */
function wire(value: unknown, type: KustoType): unknown {
  if (value === undefined || value === null) return type === "string" ? "" : null;
  if (type === "dynamic") return typeof value === "string" ? value : JSON.stringify(value);
  if (type === "datetime") {
    const t = toDateTime(value);
    return t === null ? null : sortableIso(t);
  }
  if (type === "string") return typeof value === "object" ? JSON.stringify(value) : String(value);
  return value;
}

const DT = String.raw`datetime\(([^)]+)\)`;

/** The scope clauses scopeKql() writes, the source's partition clause, and the result shape. */
/** shardKql()'s clause, on any of the columns a slice can be taken by. */
const SHARD_CLAUSE = new RegExp(`^\\| where \\(hash_xxhash64\\(tolower\\((${SHARD_COLUMNS.join("|")})\\)\\) % (\\d+) \\+ (\\d+)\\) % (\\d+) == (\\d+)$`);

export function parseQuery(text: string, timespan?: string): ParsedQuery {
  const lines = text.split("\n");
  const table = lines[0]!.trim();
  if (!/^[A-Za-z_]+$/.test(table)) throw new Error(`first line is not a table: ${table}`);
  const time = new RegExp(String.raw`^\| where TimeGenerated >= ${DT} and TimeGenerated < ${DT}$`).exec(lines[1] ?? "");
  if (!time) throw new Error("no TimeGenerated scope on line 2");
  const arrivedBoth = new RegExp(String.raw`^\| where ingestion_time\(\) >= ${DT} and ingestion_time\(\) < ${DT}$`).exec(lines[2] ?? "");
  const arrivedTo = new RegExp(String.raw`^\| where ingestion_time\(\) < ${DT}$`).exec(lines[2] ?? "");
  if (!arrivedBoth && !arrivedTo) throw new Error("no ingestion_time() scope on line 3");
  const q: ParsedQuery = {
    table,
    shape: "rows",
    time: { from: Date.parse(time[1]!), to: Date.parse(time[2]!) },
    arrived: arrivedBoth ? { from: Date.parse(arrivedBoth[1]!), to: Date.parse(arrivedBoth[2]!) } : { to: Date.parse(arrivedTo![1]!) },
    columns: [],
    asText: new Set(),
    keptWhen: new Map(),
  };
  for (const line of lines.slice(3)) {
    const accounts = /^\| where tolower\(UserPrincipalName\) in \((.*)\)$/.exec(line);
    if (accounts) q.accounts = decodeKqlLiteralList(accounts[1]!);
    const partition = /^\| where \(hash\(tolower\(UserPrincipalName\)\) % (\d+) \+ (\d+)\) % (\d+) == (\d+)$/.exec(line);
    if (partition) q.partition = { n: Number(partition[1]), k: Number(partition[4]) };
    const shard = SHARD_CLAUSE.exec(line);
    if (shard) {
      if (shard[2] !== shard[3] || shard[2] !== shard[4]) throw new Error(`unsupported shard clause ${line}`);
      q.shard = { count: Number(shard[2]), index: Number(shard[5]), column: shard[1] as ShardColumn };
    }
    const sightings = /^\| summarize lastSeen = (tostring\()?max\(TimeGenerated\)\)? by account = tolower\(UserPrincipalName\)/.exec(line);
    if (sightings) q.shape = "sightings";
    if (sightings?.[1]) q.asText.add("lastSeen");
    const earliest = /^\| summarize earliest = (tostring\()?min\(TimeGenerated\)\)?$/.exec(line);
    if (earliest) q.shape = "earliest";
    if (earliest?.[1]) q.asText.add("earliest");
    if (line.startsWith("| extend ")) parseExtend(line.slice("| extend ".length), q);
    if (line.startsWith("| project ")) {
      q.columns = line
        .slice("| project ".length)
        .split(",")
        .map((c) => c.trim())
        .map((c): [string, string] => {
          const assign = /^(\w+) = (.+)$/.exec(c);
          if (!assign) return [c, c];
          if (assign[2] !== "ingestion_time()") throw new Error(`unsupported projection ${c}`);
          return [assign[1]!, "@arrival"];
        });
    }
  }
  if (q.shape === "rows" && q.columns.length === 0) throw new Error("a row query without `| project`");
  if (timespan) {
    const [start, end] = timespan.split("/");
    const from = Date.parse(start ?? "");
    const to = Date.parse(end ?? "");
    if (!Number.isFinite(from) || !Number.isFinite(to)) throw new Error(`timespan ${timespan} is not start/end`);
    q.timespan = { from, to };
  }
  return q;
}

/** One `X = tostring(X)` or `X = iff(C has_any (literals), X, "")` of an extend, and the comma after it. */
const EXTEND_ASSIGNMENT = new RegExp(
  String.raw`\s*(\w+) = (?:tostring\((\w+)\)|iff\((\w+) has_any \(((?:\s*(?:${KQL_LITERAL.source})\s*,?)*)\), (\w+), ""\))\s*(?:,|$)`,
  "y",
);

function parseExtend(clause: string, q: ParsedQuery): void {
  EXTEND_ASSIGNMENT.lastIndex = 0;
  while (EXTEND_ASSIGNMENT.lastIndex < clause.length) {
    const at = EXTEND_ASSIGNMENT.lastIndex;
    const m = EXTEND_ASSIGNMENT.exec(clause);
    if (!m || (m[2] ?? m[5]) !== m[1]) throw new Error(`unsupported extend ${clause.slice(at)}`);
    if (m[2]) q.asText.add(m[1]!);
    else q.keptWhen.set(m[1]!, { column: m[3]!, anyOf: decodeKqlLiteralList(m[4]!) });
  }
}

/** A throw-away key and certificate for 127.0.0.1, made with the openssl CLI for this process only. */
function selfSignedLoopbackCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "tokenwatch-fake-la-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** A credential for the local API: the real client insists on a bearer token; the server only checks one is sent. */
export const staticCredential = {
  getToken: async () => ({ token: "test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};
