// The API client: every call goes to this origin's /api with the signed-in bearer token;
// a non-2xx answer becomes an ApiError carrying the RFC 9457 problem the API sent.

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
  get status() {
    return this.problem.status;
  }
  /** The message for one body field (e.g. "value"), if the API named it. */
  field(name: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === `body.${name}`)?.message;
  }
}

export interface Session {
  /** Who, from the token (display only; the API decides). */
  name: string;
  roles: string[];
  token(): Promise<string>;
  signOut(): void;
}

export const READ = "Incidents.Read";
export const WRITE = "Incidents.Write";
export const ADMIN = "Tokenwatch.Admin";

export const canRead = (s: Session) => s.roles.includes(READ) || s.roles.includes(WRITE);
export const canWrite = (s: Session) => s.roles.includes(WRITE);
export const isAdmin = (s: Session) => s.roles.includes(ADMIN);

/** The claims of a JWT, for display (never trusted: the API verifies the token). */
export function claims(token: string): { roles: string[]; name: string } {
  const part = token.split(".")[1] ?? "";
  const json = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
  const roles = Array.isArray(json.roles) ? json.roles.filter((r: unknown) => typeof r === "string") : [];
  return { roles, name: String(json.preferred_username ?? json.upn ?? json.name ?? json.oid ?? "signed in") };
}

export interface Call {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Record<string, string | undefined>;
  body?: unknown;
  ifMatch?: string;
}

/** The bare fetch: problem bodies become ApiErrors, and a network failure says so. */
export async function request<T>(path: string, call: Call = {}, token?: string): Promise<T> {
  const url = new URL(`/api${path}`, location.origin);
  for (const [key, value] of Object.entries(call.query ?? {})) if (value !== undefined && value !== "") url.searchParams.set(key, value);
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (call.body !== undefined) headers["content-type"] = "application/json";
  if (call.ifMatch) headers["if-match"] = call.ifMatch;
  let res: Response;
  try {
    res = await fetch(url, { method: call.method ?? "GET", headers, body: call.body === undefined ? undefined : JSON.stringify(call.body) });
  } catch {
    throw new ApiError({ title: "Network error", status: 0, detail: "the API could not be reached; check the connection and retry" });
  }
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const p = (json ?? {}) as Partial<Problem>;
    throw new ApiError({ title: p.title ?? res.statusText, status: res.status, detail: p.detail, errors: p.errors });
  }
  return json as T;
}

/** A call as the signed-in user. */
export async function api<T>(session: Session, path: string, call: Call = {}): Promise<T> {
  return request<T>(path, call, await session.token());
}
