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

export function createLogAnalyticsSource(config: Config, credential: TokenCredential): LogAnalyticsSource {
  if (!config.TOKENWATCH_WORKSPACE_ID) throw new Error("TOKENWATCH_WORKSPACE_ID is not set: the scheduled detections need the Log Analytics workspace id");
  const client = createLogsQueryClient(credential, { endpoint: config.TOKENWATCH_LOG_ANALYTICS_ENDPOINT });
  return new LogAnalyticsSource(client, { workspaceId: config.TOKENWATCH_WORKSPACE_ID });
}

export interface DetectionApp {
  deps: Omit<ScheduledDeps, "logger">;
  storage: OpenedStorage;
}

/** Storage and the Log Analytics source from the config, with the given credential. */
/** What the scheduled entry needs from the settings, around a source and the stores. */
export function scheduledDeps(config: Config, source: LogSource, stores: Stores): DetectionApp["deps"] {
  return {
    source,
    stores,
    now: Date.now,
    ingestionDelayMs: config.TOKENWATCH_INGESTION_DELAY_MINUTES * 60_000,
    maxLatenessMs: config.TOKENWATCH_MAX_LATENESS_HOURS * 3_600_000,
    sessionLifetimeMs: config.TOKENWATCH_SESSION_LIFETIME_DAYS * 86_400_000,
    maxWindows: config.TOKENWATCH_MAX_WINDOWS_PER_RUN,
    disabledRules: config.TOKENWATCH_DISABLED_RULES,
  };
}

export async function openDetection(config: Config, credential: TokenCredential = new DefaultAzureCredential()): Promise<DetectionApp> {
  const source = createLogAnalyticsSource(config, credential);
  const storage = await openStorage(config);
  return { storage, deps: scheduledDeps(config, source, storage.stores) };
}
