// Replay: the LogSource over NDJSON files in the layout of a Log Analytics data export,
// one file per table (<Table>.ndjson or .jsonl). Rows are validated once on load; each
// query is then a binary search on arrival time plus the spec's other bounds.
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { alignDown, type DateTime, inRange, ticksAt, type TimeRange, toMs } from "../model/time.js";
import { type QuerySpec } from "../model/query.js";
import { inShard } from "../model/shard.js";
import { type AnyRow, type Fetched, mergeSightings, parseRow, type Rejection, type RowOf, rowSchemas, type SignInRow, SIMULATION_MANIFEST, type SignInSighting, type TableName, TABLES } from "../model/rows.js";

export interface ReplayLoad {
  rowsRead: number;
  rejected: Rejection[];
  /** Files in the directory that name no table tokenwatch reads. */
  unknownFiles: string[];
  /** Per file read, the table it fed (null: unknown) and its rows read and rejected. */
  files: { name: string; table: TableName | null; rows: number; rejected: number }[];
  /** Every entry of the directory not read, whatever its kind, with why and what was likely meant. */
  unread: { name: string; reason: string; companion?: boolean }[];
}

const EXTENSIONS = [".ndjson", ".jsonl"];

/** The table a file stem names, compared case-insensitively (exports and copies change case). */
function tableNamed(stem: string): TableName | undefined {
  return TABLES.find((t) => t.toLowerCase() === stem.toLowerCase());
}

/** Why an entry of the logs directory is not read, and the name it likely meant. */
function unreadReason(dir: string, name: string, isDirectory: boolean, inside: readonly string[]): string {
  if (isDirectory) {
    const tables = inside.filter((n) => EXTENSIONS.some((e) => n.toLowerCase().endsWith(e)) && tableNamed(n.slice(0, n.lastIndexOf("."))));
    return tables.length > 0
      ? `a folder holding ${tables.join(", ")}; only files directly in the logs folder are read: did you mean --logs ${join(dir, name)}?`
      : "a folder; only files directly in the logs folder are read";
  }
  const dot = name.indexOf(".");
  const table = tableNamed(dot === -1 ? name : name.slice(0, dot));
  return table
    ? `not a table file (tables are read from <Table>.ndjson or .jsonl): did you mean ${table}.ndjson?`
    : `not a table file (tokenwatch reads ${TABLES.map((t) => `${t}.ndjson`).join(", ")})`;
}

export class ReplaySource {
  /** Per table, rows sorted by arrival. */
  private readonly tables = new Map<TableName, AnyRow[]>();

  private constructor(readonly load: ReplayLoad) {}

  static async open(dir: string, onReject?: (r: Rejection) => void): Promise<ReplaySource> {
    const entries = await readdir(dir, { withFileTypes: true }); // throws ENOENT/ENOTDIR: the caller reports it
    const source = new ReplaySource({ rowsRead: 0, rejected: [], unknownFiles: [], files: [], unread: [] });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const name = entry.name;
      const ext = entry.isFile() ? EXTENSIONS.find((e) => name.toLowerCase().endsWith(e)) : undefined;
      if (!ext) {
        const inside = entry.isDirectory() ? await readdir(join(dir, name)).catch(() => []) : [];
        if (name === SIMULATION_MANIFEST && entry.isFile()) source.load.unread.push({ name, reason: "tokenwatch simulate's description of the tenant, not a log", companion: true });
        else source.load.unread.push({ name: entry.isDirectory() ? `${name}/` : name, reason: unreadReason(dir, name, entry.isDirectory(), inside) });
        continue;
      }
      const stem = name.slice(0, -ext.length);
      const table = tableNamed(stem) ?? null;
      if (!table) source.load.unknownFiles.push(name);
      const file = { name, table, rows: 0, rejected: 0 };
      source.load.files.push(file);
      const reject = (r: Rejection) => {
        file.rejected++;
        source.load.rejected.push(r);
        onReject?.(r);
      };
      const rows: AnyRow[] = (table && source.tables.get(table)) || [];
      await readLines(join(dir, name), (line, lineNo) => {
        source.load.rowsRead++;
        file.rows++;
        const origin = `${name}:${lineNo}`;
        if (!table) return reject({ origin, reason: `unknown table ${stem}` });
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch {
          return reject({ origin, reason: "line is not valid JSON" });
        }
        const parsed = parseRow(rowSchemas[table], raw);
        if (parsed.ok) rows.push(parsed.row);
        else reject({ origin, reason: parsed.reason });
      });
      if (table) source.tables.set(table, rows);
    }
    for (const rows of source.tables.values()) rows.sort((a, b) => (a.arrival < b.arrival ? -1 : a.arrival > b.arrival ? 1 : 0));
    return source;
  }

  /**
   * Rows of `range` (TimeGenerated) that no window of `frequency` looks for, because they
   * arrived more than `maxLatenessMs` after their event (measured from the start of the window
   * they arrived in, as the windows' queries bound TimeGenerated). Production never queries them
   * either; replay counts them so that they are reported, not silently missed.
   */
  tooLate(range: TimeRange, frequency: number, maxLatenessMs: number): AnyRow[] {
    const out: AnyRow[] = [];
    for (const rows of this.tables.values()) for (const row of rows) if (inRange(row.TimeGenerated, range) && unreachable(row, frequency, maxLatenessMs)) out.push(row);
    return out;
  }

  /** The latest arrival (epoch ms, rounded down) among the rows of `range` that some window will look for: replay's last window. */
  lastArrivalOf(range: TimeRange, frequency: number, maxLatenessMs: number): number | null {
    let last: DateTime | null = null;
    for (const rows of this.tables.values())
      for (const row of rows) {
        if (!(row.TimeGenerated < ticksAt(range.to)) || (last !== null && row.arrival <= last)) continue;
        if (inRange(row.TimeGenerated, range) && unreachable(row, frequency, maxLatenessMs)) continue;
        last = row.arrival;
      }
    return last === null ? null : toMs(last);
  }

  /** How many rows a spec's scope selects before any filter: what a query would scan. */
  scanned(spec: QuerySpec): number {
    return this.select(spec).length;
  }

  async rows<T extends TableName>(spec: QuerySpec<T>): Promise<Fetched<RowOf<T>>> {
    return { rows: this.select(spec) as RowOf<T>[], rejected: [] };
  }

  async sightings(spec: QuerySpec): Promise<Fetched<SignInSighting>> {
    // | summarize lastSeen = max(TimeGenerated) by account = tolower(UserPrincipalName), ip = IPAddress, asn = ...
    const latest = new Map<string, SignInSighting>();
    mergeSightings(
      latest,
      (this.select(spec) as SignInRow[])
        .filter((row) => row.UserPrincipalName)
        .map((row) => ({ account: row.UserPrincipalName.toLowerCase(), ip: row.IPAddress, asn: row.AutonomousSystemNumber, lastSeen: row.TimeGenerated })),
    );
    return { rows: [...latest.values()], rejected: [] };
  }

  async earliest(spec: QuerySpec): Promise<DateTime | null> {
    let min: DateTime | null = null;
    for (const row of this.select(spec)) if (min === null || row.TimeGenerated < min) min = row.TimeGenerated;
    return min;
  }

  private select(spec: QuerySpec): AnyRow[] {
    const rows = this.tables.get(spec.table) ?? [];
    const accounts = spec.accounts && new Set(spec.accounts);
    if (accounts && accounts.size === 0) return [];
    // Rows arrive at or after their TimeGenerated, so the time bound also bounds arrival.
    const from = lowerBound(rows, Math.max(spec.arrived.from ?? -Infinity, spec.time.from));
    const to = lowerBound(rows, spec.arrived.to);
    const out: AnyRow[] = [];
    for (let i = from; i < to; i++) {
      const row = rows[i]!;
      if (!inRange(row.TimeGenerated, spec.time)) continue;
      if (accounts && !accounts.has(((row as SignInRow).UserPrincipalName ?? "").toLowerCase())) continue;
      if (spec.shard && !inShard(row, spec.shard)) continue;
      out.push(row);
    }
    return out;
  }
}

/** Whether a row's event is older than the look-back of the window it arrived in (windows of `frequency`). */
function unreachable(row: AnyRow, frequency: number, maxLatenessMs: number): boolean {
  const windowStart = alignDown(toMs(row.arrival), frequency);
  return row.TimeGenerated < ticksAt(windowStart - maxLatenessMs);
}

/** First index whose arrival is at or after the epoch millisecond `ms`. */
function lowerBound(rows: readonly AnyRow[], ms: number): number {
  const t = ticksAt(ms);
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.arrival < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function readLines(path: string, onLine: (line: string, lineNo: number) => void): Promise<void> {
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const raw of lines) {
    lineNo++;
    // A UTF-8 byte order mark (Windows tools write one) is not part of the first row.
    const line = lineNo === 1 && raw.startsWith("\uFEFF") ? raw.slice(1) : raw;
    if (line.trim() !== "") onLine(line, lineNo);
  }
}
