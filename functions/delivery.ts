// Webhook delivery: a timer every minute fans out the outbox and sends what is due
// (retries included), and every detection timer is followed by a delivery run, so new
// incidents go out right after detection without waiting for the next minute.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import { loadConfig } from "../src/config.js";
import { createDeliveryWorker, deliverAfterDetection, type DeliveryWorker } from "../src/delivery/index.js";
import { openStorage } from "../src/store/index.js";

const TIMER_NAME = "webhookDelivery";
let worker: Promise<DeliveryWorker> | undefined;

function getWorker(): Promise<DeliveryWorker> {
  worker ??= (async () => {
    const config = loadConfig();
    const { store } = await openStorage(config);
    return createDeliveryWorker(store, config);
  })().catch((error: unknown) => {
    worker = undefined;
    throw error;
  });
  return worker;
}

app.timer(TIMER_NAME, {
  schedule: "0 */1 * * * *",
  runOnStartup: false,
  useMonitor: true,
  handler: async (_timer: Timer, context: InvocationContext) => {
    const report = await (await getWorker()).run();
    context.log(JSON.stringify({ event: "webhookDelivery", trigger: "timer", ...report }));
  },
});

// Right after detection: the other timers are the detection timers (functions/timers.ts).
// Their incidents and outbox rows are already stored, so this only makes delivery prompt;
// it never fails the detection invocation.
app.hook.postInvocation(async (hook) => {
  const invocation = hook.invocationContext;
  if (invocation.options.trigger.type !== "timerTrigger" || invocation.functionName === TIMER_NAME) return;
  try {
    await deliverAfterDetection(await getWorker(), (line) => invocation.log(line));
  } catch (error) {
    invocation.warn(`webhook delivery after detection: ${error instanceof Error ? error.message : String(error)}`);
  }
});
