// Rules: metadata and health (from each rule's checkpoint), and backfill over a time range.

import type { WindowReport } from "../engine/run.js";
import type { Stores } from "../engine/run.js";
import { ruleById, rules } from "../rules/index.js";
import { frequencyOf, type Rule } from "../rules/rule.js";
import type { RuleHealth, RuleState } from "../store/rule-state.js";
import { HttpError, notFound, READERS, route, type RouteDef } from "./router.js";
import { BackfillBody, BackfillResultSchema, RuleSchema } from "./schemas.js";
import { iso } from "./tokens.js";
import { z } from "zod";

export interface RuleDeps {
  stores: Stores;
  now(): number;
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

/** Checkpoint lag (from the rule's state) and its last scheduled run (the `health` row the timers write). */
export function ruleHealth(rule: Rule, state: RuleState | undefined, run: RuleHealth | undefined, now: number) {
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
  if (!state) return { status: run?.failing ? ("failing" as const) : ("never-run" as const), checkpoint: null, lagMinutes: null, firstWindowStart: null, lastRun };
  const lag = Math.max(0, now - state.windowEnd);
  const status = run?.failing ? ("failing" as const) : lag > LAGGING_AFTER_FREQUENCIES * frequencyOf(rule) ? ("lagging" as const) : ("ok" as const);
  return { status, checkpoint: iso(state.windowEnd), lagMinutes: Math.round(lag / 60_000), firstWindowStart: iso(state.firstWindowStart), lastRun };
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
        const [states, runs] = await Promise.all([deps.stores.ruleState.all(), deps.stores.ruleState.allHealth()]);
        const now = deps.now();
        const items = rules.map((rule) => ({
          id: rule.meta.id,
          name: rule.meta.name,
          description: rule.meta.description,
          severity: rule.meta.severity,
          tactics: rule.meta.tactics,
          relevantTechniques: rule.meta.relevantTechniques,
          queryFrequency: rule.meta.queryFrequency,
          queryPeriod: rule.meta.queryPeriod,
          health: ruleHealth(rule, states.get(rule.meta.id), runs.get(rule.meta.id), now),
        }));
        return { status: 200, body: { items } };
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
