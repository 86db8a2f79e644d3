// `tokenwatch serve` in-process: its own Azurite, dev-mode tokens from the persisted dev key,
// the dev JWKS, and a simulated tenant replayed in fast-forward until incidents appear.
import { mkdtemp, rm } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDevKey, signDevToken } from "../../src/api/dev-auth.js";
import { startServe, type RunningHost } from "../../src/cli/serve.js";
import { devToken, parseDevTokenArgs } from "../../src/cli/dev-token.js";

let home: string;
let host: RunningHost;
const lines: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "tokenwatch-serve-test-"));
  process.env.TOKENWATCH_HOME = home;
  // This host starts its own Azurite: no configured storage in this test process.
  delete process.env.TOKENWATCH_STORAGE_CONNECTION_STRING;
  delete process.env.TOKENWATCH_STORAGE_TABLE_ENDPOINT;
  host = await startServe({ port: 0, stepMs: 1000, users: 60, log: (line) => lines.push(line) });
}, 120_000);

afterAll(async () => {
  await host?.close();
  await rm(home, { recursive: true, force: true });
});

/**
 * A GET on a connection of its own (no keep-alive): the host runs on this process's event loop,
 * and when the replay keeps it busy the server may close an idle kept-alive socket just as
 * the next poll reuses it (ECONNRESET on a busy machine).
 */
const get = (path: string, token?: string) =>
  new Promise<{ status: number; body: any }>((resolve, reject) => {
    httpGet(host.url + path, { agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      res.on("error", reject);
    }).on("error", reject);
  });

describe("tokenwatch serve", () => {
  it("serves /api on 127.0.0.1 with the dev JWKS, accepting dev-token tokens by role", async () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await get("/api/health")).body).toEqual({ status: "ok" });
    const jwks = await get("/dev/jwks.json");
    expect(jwks.body.keys).toHaveLength(1);
    expect(jwks.body.keys[0].kid).toBe((await loadDevKey()).publicJwk.kid);
    expect(jwks.body.keys[0].d).toBeUndefined();

    const reader = await devToken(parseDevTokenArgs({ role: ["Incidents.Read"] }));
    expect((await get("/api/incidents", reader)).status).toBe(200);
    expect((await get("/api/rules", reader)).status).toBe(200);
    expect((await get("/api/allowlists", reader)).status).toBe(403);
    expect((await get("/api/incidents")).status).toBe(401);
    expect(() => parseDevTokenArgs({ role: ["Root"] })).toThrow(/not a tokenwatch role/);
  });

  it("runs the rules over the simulated tenant until incidents appear", async () => {
    const token = await signDevToken(await loadDevKey());
    let incidents: { account: string }[] = [];
    while (incidents.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      incidents = (await get("/api/incidents", token)).body.items;
    }
    const accounts = (await get("/api/accounts", token)).body.items;
    expect(accounts.map((a: { account: string }) => a.account)).toContain(incidents[0]!.account);
    // The first incident can come before every rule has run or caught up (a loaded machine): wait until none is still on its way.
    type RuleItem = { name: string; health: { status: string } };
    let rules: RuleItem[] = [];
    for (;;) {
      rules = (await get("/api/rules", token)).body.items;
      if (rules.every((r) => r.health.status !== "never-run" && r.health.status !== "lagging")) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(rules.map((r) => [r.name, r.health.status]).filter(([, status]) => status !== "ok")).toEqual([]);
    expect(lines.some((l) => l.startsWith("simulated tenant: 60 users"))).toBe(true);
  }, 180_000);
});
