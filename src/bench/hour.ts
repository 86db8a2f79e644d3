// One invocation of the measured hour of `tokenwatch bench`, in its own process so that its
// memory and CPU are its own, on the production path: the real LogsQueryClient against the
// local query API (rows validated as they arrive), the stores on Table Storage (Azurite,
// through the bench's counting proxy) and the shard queue on Azurite's queue service. A
// "timer" invocation runs the rules' timers for one steady-state window (a per-account rule
// whose previous window read more than TOKENWATCH_SHARD_ROWS sends its window out as shards);
// a "shard" invocation is the queue trigger with one delivery of one shard message. Prints
// one JSON HourResult on stdout.
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { runScheduled } from "../engine/scheduled.js";
import { runShard, SHARD_QUEUE } from "../engine/shards.js";
import { ruleById, rules } from "../rules/index.js";
import { createLogsQueryClient, LogAnalyticsSource } from "../sources/log-analytics.js";
import { createStores } from "../store/index.js";
import { StorageQueue } from "../store/queue.js";
import { ShardRepository } from "../store/shards.js";
import { TableStore } from "../store/tables.js";
import { hourArgsSchema, type HourArgs, type HourResult } from "./hour-protocol.js";
import { staticCredential } from "./query-api.js";
import { incidentPlanner } from "../engine/planner.js";
import type { Alert } from "../model/incident.js";

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
  const store = new TableStore({ connectionString: args.connectionString });
  const stores = createStores(store, incidentPlanner);
  let baselineCandidates = 0;
  const baselines: typeof stores.baselines = Object.create(stores.baselines);
  baselines.load = (accounts, since) => {
    const list = [...new Set(accounts)];
    baselineCandidates += list.length;
    return stores.baselines.load(list, since);
  };
  // As createApp builds them: the shard queue and the Shards table beside the stores.
  const sharding = { queue: new StorageQueue({ connectionString: args.connectionString, queueName: SHARD_QUEUE }), shards: new ShardRepository(store), rowsPerShard: args.rowsPerShard };
  const deps = { source, stores: { ...stores, baselines }, now: () => args.hourEnd + args.delayMs, ingestionDelayMs: args.delayMs, maxWindows: 1, sharding };
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const alerts: Alert[] = [];
  const done: string[] = [];
  const { invocation } = args;
  if (invocation.kind === "timer") {
    for (const rule of rules.filter((r) => invocation.ruleIds.includes(r.meta.id))) {
      const outcome = await runScheduled(rule.meta.id, deps);
      if (outcome.status === "ok") {
        // A rule that shares its reads ran in an earlier rule's timer: its own finds nothing due.
        if (outcome.reports.length > 1) throw new Error(`rule ${rule.meta.name} ran ${outcome.reports.length} windows, not the one measured`);
        alerts.push(...outcome.reports.flatMap((r) => r.alerts));
        done.push(`${rule.meta.name}: ${outcome.reports.length === 1 ? "its window" : "ran in its read group's first timer"}`);
      } else if (outcome.status === "sharded") done.push(`${rule.meta.name}: ${outcome.step.shards.length} shards`);
      else throw new Error(`rule ${rule.meta.name} did not run: ${JSON.stringify(outcome)}`);
    }
  } else {
    const outcome = await runShard(invocation.message, invocation.dequeueCount, deps);
    if (outcome.status !== "committed") throw new Error(`the shard did not commit: ${JSON.stringify(outcome)}`);
    for (const report of outcome.reports) {
      alerts.push(...report.alerts);
      done.push(`${ruleById(report.ruleId)?.meta.name ?? report.ruleId}: ${report.rowsFetched} rows, ${report.alerts.length} alerts`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakRssMB: peakRssMB(),
    rowsTransferred,
    queries,
    splitQueries,
    baselineCandidates,
    alerts: alerts.length,
    alertedAccounts: [...new Set(alerts.map((a) => a.account))],
    summary: done.join("; "),
  };
}

/**
 * This process's peak resident memory in MB. On Linux, the high-water mark of its own address
 * space (VmHWM): getrusage's maxRSS is preserved across execve (getrusage(2)), and a child
 * spawned by the bench's parent, which holds gigabytes at L after the walk, started with a
 * maxRSS of 306-328 MB while its own peak was 90 MB before any work.
 */
function peakRssMB(): number {
  const status = process.platform === "linux" ? readFileSync("/proc/self/status", "utf8") : "";
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

main(hourArgsSchema.parse(JSON.parse(process.argv[2] ?? "null"))).then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error: unknown) => {
    process.stderr.write(`bench invocation failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
