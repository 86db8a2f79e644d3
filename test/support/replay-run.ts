// Every rule over a replay, as `tokenwatch detect` drives the engine (src/cli/detect.ts): each
// rule from `from` until the window in which the range's last reachable row arrived.
import { alignUp, DEFAULT_MAX_LATENESS_MS } from "../../src/model/time.js";
import { runRule } from "../../src/engine/run.js";
import type { Repositories } from "../../src/store/repositories.js";
import { rules } from "../../src/rules/index.js";
import { frequencyOf } from "../../src/rules/rule.js";
import type { ReplaySource } from "../../src/sources/replay.js";

/** Runs every rule over [from, to) of the replay into `stores`; returns the number of alerts placed. */
export async function replayAllRules(source: ReplaySource, stores: Repositories, from: number, to: number): Promise<number> {
  let alerts = 0;
  for (const rule of rules) {
    const lastArrival = source.lastArrivalOf({ from, to }, frequencyOf(rule), DEFAULT_MAX_LATENESS_MS) ?? to;
    const until = alignUp(Math.max(to, lastArrival + 1), frequencyOf(rule));
    const reports = await runRule(rule, { source, stores, now: Date.now }, { startAt: from, until, eventRange: { from, to } });
    alerts += reports.reduce((n, r) => n + r.alerts.length, 0);
  }
  return alerts;
}
