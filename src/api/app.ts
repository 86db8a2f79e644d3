// The API as one function: RawRequest in, ApiResponse out. Order of checks: route (404,
// 405 + Allow), authentication (401) and role (403), body size (413), content type (415),
// query and body validation (400), then the handler. Handler errors that are not
// HttpErrors become a bare 500 (logged, never echoed).
import { z } from "zod";
import type { Rule } from "../rules/rule.js";
import type { WindowReport } from "../engine/run.js";
import { allowlistRoutes } from "./allowlists.js";
import { authorize, type Authenticator } from "./auth.js";
import { consoleRoutes, type ConsoleDeps } from "./console.js";
import { incidentRoutes } from "./incidents.js";
import { openApiDocument } from "./openapi.js";
import type { ApiStores } from "./ports.js";
import {
  HttpError,
  MAX_BODY_BYTES,
  problemResponse,
  queryObject,
  route,
  Router,
  validationError,
  type ApiRequest,
  type ApiResponse,
  type Method,
  type Principal,
  type RawRequest,
  type RouteDef,
} from "./router.js";
import { ruleRoutes } from "./rules.js";
import { NoQuery, OpenApiDocumentSchema } from "./schemas.js";

export const API_PREFIX = "/api";

export interface ApiDeps {
  /** The storage ports: the composition root (src/app.ts) passes the Table Storage repositories. */
  stores: ApiStores;
  auth: Authenticator;
  /** Wall-clock now: allowlist expiry, history stamps. */
  now(): number;
  /** The rules' clock, for rule health and the latest backfill end (default: now; the simulated clock in `serve`'s fast-forward). */
  ruleNow?(): number;
  backfill?: (rule: Rule, range: { from: number; to: number }) => Promise<WindowReport[]>;
  /** Rules switched off by the TOKENWATCH_DISABLED_RULES setting (the API cannot switch these on). */
  disabledRules?: ReadonlySet<string>;
  /** The web console's files and sign-in (anonymous routes under /api/console/). */
  console?: ConsoleDeps;
  /** More route groups (webhooks): see router.ts for how to write them. */
  extraRoutes?: RouteDef[];
  /** Server-side errors (500s) are reported here. */
  log?(line: string): void;
}

export interface Api {
  router: Router;
  handle(raw: RawRequest): Promise<ApiResponse>;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

export function createApi(deps: ApiDeps): Api {
  const router = new Router();
  router.add(
    route({
      method: "GET",
      path: "/health",
      group: "health",
      roles: "anonymous",
      summary: "Liveness (anonymous)",
      response: { status: 200, schema: z.object({ status: z.literal("ok") }) },
      async handler() {
        return { status: 200, body: { status: "ok" } };
      },
    }),
    route({
      method: "GET",
      path: "/openapi.json",
      group: "openapi",
      roles: "anonymous",
      summary: "This API's OpenAPI 3.1 document (anonymous: it describes the API and holds no data)",
      response: { status: 200, schema: OpenApiDocumentSchema, description: "the document, webhooks included" },
      async handler() {
        return { status: 200, body: document() };
      },
    }),
    ...incidentRoutes(deps),
    ...allowlistRoutes(deps),
    ...ruleRoutes({ ...deps, now: deps.ruleNow ?? deps.now }),
    ...(deps.console ? consoleRoutes(deps.console) : []),
    ...(deps.extraRoutes ?? []),
  );
  let cached: unknown;
  const document = () => (cached ??= openApiDocument(router.all()));

  async function handle(raw: RawRequest): Promise<ApiResponse> {
    const instance = raw.path.slice(0, 256);
    try {
      return withDefaults(await dispatch(raw));
    } catch (error) {
      if (error instanceof HttpError) return withDefaults(problemResponse(error, instance));
      deps.log?.(`500 ${raw.method} ${instance}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return withDefaults(problemResponse(new HttpError(500, "the request failed; it has been logged"), instance));
    }
  }

  async function dispatch(raw: RawRequest): Promise<ApiResponse> {
    if (raw.path !== API_PREFIX && !raw.path.startsWith(`${API_PREFIX}/`)) throw new HttpError(404, "no such route");
    const found = router.match(raw.method, raw.path.slice(API_PREFIX.length) || "/");
    if (!found) throw new HttpError(404, "no such route");
    if ("allow" in found) throw new HttpError(405, `allowed: ${found.allow.join(", ")}`, undefined, { allow: found.allow.join(", ") });
    const { def, params } = found.match;

    let principal: Principal | null = null;
    if (def.roles !== "anonymous") {
      if (!deps.auth.configured) throw new HttpError(503, "authentication is not configured: set TOKENWATCH_AUTH_TENANT_ID and TOKENWATCH_AUTH_AUDIENCE");
      principal = await deps.auth.authenticate(raw.headers.authorization);
      authorize(principal, def.roles);
    }

    if (raw.bodyTooLarge || (raw.body && raw.body.length > MAX_BODY_BYTES)) throw new HttpError(413, `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    let body: unknown = undefined;
    const hasBody = raw.body !== null && raw.body.length > 0;
    if (def.body) {
      if (!hasBody) throw new HttpError(400, "body: a JSON body is required", [{ field: "body", message: "a JSON body is required" }]);
      if (!JSON_TYPE.test(raw.headers["content-type"] ?? "")) throw new HttpError(415, "send the body as application/json");
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw.body!));
      } catch {
        throw new HttpError(400, "body: not valid UTF-8 JSON", [{ field: "body", message: "not valid UTF-8 JSON" }]);
      }
      const parsed = def.body.safeParse(json);
      if (!parsed.success) throw validationError(parsed.error, "body");
      body = parsed.data;
    } else if (hasBody) throw new HttpError(400, "body: this operation takes no body", [{ field: "body", message: "this operation takes no body" }]);

    const querySchema = def.query ?? NoQuery;
    const query = querySchema.safeParse(queryObject(raw.query));
    if (!query.success) throw validationError(query.error, "query");

    const req: ApiRequest = { method: raw.method as Method, path: raw.path, params, query: query.data as Record<string, unknown>, headers: raw.headers, body, principal };
    return def.handler(req);
  }

  return { router, handle };
}

function withDefaults(response: ApiResponse): ApiResponse {
  const headers: Record<string, string> = { "cache-control": "no-store", "x-content-type-options": "nosniff", ...response.headers };
  if (response.body !== undefined && !headers["content-type"]) headers["content-type"] = typeof response.body === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8";
  return { ...response, headers };
}

/** The response body as bytes, as every edge sends it. */
export function responseBytes(response: ApiResponse): Buffer | undefined {
  if (response.body === undefined) return undefined;
  return Buffer.from(typeof response.body === "string" ? response.body : JSON.stringify(response.body), "utf8");
}
