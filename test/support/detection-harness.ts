// Shared set-up for the scheduled-detection tests: one Azurite per file, fresh tables per
// test, and a LogAnalyticsSource on the real LogsQueryClient pointed at a FakeLogAnalytics.
import { randomBytes } from "node:crypto";
import type { LogSource } from "../../src/engine/ports.js";
import type { Repositories } from "../../src/store/repositories.js";
import type { ScheduledDeps } from "../../src/engine/scheduled.js";
import { createLogsQueryClient, LogAnalyticsSource, type LogAnalyticsOptions } from "../../src/sources/log-analytics.js";
import type { AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { TableStore } from "../../src/store/tables.js";
import { staticCredential, type FakeLogAnalytics } from "./fake-log-analytics.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const runId = randomBytes(3).toString("hex");
let tables = 0;

/** Repositories over fresh tables (a unique prefix per call). */
export function freshStores(azurite: AzuriteTables): Repositories {
  return createStores(new TableStore({ connectionString: azurite.connectionString, tablePrefix: `s${runId}n${++tables}` }), incidentPlanner);
}

/** The production source and client, with test-sized retry delays and timeouts. */
export function fakeSource(fake: FakeLogAnalytics, options: Partial<LogAnalyticsOptions> = {}): LogAnalyticsSource {
  const client = createLogsQueryClient(staticCredential, { endpoint: fake.endpoint, agent: fake.agent, maxRetries: 2, retryDelayMs: 5, maxRetryDelayMs: 20 });
  return new LogAnalyticsSource(client, { workspaceId: fake.workspaceId, timeoutMs: 2_000, attempts: 2, backoffMs: 5, ...options });
}

export const DELAY = 5 * 60_000;

/** What a timer passes runScheduled, with a settable clock. */
export function scheduledDeps(source: LogSource, stores: Repositories, clock: { now: number }, maxWindows = 24): ScheduledDeps {
  return { source, stores, now: () => clock.now, ingestionDelayMs: DELAY, maxWindows };
}
