// `tokenwatch detect`: replay logs through every rule exactly as the hourly timers would.
import { access, constants, readFile, stat } from "node:fs/promises";
import { systemActor } from "../model/actor.js";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { loadConfig } from "../config.js";
import { lazyCredential } from "../credential.js";
import { isCorrelation } from "../model/correlation.js";
import { LIST_NAMES, canonicalEntry, type ListName } from "../model/allowlists.js";
import { alertJson, incidentJson } from "../model/incident.js";
import { alignDown, alignUp, compareTime, inRange, planWindows } from "../model/time.js";
import { runRule, type WindowReport } from "../engine/run.js";
import { rules } from "../rules/index.js";
import { frequencyOf } from "../rules/rule.js";
import { type AnyRow, TableMissing } from "../model/rows.js";
import { type LogSource } from "../engine/ports.js";
import { incidentPlanner } from "../engine/planner.js";
import { openStorage } from "../store/index.js";
import { openReplayLogs } from "./logs.js";
import { InputError, requireString, requireTime, UsageError } from "./usage.js";

export interface DetectOptions {
  /** Replay files (the contract's --logs DIR), or else a live workspace. */
  logs?: string;
  /** A Log Analytics workspace id: the rules query it, as the timers would, over [from, to). */
  workspace?: string;
  /** The workspace's source (tests); default: LogsQueryClient with DefaultAzureCredential. */
  source?: LogSource;
  from: number;
  to: number;
  allowlist?: Partial<Record<ListName, string[]>>;
  /** Run even when the folder holds no table rows (an export of a quiet range). */
  allowEmpty?: boolean;
  /** Report correlated incidents under `correlations` (the replay contract's output is unchanged without it). */
  correlations?: boolean;
  /** Progress and warnings (stderr in the CLI). */
  log: (line: string) => void;
  /** Called after each rule window: a terminal's progress line. */
  progress?: (p: DetectProgress) => void;
}

export interface DetectProgress {
  windowsDone: number;
  windowsTotal: number;
  rowsFetched: number;
  elapsedMs: number;
}

export interface DetectOutput {
  alerts: ReturnType<typeof alertJson>[];
  incidents: ReturnType<typeof incidentJson>[];
  /** With --correlations only: the correlated incidents linking any of `alerts`. */
  correlations?: ReturnType<typeof incidentJson>[];
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
  const workspace = typeof values.workspace === "string" ? values.workspace : undefined;
  if (workspace !== undefined && values.logs !== undefined) throw new UsageError("give --logs DIR or --workspace ID, not both");
  if (workspace !== undefined && !z.guid().safeParse(workspace).success) throw new UsageError(`--workspace ${workspace}: not a workspace id (a GUID: the workspace's customerId)`);
  const logs = workspace === undefined ? requireString(values, "logs") : undefined;
  const from = requireTime(values, "from");
  const to = requireTime(values, "to");
  if (from >= to) throw new UsageError("--from must be before --to");
  const info = logs === undefined ? undefined : await stat(logs).catch(() => undefined);
  if (logs !== undefined && !info?.isDirectory()) throw new UsageError(`--logs ${logs}: not a readable directory`);
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
  if (typeof values.out === "string") await checkWritable(values.out);
  return { ...(logs === undefined ? { workspace } : { logs }), from, to, allowlist, allowEmpty: values["allow-empty"] === true, correlations: values.correlations === true };
}

/** `--out FILE` must be writable before the run starts, not found unwritable after it. */
export async function checkWritable(file: string): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) throw new UsageError(`--out ${file}: is a folder; give a file name`);
  const target = info ? file : dirname(resolve(file));
  const dir = info ? undefined : await stat(target).catch(() => undefined);
  if (dir && !dir.isDirectory()) throw new UsageError(`--out ${file}: ${target} is not a folder`);
  await access(target, constants.W_OK).catch(() => {
    throw new UsageError(`--out ${file}: ${info ? "not writable" : `folder ${target} does not exist or is not writable`}`);
  });
}

export async function detect(options: DetectOptions): Promise<DetectOutput> {
  const config = loadConfig();
  const replay = options.logs === undefined ? undefined : await openReplayLogs(options.logs, options);
  const credential = lazyCredential();
  // The workspace's source is built only when asked for (the Azure SDK imports are heavy).
  const source = replay ?? options.source ?? (await import("../app.js")).createLogAnalyticsSource({ ...config, TOKENWATCH_WORKSPACE_ID: options.workspace }, await credential());
  const storage = await openStorage(config, incidentPlanner, credential);
  try {
    const { stores } = storage;
    for (const [list, entries] of Object.entries(options.allowlist ?? {}) as [ListName, string[]][])
      await stores.allowlists.replace(list, entries, systemActor("tokenwatch detect"), "--allowlist file");

    const range = { from: options.from, to: options.to };
    const maxLatenessMs = config.TOKENWATCH_MAX_LATENESS_HOURS * 3_600_000;
    // Every row with TimeGenerated in [from, to) that a window can see must have arrived by the
    // last window. A workspace is read up to what has been ingested, at most as late as the timers look.
    const lastArrival = (rule: (typeof rules)[number]) =>
      replay
        ? (replay.lastArrivalOf(range, frequencyOf(rule), maxLatenessMs) ?? options.to)
        : Math.min(Date.now() - config.TOKENWATCH_INGESTION_DELAY_MINUTES * 60_000, options.to + maxLatenessMs);
    const perRule: DetectOutput["stats"]["rules"] = {};
    const reports: WindowReport[] = [];
    const untilOf = (rule: (typeof rules)[number]) =>
      replay ? alignUp(Math.max(options.to, lastArrival(rule) + 1), frequencyOf(rule)) : alignDown(lastArrival(rule), frequencyOf(rule));
    // Replay sees what a live run cannot: rows that arrived later than the windows look back.
    const tooLate = new Set<AnyRow>();
    for (const rule of replay ? rules : []) for (const row of replay!.tooLate(range, frequencyOf(rule), maxLatenessMs)) tooLate.add(row);
    if (tooLate.size > 0)
      options.log(
        `warning: ${tooLate.size} rows arrived more than ${config.TOKENWATCH_MAX_LATENESS_HOURS} h after their TimeGenerated and were not evaluated, ` +
          `as a live run would not see them (TOKENWATCH_MAX_LATENESS_HOURS); counted in stats.rowsTooLate`,
      );
    const ingested = lastArrival(rules[0]!);
    if (!replay && ingested < options.to) options.log(`warning: events after ${new Date(ingested).toISOString()} are not ingested yet and are not evaluated`);
    const windowsTotal = rules.reduce((n, rule) => n + planWindows(frequencyOf(rule), options.from, untilOf(rule)).length, 0);
    const started = Date.now();
    let windowsDone = 0;
    let rowsFetched = 0;
    const onWindow = (report: WindowReport) => {
      rowsFetched += report.rowsFetched;
      options.progress?.({ windowsDone: ++windowsDone, windowsTotal, rowsFetched, elapsedMs: Date.now() - started });
    };
    for (const rule of rules) {
      const until = untilOf(rule);
      const ruleReports = await runRule(rule, { source, stores, now: Date.now, maxLatenessMs, sessionLifetimeMs: config.TOKENWATCH_SESSION_LIFETIME_DAYS * 86_400_000 }, { startAt: options.from, until, eventRange: range }, onWindow).catch((error: unknown) => {
        if (error instanceof TableMissing)
          throw new InputError(`${rule.meta.name}: ${error.message}; nothing was evaluated for it (switch it off: TOKENWATCH_DISABLED_RULES=${rule.meta.id})`);
        throw error;
      });
      reports.push(...ruleReports);
      const established = ruleReports.at(-1)?.baselineEstablished ?? null;
      const eventsHeldBack = ruleReports.reduce((n, r) => n + r.heldBack, 0);
      perRule[rule.meta.id] = { windows: ruleReports.length, alerts: ruleReports.reduce((n, r) => n + r.alerts.length, 0), baselineEstablished: established, eventsHeldBack };
      const learning = eventsHeldBack > 0 ? ` (baseline still learning: ${eventsHeldBack} sign-ins of users without a baseline held back, not judged)` : "";
      options.log(`${rule.meta.name}: ${ruleReports.length} windows, ${perRule[rule.meta.id]!.alerts} alerts${learning}`);
    }

    const alerts = (await stores.incidents.listAlerts())
      .filter((a) => inRange(a.time, range))
      .sort((a, b) => compareTime(a.time, b.time) || a.id.localeCompare(b.id));
    const incidentIds = new Set(alerts.map((a) => a.incidentId));
    const all = (await stores.incidents.listIncidents()).sort((a, b) => compareTime(a.firstAlertTime, b.firstAlertTime) || a.id.localeCompare(b.id));
    // A correlated incident holds no alert of its own (alert.incidentId never names it): only --correlations reports it.
    const incidents = all.filter((i) => incidentIds.has(i.id));
    const alertIds = new Set(alerts.map((a) => a.id));
    const correlations = all.filter((i) => isCorrelation(i) && i.alertIds.some((id) => alertIds.has(id)));
    const rejections = [...(replay?.load.rejected ?? []), ...reports.flatMap((r) => r.rejected)];
    if (!replay && rowsFetched === 0 && !options.allowEmpty)
      throw new InputError(`workspace ${options.workspace} returned no rows for ${new Date(options.from).toISOString()} .. ${new Date(options.to).toISOString()}: nothing was evaluated; is it the workspace the Entra ID diagnostic settings send to? (--allow-empty accepts a quiet range)`);
    return {
      alerts: alerts.map(alertJson),
      incidents: incidents.map(incidentJson),
      ...(options.correlations ? { correlations: correlations.map(incidentJson) } : {}),
      stats: {
        rowsRead: replay?.load.rowsRead ?? rowsFetched,
        rowsRejected: rejections.length,
        windows: reports.length,
        rowsFetched: reports.reduce((n, r) => n + r.rowsFetched, 0),
        rowsTooLate: tooLate.size,
        unknownFiles: replay?.load.unknownFiles ?? [],
        rejections: rejections.slice(0, 100),
        rules: perRule,
      },
    };
  } finally {
    await storage.close();
  }
}
