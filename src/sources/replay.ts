// Replay: the LogSource over NDJSON files in the layout of a Log Analytics data export,
// one file per table (<Table>.ndjson or .jsonl). Rows are validated once on load; each
// query is then a binary search on arrival time plus the spec's other bounds.
import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { toMs, type DateTime } from "../rules/kql.js";
import { inRange, ticksAt, type QuerySpec, type TimeRange } from "../rules/rule.js";
import { TABLES, mergeSightings, parseRow, rowSchemas, type AnyRow, type Rejection, type RowOf, type SignInRow, type SignInSighting, type TableName } from "./rows.js";
import type { Fetched, LogSource } from "./source.js";

export interface ReplayLoad {
  rowsRead: number;
  rejected: Rejection[];
  /** Files in the directory that name no table tokenwatch reads. */
  unknownFiles: string[];
}

const EXTENSIONS = [".ndjson", ".jsonl"];

export class ReplaySource implements LogSource {
  /** Per table, rows sorted by arrival. */
  private readonly tables = new Map<TableName, AnyRow[]>();

  private constructor(readonly load: ReplayLoad) {}

  static async open(dir: string, onReject?: (r: Rejection) => void): Promise<ReplaySource> {
    const names = await readdir(dir); // throws ENOENT/ENOTDIR: the caller reports it
    const source = new ReplaySource({ rowsRead: 0, rejected: [], unknownFiles: [] });
    const reject = (r: Rejection) => {
      source.load.rejected.push(r);
      onReject?.(r);
    };
    for (const name of names.sort()) {
      const ext = EXTENSIONS.find((e) => name.endsWith(e));
      if (!ext) continue;
      const table = name.slice(0, -ext.length);
      const known = (TABLES as readonly string[]).includes(table);
      if (!known) source.load.unknownFiles.push(name);
      const rows: AnyRow[] = source.tables.get(table as TableName) ?? [];
      await readLines(join(dir, name), (line, lineNo) => {
        source.load.rowsRead++;
        const origin = `${name}:${lineNo}`;
        if (!known) return reject({ origin, reason: `unknown table ${table}` });
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch {
          return reject({ origin, reason: "line is not valid JSON" });
        }
        const parsed = parseRow(rowSchemas[table as TableName], raw);
        if (parsed.ok) rows.push(parsed.row);
        else reject({ origin, reason: parsed.reason });
      });
      if (known) source.tables.set(table as TableName, rows);
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
    for (const rows of this.tables.values())
      for (const row of rows) {
        if (!inRange(row.TimeGenerated, range)) continue;
        const windowStart = Math.floor(toMs(row.arrival) / frequency) * frequency;
        if (row.TimeGenerated < ticksAt(windowStart - maxLatenessMs)) out.push(row);
      }
    return out;
  }

  /** The latest arrival (epoch ms, rounded down) among the rows of `range` that some window will look for: replay's last window. */
  lastArrivalOf(range: TimeRange, frequency: number, maxLatenessMs: number): number | null {
    const missed = new Set(this.tooLate(range, frequency, maxLatenessMs));
    let last: DateTime | null = null;
    for (const rows of this.tables.values())
      for (const row of rows) if (row.TimeGenerated < ticksAt(range.to) && !missed.has(row) && (last === null || row.arrival > last)) last = row.arrival;
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
      out.push(row);
    }
    return out;
  }
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
