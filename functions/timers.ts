// Detection timers: one per rule, firing once per queryFrequency a few minutes (the
// ingestion delay) after each period boundary. The work is runScheduled in src/.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import { openDetection, type DetectionApp } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { runScheduled, timerFor } from "../src/engine/scheduled.js";
import { rules } from "../src/rules/index.js";

const config = loadConfig();
let detection: Promise<DetectionApp> | undefined;

/** The detection app, opened once per process and shared with the shard function. */
export function getDetection(): Promise<DetectionApp> {
  detection ??= openDetection(config).catch((error: unknown) => {
    detection = undefined;
    throw error;
  });
  return detection;
}

for (const rule of rules) {
  const { name, schedule } = timerFor(rule, config.TOKENWATCH_INGESTION_DELAY_MINUTES);
  app.timer(name, {
    schedule,
    runOnStartup: false,
    useMonitor: true,
    handler: async (_timer: Timer, context: InvocationContext) => {
      const outcome = await runScheduled(rule.meta.id, { ...(await getDetection()).deps, logger: context });
      if (outcome.status === "busy" || outcome.status === "disabled") context.info(outcome.reason);
      else if (outcome.status === "sharded") context.info(`${rule.meta.name}: window ${new Date(outcome.step.window.start).toISOString()} in ${outcome.step.shards.length} shards, ${outcome.step.sent} sent`);
      // Reported once, when first found; the rule's health says "table-missing" until the table appears.
      else if (outcome.status === "table-missing" && outcome.newly)
        context.warn(`${rule.meta.name}: table ${outcome.table} is missing from the workspace (connect its data connector, or switch the rule off)`);
    },
  });
}
