// HTTP ETags over Table Storage ETags, and opaque continuation tokens.
import { createHash } from "node:crypto";
import { z } from "zod";
import { HttpError } from "./router.js";

/** A strong HTTP ETag carrying the storage ETag (Table Storage's are weak W/"datetime'…'"). */
export const httpEtag = (storageEtag: string) => `"${Buffer.from(storageEtag, "utf8").toString("base64url")}"`;

/** How many times `If-Match: *` re-reads and re-applies a change that a concurrent one beat. */
const ANY_VERSION_ATTEMPTS = 8;

/**
 * A read-modify-write as If-Match asks for it. With ETags: one attempt against the version
 * read, if it is one of them (412 otherwise). With `*` (or no header where If-Match is
 * optional): "whatever version is current", so a change that loses a race with another is
 * re-read and re-applied rather than answered with a 412 (never written blind, which would
 * drop the other change). Without a header where it is required: 428.
 * `read` throws (404) when the resource does not exist; `write` answers "stale" when the
 * storage ETag it was given no longer matches.
 */
export async function writeIfMatch<C extends { etag: string }, R extends { ok: boolean; reason?: string }>(
  headers: Record<string, string>,
  required: boolean,
  read: () => Promise<C>,
  write: (current: C, storageEtag: string) => Promise<R>,
): Promise<R> {
  const header = headers["if-match"]?.trim();
  if (!header && required) {
    await read(); // a resource that does not exist is a 404 first
    throw new HttpError(428, "send If-Match with the ETag from your last read of this resource (or * for any version)");
  }
  if (header && header !== "*") {
    const current = await read();
    if (!header.split(",").some((candidate) => candidate.trim() === httpEtag(current.etag))) throw stale();
    return write(current, current.etag);
  }
  for (let attempt = 1; ; attempt++) {
    const current = await read();
    const result = await write(current, current.etag);
    if (result.ok || result.reason !== "stale" || attempt === ANY_VERSION_ATTEMPTS) return result;
  }
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
