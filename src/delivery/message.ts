// What one HTTP attempt sends to a subscription: a CloudEvent signed per Standard
// Webhooks, or a Teams / Slack message. Chat messages carry no signature: those
// endpoints check none, and their URL is the credential (see subscriptions.ts).
import { renderChat, type ChatFormat, type ChatSummary } from "./chat.js";
import { CONTENT_TYPE } from "./schema.js";
import { signHeaders } from "./signing.js";
import { activeSecrets, type SubscriptionWithSecrets } from "./subscriptions.js";

export const USER_AGENT = "tokenwatch-webhooks/1";

export interface Outgoing {
  headers: Record<string, string>;
  body: string;
}

/** A CloudEvent body signed with every secret active at `now`; `webhook-timestamp` is `wallClock`. */
export function signedEvent(sub: SubscriptionWithSecrets, webhookId: string, body: string, now: number, wallClock: number): Outgoing {
  return {
    body,
    headers: { "content-type": CONTENT_TYPE, "user-agent": USER_AGENT, ...signHeaders(activeSecrets(sub, now), webhookId, new Date(wallClock), body) },
  };
}

/** A Teams or Slack message, unsigned. */
export function chatRequest(format: ChatFormat, summary: ChatSummary): Outgoing {
  return { body: renderChat(format, summary), headers: { "content-type": "application/json; charset=utf-8", "user-agent": USER_AGENT } };
}
