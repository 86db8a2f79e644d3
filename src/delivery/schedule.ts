// When to try a failed delivery again: exponential backoff with full jitter, about a
// day in all, and the receiver's own Retry-After on 429 and 503.

/**
 * The ceiling of the wait before retry n (after attempt n, 1-based). The wait itself is
 * uniform in [0, ceiling] ("full jitter"), so receivers coming back after an outage are
 * not hit by every sender at the same instant. The ceilings add up to about 23 hours;
 * since jitter can make the series shorter, a delivery is dead-lettered only once it has
 * had MAX_ATTEMPTS attempts AND its first attempt is RETRY_WINDOW_MS old (later retries
 * use the last ceiling): a receiver down for up to a day still gets everything.
 */
export const BACKOFF_CEILINGS_MS: readonly number[] = [
  30_000, // 30 s
  120_000, // 2 min
  600_000, // 10 min
  1_800_000, // 30 min
  3_600_000, // 1 h
  3 * 3_600_000,
  6 * 3_600_000,
  12 * 3_600_000,
];

/** Attempts before a delivery may be dead-lettered: the first one plus one per ceiling. */
export const MAX_ATTEMPTS = BACKOFF_CEILINGS_MS.length + 1;
/** How long a delivery is retried at least, from its first attempt. */
export const RETRY_WINDOW_MS = 24 * 3_600_000;

/** A receiver's Retry-After is honoured up to this: a receiver cannot hold a queue for days. */
export const MAX_RETRY_AFTER_MS = 6 * 3_600_000;

/**
 * The wait after failed attempt `attempt` (1-based) of a series that began at
 * `firstAttemptAt`, or null when it was the last one (dead-letter).
 */
export function backoff(attempt: number, firstAttemptAt: number, now: number, random: () => number = Math.random): number | null {
  if (attempt >= MAX_ATTEMPTS && now - firstAttemptAt >= RETRY_WINDOW_MS) return null;
  const ceiling = BACKOFF_CEILINGS_MS[Math.min(attempt, BACKOFF_CEILINGS_MS.length) - 1]!;
  // At least a second, so a zero draw still leaves the receiver a moment.
  return Math.max(1_000, Math.floor(random() * ceiling));
}

/**
 * A Retry-After header value in ms from `now`: delta-seconds or an HTTP date
 * (RFC 9110 §10.2.3), capped at MAX_RETRY_AFTER_MS; null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const date = Date.parse(text);
    if (Number.isNaN(date) || !/[a-z]/i.test(text)) return null;
    ms = date - now;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** Statuses whose Retry-After is honoured. */
export const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([429, 503]);
