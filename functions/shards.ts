// The shard function: one invocation per message on the shard queue, each processing one
// shard of a large window of a per-account rule (the app's runShard). host.json takes one
// message at a time per instance (bounded memory) and poisons a message after
// SHARD_MAX_DEQUEUE deliveries; the last delivery records the failure in the rule's health.
import { app } from "@azure/functions";
import { functionsApp, SHARD_QUEUE } from "../src/app.js";

const tokenwatch = functionsApp();
app.storageQueue("detect-shard", {
  queueName: SHARD_QUEUE,
  connection: "AzureWebJobsStorage",
  handler: async (message, context) => void (await tokenwatch.runShard(message, Number(context.triggerMetadata?.dequeueCount ?? 1), context)),
});
