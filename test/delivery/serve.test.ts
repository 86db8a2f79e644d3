// `tokenwatch serve` delivers webhooks: started in-process (its own Azurite, dev tokens, the
// simulated tenant in fast-forward), a subscription created through its admin route with a
// dev admin token, pointing at a real HTTP receiver on 127.0.0.1 that verifies signatures
// with `standardwebhooks`; the worker that runs after each detection step sends it the
// incidents the rules open. The Functions app's target policy stays strict.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDevKey, signDevToken } from "../../src/api/dev-auth.js";
import { startServe, type RunningHost } from "../../src/cli/serve.js";
import { loadConfig } from "../../src/config.js";
import { targetPolicy } from "../../src/delivery/index.js";
import { WebhookEventSchema } from "../../src/delivery/schema.js";
import { Receiver } from "./support.js";

let home: string;
let host: RunningHost;
let receiver: Receiver;
const lines: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "tokenwatch-serve-webhooks-"));
  process.env.TOKENWATCH_HOME = home;
  // serve's own Azurite and its own (local) target policy: nothing configured in this process.
  for (const name of ["TOKENWATCH_STORAGE_CONNECTION_STRING", "TOKENWATCH_STORAGE_TABLE_ENDPOINT", "TOKENWATCH_WEBHOOK_ALLOW_HTTP", "TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS", "TOKENWATCH_WORKSPACE_ID"])
    delete process.env[name];
  receiver = new Receiver();
  await receiver.start();
  host = await startServe({ port: 0, stepMs: 2000, users: 60, log: (line) => lines.push(line) });
}, 120_000);

afterAll(async () => {
  await host?.close();
  await receiver?.stop();
  await rm(home, { recursive: true, force: true });
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(host.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("tokenwatch serve webhooks", () => {
  it("delivers a signed incident.created to a local receiver subscribed through its admin route", async () => {
    const key = await loadDevKey();
    const admin = await signDevToken(key, { roles: ["Tokenwatch.Admin"], user: "admin@contoso.com" });
    const reader = await signDevToken(key, { roles: ["Incidents.Read"] });

    // Admin routes only: an analyst token is refused.
    expect((await call("GET", "/api/webhooks/subscriptions", reader)).status).toBe(403);
    const created = await call("POST", "/api/webhooks/subscriptions", admin, { url: receiver.url(), eventTypes: ["incident.created"] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    receiver.secrets.push(created.body.secret);
    const subscriptionId: string = created.body.subscription.id;
    // Subscribed before the first detection step stored anything, so every incident is announced to it.
    expect((await call("GET", "/api/incidents", reader)).body.items).toEqual([]);

    while (receiver.delivered.length === 0) await new Promise((resolve) => setTimeout(resolve, 500));

    const first = receiver.delivered[0]!;
    expect(receiver.received[0]!.verifiedWith).toBe(created.body.secret);
    const event = WebhookEventSchema.parse(first.body);
    expect(event.type).toBe("com.tokenwatch.incident.created");
    expect(event.data.alerts.length).toBeGreaterThan(0);
    const incident = await call("GET", `/api/incidents/${event.data.incident.id}`, reader);
    expect(incident.status).toBe(200);
    expect(incident.body.account).toBe(event.data.incident.account);
    // The delivery log through the admin route records it, under the webhook-id the receiver saw.
    const log = await call("GET", `/api/webhooks/subscriptions/${subscriptionId}/deliveries?limit=200`, admin);
    expect(log.status).toBe(200);
    expect(log.body.items.map((d: { id: string }) => d.id)).toContain(first.id);
    expect(lines.some((l) => l.includes("http targets allowed, loopback/private targets allowed"))).toBe(true);
  }, 180_000);

  it("leaves the Functions app's defaults strict: https only, public addresses only", () => {
    expect(targetPolicy(loadConfig({}))).toEqual({ allowHttp: false, allowPrivate: false });
  });
});
