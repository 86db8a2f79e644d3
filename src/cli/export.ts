// `tokenwatch export --workspace ID --from ISO --to ISO --out DIR`: a Log Analytics workspace's
// tables in the replay layout (docs/replay-format.md), so real data can be replayed with
// `detect --logs`. Each table is queried a day at a time, projecting only the columns the
// rules read plus `_TimeReceived = ingestion_time()`; the source splits any answer that
// reaches the service's row or size limit, so no query is truncated.
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { z } from "zod";
import { ARRIVAL } from "../rules/kql-text.js";
import { type QuerySpec, scopeKql } from "../model/query.js";
import type { LogAnalyticsSource } from "../sources/log-analytics.js";
import { TABLE_COLUMNS, TableMissing, type TableName, TABLES } from "../model/rows.js";
import { requireTime, UsageError } from "./usage.js";

const DAY = 86_400_000;
/** The longest range one export covers: the Intune baseline's 14 days plus a month to replay. */
const MAX_EXPORT_DAYS = 45;

export interface ExportArgs {
  workspace: string;
  from: number;
  to: number;
  out: string;
}

export interface ExportSummary {
  /** Rows written per table; null when the workspace has no such table (no file written). */
  tables: Record<TableName, number | null>;
  queries: number;
}

const Workspace = z.guid();

export function parseExportArgs(values: Record<string, string | boolean | undefined>): ExportArgs {
  const workspace = typeof values.workspace === "string" ? values.workspace : "";
  if (!workspace) throw new UsageError("--workspace is required (the workspace id, a GUID)");
  if (!Workspace.safeParse(workspace).success) throw new UsageError(`--workspace ${workspace}: not a workspace id (a GUID: the workspace's customerId)`);
  const from = requireTime(values, "from");
  const to = requireTime(values, "to");
  if (from >= to) throw new UsageError("--from must be before --to");
  if (to - from > MAX_EXPORT_DAYS * DAY) throw new UsageError(`--from .. --to spans more than ${MAX_EXPORT_DAYS} days: export in several folders`);
  if (typeof values.out !== "string" || values.out === "") throw new UsageError("--out DIR is required");
  return { workspace, from, to, out: values.out };
}

/** The export query of one table over a spec: its scope, then only the columns the rules read. */
export function exportKql(spec: QuerySpec): string {
  return `${scopeKql(spec)}\n| project ${[...TABLE_COLUMNS[spec.table], ARRIVAL].join(", ")}`;
}

export async function exportLogs(source: LogAnalyticsSource, args: ExportArgs, log: (line: string) => void, now = Date.now()): Promise<ExportSummary> {
  await mkdir(args.out, { recursive: true });
  const summary: ExportSummary = { tables: {} as ExportSummary["tables"], queries: 0 };
  for (const table of TABLES) {
    const path = join(args.out, `${table}.ndjson`);
    const file = createWriteStream(path);
    let rows = 0;
    try {
      for (let day = args.from; day < args.to; day += DAY) {
        // Every row that happened in the day, whenever it arrived (up to now).
        const spec: QuerySpec = { table, time: { from: day, to: Math.min(day + DAY, args.to) }, arrived: { to: now } };
        const found = await source.rawRows(spec, exportKql(spec), `export/${table}`);
        summary.queries++;
        found.sort((a, b) => String(a.TimeGenerated).localeCompare(String(b.TimeGenerated)));
        for (const row of found) if (!file.write(`${JSON.stringify(row)}\n`)) await once(file, "drain");
        rows += found.length;
      }
      file.end();
      await once(file, "finish");
      summary.tables[table] = rows;
      log(`${table}: ${rows} rows`);
    } catch (error) {
      file.destroy();
      await rm(path, { force: true });
      if (!(error instanceof TableMissing)) throw error;
      summary.tables[table] = null;
      log(`warning: ${table} does not exist in the workspace (its data connector is not connected): no ${table}.ndjson written`);
    }
  }
  return summary;
}
