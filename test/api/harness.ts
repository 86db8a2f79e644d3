// The API test host: a real Azurite, a local JWKS server (node:http) publishing a freshly
// generated RS256 key, and the API (createApi, with the parts each test asks for) behind
// `serve`'s node:http server on port 0, with the Entra trust pointed at that JWKS (issuer
// and audience from config, as in Azure). The whole app object is tested in test/app/.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { createApi } from "../../src/api/app.js";
import { Authenticator, entraTrust } from "../../src/api/auth.js";
import type { ConsoleDeps } from "../../src/api/console.js";
import { loadConfig, type Config } from "../../src/config.js";
import { listen, type Listening } from "../../src/cli/serve.js";
import { webhookAdminDeps } from "../../src/app.js";
import { webhookRoutes } from "../../src/api/webhooks.js";
import { backfillRule } from "../../src/engine/backfill.js";
import type { Repositories } from "../../src/store/repositories.js";
import { memoryBackfillStores } from "../../src/store/memory.js";
import type { ReplaySource } from "../../src/sources/replay.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { TABLE_NAMES, TableStore } from "../../src/store/tables.js";
import { incidentPlanner } from "../../src/engine/planner.js";

export const TENANT = "11111111-2222-3333-4444-555555555555";
export const ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
export const V1_ISSUER = `https://sts.windows.net/${TENANT}/`;
/** The API app registration's application (client) id: what v2 tokens carry as aud. */
export const CLIENT_ID = "0f6bd5d2-1c33-4e0a-9c3a-1b1c2d3e4f50";
/** Its Application ID URI (`api://<client id>`, as infra/register-api-app.sh sets it): what v1 tokens carry as aud. */
export const AUDIENCE = `api://${CLIENT_ID}`;
export const READ = "Incidents.Read";
export const WRITE = "Incidents.Write";
export const ADMIN = "Tokenwatch.Admin";

export interface TokenOptions {
  roles?: string[];
  user?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative = already expired. */
  expiresIn?: number;
  key?: CryptoKey;
  kid?: string;
  /** More or other claims (undefined drops a default one). */
  claims?: Record<string, unknown>;
}

export interface Host {
  url: string;
  config: Config;
  store: TableStore;
  stores: Repositories;
  token(options?: TokenOptions): Promise<string>;
  /** fetch against the host: path relative to the host (e.g. /api/incidents). */
  call(method: string, path: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Reply>;
  dump(): Promise<string>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

let azurite: AzuriteTables | undefined;
let prefixSeq = 0;

async function jwksServer(jwks: unknown): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === "/keys") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys` };
}

/** Starts a host over a fresh set of tables (own prefix) on a shared Azurite. */
export async function startHost(
  options: {
    source?: ReplaySource;
    ruleNow?: () => number;
    /** TOKENWATCH_AUTH_AUDIENCE (default AUDIENCE). */
    audience?: string;
    /** Also serve the webhook administration routes (http and loopback targets allowed). */
    webhooks?: boolean;
    disabledRules?: ReadonlySet<string>;
    console?: ConsoleDeps;
  } = {},
): Promise<Host> {
  azurite ??= await startAzurite();
  const tablePrefix = `t${process.pid}x${++prefixSeq}`;
  const store = new TableStore({ connectionString: azurite.connectionString, tablePrefix });
  const stores = createStores(store, incidentPlanner);
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const kid = "test-key-1";
  const jwks = await jwksServer({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }] });
  // The storage settings name the host's tables, so an app object (createApp) over this config shares them.
  const config = loadConfig({
    TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString,
    TOKENWATCH_TABLE_PREFIX: tablePrefix,
    TOKENWATCH_AUTH_TENANT_ID: TENANT,
    TOKENWATCH_AUTH_AUDIENCE: options.audience ?? AUDIENCE,
    TOKENWATCH_AUTH_JWKS_URL: jwks.url,
    TOKENWATCH_WEBHOOK_ALLOW_HTTP: "true",
    TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
  });
  const trust = entraTrust(config)!;
  const extraRoutes = options.webhooks ? webhookRoutes(webhookAdminDeps(store, config)) : undefined;
  const source = options.source;
  const api = createApi({
    stores,
    auth: new Authenticator([trust]),
    now: Date.now,
    ruleNow: options.ruleNow,
    disabledRules: options.disabledRules,
    log: (line) => console.error(line),
    extraRoutes,
    console: options.console,
    ...(source ? { backfill: (rule, range) => backfillRule(rule, { source, stores, now: Date.now }, memoryBackfillStores(), range) } : {}),
  });
  const listening: Listening = await listen((raw) => api.handle(raw), { port: 0 });

  const token = async (o: TokenOptions = {}) =>
    new SignJWT({ roles: o.roles ?? [READ], preferred_username: o.user ?? "analyst@contoso.com", oid: "00000000-0000-0000-0000-00000000000a", tid: TENANT, ver: o.issuer === V1_ISSUER ? "1.0" : "2.0", ...o.claims })
      .setProtectedHeader({ alg: "RS256", kid: o.kid ?? kid, typ: "JWT" })
      .setIssuer(o.issuer ?? ISSUER)
      .setAudience(o.audience ?? AUDIENCE)
      .setSubject("subject-a")
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 3600))
      .sign(o.key ?? privateKey);

  const call: Host["call"] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== null) headers.authorization ??= `Bearer ${o.token ?? (await token({ roles: [READ, WRITE, ADMIN] }))}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(listening.url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

  // Every table read at once; the document lists them in TABLE_NAMES order all the same.
  const dump = async () => {
    const lists = await Promise.all(TABLE_NAMES.map(async (name) => (await store.list(name)).map((e) => JSON.stringify(e)).sort()));
    return JSON.stringify(Object.fromEntries(TABLE_NAMES.map((name, i) => [name, lists[i]])));
  };

  return {
    url: listening.url,
    config,
    store,
    stores,
    token,
    call,
    dump,
    close: async () => {
      await listening.close();
      await new Promise<void>((resolve) => jwks.server.close(() => resolve()));
    },
  };
}

export async function stopAzurite(): Promise<void> {
  await azurite?.stop();
  azurite = undefined;
}

export const HOUR = 3_600_000;
