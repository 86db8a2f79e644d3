// The composition root: one app object per process. It builds, once and lazily, the storage
// (one TableStore shared by detection, the API and delivery), the Log Analytics source
// (through the one DefaultAzureCredential, created on first use), the API and the delivery
// worker, and hands the edges what they call: functions/*.ts register these entries with the
// Functions host, `tokenwatch serve` calls the same ones from node:http and a tick loop.
import type { TokenCredential } from "@azure/identity";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createApi, responseBytes, type Api } from "./api/app.js";
import { Authenticator, entraTrust, type Trust } from "./api/auth.js";
import { consoleConfig, CONSOLE_PATH, findConsoleDir, readConsole, type ConsoleDeps } from "./api/console.js";
import { devTrust, signDevToken, type DevKey } from "./api/dev-auth.js";
import { MAX_BODY_BYTES, type ApiResponse, type RawRequest } from "./api/router.js";
import { loadConfig, type Config } from "./config.js";
import { lazyCredential } from "./credential.js";
import { webhookRoutes, type WebhookAdminDeps } from "./api/webhooks.js";
import { DeliveryRepository } from "./delivery/deliveries.js";
import { createDeliveryWorker, deliverAfterDetection, targetPolicy, type DeliveryWorker, type WorkerReport } from "./delivery/index.js";
import { SubscriptionRepository } from "./delivery/subscriptions.js";
import { backfillRule } from "./engine/backfill.js";
import { runScheduled, timerFor, type ScheduledDeps, type ScheduledOutcome } from "./engine/scheduled.js";
import type { RunLogger } from "./engine/telemetry.js";
import { incidentPlanner } from "./engine/planner.js";
import { ruleById, rules } from "./rules/index.js";
import { frequencyOf } from "./rules/rule.js";
import { createLogsQueryClient, LogAnalyticsSource } from "./sources/log-analytics.js";
import type { LogSource } from "./engine/ports.js";
import { memoryBackfillStores } from "./store/memory.js";
import { openStorage, type OpenedStorage } from "./store/index.js";
import { StorageQueue } from "./store/queue.js";
import { ShardRepository } from "./store/shards.js";
import { runShard, SHARD_QUEUE, type ShardOutcome, type Sharding } from "./engine/shards.js";
import type { TableStore } from "./store/tables.js";

export { SHARD_QUEUE };

/** The delivery timer's function name (the detection timers are named by timerFor). */
export const DELIVERY_TIMER = "webhookDelivery";
export const DELIVERY_SCHEDULE = "0 */1 * * * *";

export function createLogAnalyticsSource(config: Config, credential: TokenCredential): LogAnalyticsSource {
  if (!config.TOKENWATCH_WORKSPACE_ID) throw new Error("TOKENWATCH_WORKSPACE_ID is not set: the scheduled detections need the Log Analytics workspace id");
  const client = createLogsQueryClient(credential, { endpoint: config.TOKENWATCH_LOG_ANALYTICS_ENDPOINT });
  return new LogAnalyticsSource(client, { workspaceId: config.TOKENWATCH_WORKSPACE_ID });
}

/** The console's base URL for incident links: the setting, else the app's own host in Azure, else none. */
export function consoleUrl(config: Pick<Config, "TOKENWATCH_CONSOLE_URL" | "WEBSITE_HOSTNAME">): string | null {
  return config.TOKENWATCH_CONSOLE_URL ?? (config.WEBSITE_HOSTNAME ? `https://${config.WEBSITE_HOSTNAME}${CONSOLE_PATH}` : null);
}

/** What the webhook administration routes need, over the shared TableStore. */
export function webhookAdminDeps(store: TableStore, config: Config, now: () => number = Date.now): WebhookAdminDeps {
  return { subscriptions: new SubscriptionRepository(store), deliveries: new DeliveryRepository(store), policy: targetPolicy(config), now };
}

/**
 * The shard queue: the storage connection string's queue endpoint (Azurite's queue service
 * when the app started one), else the queue endpoint with the credential; null when neither
 * is set (then no window is sharded).
 */
export async function createShardQueue(config: Config, storage: OpenedStorage, credential: () => Promise<TokenCredential>, queueName = SHARD_QUEUE): Promise<StorageQueue | null> {
  const connectionString = config.TOKENWATCH_STORAGE_CONNECTION_STRING ?? (storage.azurite?.queueEndpoint ? storage.azurite.connectionString : undefined);
  // A connection string naming only a table endpoint (as some tests and local setups write) has no queue.
  if (connectionString && /QueueEndpoint=|UseDevelopmentStorage=true|EndpointSuffix=/i.test(connectionString)) return new StorageQueue({ connectionString, queueName });
  if (config.TOKENWATCH_STORAGE_QUEUE_ENDPOINT) return new StorageQueue({ endpoint: config.TOKENWATCH_STORAGE_QUEUE_ENDPOINT, credential: await credential(), queueName });
  return null;
}

export interface AppOptions {
  /** Storage (by endpoint) and Log Analytics sign in with it; default: DefaultAzureCredential, made on first use. */
  credential?: TokenCredential;
  /** The rules' clock: scheduled runs, rule health, the latest backfill end (default Date.now; `serve`'s simulated clock). */
  clock?: () => number;
  /** Where the rules read logs (default: the configured Log Analytics workspace, if any). */
  logSource?: LogSource;
  /** Dev mode: tokens signed with this key are accepted and the console offers a role picker. */
  devKey?: DevKey;
  /** The built web console's directory (default: found from this module's place; null: none). */
  consoleDir?: string | null;
  /** Server-side errors of the API. */
  log?: (line: string) => void;
}

/** A scheduled run's logger: the Functions InvocationContext, or anything with these. */
export interface ScheduleLogger extends RunLogger {
  warn(message: string): void;
}

/** The parts of a fetch-style request (the Functions HttpRequest) the app reads. */
export interface FetchRequest {
  url: string;
  method: string;
  headers: { forEach(fn: (value: string, name: string) => void): void };
  body: unknown;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface App {
  config: Config;
  /** The detection timers, one per rule, firing every `everyMs` (the rule's queryFrequency). */
  timers: { ruleId: string; name: string; schedule: string; everyMs: number }[];
  /** The rules' clock. */
  clock(): number;
  /** The built web console's directory, or null when it is not built. */
  consoleDir: string | null;
  /** The API: RawRequest in, ApiResponse out. */
  handleHttp(raw: RawRequest): Promise<ApiResponse>;
  /** The API over a fetch-style request: status, headers and body bytes. */
  handleFetch(request: FetchRequest): Promise<{ status: number; headers: Record<string, string>; body: Buffer | undefined }>;
  /** What a rule's timer does: its due windows, health and telemetry; busy/disabled/table-missing noted on the logger. */
  runSchedule(ruleId: string, logger: ScheduleLogger): Promise<ScheduledOutcome>;
  /**
   * What the shard function does with one delivery of a shard message (`dequeueCount`: this
   * delivery's count): processes the shard, or records it poisoned on the last delivery.
   */
  runShard(message: unknown, dequeueCount: number, logger: ScheduleLogger): Promise<ShardOutcome>;
  /** The shard queue (serve's stand-in for the queue trigger reads it), or null when none is configured. */
  shardQueue(): Promise<StorageQueue | null>;
  /** A delivery run: "timer" fails on error, "detection" (right after a detection run) never does. */
  deliver(trigger: "timer" | "detection", log?: (line: string) => void): Promise<WorkerReport | null>;
  /** The storage, opened on first use (the CLI's commands and tests read it). */
  storage(): Promise<OpenedStorage>;
  /** Where the rules read logs: the given source, else the configured workspace, else null. */
  logSource(): Promise<LogSource | null>;
  close(): Promise<void>;
}

interface Parts {
  storage: OpenedStorage;
  api: Api;
  worker: DeliveryWorker;
  source: LogSource | null;
  scheduled: Omit<ScheduledDeps, "logger"> | null;
  queue: StorageQueue | null;
}

export function createApp(config: Config, options: AppOptions = {}): App {
  const credential = lazyCredential(options.credential);
  const clock = options.clock ?? Date.now;
  const log = options.log ?? ((line: string) => console.error(line));
  const consoleDir = options.consoleDir !== undefined ? options.consoleDir : findConsoleDir(dirname(fileURLToPath(import.meta.url)));
  let parts: Promise<Parts> | undefined;

  async function build(): Promise<Parts> {
    const storage = await openStorage(config, incidentPlanner, credential, { queue: true });
    const queue = await createShardQueue(config, storage, credential);
    // A per-account rule's large window goes out as shards on the queue.
    const sharding: Sharding | null = queue && { queue, shards: new ShardRepository(storage.store), rowsPerShard: config.TOKENWATCH_SHARD_ROWS };
    const source = options.logSource ?? (config.TOKENWATCH_WORKSPACE_ID ? createLogAnalyticsSource(config, await credential()) : undefined);
    const { stores, store } = storage;
    const trusts: Trust[] = options.devKey ? [devTrust(options.devKey)] : [];
    const entra = entraTrust(config);
    if (entra) trusts.push(entra);
    const key = options.devKey;
    const webConsole: ConsoleDeps = {
      files: consoleDir ? readConsole(consoleDir) : null,
      config: consoleConfig(config),
      ...(key ? { devToken: (roles: readonly string[], user?: string) => signDevToken(key, { roles, user }) } : {}),
    };
    const api = createApi({
      stores,
      auth: new Authenticator(trusts),
      now: Date.now,
      ruleNow: clock,
      disabledRules: config.TOKENWATCH_DISABLED_RULES,
      log,
      extraRoutes: webhookRoutes(webhookAdminDeps(store, config)),
      console: webConsole,
      // Backfill reads the same logs as the timers; without a source the route answers 503.
      ...(source ? { backfill: (rule, range) => backfillRule(rule, { source, stores, now: clock }, memoryBackfillStores(), range) } : {}),
    });
    const worker = createDeliveryWorker(store, config, { consoleUrl: consoleUrl(config) });
    const scheduled = source
      ? {
          source,
          stores,
          now: clock,
          ingestionDelayMs: config.TOKENWATCH_INGESTION_DELAY_MINUTES * 60_000,
          maxLatenessMs: config.TOKENWATCH_MAX_LATENESS_HOURS * 3_600_000,
          sessionLifetimeMs: config.TOKENWATCH_SESSION_LIFETIME_DAYS * 86_400_000,
          maxWindows: config.TOKENWATCH_MAX_WINDOWS_PER_RUN,
          disabledRules: config.TOKENWATCH_DISABLED_RULES,
          ...(sharding ? { sharding } : {}),
        }
      : null;
    return { storage, api, worker, source: source ?? null, scheduled, queue };
  }

  /** Built once; a failed build is forgotten so the next call tries again. */
  const ready = () =>
    (parts ??= build().catch((error: unknown) => {
      parts = undefined;
      throw error;
    }));

  const handleHttp = async (raw: RawRequest) => (await ready()).api.handle(raw);

  return {
    config,
    timers: rules.map((rule) => ({ ruleId: rule.meta.id, everyMs: frequencyOf(rule), ...timerFor(rule, config.TOKENWATCH_INGESTION_DELAY_MINUTES) })),
    clock,
    consoleDir,
    handleHttp,
    async handleFetch(request) {
      const response = await handleHttp(await fetchToRaw(request));
      return { status: response.status, headers: response.headers ?? {}, body: responseBytes(response) };
    },
    async runSchedule(ruleId, logger) {
      const { scheduled } = await ready();
      if (!scheduled) throw new Error("TOKENWATCH_WORKSPACE_ID is not set: the scheduled detections need the Log Analytics workspace id");
      const outcome = await runScheduled(ruleId, { ...scheduled, logger });
      if (outcome.status === "busy" || outcome.status === "disabled") logger.info(outcome.reason);
      else if (outcome.status === "sharded") {
        const { window, shards, sent } = outcome.step;
        logger.info(`${ruleById(ruleId)?.meta.name ?? ruleId}: window ${new Date(window.start).toISOString()} in ${shards.length} shards, ${shards.filter((s) => s.status === "committed").length} committed, ${sent} sent`);
      }
      // Reported once, when first found; the rule's health says "table-missing" until the table appears.
      else if (outcome.status === "table-missing" && outcome.newly)
        logger.warn(`${ruleById(ruleId)?.meta.name ?? ruleId}: table ${outcome.table} is missing from the workspace (connect its data connector, or switch the rule off)`);
      return outcome;
    },
    async runShard(message, dequeueCount, logger) {
      const { scheduled } = await ready();
      if (!scheduled?.sharding) throw new Error("shards need TOKENWATCH_WORKSPACE_ID and a shard queue (TOKENWATCH_STORAGE_QUEUE_ENDPOINT or a connection string)");
      const outcome = await runShard(message, dequeueCount, { ...scheduled, sharding: scheduled.sharding, logger });
      if (outcome.status === "poisoned") logger.warn(outcome.error);
      else if (outcome.status === "skipped") logger.info(`shard skipped: ${outcome.reason}`);
      for (const { ruleId, window, rowsFetched, alerts, heldBack } of outcome.status === "skipped" ? [] : outcome.reports)
        logger.info(`rule ${ruleId} shard of window ${new Date(window.start).toISOString()}: ${rowsFetched} rows, ${alerts.length} alerts, ${heldBack} held back`);
      return outcome;
    },
    shardQueue: async () => (await ready()).queue,
    async deliver(trigger, deliveryLog) {
      if (trigger === "detection") return deliverAfterDetection(async () => (await ready()).worker, deliveryLog);
      const report = await (await ready()).worker.run();
      deliveryLog?.(JSON.stringify({ event: "webhookDelivery", trigger, ...report }));
      return report;
    },
    storage: async () => (await ready()).storage,
    logSource: async () => (await ready()).source,
    async close() {
      const built = parts;
      parts = undefined;
      if (built) await (await built.catch(() => null))?.storage.close();
    },
  };
}

/** A fetch-style request as the API's RawRequest (a body over the limit is flagged, not read). */
async function fetchToRaw(request: FetchRequest): Promise<RawRequest> {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name.toLowerCase()] = value));
  const declared = Number(headers["content-length"] ?? 0);
  let body: Buffer | null = null;
  let bodyTooLarge = Number.isFinite(declared) && declared > MAX_BODY_BYTES;
  if (!bodyTooLarge && request.body) {
    body = Buffer.from(await request.arrayBuffer());
    if (body.length > MAX_BODY_BYTES) (bodyTooLarge = true), (body = null);
  }
  return { method: request.method, path: url.pathname, query: url.searchParams, headers, body: body && body.length > 0 ? body : null, bodyTooLarge };
}

let hosted: App | undefined;

/**
 * The Functions host's app, from the environment (an invalid setting stops the app with its
 * reason). Dev mode is `tokenwatch serve`'s alone: it checks it listens on loopback, and a
 * Functions host's listening address is not the app's to see, so the setting is refused here.
 */
export function functionsApp(): App {
  if (hosted) return hosted;
  const config = loadConfig();
  if (config.TOKENWATCH_DEV_MODE)
    throw new Error("invalid configuration: TOKENWATCH_DEV_MODE: the Functions host does not accept dev tokens (use `tokenwatch serve`, which listens on loopback only)");
  return (hosted = createApp(config));
}
