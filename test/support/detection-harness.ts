// Shared set-up for the scheduled-detection tests: one Azurite per file, fresh tables per
// test, and a LogAnalyticsSource on the real LogsQueryClient pointed at a FakeLogAnalytics.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import type { LogSource } from "../../src/engine/ports.js";
import type { Repositories } from "../../src/store/repositories.js";
import type { ScheduledDeps } from "../../src/engine/scheduled.js";
import { createLogsQueryClient, LogAnalyticsSource, type LogAnalyticsOptions } from "../../src/sources/log-analytics.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { TableStore } from "../../src/store/tables.js";
import { FakeLogAnalytics, staticCredential } from "./fake-log-analytics.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const runId = randomBytes(3).toString("hex");
let tables = 0;

/** Repositories over fresh tables (a unique prefix per call). */
export function freshStores(azurite: AzuriteTables): Repositories {
  return createStores(new TableStore({ connectionString: azurite.connectionString, tablePrefix: `s${runId}n${++tables}` }), incidentPlanner);
}

/** What a test of the scheduled path works against; read its fields inside tests and hooks. */
export interface DetectionWorld {
  /** One Azurite (tables) for the whole file. */
  readonly azurite: AzuriteTables;
  /** A fresh fake query API for each test: its rows, faults and request log are the test's own. */
  readonly fake: FakeLogAnalytics;
  /** Repositories over fresh tables for each test. */
  readonly stores: Repositories;
}

/**
 * Registers the hooks of a scheduled-detection test file (or describe block): Azurite started
 * once before its tests and stopped after them; before each test a fresh fake query API and
 * fresh tables, so tests stay independent; the fake closed after each.
 */
export function useDetectionWorld(): DetectionWorld {
  const world: { azurite?: AzuriteTables; fake?: FakeLogAnalytics; stores?: Repositories } = {};
  beforeAll(async () => {
    world.azurite = await startAzurite();
  });
  afterAll(async () => world.azurite?.stop());
  beforeEach(async () => {
    world.fake = await FakeLogAnalytics.start();
    world.stores = freshStores(world.azurite!);
  });
  afterEach(async () => world.fake?.close());
  return world as DetectionWorld;
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
