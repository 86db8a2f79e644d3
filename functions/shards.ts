// The shard function: one invocation per message on the shard queue, each processing one
// shard of a large window of a per-account rule (src/engine/shards.ts). host.json takes one
// message at a time per instance (bounded memory) and poisons a message after
// SHARD_MAX_DEQUEUE deliveries; the last delivery records the failure in the rule's health.
import { app, type InvocationContext } from "@azure/functions";
import { SHARD_QUEUE, runShard } from "../src/engine/shards.js";
import { getDetection } from "./timers.js";

app.storageQueue("detect-shard", {
  queueName: SHARD_QUEUE,
  connection: "AzureWebJobsStorage",
  handler: async (message: unknown, context: InvocationContext) => {
    const { deps } = await getDetection();
    if (!deps.sharding) throw new Error("no shard queue is configured (TOKENWATCH_STORAGE_QUEUE_ENDPOINT or a connection string)");
    const outcome = await runShard(message, Number(context.triggerMetadata?.dequeueCount ?? 1), { ...deps, sharding: deps.sharding });
    if (outcome.status === "poisoned") context.error(outcome.error);
    else if (outcome.status === "skipped") context.info(`shard skipped: ${outcome.reason}`);
    else {
      const { ruleId, window, rowsFetched, alerts, heldBack } = outcome.report;
      context.info(`rule ${ruleId} shard of window ${new Date(window.start).toISOString()}: ${rowsFetched} rows, ${alerts.length} alerts, ${heldBack} held back`);
    }
  },
});
