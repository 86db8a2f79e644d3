// `tokenwatch serve [--port N]`: the local host. The same API handlers as the Functions app,
// under /api/ on 127.0.0.1, over the configured storage or a fresh in-memory Azurite, in dev
// mode (tokens from `tokenwatch dev-token`; the dev JWKS at /dev/jwks.json), with the rules
// running on a tick loop over the app's scheduled entry (the one the Functions timers call, so
// rule health and telemetry are the same): against Log Analytics on their schedules when
// TOKENWATCH_WORKSPACE_ID is set, otherwise over a simulated tenant replayed in fast-forward
// (one simulated hour every few seconds), so incidents appear within a minute. The HTTP
// server is a node:http adapter over the same app object (src/app.ts). Webhooks as in the Functions
// app: the admin routes under /api/webhooks, and the delivery worker after each detection
// run and every minute; unlike the app's, its targets may be http and loopback/private
// (local receivers), unless the environment sets the two flags otherwise.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { responseBytes } from "../api/app.js";
import { CONSOLE_PATH } from "../api/console.js";
import { devJwks, loadDevKey } from "../api/dev-auth.js";
import { MAX_BODY_BYTES, type ApiResponse, type RawRequest } from "../api/router.js";
import { createApp, type App } from "../app.js";
import { loadConfig } from "../config.js";
import type { ScheduledOutcome } from "../engine/scheduled.js";
import { isLoopbackHost } from "../net/ip.js";
import { ruleById } from "../rules/index.js";
import type { ShardOutcome } from "../engine/shards.js";
import type { StorageQueue } from "../store/queue.js";
import { simulateTenant } from "../sim/simulate.js";
import { ReplaySource } from "../sources/replay.js";
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

/** What the server answers a request with: the app's API. */
export type Handle = (raw: RawRequest) => Promise<ApiResponse>;

/** Serves the API (and any extra plain routes, e.g. the dev JWKS) on host:port (0 = any free port). */
export async function listen(handle: Handle, options: { port: number; host?: string; extra?: Record<string, unknown>; log?: (line: string) => void }): Promise<Listening> {
  const server = createServer((req, res) => void respond(handle, req, res, options.extra ?? {}, options.log));
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

async function respond(handle: Handle, req: IncomingMessage, res: ServerResponse, extra: Record<string, unknown>, log?: (line: string) => void) {
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
      ? await handle(raw)
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

/** A simulated tenant's logs replayed in fast-forward: the rules' clock moves one hour per step. */
export interface SimulatedTenant {
  source: ReplaySource;
  /** The simulated "now": the end of the last hour the rules may read. */
  clock(): number;
  /** Moves the clock one hour; false once the simulated range is replayed. */
  step(): boolean;
  dispose(): Promise<void>;
}

/** Simulates a tenant into a temp dir; its clock starts at the simulated range's start. */
export async function simulateTenantForServe(options: { users: number; seed: number; stepMs: number }, log: (line: string) => void): Promise<SimulatedTenant> {
  const dir = await mkdtemp(join(tmpdir(), "tokenwatch-serve-"));
  const tenant = await simulateTenant(dir, { users: options.users, days: 1, historyDays: 14, seed: options.seed });
  const source = await ReplaySource.open(dir);
  const end = Date.parse(tenant.to);
  let clock = Date.parse(tenant.from);
  log(`simulated tenant: ${options.users} users, ${tenant.planted.length} planted attacks, ${tenant.from} .. ${tenant.to}; one hour every ${options.stepMs / 1000} s`);
  return {
    source,
    clock: () => clock,
    step: () => clock < end && ((clock += HOUR), true),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Telemetry lines are Application Insights traces in Azure; locally the outcome lines below say what they say. */
const quiet = { info() {}, warn() {}, error() {} };

/** The rules whose period boundary (plus the ingestion delay) has passed since they last ran. */
function dueRules(app: App, lastBoundary: Map<string, number>): string[] {
  const now = app.clock();
  const delay = app.config.TOKENWATCH_INGESTION_DELAY_MINUTES * 60_000;
  return app.timers.flatMap(({ ruleId, everyMs }) => {
    const boundary = Math.floor((now - delay) / everyMs) * everyMs;
    if (lastBoundary.get(ruleId) === boundary) return [];
    lastBoundary.set(ruleId, boundary);
    return [ruleId];
  });
}

type Outcome = { ruleId: string; outcome: ScheduledOutcome } | { ruleId: string; error: unknown };

/**
 * The timers' schedule, as a tick loop over the app's own scheduled entry (runSchedule: the
 * same windows, health and telemetry as the Functions timers): each tick runs the rules whose
 * period boundary plus the ingestion delay passed since their last run, once at start-up
 * too, then reports. `advance` moves a simulated clock before each tick after the first; a
 * tick loop whose advance returns false stops. Ticks never overlap.
 */
export function startRuleTicks(
  app: App,
  options: { intervalMs: number; advance?: () => boolean; report(outcomes: Outcome[]): void; onIdle?: () => void },
): { settled(): Promise<void>; stop(): Promise<void> } {
  const lastBoundary = new Map<string, number>();
  let stopped = false;
  const tick = async () => {
    const outcomes: Outcome[] = [];
    for (const ruleId of dueRules(app, lastBoundary)) {
      if (stopped) return;
      try {
        outcomes.push({ ruleId, outcome: await app.runSchedule(ruleId, quiet) });
      } catch (error) {
        outcomes.push({ ruleId, error });
      }
    }
    options.report(outcomes);
  };
  let running: Promise<void> = options.advance ? Promise.resolve() : tick();
  const timer = setInterval(() => {
    running = running.then(() => {
      if (stopped) return;
      if (options.advance && !options.advance()) {
        clearInterval(timer);
        options.onIdle?.();
        return;
      }
      return tick();
    });
  }, options.intervalMs);
  return {
    /** Resolves once the ticks started so far are done. */
    settled: () => running,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}

const ruleName = (id: string) => ruleById(id)?.meta.name ?? id;
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
const alertsOf = (o: ScheduledOutcome) => (o.status === "ok" ? o.reports.reduce((n, r) => n + r.alerts.length, 0) : 0);

/** One line per rule run, as the timers' logs say it (against Log Analytics). */
export function ruleLines(outcomes: Outcome[]): string[] {
  return outcomes.map((o) => {
    const name = ruleName(o.ruleId);
    if ("error" in o) return `${name}: run failed (retried at its next period): ${errorText(o.error)}`;
    const { outcome } = o;
    if (outcome.status === "busy" || outcome.status === "disabled") return `${name}: ${outcome.reason}`;
    if (outcome.status === "table-missing") return outcome.newly ? `${name}: table ${outcome.table} is missing from the workspace; the rule reports "table-missing" until it appears` : "";
    if (outcome.status === "sharded") {
      const { window, shards, sent } = outcome.step;
      return `${name}: window ${new Date(window.start).toISOString()} in ${shards.length} shards, ${shards.filter((s) => s.status === "committed").length} committed, ${sent} sent`;
    }
    return `${name}: ${outcome.reports.length} window(s), ${alertsOf(outcome)} alert(s)`;
  }).filter(Boolean);
}

/**
 * Runs the app's delivery entry on `kick()` (after each detection tick) and every
 * `intervalMs` (retries, redeliveries). Runs never overlap, and kicks made while one runs
 * coalesce into the next. A failed run is logged: the outbox keeps what it did not send.
 */
export function startDelivery(app: App, log: (line: string) => void, intervalMs = 60_000): { kick(): Promise<void>; stop(): Promise<void> } {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  const kick = () => {
    if (queued) return queued;
    const next = current.then(async () => {
      queued = undefined;
      if (stopped) return;
      try {
        const r = (await app.deliver("timer"))!;
        if (r.fannedOut || r.attempted)
          log(`webhooks: ${r.fannedOut} event(s) fanned out, ${r.delivered} delivered, ${r.failed} to retry, ${r.deadLettered} dead-lettered`);
      } catch (error) {
        log(`webhooks: delivery run failed (retried in a minute): ${errorText(error)}`);
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

/** What the queue trigger calls with one delivery: the app's runShard (tests: the engine's, over their own stores). */
export type ShardHandler = (message: unknown, dequeueCount: number) => Promise<ShardOutcome>;

/**
 * One pass over the shard queue, as the Functions runtime runs the shard function: each
 * message's shard is processed; a shard that fails stays on the queue and comes back after
 * `visibilityTimeoutSeconds` with its dequeue count one higher. Returns how many it received.
 */
export function consumeShards(
  queue: StorageQueue,
  handle: ShardHandler,
  options: { visibilityTimeoutSeconds?: number; onOutcome?: (outcome: ShardOutcome) => void; onError?: (error: unknown) => void } = {},
): Promise<number> {
  // Handled first: an optional call (`onOutcome?.(await handle(…))`) would skip the handler when no onOutcome is given.
  return queue.consume(async ({ body, dequeueCount }) => {
    const outcome = await handle(body, dequeueCount);
    options.onOutcome?.(outcome);
  }, {
    max: 1, // one shard at a time, as host.json's batchSize: bounded memory
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    onError: options.onError,
  });
}

/** The shard function's stand-in in serve: polls the shard queue every `intervalMs` while it is empty. */
export function startShardWorker(queue: StorageQueue, handle: ShardHandler, log: (line: string) => void, intervalMs = 1_000): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    const received = await consumeShards(queue, handle, {
      onOutcome: (o) => {
        if (o.status === "poisoned") log(o.error);
        for (const r of o.status === "skipped" ? [] : o.reports) log(`shard of ${r.ruleId}: ${r.alerts.length} alert(s)`);
      },
      onError: (error) => log(`shard failed (delivered again): ${errorText(error)}`),
    }).catch((error: unknown) => (log(`shard queue: ${errorText(error)}`), 0));
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

export interface RunningHost {
  /** http://127.0.0.1:PORT (the API under /api/). */
  url: string;
  close(): Promise<void>;
}

/** Starts the local host: the app over storage (Azurite unless configured) in dev mode, its rules on a tick loop, the HTTP server. */
export async function startServe(options: ServeOptions): Promise<RunningHost> {
  // The local host allows http and loopback/private webhook targets (local receivers) unless
  // the environment says otherwise; the Functions app's defaults stay strict (config.ts).
  // Dev mode (the dev key's tokens) is on unless TOKENWATCH_DEV_MODE=false: loadConfig refuses it
  // in a hosted environment, and here it is refused on any but a loopback address. Teams / Slack
  // incident links point at this host's console unless TOKENWATCH_CONSOLE_URL is set.
  const host = options.host ?? "127.0.0.1";
  let config = loadConfig({
    TOKENWATCH_WEBHOOK_ALLOW_HTTP: "true",
    TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
    TOKENWATCH_DEV_MODE: "true",
    ...(options.port ? { TOKENWATCH_CONSOLE_URL: `http://${host}:${options.port}${CONSOLE_PATH}` } : {}),
    ...process.env,
  });
  if (config.TOKENWATCH_DEV_MODE && !isLoopbackHost(host))
    throw new Error(`dev mode accepts locally signed tokens and listens only on a loopback address, not ${host}: listen on 127.0.0.1 or set TOKENWATCH_DEV_MODE=false`);
  const { log } = options;
  // Without a workspace the rules read a simulated tenant, whose rows are all there: no ingestion delay.
  const simulated = config.TOKENWATCH_WORKSPACE_ID ? undefined : await simulateTenantForServe({ users: options.users, seed: 1, stepMs: options.stepMs }, log);
  if (simulated) config = { ...config, TOKENWATCH_INGESTION_DELAY_MINUTES: 0 };
  const key = config.TOKENWATCH_DEV_MODE ? await loadDevKey() : undefined;
  const app = createApp(config, { ...(simulated ? { logSource: simulated.source, clock: simulated.clock } : {}), ...(key ? { devKey: key } : {}), log });
  let ticks: { stop(): Promise<void> } | undefined;
  let delivery: { kick(): Promise<void>; stop(): Promise<void> } | undefined;
  let shardWorker: { stop(): Promise<void> } | undefined;
  let listening: Listening | undefined;
  const close = async () => {
    await listening?.close();
    await ticks?.stop();
    await shardWorker?.stop();
    await delivery?.stop();
    await app.close();
    await simulated?.dispose();
  };
  try {
    const storage = await app.storage();
    log(storage.azurite ? `storage: in-memory Azurite at ${storage.azurite.endpoint}` : "storage: the configured account");
    if (!app.consoleDir) log("web console: not built (npm run build); /api/console/ answers 404");
    const queue = await app.shardQueue();
    if (queue) {
      log(`shards: windows over ${config.TOKENWATCH_SHARD_ROWS} rows go out on queue ${queue.name}, processed here one shard at a time`);
      shardWorker = startShardWorker(queue, (message, dequeueCount) => app.runShard(message, dequeueCount, quiet), log);
    }
    const kicker = (delivery = startDelivery(app, log));
    if (simulated) {
      ticks = startRuleTicks(app, {
        intervalMs: options.stepMs,
        advance: simulated.step,
        report: (outcomes) => {
          const alerts = outcomes.reduce((n, o) => n + ("outcome" in o ? alertsOf(o.outcome) : 0), 0);
          for (const o of outcomes) if ("error" in o) log(`rule run failed: ${errorText(o.error)}`);
          log(`rules ran to ${new Date(simulated.clock()).toISOString()}${alerts ? `: ${alerts} new alert(s)` : ""}`);
          void kicker.kick();
        },
        onIdle: () => log("simulated range replayed; the rules are idle (restart serve for a fresh tenant)"),
      });
    } else {
      log(`rules: on their schedules against Log Analytics workspace ${config.TOKENWATCH_WORKSPACE_ID}`);
      ticks = startRuleTicks(app, {
        intervalMs: 60_000,
        report: (outcomes) => {
          for (const line of ruleLines(outcomes)) log(line);
          void kicker.kick();
        },
      });
    }
    listening = await listen((raw) => app.handleHttp(raw), { port: options.port, host, extra: key ? { "/dev/jwks.json": devJwks(key) } : {}, log });
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
