// The measured hour of `tokenwatch bench`, in its own process: every rule's steady-state
// window against Table Storage (TOKENWATCH_STORAGE_CONNECTION_STRING), over a replay slice.
// Prints one JSON HourResult on stdout.
import { runRule } from "../engine/run.js";
import { rules } from "../rules/index.js";
import type { QuerySpec } from "../model/query.js";
import { ReplaySource } from "../sources/replay.js";
import type { SignInRow, TableName } from "../model/rows.js";
import type { LogSource } from "../engine/ports.js";
import { createStores } from "../store/index.js";
import { TableStore } from "../store/tables.js";

export interface HourResult {
  /** Rows the hour's queries select (their time/arrival/account scope), before narrowing filters. */
  rowsScanned: number;
  requests: number;
  activeUsers: number;
  seconds: number;
  peakRssMB: number;
  alerts: number;
}

const HOUR = 3_600_000;

async function main(sliceDir: string, hourEnd: number): Promise<HourResult> {
  const replay = await ReplaySource.open(sliceDir);
  const connectionString = process.env.TOKENWATCH_STORAGE_CONNECTION_STRING;
  if (!connectionString) throw new Error("TOKENWATCH_STORAGE_CONNECTION_STRING is required");
  const store = new TableStore({ connectionString });
  let rowsScanned = 0;
  // Counts what each query would read in Log Analytics, then answers from the replay.
  const counted: LogSource = {
    rows: (spec, kql) => ((rowsScanned += replay.scanned(spec)), replay.rows(spec)),
    sightings: (spec, kql) => ((rowsScanned += replay.scanned(spec)), replay.sightings(spec)),
    earliest: (spec, kql) => ((rowsScanned += replay.scanned(spec)), replay.earliest(spec)),
  };
  const window = { start: hourEnd - HOUR, end: hourEnd };
  const active = new Set<string>();
  for (const table of ["SigninLogs", "AADNonInteractiveUserSignInLogs"] as TableName[]) {
    const spec: QuerySpec = { table, arrived: { from: window.start, to: window.end }, time: { from: 0, to: window.end } };
    for (const row of (await replay.rows(spec)).rows as SignInRow[]) active.add(row.UserPrincipalName.toLowerCase());
  }
  const stores = createStores(store);
  const t0 = performance.now();
  let alerts = 0;
  for (const rule of rules) {
    const reports = await runRule(rule, { source: counted, stores, now: Date.now }, { startAt: window.start, until: hourEnd });
    alerts += reports.reduce((n, r) => n + r.alerts.length, 0);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { rowsScanned, requests: store.requests, activeUsers: active.size, seconds, peakRssMB: process.resourceUsage().maxRSS / 1024, alerts };
}

const [sliceDir, hourEnd] = process.argv.slice(2);
main(sliceDir!, Number(hourEnd)).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error: unknown) => {
    process.stderr.write(`bench hour failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
