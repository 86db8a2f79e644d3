// Composition of the storage side: one TableStore, the repositories over it.
import type { TokenCredential } from "@azure/identity";
import type { Config } from "../config.js";
import { DEFAULT_CORRELATION, type CorrelationSettings } from "../model/correlation.js";
import type { IncidentPlanner } from "../model/incident.js";
import type { Repositories } from "./repositories.js";
import { AllowlistRepository } from "./allowlists.js";
import { startAzurite, type AzuriteTables } from "./azurite.js";
import { BaselineRepository } from "./baselines.js";
import { IncidentRepository } from "./incidents.js";
import { RuleStateRepository } from "./rule-state.js";
import { SessionRepository } from "./sessions.js";
import { TableStore, type StorageTarget } from "./tables.js";

/** The repositories over one TableStore; the incident store places alerts with `planner` (the engine's, from the composition root). */
export function createStores(store: TableStore, planner: IncidentPlanner, correlation: CorrelationSettings = DEFAULT_CORRELATION): Repositories {
  return {
    ruleState: new RuleStateRepository(store),
    allowlists: new AllowlistRepository(store),
    baselines: new BaselineRepository(store),
    incidents: new IncidentRepository(store, planner, Date.now, correlation),
    sessions: new SessionRepository(store),
  };
}

/** The correlation settings from the config. */
export const correlationSettings = (config: Config): CorrelationSettings => ({
  windowMs: config.TOKENWATCH_CORRELATION_WINDOW_HOURS * 3_600_000,
  linkLookbackMs: config.TOKENWATCH_CORRELATION_LINK_DAYS * 86_400_000,
});

export interface OpenedStorage {
  store: TableStore;
  stores: Repositories;
  /** The Azurite started because nothing was configured, if any. */
  azurite?: AzuriteTables;
  close(): Promise<void>;
}

/**
 * The configured storage account, or else a fresh in-memory Azurite on loopback (with its
 * queue service when `queue`). An account by endpoint signs in with `credential()` (the app's one credential).
 */
export async function openStorage(config: Config, planner: IncidentPlanner, credential: () => Promise<TokenCredential>, options: { queue?: boolean } = {}): Promise<OpenedStorage> {
  let target: StorageTarget;
  let azurite: AzuriteTables | undefined;
  if (config.TOKENWATCH_STORAGE_CONNECTION_STRING) target = { connectionString: config.TOKENWATCH_STORAGE_CONNECTION_STRING, tablePrefix: config.TOKENWATCH_TABLE_PREFIX };
  else if (config.TOKENWATCH_STORAGE_TABLE_ENDPOINT) target = { endpoint: config.TOKENWATCH_STORAGE_TABLE_ENDPOINT, credential: await credential(), tablePrefix: config.TOKENWATCH_TABLE_PREFIX };
  else {
    azurite = await startAzurite(options);
    target = { connectionString: azurite.connectionString, tablePrefix: config.TOKENWATCH_TABLE_PREFIX };
  }
  const store = new TableStore(target);
  return { store, stores: createStores(store, planner, correlationSettings(config)), azurite, close: async () => azurite?.stop() };
}
