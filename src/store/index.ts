// Composition of the storage side: one TableStore, the repositories over it.
import type { Config } from "../config.js";
import { DEFAULT_CORRELATION, type CorrelationSettings } from "../engine/correlation.js";
import type { Stores } from "../engine/run.js";
import { AllowlistRepository } from "./allowlists.js";
import { startAzurite, type AzuriteTables } from "./azurite.js";
import { BaselineRepository } from "./baselines.js";
import { IncidentRepository } from "./incidents.js";
import { RuleStateRepository } from "./rule-state.js";
import { TableStore, type StorageTarget } from "./tables.js";

export function createStores(store: TableStore, correlation: CorrelationSettings = DEFAULT_CORRELATION): Stores {
  return {
    ruleState: new RuleStateRepository(store),
    allowlists: new AllowlistRepository(store),
    baselines: new BaselineRepository(store),
    incidents: new IncidentRepository(store, correlation),
  };
}

/** The correlation settings from the config. */
export const correlationSettings = (config: Config): CorrelationSettings => ({
  windowMs: config.TOKENWATCH_CORRELATION_WINDOW_HOURS * 3_600_000,
  linkLookbackMs: config.TOKENWATCH_CORRELATION_LINK_DAYS * 86_400_000,
});

export interface OpenedStorage {
  store: TableStore;
  stores: Stores;
  /** The Azurite started because nothing was configured, if any. */
  azurite?: AzuriteTables;
  close(): Promise<void>;
}

/** The configured storage account, or else a fresh in-memory Azurite on loopback. */
export async function openStorage(config: Config): Promise<OpenedStorage> {
  let target: StorageTarget;
  let azurite: AzuriteTables | undefined;
  if (config.TOKENWATCH_STORAGE_CONNECTION_STRING) target = { connectionString: config.TOKENWATCH_STORAGE_CONNECTION_STRING, tablePrefix: config.TOKENWATCH_TABLE_PREFIX };
  else if (config.TOKENWATCH_STORAGE_TABLE_ENDPOINT) {
    // Loaded only here: @azure/identity costs a quarter second at start-up that replay never needs.
    const { DefaultAzureCredential } = await import("@azure/identity");
    target = { endpoint: config.TOKENWATCH_STORAGE_TABLE_ENDPOINT, credential: new DefaultAzureCredential(), tablePrefix: config.TOKENWATCH_TABLE_PREFIX };
  }
  else {
    azurite = await startAzurite();
    target = { connectionString: azurite.connectionString, tablePrefix: config.TOKENWATCH_TABLE_PREFIX };
  }
  const store = new TableStore(target);
  return { store, stores: createStores(store, correlationSettings(config)), azurite, close: async () => azurite?.stop() };
}
