// The measured hour of `tokenwatch bench`, in its own process so that its memory and CPU
// are its own: every rule's timer run for one steady-state window on the production path,
// the real LogsQueryClient against the local query API (rows validated as they arrive)
// and the stores on Table Storage (Azurite, through the bench's counting proxy). Prints
// one JSON HourResult on stdout.
import { Agent } from "node:https";
import { runScheduled } from "../engine/scheduled.js";
import { rules } from "../rules/index.js";
import { createLogsQueryClient, LogAnalyticsSource } from "../sources/log-analytics.js";
import { createStores } from "../store/index.js";
import { TableStore } from "../store/tables.js";
import { hourArgsSchema, type HourArgs, type HourResult } from "./hour-protocol.js";
import { staticCredential } from "./query-api.js";
import { incidentPlanner } from "../engine/planner.js";

async function main(args: HourArgs): Promise<HourResult> {
  const client = createLogsQueryClient(staticCredential, { endpoint: args.endpoint, agent: new Agent({ ca: args.certificate, keepAlive: true }) });
  let rowsTransferred = 0;
  let queries = 0;
  let splitQueries = 0;
  const source = new LogAnalyticsSource(client, {
    workspaceId: args.workspaceId,
    onQuery: (event) => {
      queries++;
      rowsTransferred += event.rows;
      if (event.outcome !== "complete") splitQueries++;
    },
  });
  const stores = createStores(new TableStore({ connectionString: args.connectionString }), incidentPlanner);
  let baselineCandidates = 0;
  const baselines: typeof stores.baselines = Object.create(stores.baselines);
  baselines.load = (accounts, since) => {
    const list = [...new Set(accounts)];
    baselineCandidates += list.length;
    return stores.baselines.load(list, since);
  };
  const deps = { source, stores: { ...stores, baselines }, now: () => args.hourEnd + args.delayMs, ingestionDelayMs: args.delayMs, maxWindows: 1 };
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  let alerts = 0;
  const accounts = new Set<string>();
  for (const rule of rules.filter((r) => args.ruleIds.includes(r.meta.id))) {
    const outcome = await runScheduled(rule.meta.id, deps);
    if (outcome.status !== "ok") throw new Error(`rule ${rule.meta.name} did not run: ${JSON.stringify(outcome)}`);
    if (outcome.reports.length !== 1) throw new Error(`rule ${rule.meta.name} ran ${outcome.reports.length} windows, not the one measured`);
    for (const alert of outcome.reports.flatMap((r) => r.alerts)) {
      alerts++;
      accounts.add(alert.account);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    rowsTransferred,
    queries,
    splitQueries,
    baselineCandidates,
    alerts,
    alertedAccounts: accounts.size,
  };
}

main(hourArgsSchema.parse(JSON.parse(process.argv[2] ?? "null"))).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error: unknown) => {
    process.stderr.write(`bench hour failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
