// The web console's routes on a non-dev host (as in Azure): the built page and its hashed
// assets with their caching and Content-Security-Policy, the sign-in settings, and the dev
// token endpoint refused outside dev mode. The browser flows are in test/console.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleConfig, findConsoleDir, readConsole } from "../../src/api/console.js";
import { startHost, stopAzurite, type Host } from "./harness.js";

let host: Host;
const dir = findConsoleDir(dirname(fileURLToPath(import.meta.url)));

beforeAll(async () => {
  host = await startHost({
    console: { files: dir ? readConsole(dir) : null, config: consoleConfig({ TOKENWATCH_DEV_MODE: false, TOKENWATCH_AUTH_TENANT_ID: "tenant-1", TOKENWATCH_AUTH_AUDIENCE: ["api://tokenwatch-test"] }) },
  });
});
afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

describe("web console routes", () => {
  it("serves the built page (no-cache) naming content-hashed assets (cached a year), with a strict CSP and no external origin", async () => {
    expect(dir, "the console is built by npm run build (scripts/bundle.mjs)").not.toBeNull();
    const page = await host.call("GET", "/api/console/", { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).not.toContain("unsafe");
    expect(csp).toContain("frame-ancestors 'none'");
    const assets = [...page.text.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toHaveLength(2);
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const asset of assets) {
      expect(asset).toMatch(/^assets\/main-[A-Z0-9]{8}\.(js|css)$/);
      const reply = await host.call("GET", `/api/console/${asset}`, { token: null });
      expect(reply.status).toBe(200);
      expect(reply.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(reply.headers.get("content-type")).toMatch(asset.endsWith(".js") ? /^text\/javascript/ : /^text\/css/);
      expect(reply.text, "no CDN or web font: nothing loads from another origin").not.toMatch(/(?:import|url)\(\s*["']?https?:/);
    }
    expect((await host.call("GET", "/api/console/assets/main-AAAAAAAA.js", { token: null })).status).toBe(404);
    expect((await host.call("GET", "/api/console/assets/..%2Findex.html", { token: null })).status).toBe(404);
    const bare = await fetch(`${host.url}/api/console`, { redirect: "manual" });
    expect(bare.status).toBe(308);
    expect(bare.headers.get("location")).toBe("/api/console/");
  });

  it("tells the page how to sign in: Entra ID with the API's own app registration, dev tokens in dev mode", async () => {
    expect((await host.call("GET", "/api/console/config.json", { token: null })).body).toEqual({
      signIn: "none",
      reason: expect.stringContaining("TOKENWATCH_AUTH_AUDIENCE"),
    });
    const appId = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    expect(consoleConfig({ TOKENWATCH_DEV_MODE: false, TOKENWATCH_AUTH_TENANT_ID: "contoso.onmicrosoft.com", TOKENWATCH_AUTH_AUDIENCE: [`api://${appId}`, appId] })).toEqual({
      signIn: "entra",
      clientId: appId,
      authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com",
      scopes: [`api://${appId}/access_as_user`],
    });
    expect(consoleConfig({ TOKENWATCH_DEV_MODE: true, TOKENWATCH_AUTH_TENANT_ID: undefined, TOKENWATCH_AUTH_AUDIENCE: undefined })).toEqual({
      signIn: "dev",
      roles: ["Incidents.Read", "Incidents.Write", "Tokenwatch.Admin"],
    });
  });

  it("refuses the dev token endpoint outside dev mode", async () => {
    const reply = await host.call("POST", "/api/console/dev-token", { token: null, body: { roles: ["Tokenwatch.Admin"] } });
    expect(reply.status).toBe(404);
    expect(reply.body.detail).toMatch(/only in dev mode/);
  });
});
