// HTTP ETags over Table Storage ETags, and opaque continuation tokens.
import { createHash } from "node:crypto";
import { z } from "zod";
import { HttpError } from "./router.js";

/** A strong HTTP ETag carrying the storage ETag (Table Storage's are weak W/"datetime'…'"). */
export const httpEtag = (storageEtag: string) => `"${Buffer.from(storageEtag, "utf8").toString("base64url")}"`;

/**
 * The storage ETag an If-Match header names: 428 when it is missing, the current one for
 * `*`, and 412 when it names another version (or is not one ETag we issued).
 */
export function ifMatch(headers: Record<string, string>, current: string): string {
  const header = headers["if-match"]?.trim();
  if (!header) throw new HttpError(428, "send If-Match with the ETag from your last read of this resource");
  if (header === "*") return current;
  const candidates = header.split(",").map((s) => s.trim());
  for (const candidate of candidates) if (candidate === httpEtag(current)) return current;
  throw stale();
}

export const stale = () => new HttpError(412, "the resource changed since you read it: read it again and retry");

const iso = (ms: number) => new Date(ms).toISOString();
export { iso };

/**
 * An opaque continuation token: base64url JSON with a fingerprint of the query it belongs
 * to, so a token replayed with other filters (or hand-made) is a 400, not a wrong page.
 */
export function encodeContinuation(scope: string, cursor: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify({ v: 1, s: fingerprint(scope), c: cursor }), "utf8").toString("base64url");
}

const Envelope = z.strictObject({ v: z.literal(1), s: z.string(), c: z.record(z.string(), z.union([z.string(), z.number()])) });

export function decodeContinuation<T>(token: string | undefined, scope: string, cursor: z.ZodType<T>): T | undefined {
  if (token === undefined) return undefined;
  const bad = () => new HttpError(400, "continuation: not a token this query issued", [{ field: "query.continuation", message: "not a token this query issued" }]);
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const envelope = Envelope.safeParse(json);
  if (!envelope.success || envelope.data.s !== fingerprint(scope)) throw bad();
  const parsed = cursor.safeParse(envelope.data.c);
  if (!parsed.success) throw bad();
  return parsed.data;
}

const fingerprint = (scope: string) => createHash("sha256").update(scope).digest("base64url").slice(0, 16);
