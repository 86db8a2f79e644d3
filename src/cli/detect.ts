// `tokenwatch detect`: replay logs through every rule exactly as the hourly timers would.
import { systemActor } from "../audit.js";
import { readFile, stat } from "node:fs/promises";
import { z } from "zod";
import { loadConfig } from "../config.js";
import { LIST_NAMES, canonicalEntry, type ListName } from "../engine/allowlists.js";
import { alertJson, incidentJson } from "../engine/incidents.js";
import { alignUp, runRule, type WindowReport } from "../engine/run.js";
import { rules } from "../rules/index.js";
import { frequencyOf, inRange } from "../rules/rule.js";
import { compareTime } from "../rules/kql.js";
import type { AnyRow } from "../sources/rows.js";
import { ReplaySource } from "../sources/replay.js";
import { openStorage } from "../store/index.js";
import { requireString, requireTime, UsageError } from "./usage.js";

export interface DetectOptions {
  logs: string;
  from: number;
  to: number;
  allowlist?: Partial<Record<ListName, string[]>>;
  /** Progress and warnings (stderr in the CLI). */
  log: (line: string) => void;
}

export interface DetectOutput {
  alerts: ReturnType<typeof alertJson>[];
  incidents: ReturnType<typeof incidentJson>[];
  stats: {
    rowsRead: number;
    rowsRejected: number;
    windows: number;
    rowsFetched: number;
    /** Rows of [from, to) that arrived later than TOKENWATCH_MAX_LATENESS_HOURS after their event: not evaluated, as in production. */
    rowsTooLate: number;
    unknownFiles: string[];
    rejections: { origin: string; reason: string }[];
    rules: Record<string, { windows: number; alerts: number; baselineEstablished: boolean | null; eventsHeldBack: number }>;
  };
}

/** The `--allowlist FILE` shape: list name to entries. */
const AllowlistFile = z.strictObject(Object.fromEntries(LIST_NAMES.map((n) => [n, z.array(z.string()).optional()])) as Record<ListName, z.ZodOptional<z.ZodArray<z.ZodString>>>);

export async function parseDetectArgs(values: Record<string, string | boolean | undefined>): Promise<Omit<DetectOptions, "log">> {
  const logs = requireString(values, "logs");
  const from = requireTime(values, "from");
  const to = requireTime(values, "to");
  if (from >= to) throw new UsageError("--from must be before --to");
  const info = await stat(logs).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`--logs ${logs}: not a readable directory`);
  let allowlist: DetectOptions["allowlist"];
  if (typeof values.allowlist === "string") {
    const text = await readFile(values.allowlist, "utf8").catch((e: Error) => {
      throw new UsageError(`--allowlist ${values.allowlist}: ${e.message}`);
    });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageError(`--allowlist ${values.allowlist}: not valid JSON`);
    }
    const parsed = AllowlistFile.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new UsageError(`--allowlist ${values.allowlist}: ${issue.path.join(".") || "file"}: ${issue.message} (lists: ${LIST_NAMES.join(", ")})`);
    }
    for (const [list, entries] of Object.entries(parsed.data) as [ListName, string[] | undefined][])
      for (const entry of entries ?? []) {
        const c = canonicalEntry(list, entry);
        if (!c.ok) throw new UsageError(`--allowlist ${values.allowlist}: ${list}: ${c.error}`);
      }
    allowlist = parsed.data;
  }
  return { logs, from, to, allowlist };
}

export async function detect(options: DetectOptions): Promise<DetectOutput> {
  const config = loadConfig();
  const source = await ReplaySource.open(options.logs, (r) => options.log(`warning: ${r.origin}: ${r.reason}; row skipped`));
  for (const file of source.load.unknownFiles) options.log(`warning: ${file}: not a table tokenwatch reads; its rows are counted as rejected`);
  const storage = await openStorage(config);
  try {
    const { stores } = storage;
    for (const [list, entries] of Object.entries(options.allowlist ?? {}) as [ListName, string[]][])
      await stores.allowlists.replace(list, entries, systemActor("tokenwatch detect"), "--allowlist file");

    const range = { from: options.from, to: options.to };
    const maxLatenessMs = config.TOKENWATCH_MAX_LATENESS_HOURS * 3_600_000;
    const perRule: DetectOutput["stats"]["rules"] = {};
    const reports: WindowReport[] = [];
    const tooLate = new Set<AnyRow>();
    for (const rule of rules) {
      // Every row of [from, to) that a window can see must have arrived by the last window.
      const lastArrival = source.lastArrivalOf(range, frequencyOf(rule), maxLatenessMs) ?? options.to;
      const until = alignUp(Math.max(options.to, lastArrival + 1), frequencyOf(rule));
      for (const row of source.tooLate(range, frequencyOf(rule), maxLatenessMs)) tooLate.add(row);
      const ruleReports = await runRule(rule, { source, stores, now: Date.now, maxLatenessMs }, { startAt: options.from, until, eventRange: range });
      reports.push(...ruleReports);
      const established = ruleReports.at(-1)?.baselineEstablished ?? null;
      const eventsHeldBack = ruleReports.reduce((n, r) => n + r.heldBack, 0);
      perRule[rule.meta.id] = { windows: ruleReports.length, alerts: ruleReports.reduce((n, r) => n + r.alerts.length, 0), baselineEstablished: established, eventsHeldBack };
      const learning = eventsHeldBack > 0 ? ` (baseline still learning: ${eventsHeldBack} sign-ins of users without a baseline held back, not judged)` : "";
      options.log(`${rule.meta.name}: ${ruleReports.length} windows, ${perRule[rule.meta.id]!.alerts} alerts${learning}`);
    }

    if (tooLate.size > 0)
      options.log(
        `warning: ${tooLate.size} rows arrived more than ${config.TOKENWATCH_MAX_LATENESS_HOURS} h after their TimeGenerated and were not evaluated, ` +
          `as a live run would not see them (TOKENWATCH_MAX_LATENESS_HOURS); counted in stats.rowsTooLate`,
      );

    const alerts = (await stores.incidents.listAlerts())
      .filter((a) => inRange(a.time, range))
      .sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
    const incidentIds = new Set(alerts.map((a) => a.incidentId));
    const incidents = (await stores.incidents.listIncidents())
      .filter((i) => incidentIds.has(i.id))
      .sort((a, b) => compareTime(a.firstAlertTime, b.firstAlertTime) || a.id.localeCompare(b.id));
    const rejections = [...source.load.rejected, ...reports.flatMap((r) => r.rejected)];
    return {
      alerts: alerts.map(alertJson),
      incidents: incidents.map(incidentJson),
      stats: {
        rowsRead: source.load.rowsRead,
        rowsRejected: rejections.length,
        windows: reports.length,
        rowsFetched: reports.reduce((n, r) => n + r.rowsFetched, 0),
        rowsTooLate: tooLate.size,
        unknownFiles: source.load.unknownFiles,
        rejections: rejections.slice(0, 100),
        rules: perRule,
      },
    };
  } finally {
    await storage.close();
  }
}
