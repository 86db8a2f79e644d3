// The console's Entra ID sign-in on a non-dev host, in Chromium: the page loads MSAL and,
// on "Sign in with Microsoft", sends the browser to the tenant's authorize endpoint for an
// authorization code with PKCE, for the API's own app registration and its access_as_user
// scope. login.microsoftonline.com is answered by the test (page.route): nothing leaves the
// machine, and the request MSAL builds is what is checked.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleConfig, findConsoleDir, readConsole } from "../../src/api/console.js";
import { startHost, stopAzurite, TENANT, type Host } from "../api/harness.js";
import { launchChromium, type Browser } from "./chromium.js";

const APP_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const LOGIN = `https://login.microsoftonline.com/${TENANT}`;
let host: Host;
let browser: Browser;

beforeAll(async () => {
  const dir = findConsoleDir(dirname(fileURLToPath(import.meta.url)));
  const config = consoleConfig({ TOKENWATCH_DEV_MODE: false, TOKENWATCH_AUTH_TENANT_ID: TENANT, TOKENWATCH_AUTH_AUDIENCE: [`api://${APP_ID}`, APP_ID] });
  host = await startHost({ console: { files: dir ? readConsole(dir) : null, config } });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await host?.close();
  await stopAzurite();
});

describe("console sign-in with Entra ID", () => {
  it("redirects to the tenant's authorize endpoint for a code with PKCE (S256), for the API's app and scope", async () => {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    let authorize: URL | undefined;
    await page.route("https://login.microsoftonline.com/**", async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname.endsWith("/.well-known/openid-configuration"))
        return route.fulfill({
          contentType: "application/json",
          headers: { "access-control-allow-origin": "*" },
          body: JSON.stringify({
            issuer: `${LOGIN}/v2.0`,
            authorization_endpoint: `${LOGIN}/oauth2/v2.0/authorize`,
            token_endpoint: `${LOGIN}/oauth2/v2.0/token`,
            end_session_endpoint: `${LOGIN}/oauth2/v2.0/logout`,
            jwks_uri: `${LOGIN}/discovery/v2.0/keys`,
          }),
        });
      if (url.pathname.endsWith("/oauth2/v2.0/authorize")) {
        authorize = url;
        return route.fulfill({ contentType: "text/html", body: "<title>Sign in</title>" });
      }
      return route.fulfill({ status: 404, body: "" });
    });
    await page.goto(`${host.url}/api/console/`);
    await page.getByRole("button", { name: "Sign in with Microsoft" }).click();
    await expect.poll(() => authorize?.href).toBeDefined();
    const q = authorize!.searchParams;
    expect(authorize!.origin + authorize!.pathname).toBe(`${LOGIN}/oauth2/v2.0/authorize`);
    expect(q.get("client_id")).toBe(APP_ID);
    expect(q.get("response_type")).toBe("code");
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("redirect_uri")).toBe(`${host.url}/api/console/`);
    expect(q.get("scope")?.split(" ")).toContain(`api://${APP_ID}/access_as_user`);
    expect(problems).toEqual([]);
    await page.close();
  });
});
