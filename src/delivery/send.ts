// One HTTP attempt. The target is resolved and checked first (targets.ts), then the
// request connects to exactly that address through a custom `lookup`, while TLS still
// verifies the certificate against the hostname (SNI and Host stay the URL's). Redirects
// are never followed (node:http does not follow them; a 3xx is a failed attempt), and
// the whole exchange, body included, is bounded by a per-attempt timeout.
import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";
import { resolveTarget, TargetRefused, type Resolver, type TargetPolicy } from "./targets.js";

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  policy: TargetPolicy;
  resolver?: Resolver;
}

export interface SendResult {
  statusCode: number | null;
  headers: IncomingHttpHeaders;
  latencyMs: number;
  error: string | null;
  /** Whether the request was refused before anything was sent (target safety). */
  refused: boolean;
}

/** Response bytes read at most: the body is not used, only drained. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export async function send(req: SendRequest): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(req.timeoutMs);
  let target;
  try {
    target = await raceAbort(resolveTarget(req.url, req.policy, req.resolver), signal);
  } catch (error) {
    const refused = error instanceof TargetRefused;
    return { statusCode: null, headers: {}, latencyMs: elapsed(), error: refused ? `target refused: ${error.message}` : describe(error, req.timeoutMs), refused };
  }
  const { url, address, family } = target;
  // Connect to the checked address only, whatever the resolver would say now.
  const pinned: LookupFunction = (_host, options, callback) => {
    if (options.all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
  const body = Buffer.from(req.body, "utf8");
  const client = url.protocol === "https:" ? https : http;
  return new Promise<SendResult>((resolve) => {
    const request = client.request(
      url,
      {
        method: "POST",
        headers: { ...req.headers, "content-length": String(body.length) },
        lookup: pinned,
        signal,
        agent: false,
      },
      (response) => {
        let read = 0;
        response.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) response.destroy();
        });
        const done = () => resolve({ statusCode: response.statusCode ?? null, headers: response.headers, latencyMs: elapsed(), error: null, refused: false });
        response.on("end", done);
        response.on("close", done);
        response.on("error", (error) =>
          resolve({ statusCode: response.statusCode ?? null, headers: response.headers, latencyMs: elapsed(), error: describe(error, req.timeoutMs), refused: false }),
        );
      },
    );
    request.on("error", (error) => resolve({ statusCode: null, headers: {}, latencyMs: elapsed(), error: describe(error, req.timeoutMs), refused: false }));
    request.end(body);
  });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || (error.name === "AbortError" && String(error.cause ?? "").includes("Timeout"))) return `timeout after ${timeoutMs} ms`;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ABORT_ERR") return `timeout after ${timeoutMs} ms`;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
