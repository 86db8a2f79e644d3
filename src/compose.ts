// Composition for the scheduled detections: the one place that builds the Log Analytics
// source (with DefaultAzureCredential: the managed identity in Azure, the developer's login
// locally) and the storage, from the validated config. Everything else gets them injected.
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import type { Config } from "./config.js";
import type { Stores } from "./engine/run.js";
import type { ScheduledDeps } from "./engine/scheduled.js";
import type { LogSource } from "./sources/source.js";
import { createLogsQueryClient, LogAnalyticsSource } from "./sources/log-analytics.js";
import { openStorage, type OpenedStorage } from "./store/index.js";
import { StorageQueue } from "./store/queue.js";
import { ShardRepository } from "./store/shards.js";
import { SHARD_QUEUE, type Sharding } from "./engine/shards.js";

export function createLogAnalyticsSource(config: Config, credential: TokenCredential): LogAnalyticsSource {
  if (!config.TOKENWATCH_WORKSPACE_ID) throw new Error("TOKENWATCH_WORKSPACE_ID is not set: the scheduled detections need the Log Analytics workspace id");
  const client = createLogsQueryClient(credential, { endpoint: config.TOKENWATCH_LOG_ANALYTICS_ENDPOINT });
  return new LogAnalyticsSource(client, { workspaceId: config.TOKENWATCH_WORKSPACE_ID });
}

export interface DetectionApp {
  deps: Omit<ScheduledDeps, "logger">;
  storage: OpenedStorage;
}

/**
 * The shard queue: the storage connection string's queue endpoint (Azurite's queue service
 * when serve started one), else the queue endpoint with the credential; undefined when
 * neither is set (then no window is sharded).
 */
export function createShardQueue(config: Config, storage: OpenedStorage, credential: () => TokenCredential, queueName = SHARD_QUEUE): StorageQueue | undefined {
  const connectionString = config.TOKENWATCH_STORAGE_CONNECTION_STRING ?? (storage.azurite?.queueEndpoint ? storage.azurite.connectionString : undefined);
  if (connectionString) return new StorageQueue({ connectionString, queueName });
  if (config.TOKENWATCH_STORAGE_QUEUE_ENDPOINT) return new StorageQueue({ endpoint: config.TOKENWATCH_STORAGE_QUEUE_ENDPOINT, credential: credential(), queueName });
  return undefined;
}

/** Sharded runs over a queue and the storage's Shards table, with the configured bound. */
export function createSharding(config: Config, storage: OpenedStorage, queue: StorageQueue): Sharding {
  return { queue, shards: new ShardRepository(storage.store), rowsPerShard: config.TOKENWATCH_SHARD_ROWS };
}

/** What the scheduled entry needs from the settings, around a source and the stores. */
export function scheduledDeps(config: Config, source: LogSource, stores: Stores, sharding?: Sharding): DetectionApp["deps"] {
  return {
    source,
    stores,
    ...(sharding ? { sharding } : {}),
    now: Date.now,
    ingestionDelayMs: config.TOKENWATCH_INGESTION_DELAY_MINUTES * 60_000,
    maxLatenessMs: config.TOKENWATCH_MAX_LATENESS_HOURS * 3_600_000,
    maxWindows: config.TOKENWATCH_MAX_WINDOWS_PER_RUN,
    disabledRules: config.TOKENWATCH_DISABLED_RULES,
  };
}

export async function openDetection(config: Config, credential: TokenCredential = new DefaultAzureCredential()): Promise<DetectionApp> {
  const source = createLogAnalyticsSource(config, credential);
  const storage = await openStorage(config, { queue: true });
  const queue = createShardQueue(config, storage, () => credential);
  return { storage, deps: scheduledDeps(config, source, storage.stores, queue && createSharding(config, storage, queue)) };
}
