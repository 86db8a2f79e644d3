// Detection timers: one per rule, firing once per queryFrequency a few minutes (the
// ingestion delay) after each period boundary. The work is the app's runSchedule.
import { app } from "@azure/functions";
import { functionsApp } from "../src/app.js";

const tokenwatch = functionsApp();
for (const { ruleId, name, schedule } of tokenwatch.timers)
  app.timer(name, { schedule, runOnStartup: false, useMonitor: true, handler: async (_timer, context) => void (await tokenwatch.runSchedule(ruleId, context)) });
