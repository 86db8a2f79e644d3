// Standard Webhooks signatures (https://www.standardwebhooks.com): the receiver checks
// HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with the subscription's
// secret. During a secret rotation's overlap both secrets sign, space-separated in one
// webhook-signature header, so a receiver holding either one accepts the message.
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

export const SECRET_PREFIX = "whsec_";

/** A new signing secret: `whsec_` + base64 of 32 random bytes (the Standard Webhooks format). */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64");
}

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** Headers for one attempt: `secrets` are every secret active now, newest first. */
export function signHeaders(secrets: readonly string[], id: string, at: Date, body: string): SignedHeaders {
  if (secrets.length === 0) throw new Error("no active signing secret");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(id, at, body)).join(" "),
  };
}
