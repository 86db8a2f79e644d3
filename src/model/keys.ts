// Table Storage key encoding (a model concept: the API checks that a value can become a key
// before asking storage). PartitionKey and RowKey may not contain / \ # ? or control
// characters (and guest UPNs contain #EXT#), so every user value is percent-encoded
// before it becomes a key (and `|`, which joins encoded parts of one key): readable for
// ordinary UPNs, reversible, and order-preserving
// enough for prefix scans.
const UNSTORABLE = "/\\\\#?\\u0000-\\u001f\\u007f-\\u009f";
const FORBIDDEN = new RegExp(`[%|${UNSTORABLE}]`, "g");
const UNSTORABLE_CHAR = new RegExp(`[${UNSTORABLE}]`);
const MAX_KEY_BYTES = 1024;

/**
 * Whether Table Storage can hold this PartitionKey or RowKey: at most 1 KiB, none of the
 * characters above. A key from a request that fails this names nothing, so a point read
 * answers "not found" instead of sending a request the service refuses (a `%2F` in a
 * webhook id was a 500).
 */
export function storableKey(key: string): boolean {
  return Buffer.byteLength(key, "utf8") <= MAX_KEY_BYTES && !UNSTORABLE_CHAR.test(key);
}

export function encodeKey(value: string): string {
  const encoded = value.replace(FORBIDDEN, (ch) =>
    [...Buffer.from(ch, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
  );
  // A key is at most 1 KiB; longer values are not UPNs, IPs or list names.
  if (Buffer.byteLength(encoded, "utf8") > MAX_KEY_BYTES) throw new Error(`key too long: ${value.slice(0, 40)}…`);
  return encoded;
}

export function decodeKey(key: string): string {
  return decodeURIComponent(key);
}
