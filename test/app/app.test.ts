// The app object as the Functions host runs it: functions/index.ts imported with the
// @azure/functions registry captured (the handlers are the ones the host would call),
// over Azurite behind a counting proxy and the fake Log Analytics query API. It opens
// storage once for HTTP, the detection timers and delivery; `serve`'s tick loop writes the
// same rule health as the timers; DefaultAzureCredential is built in one place.
import { readdirSync, readFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startServe, type RunningHost } from "../../src/cli/serve.js";
import { rules } from "../../src/rules/index.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { RuleStateRepository } from "../../src/store/rule-state.js";
import type { RuleHealth } from "../../src/model/rule-state.js";
import { TableStore } from "../../src/store/tables.js";
import { FakeLogAnalytics, staticCredential } from "../support/fake-log-analytics.js";

type Handler = (...args: unknown[]) => Promise<unknown>;
const host = vi.hoisted(() => ({ http: new Map<string, Handler>(), timers: new Map<string, Handler>(), queues: new Map<string, Handler>(), postInvocation: [] as Handler[] }));

// What the Functions host does with a registration: keeps the handler to call on a trigger.
vi.mock("@azure/functions", () => ({
  app: {
    http: (name: string, options: { handler: Handler }) => host.http.set(name, options.handler),
    timer: (name: string, options: { handler: Handler }) => host.timers.set(name, options.handler),
    storageQueue: (name: string, options: { handler: Handler }) => host.queues.set(name, options.handler),
    hook: { postInvocation: (fn: Handler) => host.postInvocation.push(fn) },
  },
}));
// The only thing not real: Entra ID. The fake query API checks a bearer token is sent.
vi.mock("@azure/identity", () => ({
  DefaultAzureCredential: class {
    getToken = staticCredential.getToken;
  },
}));

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TENANT = "11111111-2222-3333-4444-555555555555";
const AUDIENCE = "api://0f6bd5d2-1c33-4e0a-9c3a-1b1c2d3e4f50";

let azurite: AzuriteTables;
let fake: FakeLogAnalytics;
let proxy: Server;
let jwks: Server;
let token: string;
/** CreateTable requests that reached storage, by table name: one TableStore creates each table once. */
const created = new Map<string, number>();
const logs: string[] = [];
const context = (functionName: string) => ({
  functionName,
  options: { trigger: { type: "timerTrigger" } },
  log: (line: string) => logs.push(line),
  info: (line: string) => logs.push(line),
  warn: (line: string) => logs.push(line),
  error: (line: string) => logs.push(line),
});

const listenLocal = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
};

beforeAll(async () => {
  azurite = await startAzurite();
  fake = await FakeLogAnalytics.start();
  // The fake's certificate is self-signed and the app builds its own HTTPS client (as in
  // Azure), so this test process trusts any certificate; only loopback servers are reached.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  const target = new URL(azurite.endpoint);
  proxy = createServer((req, res) => {
    const table = /^\/[^/]+\/Tables\b/.test(req.url ?? "") && req.method === "POST";
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    if (table) {
      // CreateTable: the table's name is in the body ({"TableName": ...}).
      const body: Buffer[] = [];
      req.on("data", (c: Buffer) => body.push(c));
      req.on("end", () => {
        const name = (JSON.parse(Buffer.concat(body).toString("utf8")) as { TableName: string }).TableName;
        created.set(name, (created.get(name) ?? 0) + 1);
        upstream.end(Buffer.concat(body));
      });
    } else req.pipe(upstream);
  });
  const proxyPort = await listenLocal(proxy);

  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  jwks = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
  const jwksPort = await listenLocal(jwks);
  token = await new SignJWT({ roles: ["Incidents.Read", "Tokenwatch.Admin"], preferred_username: "admin@contoso.com", oid: "oid-1", tid: TENANT, ver: "2.0" })
    .setProtectedHeader({ alg: "RS256", kid: "k1", typ: "JWT" })
    .setIssuer(`https://login.microsoftonline.com/${TENANT}/v2.0`)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(privateKey);

  Object.assign(process.env, {
    TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString.replace(`:${target.port}/`, `:${proxyPort}/`),
    TOKENWATCH_TABLE_PREFIX: "fn",
    TOKENWATCH_WORKSPACE_ID: fake.workspaceId,
    TOKENWATCH_LOG_ANALYTICS_ENDPOINT: fake.endpoint,
    TOKENWATCH_AUTH_TENANT_ID: TENANT,
    TOKENWATCH_AUTH_AUDIENCE: AUDIENCE,
    TOKENWATCH_AUTH_JWKS_URL: `http://127.0.0.1:${jwksPort}/keys`,
  });
  await import("../../functions/index.js");
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => proxy?.close(() => resolve()));
  await new Promise<void>((resolve) => jwks?.close(() => resolve()));
  await fake?.close();
  await azurite?.stop();
});

const get = (path: string) =>
  host.http.get("apiRules")!({ url: `http://localhost${path}`, method: "GET", headers: new Headers({ authorization: `Bearer ${token}` }), body: null, arrayBuffer: async () => new ArrayBuffer(0) }) as Promise<{
    status: number;
    body?: Buffer;
  }>;

const health = (prefix: string) => {
  const repository = new RuleStateRepository(new TableStore({ connectionString: azurite.connectionString, tablePrefix: prefix }));
  return Promise.all(rules.map((rule) => repository.health(rule.meta.id)));
};

/** A health row without what differs between any two runs: when it ran and how long it took. */
const comparable = ({ lastRunAt: _at, durationMs: _ms, ...rest }: RuleHealth) => rest;

describe("the Functions app", () => {
  it("opens storage once: HTTP requests, every detection timer and the delivery runs share one set of table clients", async () => {
    expect((await get("/api/rules")).status).toBe(200);
    const detectionTimers = [...host.timers.keys()].filter((name) => name !== "webhookDelivery");
    expect(detectionTimers).toHaveLength(rules.length);
    for (const name of detectionTimers) {
      await host.timers.get(name)!({}, context(name));
      for (const hook of host.postInvocation) await hook({ invocationContext: context(name) });
    }
    await host.timers.get("webhookDelivery")!({}, context("webhookDelivery"));
    expect((await get("/api/rules")).status).toBe(200);
    const incidents = await host.http.get("apiIncidents")!({ url: "http://localhost/api/incidents", method: "GET", headers: new Headers({ authorization: `Bearer ${token}` }), body: null, arrayBuffer: async () => new ArrayBuffer(0) });
    expect((incidents as { status: number }).status).toBe(200);

    // Checkpoints is read by the API and written by the timers; Incidents by the API, the timers' alerts and retention.
    expect(created.get("fnCheckpoints")).toBe(1);
    expect(created.get("fnIncidents")).toBe(1);
    expect([...created].filter(([, n]) => n > 1)).toEqual([]);
    expect(logs.filter((l) => l.includes('"webhookDelivery"'))).toHaveLength(rules.length + 1);
    expect((await health("fn")).every((h) => h?.failing === false)).toBe(true);
  });
});

describe("serve", () => {
  let serve: RunningHost | undefined;
  afterAll(async () => serve?.close());

  it("writes the same rule health rows as the timers: its tick loop calls the same scheduled entry", async () => {
    // The timers ran in the test above; serve runs every rule once at start-up, on its own tables.
    const timerHealth = await health("fn");
    process.env.TOKENWATCH_TABLE_PREFIX = "serve";
    process.env.TOKENWATCH_DEV_MODE = "false";
    serve = await startServe({ port: 0, stepMs: 1000, users: 10, log: () => undefined });
    // Read once serve's first tick is through: a read group's run writes its members' health before their own timers do.
    const same = (rows: (RuleHealth | undefined)[]) => JSON.stringify(rows.map((h) => h && comparable(h))) === JSON.stringify(timerHealth.map((h) => h && comparable(h)));
    let serveHealth = await health("serve");
    for (let i = 0; i < 100 && !same(serveHealth); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      serveHealth = await health("serve");
    }
    expect(timerHealth.every(Boolean)).toBe(true);
    expect(serveHealth.map((h) => comparable(h!))).toEqual(timerHealth.map((h) => comparable(h!)));
    expect(fake.requests.length).toBeGreaterThan(0);
  });
});

describe("DefaultAzureCredential", () => {
  it("is constructed in exactly one module, and functions/ imports only the app object", () => {
    const files = (dir: string): string[] =>
      readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile() && e.name.endsWith(".ts"))
        .map((e) => relative(root, join(e.parentPath, e.name)));
    const sources = [...files("src"), ...files("functions")];
    const constructing = sources.filter((f) => /new\s+DefaultAzureCredential\b/.test(readFileSync(join(root, f), "utf8")));
    expect(constructing).toEqual(["src/credential.ts"]);
    const imports = files("functions").flatMap((f) => [...readFileSync(join(root, f), "utf8").matchAll(/^\s*import\s[^"']*["']([^"']+)["']/gm)].map((m) => m[1]!));
    expect(imports.filter((i) => !["@azure/functions", "../src/app.js"].includes(i) && !/^\.\/[\w-]+\.js$/.test(i))).toEqual([]);
  });
});
