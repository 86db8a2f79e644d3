// The web console's static files and its sign-in settings, as anonymous routes under
// /api/console/ (so the Functions app and `serve` both serve it; the Functions route prefix
// is /api). The files are what scripts/bundle.mjs writes to <bundle>/console: index.html
// (no-cache: it names the current assets) and assets/<name>-<hash>.<ext> (immutable: the
// hash changes with the content). Every response carries a strict Content-Security-Policy:
// scripts and styles from this origin only, API calls to this origin, and Entra ID sign-in.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { z } from "zod";
import type { Config } from "../config.js";
import { HttpError, notFound, ROLES, route, type RouteDef } from "./router.js";

export const CONSOLE_PATH = "/api/console/";

const LOGIN = "https://login.microsoftonline.com";
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  `connect-src 'self' ${LOGIN}`,
  `frame-src ${LOGIN}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = { "content-security-policy": CONSOLE_CSP, "referrer-policy": "no-referrer", "x-content-type-options": "nosniff" };

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/** A hashed asset name as the bundler writes it (the hash is what makes a year's cache safe). */
const ASSET = /^[A-Za-z0-9_-]+-[A-Z0-9]{8}\.(?:js|css|txt)$/;

/** The sign-in the page uses: dev tokens (serve), Entra ID (MSAL, authorization code + PKCE), or none configured. */
export const ConsoleConfigSchema = z.discriminatedUnion("signIn", [
  z.object({ signIn: z.literal("dev"), roles: z.array(z.enum(ROLES)) }),
  z.object({ signIn: z.literal("entra"), clientId: z.string(), authority: z.string(), scopes: z.array(z.string()) }),
  z.object({ signIn: z.literal("none"), reason: z.string() }),
]);
export type ConsoleConfig = z.infer<typeof ConsoleConfigSchema>;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The page's sign-in from the app's settings: dev mode signs in with dev tokens; otherwise
 * the API's own app registration (its appId from TOKENWATCH_AUTH_AUDIENCE, `<appId>` or
 * `api://<appId>`) is the SPA client, asking for its access_as_user scope.
 */
export function consoleConfig(config: Pick<Config, "TOKENWATCH_DEV_MODE" | "TOKENWATCH_AUTH_TENANT_ID" | "TOKENWATCH_AUTH_AUDIENCE">): ConsoleConfig {
  if (config.TOKENWATCH_DEV_MODE) return { signIn: "dev", roles: [...ROLES] };
  const tenant = config.TOKENWATCH_AUTH_TENANT_ID;
  const audiences = config.TOKENWATCH_AUTH_AUDIENCE || [];
  const appId = audiences.map((a) => a.replace(/^api:\/\//, "")).find((a) => GUID.test(a));
  if (!tenant || !appId) return { signIn: "none", reason: "sign-in is not configured: set TOKENWATCH_AUTH_TENANT_ID and TOKENWATCH_AUTH_AUDIENCE (the API's app registration)" };
  return { signIn: "entra", clientId: appId, authority: `${LOGIN}/${tenant}`, scopes: [`api://${appId}/access_as_user`] };
}

export interface ConsoleFiles {
  index: string;
  assets: Map<string, string>;
}

/** Reads a built console directory (index.html + assets/); null when it is not built. */
export function readConsole(dir: string): ConsoleFiles | null {
  if (!existsSync(join(dir, "index.html"))) return null;
  const assetDir = join(dir, "assets");
  const assets = new Map<string, string>();
  for (const name of existsSync(assetDir) ? readdirSync(assetDir) : []) if (ASSET.test(name)) assets.set(name, readFileSync(join(assetDir, name), "utf8"));
  return { index: readFileSync(join(dir, "index.html"), "utf8"), assets };
}

/**
 * Where the built console is, from a module's directory: `console/` beside the bundle
 * (dist/bundle/index.mjs), else the nearest ancestor's dist/bundle/console (tsc output
 * and sources, as `serve` and the tests run).
 */
export function findConsoleDir(from: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, "console"), join(dir, "dist", "bundle", "console")]) if (existsSync(join(candidate, "index.html"))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

export const DevTokenBody = z.strictObject({
  roles: z.array(z.enum(ROLES)).max(ROLES.length),
  user: z.string().regex(/^[^\s]{1,256}$/, "a name without spaces").optional(),
});

export interface ConsoleDeps {
  files: ConsoleFiles | null;
  config: ConsoleConfig;
  /** Dev mode only: signs a dev token (the `dev-token` command's, for the role picker). */
  devToken?(roles: readonly string[], user?: string): Promise<string>;
}

export function consoleRoutes(deps: ConsoleDeps): RouteDef[] {
  const files = () => {
    if (!deps.files) throw new HttpError(404, "the console is not built: run npm run build");
    return deps.files;
  };
  const group = "console";
  return [
    route({
      method: "GET",
      path: "/console",
      group,
      roles: "anonymous",
      summary: "The web console (redirects to /api/console/)",
      async handler() {
        return { status: 308, headers: { location: CONSOLE_PATH } };
      },
    }),
    route({
      method: "GET",
      path: "/console/",
      group,
      roles: "anonymous",
      summary: "The web console's page",
      async handler() {
        return { status: 200, headers: { ...SECURITY_HEADERS, "content-type": TYPES[".html"]!, "cache-control": "no-cache" }, body: files().index };
      },
    }),
    route({
      method: "GET",
      path: "/console/assets/{name}",
      group,
      roles: "anonymous",
      summary: "The web console's scripts and styles (content-hashed names, cached for a year)",
      async handler(req) {
        const name = req.params.name!;
        const body = files().assets.get(name);
        if (body === undefined) throw notFound(`asset ${name.slice(0, 80)}`);
        return { status: 200, headers: { ...SECURITY_HEADERS, "content-type": TYPES[extname(name)]!, "cache-control": "public, max-age=31536000, immutable" }, body };
      },
    }),
    route({
      method: "GET",
      path: "/console/config.json",
      group,
      roles: "anonymous",
      summary: "How the web console signs in",
      response: { status: 200, schema: ConsoleConfigSchema },
      async handler() {
        return { status: 200, headers: { "cache-control": "no-cache" }, body: deps.config };
      },
    }),
    route({
      method: "POST",
      path: "/console/dev-token",
      group,
      roles: "anonymous",
      summary: "Dev mode only: a dev token with the chosen roles, for the console's role picker",
      body: DevTokenBody,
      response: { status: 200, schema: z.object({ token: z.string() }) },
      async handler(req) {
        if (!deps.devToken) throw new HttpError(404, "dev sign-in exists only in dev mode (tokenwatch serve)");
        return { status: 200, body: { token: await deps.devToken(req.body.roles, req.body.user) } };
      },
    }),
  ];
}
