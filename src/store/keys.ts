// Table Storage RowKey orderings. The key encoding itself is in src/model/keys.ts; it is
// re-exported here for the store modules that still import it from this file.
export { decodeKey, encodeKey } from "../model/keys.js";

/** A RowKey that sorts newest first: 13-digit (max epoch ms − time). */
export function invertedTime(ms: number): string {
  return String(8_640_000_000_000_000 - ms).padStart(16, "0");
}

/** Bounds for a RowKey prefix scan: RowKey ge prefix and lt prefix-successor. */
export function prefixRange(prefix: string): { ge: string; lt: string } {
  const last = prefix.charCodeAt(prefix.length - 1);
  return { ge: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}
