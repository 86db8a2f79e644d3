// Authentication and roles over real HTTP: tokens signed by a local JWKS server's key.
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authenticator } from "../../src/api/auth.js";
import { DEV_AUDIENCE, DEV_ISSUER, devTrust, loadDevKey, signDevToken } from "../../src/api/dev-auth.js";
import { loadConfig } from "../../src/config.js";
import { ADMIN, AUDIENCE, CLIENT_ID, ISSUER, READ, V1_ISSUER, WRITE, startHost, stopAzurite, type Host } from "./harness.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

let host: Host;

beforeAll(async () => {
  host = await startHost();
});

afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

/** One request per route group with the role it needs. */
const ROUTES: { method: string; path: string; body?: unknown; needs: string[] }[] = [
  { method: "GET", path: "/api/incidents", needs: [READ, WRITE, ADMIN] },
  { method: "GET", path: "/api/incidents/0123456789abcdef0123456789abcdef", needs: [READ, WRITE, ADMIN] },
  { method: "PATCH", path: "/api/incidents/0123456789abcdef0123456789abcdef", body: { comment: "x" }, needs: [WRITE] },
  { method: "GET", path: "/api/accounts", needs: [READ, WRITE, ADMIN] },
  { method: "GET", path: "/api/accounts/alice%40contoso.com/incidents", needs: [READ, WRITE, ADMIN] },
  { method: "GET", path: "/api/allowlists", needs: [ADMIN] },
  { method: "GET", path: "/api/allowlists/network", needs: [ADMIN] },
  { method: "POST", path: "/api/allowlists/network/entries", body: { value: "nonsense", reason: "r" }, needs: [ADMIN] },
  { method: "PUT", path: "/api/allowlists/network/entries/0123456789abcdef01234567", body: { value: "10.0.0.1", reason: "r" }, needs: [ADMIN] },
  { method: "DELETE", path: "/api/allowlists/network/entries/0123456789abcdef01234567", needs: [ADMIN] },
  { method: "GET", path: "/api/allowlists/network/audit", needs: [ADMIN] },
  { method: "GET", path: "/api/rules", needs: [READ, WRITE, ADMIN] },
  { method: "POST", path: `/api/rules/${stsRefreshTokenModification.meta.id}/backfill`, body: { from: "2026-11-01T00:00:00Z", to: "2026-11-01T01:00:00Z" }, needs: [ADMIN] },
];

describe("authentication", () => {
  it("serves /health anonymously", async () => {
    const r = await host.call("GET", "/api/health", { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: "ok" });
  });

  it("serves the OpenAPI document anonymously (it holds no data), so API tooling can load it", async () => {
    const r = await host.call("GET", "/api/openapi.json", { token: null });
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\.1/);
  });

  it.each(ROUTES)("$method $path: 401 with a Bearer challenge without a token", async (route) => {
    const r = await host.call(route.method, route.path, { token: null, body: route.body });
    expect(r.status).toBe(401);
    expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer realm="tokenwatch"/);
    expect(r.body).toMatchObject({ status: 401, title: "Unauthorized" });
  });

  it("rejects expired, foreign-audience, foreign-issuer, wrongly signed and malformed tokens", async () => {
    const other = await generateKeyPair("RS256");
    const cases: [string, string][] = [
      ["expired", await host.token({ expiresIn: -3600 })],
      ["audience", await host.token({ audience: "api://someone-else" })],
      ["issuer", await host.token({ issuer: "https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0" })],
      ["signature", await host.token({ key: other.privateKey })],
      ["unknown kid", await host.token({ key: other.privateKey, kid: "not-published" })],
      ["not a jwt", "abc.def"],
      ["garbage", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.x"],
    ];
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, roles: [READ], exp: 9e9 })).toString("base64url")}.`;
    for (const [name, token] of cases) {
      const r = await host.call("GET", "/api/incidents", { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, name).toBe(401);
      expect(r.headers.get("www-authenticate"), name).toMatch(/^Bearer /);
    }
    for (const header of [`Bearer ${unsigned}`, "Basic dXNlcjpwYXNz", "Bearer", ""]) {
      const r = await host.call("GET", "/api/incidents", { headers: { authorization: header } });
      expect(r.status, header).toBe(401);
    }
    const expired = await host.call("GET", "/api/incidents", { token: await host.token({ expiresIn: -3600 }) });
    expect(expired.body.detail).toBe("the token has expired");
  });

  it("accepts the v1 issuer of the same tenant", async () => {
    const r = await host.call("GET", "/api/incidents", { token: await host.token({ issuer: `https://sts.windows.net/${ISSUER.split("/")[3]}/` }) });
    expect(r.status).toBe(200);
  });

  it.each(ROUTES)("$method $path: 403 for a token without the needed role, through with it", async (route) => {
    const all = [READ, WRITE, ADMIN];
    for (const role of [...all, "Something.Else"]) {
      const r = await host.call(route.method, route.path, { token: await host.token({ roles: [role] }), body: route.body });
      if (route.needs.includes(role)) expect([200, 400, 404, 428, 503], `${role}`).toContain(r.status); // 503: this host has no log source for backfill
      else {
        expect(r.status, `${role}`).toBe(403);
        expect(r.body.detail).toContain("app role");
      }
    }
    const none = await host.call(route.method, route.path, { token: await host.token({ roles: [] }), body: route.body });
    expect(none.status).toBe(403);
  });
});

describe("audience, as Entra ID issues it", () => {
  // v1 tokens carry the Application ID URI the client asked for, v2 tokens the client id.
  const OTHER = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
  const shapes = [
    { name: "v1, aud = Application ID URI", issuer: V1_ISSUER, audience: AUDIENCE },
    { name: "v2, aud = client id", issuer: ISSUER, audience: CLIENT_ID },
  ];
  const foreign = [
    { name: "v1, another API's URI", issuer: V1_ISSUER, audience: `api://${OTHER}` },
    { name: "v2, another API's client id", issuer: ISSUER, audience: OTHER },
  ];

  it.each([AUDIENCE, CLIENT_ID, ` ${CLIENT_ID.toUpperCase()} `])("TOKENWATCH_AUTH_AUDIENCE=%j accepts v1 and v2 tokens for the API, and no other", async (setting) => {
    const configured = await startHost({ audience: setting });
    try {
      for (const shape of shapes) {
        const r = await configured.call("GET", "/api/incidents", { token: await configured.token(shape) });
        expect(r.status, shape.name).toBe(200);
      }
      for (const shape of foreign) {
        const r = await configured.call("GET", "/api/incidents", { token: await configured.token(shape) });
        expect(r.status, shape.name).toBe(401);
        expect(r.body.detail, shape.name).toBe("the token's aud claim is not accepted");
      }
    } finally {
      await configured.close();
    }
  });

  it("takes a custom Application ID URI beside the client id", async () => {
    const uri = "api://contoso.com/tokenwatch";
    const configured = await startHost({ audience: `${uri},${CLIENT_ID}` });
    try {
      for (const shape of [...shapes, { name: "v1, aud = custom URI", issuer: V1_ISSUER, audience: uri }])
        expect((await configured.call("GET", "/api/incidents", { token: await configured.token(shape) })).status, shape.name).toBe(200);
    } finally {
      await configured.close();
    }
  });

  it("refuses to start with a setting no v2 token can match, in one line", () => {
    for (const setting of ["api://tokenwatch", "api://contoso.com/tokenwatch", "https://tokenwatch.contoso.com"]) {
      const start = () => loadConfig({ TOKENWATCH_AUTH_TENANT_ID: "11111111-2222-3333-4444-555555555555", TOKENWATCH_AUTH_AUDIENCE: setting });
      expect(start, setting).toThrow(/^invalid configuration: TOKENWATCH_AUTH_AUDIENCE: .* names no application \(client\) id, which v2 access tokens carry as aud: set api:\/\/<client-id> or <client-id>/);
      expect(start, setting).toThrow(/^[^\n]+$/);
    }
  });
});

describe("dev mode", () => {
  it("accepts dev tokens with the dev trust only, and their roles decide", async () => {
    process.env.TOKENWATCH_HOME = await import("node:fs/promises").then((fs) => fs.mkdtemp(`${process.env.TMPDIR ?? "/tmp"}/tw-dev-`));
    const key = await loadDevKey();
    expect((await loadDevKey()).publicJwk.kid).toBe(key.publicJwk.kid);
    const token = await signDevToken(key, { roles: [READ], user: "dev@example.test" });
    const dev = await new Authenticator([devTrust(key)]).authenticate(`Bearer ${token}`);
    expect(dev).toMatchObject({ name: "dev@example.test", roles: [READ] });
    // The Entra-only host does not trust the dev issuer.
    expect((await host.call("GET", "/api/incidents", { token })).status).toBe(401);
    // A token with the dev issuer but signed by another key is refused by the dev trust.
    const forged = await new SignJWT({ roles: [ADMIN] })
      .setProtectedHeader({ alg: "RS256", kid: key.publicJwk.kid! })
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setExpirationTime("1h")
      .sign((await generateKeyPair("RS256")).privateKey);
    await expect(new Authenticator([devTrust(key)]).authenticate(`Bearer ${forged}`)).rejects.toMatchObject({ status: 401 });
  });
});
