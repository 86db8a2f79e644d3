// `tokenwatch serve [--port N]`: the local host. The same API handlers as the Functions app,
// under /api/ on 127.0.0.1, over the configured storage or a fresh in-memory Azurite, in dev
// mode (tokens from `tokenwatch dev-token`; the dev JWKS at /dev/jwks.json), with the rules
// running on a timer: against Log Analytics on their schedules when TOKENWATCH_WORKSPACE_ID
// is set, otherwise over a simulated tenant replayed in fast-forward (one simulated hour
// every few seconds), so incidents appear within a minute. Webhooks as in the Functions
// app: the admin routes under /api/webhooks, and the delivery worker after each detection
// run and every minute; unlike the app's, its targets may be http and loopback/private
// (local receivers), unless the environment sets the two flags otherwise.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApi, responseBytes, type Api, type ApiDeps } from "../api/app.js";
import { Authenticator, entraTrust, type Trust } from "../api/auth.js";
import { consoleConfig, CONSOLE_PATH, findConsoleDir, readConsole, type ConsoleDeps } from "../api/console.js";
import { devJwks, devTrust, loadDevKey, signDevToken } from "../api/dev-auth.js";
import { MAX_BODY_BYTES, type RawRequest, type RouteDef } from "../api/router.js";
import { loadConfig } from "../config.js";
import { isLoopbackHost } from "../net/ip.js";
import { createDeliveryWorker, webhookAdminDeps, type DeliveryWorker } from "../delivery/index.js";
import { webhookRoutes } from "../delivery/routes.js";
import { backfillRule } from "../engine/backfill.js";
import { runRule, type Stores } from "../engine/run.js";
import { disabledReason, runScheduled, type ScheduledDeps } from "../engine/scheduled.js";
import { createLogAnalyticsSource, createShardQueue, createSharding, scheduledDeps } from "../compose.js";
import { runShard, type ShardDeps, type ShardOutcome } from "../engine/shards.js";
import type { StorageQueue } from "../store/queue.js";
import { DefaultAzureCredential } from "@azure/identity";
import { rules } from "../rules/index.js";
import { frequencyOf } from "../rules/rule.js";
import { simulateTenant } from "../sim/simulate.js";
import { ReplaySource } from "../sources/replay.js";
import type { LogSource } from "../sources/source.js";
import { openStorage } from "../store/index.js";
import type { TableStore } from "../store/tables.js";
import { selfCommand, UsageError } from "./usage.js";

export const DEFAULT_PORT = 7071;
/** The simulated tenant's size when `serve` runs without a workspace (the README says so). */
export const SERVE_DEFAULT_USERS = 200;
const HOUR = 3_600_000;

/** What an edge reads before giving up on a body it will refuse anyway (413). */
const DRAIN_LIMIT = 8 * MAX_BODY_BYTES;

/** Turns a node:http request into the API's RawRequest (body cut at the size limit). */
export async function rawRequest(req: IncomingMessage): Promise<RawRequest | null> {
  const target = req.url ?? "/";
  if (!target.startsWith("/")) return null;
  let url: URL;
  try {
    url = new URL(`http://localhost${target}`);
  } catch {
    return null;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  const declared = Number(headers["content-length"] ?? 0);
  let tooLarge = Number.isFinite(declared) && declared > MAX_BODY_BYTES;
  const chunks: Buffer[] = [];
  let size = 0;
  if (!tooLarge) {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
      if (size > DRAIN_LIMIT) break;
    }
  }
  return { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers, body: size > 0 && !tooLarge ? Buffer.concat(chunks) : null, bodyTooLarge: tooLarge };
}

export interface Listening {
  server: Server;
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/** Serves the API (and any extra plain routes, e.g. the dev JWKS) on host:port (0 = any free port). */
export async function listen(api: Api, options: { port: number; host?: string; extra?: Record<string, unknown>; log?: (line: string) => void }): Promise<Listening> {
  const server = createServer((req, res) => void respond(api, req, res, options.extra ?? {}, options.log));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function respond(api: Api, req: IncomingMessage, res: ServerResponse, extra: Record<string, unknown>, log?: (line: string) => void) {
  try {
    const path = (req.url ?? "").split("?")[0]!;
    if (req.method === "GET" && path === "/") {
      res.writeHead(302, { location: CONSOLE_PATH, "cache-control": "no-store" }).end();
      return;
    }
    if (req.method === "GET" && Object.hasOwn(extra, path)) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(extra[path]));
      return;
    }
    const raw = await rawRequest(req);
    const response = raw
      ? await api.handle(raw)
      : { status: 400, headers: { "content-type": "application/problem+json" }, body: { type: "about:blank", title: "Bad request", status: 400, detail: "request target must be a path" } };
    const bytes = responseBytes(response);
    const headers: Record<string, string | number> = { ...response.headers };
    if (bytes) headers["content-length"] = bytes.length;
    if (raw?.bodyTooLarge) headers.connection = "close";
    res.writeHead(response.status, headers).end(bytes);
  } catch (error) {
    log?.(`serve: ${error instanceof Error ? error.message : String(error)}`);
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/problem+json" }).end(JSON.stringify({ type: "about:blank", title: "Internal server error", status: 500 }));
    else res.destroy();
  }
}

export interface SimulationOptions {
  /** Wall-clock milliseconds per simulated hour. */
  stepMs: number;
  users: number;
  seed: number;
  /** Rules switched off by setting; rules an admin switched off over the API are skipped as well. */
  disabledRules?: ReadonlySet<string>;
  /** Called after each step's rule runs (the delivery worker, in serve). */
  afterStep?: () => void;
}

export interface Simulation {
  /** The simulated "now": the end of the last hour the rules have run to. */
  clock(): number;
  source: ReplaySource;
  stop(): Promise<void>;
}

/**
 * Simulates a tenant into a temp dir and replays it through every rule in fast-forward:
 * each step advances the clock one hour and runs each rule's due windows, as the hourly
 * timers would. Stops at the end of the simulated range.
 */
export async function startSimulation(stores: Stores, options: SimulationOptions, log: (line: string) => void): Promise<Simulation> {
  const dir = await mkdtemp(join(tmpdir(), "tokenwatch-serve-"));
  const tenant = await simulateTenant(dir, { users: options.users, days: 1, historyDays: 14, seed: options.seed });
  const source = await ReplaySource.open(dir);
  const from = Date.parse(tenant.from);
  const end = Date.parse(tenant.to);
  log(`simulated tenant: ${options.users} users, ${tenant.planted.length} planted attacks, ${tenant.from} .. ${tenant.to}; one hour every ${options.stepMs / 1000} s`);
  let clock = from;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const step = async () => {
    clock += HOUR;
    let alerts = 0;
    for (const rule of rules) {
      if (await disabledReason(rule.meta.id, { stores, disabledRules: options.disabledRules })) continue;
      const reports = await runRule(rule, { source, stores, now: Date.now }, { startAt: from, until: clock });
      alerts += reports.reduce((n, r) => n + r.alerts.length, 0);
    }
    log(`rules ran to ${new Date(clock).toISOString()}${alerts ? `: ${alerts} new alert(s)` : ""}`);
    options.afterStep?.();
  };
  const schedule = () => {
    if (stopped) return;
    if (clock >= end) {
      log("simulated range replayed; the rules are idle (restart serve for a fresh tenant)");
      return;
    }
    timer = setTimeout(() => {
      running = step().then(schedule, (error: unknown) => {
        log(`rule run failed: ${error instanceof Error ? error.message : String(error)}`);
        schedule();
      });
    }, options.stepMs);
  };
  schedule();
  return {
    clock: () => clock,
    source,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running.catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The timers' schedule against Log Analytics (TOKENWATCH_WORKSPACE_ID set): each rule runs as
 * its timer does (runScheduled) once at start-up, then each time a period boundary plus the
 * ingestion delay passes. A minute's check is enough: the shortest frequency is 5 minutes.
 */
export function startScheduledRules(
  deps: Omit<ScheduledDeps, "logger">,
  log: (line: string) => void,
  afterCheck: () => void = () => {},
): { settled(): Promise<void>; stop(): Promise<void> } {
  const lastBoundary = new Map<string, number>();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const check = async () => {
    for (const rule of rules) {
      if (stopped) return;
      const frequency = frequencyOf(rule);
      const boundary = Math.floor((deps.now() - deps.ingestionDelayMs) / frequency) * frequency;
      if (lastBoundary.get(rule.meta.id) === boundary) continue;
      lastBoundary.set(rule.meta.id, boundary);
      try {
        const outcome = await runScheduled(rule.meta.id, deps);
        if (outcome.status === "busy" || outcome.status === "disabled") log(`${rule.meta.name}: ${outcome.reason}`);
        else if (outcome.status === "table-missing") {
          if (outcome.newly) log(`${rule.meta.name}: table ${outcome.table} is missing from the workspace; the rule reports "table-missing" until it appears`);
        } else if (outcome.status === "sharded") {
          const { window, shards, sent } = outcome.step;
          log(`${rule.meta.name}: window ${new Date(window.start).toISOString()} in ${shards.length} shards, ${shards.filter((s) => s.status === "committed").length} committed, ${sent} sent`);
        } else log(`${rule.meta.name}: ${outcome.reports.length} window(s), ${outcome.reports.reduce((n, r) => n + r.alerts.length, 0)} alert(s)`);
      } catch (error) {
        log(`${rule.meta.name}: run failed (retried at its next period): ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    afterCheck();
  };
  running = check();
  const timer = setInterval(() => {
    running = running.then(check);
  }, 60_000);
  return {
    /** Resolves once the checks started so far are done. */
    settled: () => running,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}

/**
 * Runs the delivery worker on `kick()` (after each detection run) and every `intervalMs`
 * (retries, redeliveries). Runs never overlap, and kicks made while one runs coalesce into
 * the next. A failed run is logged: the outbox keeps what it did not send.
 */
export function startDelivery(worker: DeliveryWorker, log: (line: string) => void, intervalMs = 60_000): { kick(): Promise<void>; stop(): Promise<void> } {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  const kick = () => {
    if (queued) return queued;
    const next = current.then(async () => {
      queued = undefined;
      if (stopped) return;
      try {
        const r = await worker.run();
        if (r.fannedOut || r.attempted)
          log(`webhooks: ${r.fannedOut} event(s) fanned out, ${r.delivered} delivered, ${r.failed} to retry, ${r.deadLettered} dead-lettered`);
      } catch (error) {
        log(`webhooks: delivery run failed (retried in a minute): ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    queued = current = next;
    return next;
  };
  const timer = setInterval(() => void kick(), intervalMs);
  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}

/**
 * One pass over the shard queue, as the Functions runtime runs the shard function: each
 * message's shard is processed; a shard that fails stays on the queue and comes back after
 * `visibilityTimeoutSeconds` with its dequeue count one higher. Returns how many it received.
 */
export function consumeShards(
  queue: StorageQueue,
  deps: ShardDeps,
  options: { visibilityTimeoutSeconds?: number; onOutcome?: (outcome: ShardOutcome) => void; onError?: (error: unknown) => void } = {},
): Promise<number> {
  return queue.consume(async ({ body, dequeueCount }) => options.onOutcome?.(await runShard(body, dequeueCount, deps)), {
    max: 1, // one shard at a time, as host.json's batchSize: bounded memory
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    onError: options.onError,
  });
}

/** The shard function's stand-in in serve: polls the shard queue every `intervalMs` while it is empty. */
export function startShardWorker(queue: StorageQueue, deps: ShardDeps, log: (line: string) => void, intervalMs = 1_000): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    const received = await consumeShards(queue, deps, {
      onOutcome: (o) => (o.status === "poisoned" ? log(o.error) : o.status === "committed" ? log(`shard of ${o.report.ruleId}: ${o.report.alerts.length} alert(s)`) : undefined),
      onError: (error) => log(`shard failed (delivered again): ${error instanceof Error ? error.message : String(error)}`),
    }).catch((error: unknown) => (log(`shard queue: ${error instanceof Error ? error.message : String(error)}`), 0));
    if (!stopped) timer = setTimeout(() => void (running = pass()), received > 0 ? 0 : intervalMs);
  };
  running = pass();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export interface ServeOptions {
  port: number;
  /** The address to listen on (default 127.0.0.1). Dev mode refuses any but a loopback address. */
  host?: string;
  stepMs: number;
  users: number;
  log: (line: string) => void;
}

export function parseServeArgs(values: Record<string, string | boolean | undefined>): Omit<ServeOptions, "log"> {
  const int = (name: string, fallback: number, min: number, max: number) => {
    const v = values[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (typeof v !== "string" || !/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  return { port: int("port", DEFAULT_PORT, 0, 65535), stepMs: int("step-seconds", 2, 1, 3600) * 1000, users: int("users", SERVE_DEFAULT_USERS, 10, 5000) };
}

/** Builds the API over storage and a set of trusts; `ruleNow` is the rules' clock (the simulated one in fast-forward). */
export function buildApi(
  stores: Stores,
  store: TableStore,
  trusts: Trust[],
  options: { ruleNow?: () => number; source?: LogSource; log?: (line: string) => void; extraRoutes?: RouteDef[]; disabledRules?: ReadonlySet<string>; console?: ConsoleDeps } = {},
): Api {
  const source = options.source;
  const deps: ApiDeps = {
    stores,
    auth: new Authenticator(trusts),
    now: Date.now,
    ruleNow: options.ruleNow,
    disabledRules: options.disabledRules,
    log: options.log,
    extraRoutes: options.extraRoutes,
    console: options.console,
    ...(source ? { backfill: (rule, range) => backfillRule(rule, { source, stores, now: Date.now }, store, range) } : {}),
  };
  return createApi(deps);
}

export interface RunningHost {
  /** http://127.0.0.1:PORT (the API under /api/). */
  url: string;
  close(): Promise<void>;
}

/** Starts the local host: storage (Azurite unless configured), dev-mode auth, the simulated tenant's timer, the HTTP server. */
export async function startServe(options: ServeOptions): Promise<RunningHost> {
  // The local host allows http and loopback/private webhook targets (local receivers) unless
  // the environment says otherwise; the Functions app's defaults stay strict (config.ts).
  // Dev mode (the dev key's tokens) is on unless TOKENWATCH_DEV_MODE=false: loadConfig refuses it
  // in a hosted environment, and here it is refused on any but a loopback address. Teams / Slack
  // incident links point at this host's console unless TOKENWATCH_CONSOLE_URL is set.
  const host = options.host ?? "127.0.0.1";
  const config = loadConfig({
    TOKENWATCH_WEBHOOK_ALLOW_HTTP: "true",
    TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
    TOKENWATCH_DEV_MODE: "true",
    ...(options.port ? { TOKENWATCH_CONSOLE_URL: `http://${host}:${options.port}${CONSOLE_PATH}` } : {}),
    ...process.env,
  });
  if (config.TOKENWATCH_DEV_MODE && !isLoopbackHost(host))
    throw new Error(`dev mode accepts locally signed tokens and listens only on a loopback address, not ${host}: listen on 127.0.0.1 or set TOKENWATCH_DEV_MODE=false`);
  const storage = await openStorage(config, { queue: true });
  const { log } = options;
  let simulation: Simulation | undefined;
  let scheduled: { stop(): Promise<void> } | undefined;
  let shardWorker: { stop(): Promise<void> } | undefined;
  let listening: Listening | undefined;
  const delivery = startDelivery(createDeliveryWorker(storage.store, config), log);
  const close = async () => {
    await listening?.close();
    await simulation?.stop();
    await scheduled?.stop();
    await shardWorker?.stop();
    await delivery.stop();
    await storage.close();
  };
  try {
    log(storage.azurite ? `storage: in-memory Azurite at ${storage.azurite.endpoint}` : "storage: the configured account");
    const key = config.TOKENWATCH_DEV_MODE ? await loadDevKey() : undefined;
    const trusts = key ? [devTrust(key)] : [];
    const entra = entraTrust(config);
    if (entra) trusts.push(entra);
    let api: Api;
    const consoleDir = findConsoleDir(dirname(fileURLToPath(import.meta.url)));
    if (!consoleDir) log("web console: not built (npm run build); /api/console/ answers 404");
    const extraRoutes = webhookRoutes(webhookAdminDeps(storage.store, config));
    const webConsole: ConsoleDeps = {
      files: consoleDir ? readConsole(consoleDir) : null,
      config: consoleConfig(config),
      ...(key ? { devToken: (roles: readonly string[], user?: string) => signDevToken(key, { roles, user }) } : {}),
    };
    if (config.TOKENWATCH_WORKSPACE_ID) {
      // Log Analytics configured: the rules run on their real schedules against it.
      const credential = new DefaultAzureCredential();
      const source = createLogAnalyticsSource(config, credential);
      const queue = createShardQueue(config, storage, () => credential);
      const sharding = queue && createSharding(config, storage, queue);
      const deps = scheduledDeps(config, source, storage.stores, sharding);
      log(`rules: on their schedules against Log Analytics workspace ${config.TOKENWATCH_WORKSPACE_ID}`);
      scheduled = startScheduledRules(deps, log, () => void delivery.kick());
      if (queue && sharding) {
        log(`shards: windows over ${config.TOKENWATCH_SHARD_ROWS} rows go out on queue ${queue.name}, processed here one at a time`);
        shardWorker = startShardWorker(queue, { ...deps, sharding }, log);
      }
      api = buildApi(storage.stores, storage.store, trusts, { log, source, extraRoutes, disabledRules: config.TOKENWATCH_DISABLED_RULES, console: webConsole });
    } else {
      const disabledRules = config.TOKENWATCH_DISABLED_RULES;
      simulation = await startSimulation(storage.stores, { stepMs: options.stepMs, users: options.users, seed: 1, disabledRules, afterStep: () => void delivery.kick() }, log);
      api = buildApi(storage.stores, storage.store, trusts, { log, ruleNow: simulation.clock, source: simulation.source, extraRoutes, disabledRules, console: webConsole });
    }
    listening = await listen(api, { port: options.port, host, extra: key ? { "/dev/jwks.json": devJwks(key) } : {}, log });
    log(`web console: ${listening.url}${CONSOLE_PATH}${key ? " (dev sign-in: pick a role)" : ""}`);
    log(`tokenwatch API on ${listening.url}/api/ (${key ? `dev mode: tokens from \`tokenwatch dev-token\`; JWKS ${listening.url}/dev/jwks.json` : "Entra ID tokens only"})`);
    log(`try: curl -H "Authorization: Bearer $(${selfCommand()} dev-token)" ${listening.url}/api/accounts`);
    log(`webhooks: deliveries after each detection run and every minute; http targets ${config.TOKENWATCH_WEBHOOK_ALLOW_HTTP ? "allowed" : "refused"}, loopback/private targets ${config.TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS ? "allowed" : "refused"}`);
    return { url: listening.url, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs the local host until SIGINT/SIGTERM. */
export async function serve(options: ServeOptions): Promise<void> {
  const host = await startServe(options);
  try {
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    options.log("stopping");
  } finally {
    await host.close();
  }
}
