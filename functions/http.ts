// HTTP functions: one registration per route group, each adapting HttpRequest to the API's
// RawRequest and its ApiResponse back. authLevel is anonymous because the app validates
// Entra ID bearer tokens itself (src/api/auth.ts); routing, 404/405 and roles are the API's.
import { app, type HttpHandler, type HttpMethod, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import { DefaultAzureCredential } from "@azure/identity";
import { createApi, responseBytes, type Api } from "../src/api/app.js";
import { Authenticator, entraTrust, type Trust } from "../src/api/auth.js";
import { consoleConfig, findConsoleDir, readConsole } from "../src/api/console.js";
import { MAX_BODY_BYTES, type RawRequest } from "../src/api/router.js";
import { createLogAnalyticsSource } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { backfillRule } from "../src/engine/backfill.js";
import { memoryBackfillStores } from "../src/store/memory.js";
import { webhookAdminDeps } from "../src/delivery/index.js";
import { webhookRoutes } from "../src/delivery/routes.js";
import { openStorage } from "../src/store/index.js";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

// Read at start-up: an invalid setting stops the app with its reason. Dev mode is
// `tokenwatch serve`'s alone: it checks it listens on loopback, and a Functions host's
// listening address is not the app's to see, so the setting is refused here.
const config = loadConfig();
if (config.TOKENWATCH_DEV_MODE)
  throw new Error("invalid configuration: TOKENWATCH_DEV_MODE: the Functions host does not accept dev tokens (use `tokenwatch serve`, which listens on loopback only)");

let api: Promise<Api> | undefined;

function getApi(): Promise<Api> {
  api ??= (async () => {
    const { store, stores } = await openStorage(config);
    const trusts: Trust[] = [];
    const entra = entraTrust(config);
    if (entra) trusts.push(entra);
    // The web console: console/ beside the bundle (scripts/bundle.mjs builds it there); Entra ID sign-in only.
    const consoleDir = findConsoleDir(dirname(fileURLToPath(import.meta.url)));
    const webConsole = { files: consoleDir ? readConsole(consoleDir) : null, config: consoleConfig(config) };
    // Backfill reads the same workspace as the timers; without one configured the route answers 503.
    const source = config.TOKENWATCH_WORKSPACE_ID ? createLogAnalyticsSource(config, new DefaultAzureCredential()) : undefined;
    return createApi({
      stores,
      auth: new Authenticator(trusts),
      now: Date.now,
      disabledRules: config.TOKENWATCH_DISABLED_RULES,
      log: (line) => console.error(line),
      extraRoutes: webhookRoutes(webhookAdminDeps(store, config)),
      console: webConsole,
      ...(source ? { backfill: (rule, range) => backfillRule(rule, { source, stores, now: Date.now }, memoryBackfillStores(), range) } : {}),
    });
  })().catch((error: unknown) => {
    api = undefined;
    throw error;
  });
  return api;
}

async function rawRequest(request: HttpRequest): Promise<RawRequest> {
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

const handler: HttpHandler = async (request): Promise<HttpResponseInit> => {
  const response = await (await getApi()).handle(await rawRequest(request));
  return { status: response.status, headers: response.headers, body: responseBytes(response) };
};

const methods: HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const group = (name: string, route: string) => app.http(name, { methods, route, authLevel: "anonymous", handler });

group("apiHealth", "health");
group("apiOpenApi", "openapi.json");
group("apiIncidents", "incidents/{*rest}");
group("apiAccounts", "accounts/{*rest}");
group("apiAllowlists", "allowlists/{*rest}");
group("apiRules", "rules/{*rest}");
group("apiWebhooks", "webhooks/{*rest}");
group("apiConsole", "console/{*rest}");
