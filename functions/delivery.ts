// Webhook delivery: a timer every minute fans out the outbox and sends what is due
// (retries included), and every detection timer is followed by a delivery run, so new
// incidents go out right after detection without waiting for the next minute.
import { app } from "@azure/functions";
import { DELIVERY_SCHEDULE, DELIVERY_TIMER, functionsApp } from "../src/app.js";

const tokenwatch = functionsApp();
app.timer(DELIVERY_TIMER, {
  schedule: DELIVERY_SCHEDULE,
  runOnStartup: false,
  useMonitor: true,
  handler: async (_timer, context) => void (await tokenwatch.deliver("timer", (line) => context.log(line))),
});

// Right after detection (the other timers are the detection timers): their incidents and
// outbox rows are stored already, so this only makes delivery prompt; it never fails them.
app.hook.postInvocation(async ({ invocationContext: invocation }) => {
  if (invocation.options.trigger.type === "timerTrigger" && invocation.functionName !== DELIVERY_TIMER) await tokenwatch.deliver("detection", (line) => invocation.log(line));
});
