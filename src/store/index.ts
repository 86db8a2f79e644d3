// Composition of the storage side: one TableStore, the repositories over it.
import type { Config } from "../config.js";
import type { Stores } from "../engine/run.js";
import { AllowlistRepository } from "./allowlists.js";
import { startAzurite, type AzuriteTables } from "./azurite.js";
import { BaselineRepository } from "./baselines.js";
import { IncidentRepository } from "./incidents.js";
import { RuleStateRepository } from "./rule-state.js";
import { SessionRepository } from "./sessions.js";
import { TableStore, type StorageTarget } from "./tables.js";

export function createStores(store: TableStore): Stores {
  return {
    ruleState: new RuleStateRepository(store),
    allowlists: new AllowlistRepository(store),
    baselines: new BaselineRepository(store),
    incidents: new IncidentRepository(store),
    sessions: new SessionRepository(store),
  };
}

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
  return { store, stores: createStores(store), azurite, close: async () => azurite?.stop() };
}
