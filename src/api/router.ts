// A tiny framework-free HTTP layer: the request/response shapes every handler sees, RFC 9457
// problem responses, and the route table. Edges (functions/http.ts, the `serve` host) turn
// their native requests into a RawRequest and call Api.handle(); nothing here knows about
// node:http or the Functions runtime.
//
// Registering routes (webhooks and any later group do the same):
//
//   import { route, type Router } from "../api/router.js";
//   export function webhookRoutes(deps: WebhookDeps) {
//     return [
//       route({
//         method: "GET", path: "/webhooks/{id}", group: "webhooks", roles: ["Tokenwatch.Admin"],
//         summary: "One webhook subscription",
//         query: z.strictObject({}),            // optional; unknown query fields are 400
//         body: SomeSchema,                     // optional, POST/PUT/PATCH only; parsed and validated
//         async handler(req) {                  // req.params.id, req.query, req.body are typed
//           return { status: 200, body: ... };
//         },
//       }),
//     ];
//   }
//   // then: createApi({ ..., extraRoutes: webhookRoutes(deps) }) or api.router.add(...webhookRoutes(deps)),
//   // plus, for Azure, one line in functions/http.ts: group("apiWebhooks", "webhooks/{*rest}");
//   // `serve` takes the same list: buildApi(..., { extraRoutes }).
//
// Paths are relative to /api and use {name} segments. Roles: any one listed grants access;
// "anonymous" skips authentication. Throw HttpError (or use problem()) for a 4xx; anything
// else thrown becomes a 500 without internals in the body.
import { STATUS_CODES } from "node:http";
import { z } from "zod";

export const ROLES = ["Incidents.Read", "Incidents.Write", "Tokenwatch.Admin"] as const;
export type Role = (typeof ROLES)[number];
/** Who reads incidents, accounts and rule health: every role (the README's role matrix). */
export const READERS: readonly Role[] = ROLES;

/** The caller: an Actor (name, oid, tid) for audit records, with the token's roles. */
export interface Principal {
  /** Stable id: the token's oid, else sub. */
  id: string;
  /** Who, for people to read: upn / preferred_username / name / app id. */
  name: string;
  /** The token's tenant id (tid), null when it has none. */
  tenantId: string | null;
  roles: readonly string[];
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export const METHODS: readonly Method[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** What an edge hands over: the body as raw bytes (already cut at the size limit). */
export interface RawRequest {
  method: string;
  /** Path after the host, starting with /api/ (no query string). */
  path: string;
  query: URLSearchParams;
  /** Header names lower-case. */
  headers: Record<string, string>;
  body: Buffer | null;
  /** The body was longer than MAX_BODY_BYTES (the edge stopped reading). */
  bodyTooLarge?: boolean;
}

export interface ApiRequest<Q = Record<string, unknown>, B = unknown> {
  method: Method;
  path: string;
  params: Record<string, string>;
  query: Q;
  headers: Record<string, string>;
  body: B;
  principal: Principal | null;
}

export interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialised unless it is a string (sent as is) or undefined (no body). */
  body?: unknown;
}

export const MAX_BODY_BYTES = 64 * 1024;

export interface FieldError {
  field: string;
  message: string;
}

/**
 * The title of an RFC 9457 problem of `type: about:blank`: the status code's standard
 * phrase (RFC 9457 section 4.2.1), from node:http with the two phrases RFC 9110 renamed.
 */
export function problemTitle(status: number): string {
  return RFC_9110_PHRASES[status] ?? STATUS_CODES[status] ?? "Error";
}
const RFC_9110_PHRASES: Record<number, string> = { 413: "Content Too Large", 422: "Unprocessable Content" };

/** An RFC 9457 problem; handlers throw it for every 4xx. Its title is the status's standard phrase. */
export class HttpError extends Error {
  readonly title: string;
  constructor(
    readonly status: number,
    readonly detail?: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? problemTitle(status));
    this.title = problemTitle(status);
  }
}

export const PROBLEM_TYPE = "application/problem+json";

export function problemResponse(error: HttpError, instance?: string): ApiResponse {
  return {
    status: error.status,
    headers: { "content-type": PROBLEM_TYPE, ...error.headers },
    body: {
      type: "about:blank",
      title: error.title,
      status: error.status,
      ...(error.detail ? { detail: error.detail } : {}),
      ...(instance ? { instance } : {}),
      ...(error.errors ? { errors: error.errors } : {}),
    },
  };
}

/** A zod error as a 400 naming each offending field (dotted path; `prefix` = body / query). */
export function validationError(error: z.ZodError, prefix?: string): HttpError {
  const errors = error.issues.slice(0, 20).flatMap((issue): FieldError[] => {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
    if (issue.code === "unrecognized_keys")
      return issue.keys.map((key) => ({ field: [base, key].filter(Boolean).join("."), message: "unknown field" }));
    return [{ field: base || (prefix ?? "request"), message: issue.message }];
  });
  return new HttpError(400, errors.map((e) => `${e.field}: ${e.message}`).join("; "), errors);
}

export const notFound = (what: string) => new HttpError(404, `${what} does not exist`);

export interface RouteDef<Q = any, B = any> {
  method: Method;
  /** Relative to /api, e.g. "/incidents/{id}". */
  path: string;
  /** Group name: one Functions registration per group, and the OpenAPI tag. */
  group: string;
  roles: readonly Role[] | "anonymous";
  summary: string;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Documentation only: the success status and body schema for OpenAPI. */
  response?: { status: number; schema?: z.ZodType; description?: string };
  /** Documentation only: headers the route reads (If-Match). */
  requestHeaders?: { name: string; required: boolean; description: string }[];
  handler(req: ApiRequest<Q, B>): Promise<ApiResponse>;
}

/** Typed identity for route definitions: infers Q and B from the schemas. */
export function route<Q = Record<string, never>, B = undefined>(def: RouteDef<Q, B>): RouteDef<Q, B> {
  return def;
}

interface Compiled {
  def: RouteDef;
  segments: string[];
}

export interface Match {
  def: RouteDef;
  params: Record<string, string>;
}

export class Router {
  private readonly routes: Compiled[] = [];

  add(...defs: RouteDef[]): this {
    for (const def of defs) {
      if (!def.path.startsWith("/")) throw new Error(`route path must start with /: ${def.path}`);
      if (this.routes.some((r) => r.def.method === def.method && r.def.path === def.path)) throw new Error(`duplicate route ${def.method} ${def.path}`);
      this.routes.push({ def, segments: def.path.split("/").slice(1) });
    }
    return this;
  }

  all(): readonly RouteDef[] {
    return this.routes.map((r) => r.def);
  }

  /** The route for a method and path (relative to /api), or the methods the path allows. */
  match(method: string, path: string): { match: Match } | { allow: Method[] } | null {
    const parts = path.split("/").slice(1);
    const allow: Method[] = [];
    for (const r of this.routes) {
      const params = matchSegments(r.segments, parts);
      if (!params) continue;
      if (r.def.method === method) return { match: { def: r.def, params } };
      allow.push(r.def.method);
    }
    return allow.length ? { allow } : null;
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const part = parts[i]!;
    if (p.startsWith("{") && p.endsWith("}")) {
      if (part === "") return null;
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        return null;
      }
      params[p.slice(1, -1)] = value;
    } else if (p !== part) return null;
  }
  return params;
}

/** Query string → plain object; a repeated key becomes an array (schemas then reject it). */
export function queryObject(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of query) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}
