// `tokenwatch backfill --rule ID --from ISO --to ISO [--logs DIR]`: re-evaluate one rule over
// a past range with the engine's backfill (the same call the API makes). The live checkpoint
// does not move and alerts already raised are not raised again (deterministic alert ids).
// The logs are the configured Log Analytics workspace, or replay files with --logs.
import { stat } from "node:fs/promises";
import { createApp } from "../app.js";
import { loadConfig, type Config } from "../config.js";
import { backfillRule, MAX_BACKFILL_MS } from "../engine/backfill.js";
import { memoryBackfillStores } from "../store/memory.js";
import { rules, ruleById } from "../rules/index.js";
import type { Rule } from "../rules/rule.js";
import type { LogSource } from "../engine/ports.js";
import { isoOf } from "../model/time.js";
import { openReplayLogs } from "./logs.js";
import { requireTime, UsageError } from "./usage.js";

export interface BackfillArgs {
  rule: Rule;
  from: number;
  to: number;
  logs?: string;
  /** With --logs: run even when the folder holds no table rows. */
  allowEmpty?: boolean;
}

export interface BackfillOutput {
  rule: { id: string; name: string };
  from: string;
  to: string;
  windows: number;
  rowsRead: number;
  rowsRejected: number;
  /** Alerts this backfill stored; alerts that existed already are not counted. */
  newAlerts: { id: string; time: string; account: string; title: string; incidentId: string }[];
  /** The live checkpoint, the same before and after. */
  checkpoint: string | null;
}

export async function parseBackfillArgs(values: Record<string, string | boolean | undefined>): Promise<BackfillArgs> {
  const id = typeof values.rule === "string" ? values.rule : "";
  if (!id) throw new UsageError("--rule is required");
  const rule = ruleById(id);
  if (!rule) throw new UsageError(`--rule ${id}: no such rule (rules: ${rules.map((r) => `${r.meta.id} ${r.meta.name}`).join("; ")})`);
  const from = requireTime(values, "from");
  const to = requireTime(values, "to");
  if (from >= to) throw new UsageError("--from must be before --to");
  if (to - from > MAX_BACKFILL_MS) throw new UsageError(`--from .. --to spans more than ${MAX_BACKFILL_MS / 86_400_000} days: backfill in several runs`);
  let logs: string | undefined;
  if (typeof values.logs === "string") {
    if (!(await stat(values.logs).catch(() => undefined))?.isDirectory()) throw new UsageError(`--logs ${values.logs}: not a readable directory`);
    logs = values.logs;
  }
  return { rule, from, to, logs, allowEmpty: values["allow-empty"] === true };
}

export async function backfill(args: BackfillArgs, log: (line: string) => void, config: Config = loadConfig()): Promise<BackfillOutput> {
  const app = createApp(config, args.logs ? { logSource: await openReplayLogs(args.logs, { allowEmpty: args.allowEmpty, log }) } : {});
  try {
    const source: LogSource | null = await app.logSource();
    if (!source) throw new Error("TOKENWATCH_WORKSPACE_ID is not set: backfill reads the Log Analytics workspace (or replay files with --logs)");
    const { stores, store } = await app.storage();
    const reports = await backfillRule(args.rule, { source, stores, now: Date.now }, memoryBackfillStores(), { from: args.from, to: args.to });
    const live = await stores.ruleState.get(args.rule.meta.id);
    const newAlerts = reports.flatMap((r) => r.alerts);
    log(`${args.rule.meta.name}: ${reports.length} windows, ${newAlerts.length} new alerts`);
    return {
      rule: { id: args.rule.meta.id, name: args.rule.meta.name },
      from: new Date(args.from).toISOString(),
      to: new Date(args.to).toISOString(),
      windows: reports.length,
      rowsRead: reports.reduce((n, r) => n + r.rowsFetched, 0),
      rowsRejected: reports.reduce((n, r) => n + r.rejected.length, 0),
      newAlerts: newAlerts.map((a) => ({ id: a.id, time: isoOf(a.time), account: a.account, title: a.title, incidentId: a.incidentId })),
      checkpoint: live ? new Date(live.windowEnd).toISOString() : null,
    };
  } finally {
    await app.close();
  }
}
