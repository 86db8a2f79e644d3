// Rules: metadata and health (from each rule's checkpoint), and backfill over a time range.

import type { WindowReport } from "../engine/run.js";
import { dataSources, ruleById, rules } from "../rules/index.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import { flatActor, systemActor } from "../model/actor.js";
import type { RuleHealth, RuleSetting, RuleState } from "../model/rule-state.js";
import type { ApiStores } from "./ports.js";
import { HttpError, notFound, READERS, route, type RouteDef } from "./router.js";
import { BackfillBody, BackfillResultSchema, RuleEnabledBody, RuleSchema } from "./schemas.js";
import { iso } from "./tokens.js";
import { z } from "zod";

export interface RuleDeps {
  stores: Pick<ApiStores, "ruleState">;
  now(): number;
  /** Rules switched off by the TOKENWATCH_DISABLED_RULES setting. */
  disabledRules?: ReadonlySet<string>;
  /** Runs a rule over a past range (engine backfill over the deployment's log source); absent when no source is configured. */
  backfill?: (rule: Rule, range: { from: number; to: number }) => Promise<WindowReport[]>;
}

const ADMIN = ["Tokenwatch.Admin"] as const;
/**
 * The longest range one backfill request covers. It runs inside the HTTP request, and Azure's
 * front end gives up on a request after 230 s: a day (24 hourly windows) stays well inside;
 * longer ranges are several requests (or `tokenwatch backfill`).
 */
export const MAX_API_BACKFILL_MS = 86_400_000;
/** A rule whose checkpoint trails now by more than this many of its periods is lagging. */
const LAGGING_AFTER_FREQUENCIES = 3;

/**
 * Checkpoint lag (from the rule's state) and its last scheduled run (the `health` row the timers write).
 * A rule switched off is `disabled`; one whose table the workspace lacks is `table-missing`, not `failing`.
 */
export function ruleHealth(rule: Rule, state: RuleState | undefined, run: RuleHealth | undefined, now: number, disabled = false) {
  const lastRun = run
    ? {
        at: iso(run.lastRunAt),
        failing: run.failing,
        windowsProcessed: run.windowsProcessed,
        windowsBehind: run.windowsBehind,
        rowsRead: run.rowsRead,
        rowsRejected: run.rowsRejected,
        eventsHeldBack: run.eventsHeldBack,
        durationMs: run.durationMs,
        lastError: run.lastError,
        lastErrorAt: run.lastErrorAt === null ? null : iso(run.lastErrorAt),
      }
    : null;
  const tableMissing = run?.tableMissing ?? null;
  const override = disabled ? ("disabled" as const) : tableMissing ? ("table-missing" as const) : null;
  if (!state) return { status: override ?? (run?.failing ? ("failing" as const) : ("never-run" as const)), tableMissing, checkpoint: null, lagMinutes: null, firstWindowStart: null, lastRun };
  const lag = Math.max(0, now - state.windowEnd);
  const status = override ?? (run?.failing ? ("failing" as const) : lag > LAGGING_AFTER_FREQUENCIES * frequencyOf(rule) ? ("lagging" as const) : ("ok" as const));
  return { status, tableMissing, checkpoint: iso(state.windowEnd), lagMinutes: Math.round(lag / 60_000), firstWindowStart: iso(state.firstWindowStart), lastRun };
}

/** A rule as the API shows it: metadata, tables and connectors, whether it runs, and its health. */
function ruleView(rule: Rule, deps: RuleDeps, state: RuleState | undefined, run: RuleHealth | undefined, setting: RuleSetting | undefined, now: number) {
  const bySetting = deps.disabledRules?.has(rule.meta.id) ?? false;
  const disabled = bySetting
    ? { ...flatActor("by", systemActor("setting")), at: null, reason: "TOKENWATCH_DISABLED_RULES" }
    : setting && !setting.enabled
      ? { ...flatActor("by", setting.changedBy), at: iso(setting.changedAt), reason: setting.reason }
      : null;
  return {
    id: rule.meta.id,
    name: rule.meta.name,
    description: rule.meta.description,
    severity: rule.meta.severity,
    tactics: rule.meta.tactics,
    relevantTechniques: rule.meta.relevantTechniques,
    queryFrequency: rule.meta.queryFrequency,
    queryPeriod: rule.meta.queryPeriod,
    ...dataSources(rule),
    enabled: disabled === null,
    disabled,
    health: ruleHealth(rule, state, run, now, disabled !== null),
  };
}

export function ruleRoutes(deps: RuleDeps): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/rules",
      group: "rules",
      roles: READERS,
      summary: "Every rule's metadata and health (checkpoint and lag)",
      response: { status: 200, schema: z.object({ items: z.array(RuleSchema) }) },
      async handler() {
        const [states, runs, settings] = await Promise.all([deps.stores.ruleState.all(), deps.stores.ruleState.allHealth(), deps.stores.ruleState.allSettings()]);
        const now = deps.now();
        const items = rules.map((rule) => ruleView(rule, deps, states.get(rule.meta.id), runs.get(rule.meta.id), settings.get(rule.meta.id), now));
        return { status: 200, body: { items } };
      },
    }),
    route({
      method: "PUT",
      path: "/rules/{id}/enabled",
      group: "rules",
      roles: ADMIN,
      summary: "Switch a rule on or off (audited). A rule off runs no windows; switched on, it catches up from its checkpoint",
      body: RuleEnabledBody,
      response: { status: 200, schema: RuleSchema },
      async handler(req) {
        const rule = ruleById(req.params.id!.toLowerCase());
        if (!rule) throw notFound(`rule ${req.params.id}`);
        const id = rule.meta.id;
        if (req.body.enabled && deps.disabledRules?.has(id))
          throw new HttpError(409, `rule ${id} is switched off by the TOKENWATCH_DISABLED_RULES setting: remove it there to switch it on`);
        await deps.stores.ruleState.putSetting(id, { enabled: req.body.enabled, changedBy: req.principal!, changedAt: deps.now(), reason: req.body.reason });
        const [state, run, setting] = await Promise.all([deps.stores.ruleState.get(id), deps.stores.ruleState.health(id), deps.stores.ruleState.setting(id)]);
        return { status: 200, body: ruleView(rule, deps, state, run, setting, deps.now()) };
      },
    }),
    route({
      method: "POST",
      path: "/rules/{id}/backfill",
      group: "rules",
      roles: ADMIN,
      summary: "Run a rule over a past range (at most one day per call, ending by now) without moving its checkpoint",
      body: BackfillBody,
      response: { status: 200, schema: BackfillResultSchema },
      async handler(req) {
        const rule = ruleById(req.params.id!);
        if (!rule) throw notFound(`rule ${req.params.id}`);
        const { from, to } = req.body;
        const bad = (field: string, message: string) => new HttpError(400, `${field}: ${message}`, [{ field: `body.${field}`, message }]);
        if (to - from > MAX_API_BACKFILL_MS) throw bad("to", "at most one day after from");
        if (to > deps.now()) throw bad("to", "must not be in the future");
        if (!deps.backfill) throw new HttpError(503, "no log source is configured for this deployment");
        const reports = await deps.backfill(rule, { from, to });
        return {
          status: 200,
          body: {
            ruleId: rule.meta.id,
            from: iso(from),
            to: iso(to),
            windows: reports.length,
            alerts: reports.reduce((n, r) => n + r.alerts.length, 0),
            incidents: new Set(reports.flatMap((r) => r.incidents.map((i) => i.id))).size,
          },
        };
      },
    }),
  ];
}
