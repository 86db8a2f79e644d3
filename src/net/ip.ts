/**
 * IP address / CIDR parsing and fast allowlist matching for IPv4 and IPv6.
 *
 * Representation used internally (never exposed):
 *   - IPv4: one uint32 held in a plain JS number (0 .. 2^32-1).
 *   - IPv6: four uint32 words, most significant first (w0 = bits 127..96).
 *
 * The parsers are hand-written over `charCodeAt` and write into caller-provided
 * scratch buffers, so the hot path of `IpMatcher.lookup` parses an address
 * without regexes, BigInt or per-call allocations.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) are, for
 * MATCHING purposes, the IPv4 address a.b.c.d: sign-in logs sometimes carry
 * the mapped form of an IPv4 client, and the client really is that IPv4 host.
 * See `IpMatcher` for exactly how this applies to entries and lookups.
 * `parseIp` / `parseNetwork` themselves do not convert: they report family 6.
 */

export type IpFamily = 4 | 6;

export interface ParsedIp {
  family: IpFamily;
  canonical: string;
}

export interface ParsedNetwork {
  family: IpFamily;
  kind: "address" | "range";
  canonical: string;
  prefix: number;
}

// ---------------------------------------------------------------------------
// Low-level parsing
// ---------------------------------------------------------------------------

const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;
const CH_COLON = 58;
const CH_SLASH = 47;

/** HEX[c] = value of ASCII hex digit c, or -1. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 10; d++) HEX[CH_0 + d] = d;
for (let d = 0; d < 6; d++) HEX[65 + d] = HEX[97 + d] = 10 + d; // 'A'..'F', 'a'..'f'

/** Value of a hex digit char code, or -1. */
function hexVal(c: number): number {
  return c < 128 ? HEX[c]! : -1;
}

/**
 * Parse a dotted-quad IPv4 address occupying exactly s[start, end).
 * Each octet is 1-3 decimal digits, 0..255, without leading zeros ("01" is
 * rejected: some stacks read it as octal, so it is ambiguous).
 * Returns the uint32 value, or -1 when invalid.
 */
function parseV4(s: string, start: number, end: number): number {
  let i = start;
  let value = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (i >= end) return -1;
    let c = s.charCodeAt(i);
    if (c < CH_0 || c > CH_9) return -1;
    let o = c - CH_0;
    i++;
    while (i < end) {
      c = s.charCodeAt(i);
      if (c < CH_0 || c > CH_9) break;
      if (o === 0) return -1; // leading zero
      o = o * 10 + (c - CH_0);
      if (o > 255) return -1;
      i++;
    }
    value = value * 256 + o; // multiply, not shift: stays unsigned
    if (octet < 3) {
      if (i >= end || s.charCodeAt(i) !== CH_DOT) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

/** Scratch for the eight 16-bit groups while parsing IPv6 (single-threaded, not re-entrant). */
const GROUPS = new Uint16Array(8);

/**
 * Parse an RFC 4291 IPv6 text occupying exactly s[start, end) into `out`
 * (four uint32 words, most significant first). Accepts 1-4 hex digits per
 * group, at most one "::" standing for one or more zero groups, and a
 * trailing embedded dotted quad counting as two groups. Rejects zone ids,
 * brackets, ports and anything else. Returns false when invalid.
 */
function parseV6(s: string, start: number, end: number, out: Uint32Array): boolean {
  const g = GROUPS;
  let n = 0; // groups written so far
  let dc = -1; // group index where "::" appeared, -1 if none
  let i = start;

  if (i + 1 < end && s.charCodeAt(i) === CH_COLON) {
    if (s.charCodeAt(i + 1) !== CH_COLON) return false; // a lone leading ":"
    dc = 0;
    i += 2;
  }

  if (i < end || dc < 0) {
    for (;;) {
      // One group: hex digits up to ':' or '.' or end.
      let j = i;
      let val = 0;
      let d: number;
      while (j < end && (d = hexVal(s.charCodeAt(j))) >= 0) {
        val = (val << 4) | d; // garbage if > 4 digits, but that is rejected below
        j++;
      }
      const digits = j - i;
      if (digits === 0) return false; // ":::", trailing ":", empty group, junk
      if (j < end && s.charCodeAt(j) === CH_DOT) {
        // Embedded IPv4: must run to the end and fit in the last two groups.
        if (n > 6) return false;
        const v4 = parseV4(s, i, end);
        if (v4 < 0) return false;
        g[n++] = v4 >>> 16;
        g[n++] = v4 & 0xffff;
        break;
      }
      if (digits > 4 || n === 8) return false;
      g[n++] = val;
      if (j === end) break;
      if (s.charCodeAt(j) !== CH_COLON) return false;
      j++;
      if (j < end && s.charCodeAt(j) === CH_COLON) {
        if (dc >= 0) return false; // second "::"
        dc = n;
        j++;
        if (j === end) break; // trailing "::"
      }
      i = j; // (j === end here means a trailing single ":" -> empty group -> false)
    }
  }

  if (dc < 0) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false; // "::" must stand for at least one group
    // Slide the groups after "::" to the end and zero the gap.
    const shift = 8 - n;
    for (let k = n - 1; k >= dc; k--) g[k + shift] = g[k]!;
    for (let k = dc; k < dc + shift; k++) g[k] = 0;
  }
  out[0] = ((g[0]! << 16) | g[1]!) >>> 0;
  out[1] = ((g[2]! << 16) | g[3]!) >>> 0;
  out[2] = ((g[4]! << 16) | g[5]!) >>> 0;
  out[3] = ((g[6]! << 16) | g[7]!) >>> 0;
  return true;
}

/**
 * Parse an address occupying s[start, end) (no trimming).
 * Returns 4 (out[0] = uint32), 6 (out[0..3] = words) or 0 (invalid).
 */
function parseAddrRange(s: string, start: number, end: number, out: Uint32Array): 0 | IpFamily {
  // A dotted quad never contains ':' and an IPv6 text always does; trying
  // IPv4 first is cheap because it fails within the first few characters.
  const v4 = parseV4(s, start, end);
  if (v4 >= 0) {
    out[0] = v4;
    return 4;
  }
  return parseV6(s, start, end, out) ? 6 : 0;
}

/** Parse a whole address text after trimming surrounding whitespace; 0 for non-strings. */
function parseAddr(text: string, out: Uint32Array): 0 | IpFamily {
  if (typeof text !== "string") return 0;
  const s = text.trim();
  return parseAddrRange(s, 0, s.length, out);
}

function isMapped(w: ArrayLike<number>): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0x0000ffff;
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * RFC 5952 text: lowercase hex, no leading zeros, the longest run (>= 2) of
 * zero groups compressed to "::" (the first such run on a tie), and mixed
 * notation "::ffff:a.b.c.d" for IPv4-mapped addresses (RFC 5952 §5). The
 * deprecated IPv4-compatible form (::a.b.c.d) is NOT used, so "::1" stays "::1".
 */
function formatV6(w: ArrayLike<number>): string {
  if (isMapped(w)) return `::ffff:${formatV4(w[3]!)}`;
  const g: number[] = [];
  for (let k = 0; k < 4; k++) {
    const word = w[k]!;
    g.push(word >>> 16, word & 0xffff);
  }
  let bestStart = -1;
  let bestLen = 1; // runs must be longer than 1 to be compressed
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) {
      bestStart = k;
      bestLen = e - k;
    }
    k = e;
  }
  const hex = (x: number): string => x.toString(16);
  if (bestStart < 0) return g.map(hex).join(":");
  return `${g.slice(0, bestStart).map(hex).join(":")}::${g.slice(bestStart + bestLen).map(hex).join(":")}`;
}

// ---------------------------------------------------------------------------
// Public parsing API
// ---------------------------------------------------------------------------

/**
 * Parse an IPv4 (dotted quad, no leading-zero octets, no port) or IPv6
 * address (RFC 4291 text forms incl. "::" and embedded IPv4; zone ids,
 * brackets and ports rejected). Surrounding whitespace is trimmed.
 * canonical = dotted quad for IPv4, lowercase RFC 5952 for IPv6.
 * Returns null when `text` is not an address.
 */
export function parseIp(text: string): ParsedIp | null {
  const w = new Uint32Array(4);
  const family = parseAddr(text, w);
  if (family === 0) return null;
  return { family, canonical: family === 4 ? formatV4(w[0]!) : formatV6(w) };
}

/** Internal parse result of a network: the address words with host bits cleared. */
interface NetworkValue {
  family: IpFamily;
  kind: "address" | "range";
  prefix: number;
  /** IPv4: [value]; IPv6: four words. Host bits already cleared. */
  words: Uint32Array;
}

/** Mask of the top `bits` bits (0..32) of a uint32 word. */
function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Parse a CIDR prefix occupying s[start, end): decimal digits only, no sign,
 * no leading zeros ("/08" is rejected, like octets), value 0..max. -1 if invalid.
 */
function parsePrefix(s: string, start: number, end: number, max: number): number {
  const len = end - start;
  if (len < 1 || len > 3) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < CH_0 || c > CH_9) return -1;
    v = v * 10 + (c - CH_0);
  }
  if (len > 1 && s.charCodeAt(start) === CH_0) return -1;
  return v <= max ? v : -1;
}

function parseNetworkValue(text: string): NetworkValue | null {
  if (typeof text !== "string") return null;
  const s = text.trim();
  const slash = s.indexOf("/");
  const addrEnd = slash < 0 ? s.length : slash;
  const words = new Uint32Array(4);
  const family = parseAddrRange(s, 0, addrEnd, words);
  if (family === 0) return null;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    prefix = parsePrefix(s, slash + 1, s.length, bits);
    if (prefix < 0) return null;
  }
  // Clear host bits word by word.
  const nWords = family === 4 ? 1 : 4;
  for (let k = 0; k < nWords; k++) words[k] = (words[k]! & wordMask(prefix - 32 * k)) >>> 0;
  return {
    family,
    kind: slash < 0 ? "address" : "range",
    prefix,
    words: family === 4 ? words.subarray(0, 1) : words,
  };
}

/**
 * Parse an allowlist entry: an address ("198.51.100.7", "2001:db8::1") or a
 * CIDR range ("203.0.113.0/24", "2001:DB8::/32"). A range's canonical form
 * is its network address (host bits cleared) plus "/prefix", so
 * "10.1.2.3/8" -> "10.0.0.0/8". A bare address is kind "address" with prefix
 * 32 / 128. Prefix: decimal 0..32 / 0..128, no sign, no leading zeros.
 * Returns null when invalid.
 */
export function parseNetwork(text: string): ParsedNetwork | null {
  const v = parseNetworkValue(text);
  if (v === null) return null;
  const addr = v.family === 4 ? formatV4(v.words[0]!) : formatV6(v.words);
  return {
    family: v.family,
    kind: v.kind,
    canonical: v.kind === "range" ? `${addr}/${v.prefix}` : addr,
    prefix: v.prefix,
  };
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

/** An IPv6 interval, both ends inclusive, as four-word tuples. */
interface V6Interval {
  first: Uint32Array;
  last: Uint32Array;
}

function cmpWords(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let k = 0; k < 4; k++) {
    const x = a[k]!;
    const y = b[k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** True when b === a + 1 (128-bit). */
function isSuccessor(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  const inc = Uint32Array.from(a as ArrayLike<number>);
  for (let k = 3; k >= 0; k--) {
    inc[k] = (inc[k]! + 1) >>> 0;
    if (inc[k] !== 0) return cmpWords(inc, b) === 0;
  }
  return false; // a was all-ones: no successor
}

/** Scratch for parsed lookup addresses (single-threaded, not re-entrant). */
const LOOKUP = new Uint32Array(4);

/**
 * A set of IPv4 and IPv6 addresses/ranges, built once and queried many times.
 *
 * Every entry becomes an inclusive interval [first, last] of its family's
 * address space; per family the intervals are sorted and overlapping or
 * adjacent ones merged, so a lookup is one parse plus a binary search
 * (O(log n)) with no allocation.
 *
 * Family separation: an IPv4 address never matches an IPv6 entry and vice
 * versa, and "/0" covers only its own family — with ONE exception, IPv4-mapped
 * IPv6 (::ffff:0:0/96), which is treated as IPv4 on both sides:
 *   - a lookup of "::ffff:a.b.c.d" is answered as the lookup of "a.b.c.d";
 *   - an entry lying wholly inside ::ffff:0:0/96 (prefix >= 96) is stored as
 *     the IPv4 range it maps, so "::ffff:203.0.113.0/120" allows 203.0.113.x
 *     in either spelling.
 * Consequently a broader IPv6 entry that merely covers the mapped block
 * (e.g. "::/0", "::/64") does NOT match mapped addresses: those clients are
 * IPv4 hosts, and an allowlist saying "all IPv6" must not silently allow them.
 */
export class IpMatcher {
  static readonly empty: IpMatcher = new IpMatcher([]);

  readonly #size: number;
  /** Merged IPv4 intervals: v4First[i] <= v4Last[i] < v4First[i+1]. */
  readonly #v4First: Uint32Array;
  readonly #v4Last: Uint32Array;
  /** Merged IPv6 intervals, four words per interval (stride 4). */
  readonly #v6First: Uint32Array;
  readonly #v6Last: Uint32Array;
  readonly #v6Count: number;

  /** @throws Error naming the first invalid entry. */
  constructor(entries: Iterable<string>) {
    const v4: Array<[number, number]> = [];
    const v6: V6Interval[] = [];
    let size = 0;
    for (const entry of entries) {
      size++;
      const net = parseNetworkValue(entry);
      if (net === null) {
        throw new Error(`Invalid IP address or CIDR range in allowlist: ${JSON.stringify(entry)}`);
      }
      const w = net.words;
      if (net.family === 4 || (net.prefix >= 96 && isMapped(w))) {
        // IPv4, or an IPv4-mapped IPv6 entry re-expressed as the IPv4 range it maps.
        const value = net.family === 4 ? w[0]! : w[3]!;
        const prefix = net.family === 4 ? net.prefix : net.prefix - 96;
        const mask = wordMask(prefix);
        v4.push([value, (value | ~mask) >>> 0]);
      } else {
        const last = new Uint32Array(4);
        for (let k = 0; k < 4; k++) last[k] = (w[k]! | ~wordMask(net.prefix - 32 * k)) >>> 0;
        v6.push({ first: Uint32Array.from(w), last });
      }
    }
    this.#size = size;

    // IPv4: sort, merge overlapping/adjacent (numbers are exact up to 2^53, so last + 1 is safe).
    v4.sort((a, b) => a[0] - b[0]);
    const m4: Array<[number, number]> = [];
    for (const iv of v4) {
      const top = m4[m4.length - 1];
      if (top !== undefined && iv[0] <= top[1] + 1) {
        if (iv[1] > top[1]) top[1] = iv[1];
      } else {
        m4.push([iv[0], iv[1]]);
      }
    }
    this.#v4First = Uint32Array.from(m4, (iv) => iv[0]);
    this.#v4Last = Uint32Array.from(m4, (iv) => iv[1]);

    // IPv6: same, with 128-bit comparisons over words.
    v6.sort((a, b) => cmpWords(a.first, b.first));
    const m6: V6Interval[] = [];
    for (const iv of v6) {
      const top = m6[m6.length - 1];
      if (top !== undefined && (cmpWords(iv.first, top.last) <= 0 || isSuccessor(top.last, iv.first))) {
        if (cmpWords(iv.last, top.last) > 0) top.last = iv.last;
      } else {
        m6.push({ first: iv.first, last: iv.last });
      }
    }
    this.#v6Count = m6.length;
    this.#v6First = new Uint32Array(m6.length * 4);
    this.#v6Last = new Uint32Array(m6.length * 4);
    m6.forEach((iv, i) => {
      this.#v6First.set(iv.first, i * 4);
      this.#v6Last.set(iv.last, i * 4);
    });
  }

  /** Number of entries given to the constructor (before merging). */
  get size(): number {
    return this.#size;
  }

  /**
   * true if `ip` is inside any entry, false if it is an address inside none,
   * null if `ip` is not an address (like KQL ipv4_is_in_any_range).
   * IPv4-mapped IPv6 addresses are looked up as their IPv4 address.
   */
  lookup(ip: string): boolean | null {
    const w = LOOKUP;
    const family = parseAddr(ip, w);
    if (family === 0) return null;
    if (family === 4) return this.#lookupV4(w[0]!);
    if (isMapped(w)) return this.#lookupV4(w[3]!);
    return this.#lookupV6(w[0]!, w[1]!, w[2]!, w[3]!);
  }

  #lookupV4(x: number): boolean {
    const first = this.#v4First;
    // Find the last interval whose first <= x.
    let lo = 0;
    let hi = first.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (first[mid]! <= x) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && x <= this.#v4Last[found]!;
  }

  #lookupV6(x0: number, x1: number, x2: number, x3: number): boolean {
    const first = this.#v6First;
    let lo = 0;
    let hi = this.#v6Count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const b = mid * 4;
      if (wordsLe(first[b]!, first[b + 1]!, first[b + 2]!, first[b + 3]!, x0, x1, x2, x3)) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return false;
    const last = this.#v6Last;
    const b = found * 4;
    return wordsLe(x0, x1, x2, x3, last[b]!, last[b + 1]!, last[b + 2]!, last[b + 3]!);
  }
}

/** a <= b for 128-bit values given as words (most significant first). */
function wordsLe(
  a0: number, a1: number, a2: number, a3: number,
  b0: number, b1: number, b2: number, b3: number,
): boolean {
  if (a0 !== b0) return a0 < b0;
  if (a1 !== b1) return a1 < b1;
  if (a2 !== b2) return a2 < b2;
  return a3 <= b3;
}

/**
 * KQL ipv4_is_in_any_range(ip, ranges) extended to IPv6, with the same
 * semantics as `IpMatcher.lookup`: true / false, or null when `ip` is not
 * an address (including null/undefined from a missing log field).
 */
export function ipIsInAnyRange(ip: string, ranges: IpMatcher): boolean | null {
  return ranges.lookup(ip);
}

// ---------------------------------------------------------------------------
// IPv4 inside IPv6
// ---------------------------------------------------------------------------

const formatWord = (x: number): string => formatV4(x >>> 0);

/**
 * The IPv4 addresses an IPv6 address carries, by every standard embedding a packet to it
 * may be translated or tunnelled through (dotted quads; [] for IPv4 input, non-addresses
 * and IPv6 without one):
 *   ::a.b.c.d            IPv4-compatible (RFC 4291 §2.5.5.1, deprecated; :: and ::1 too)
 *   ::ffff:a.b.c.d       IPv4-mapped (RFC 4291 §2.5.5.2)
 *   ::ffff:0:a.b.c.d     IPv4-translated (RFC 2765 §2.1)
 *   64:ff9b::a.b.c.d     NAT64 well-known prefix (RFC 6052)
 *   2002:AABB:CCDD::/48  6to4 (RFC 3056): a.b.c.d in bits 16..47
 *   2001:0:SSSS:SSSS:…:CCCC:CCCC  Teredo (RFC 4380): the server, and the client XOR ffffffff
 *   …:0:5efe:a.b.c.d, …:200:5efe:a.b.c.d  ISATAP interface ids (RFC 5214), under any prefix
 */
export function embeddedIpv4(text: string): string[] {
  const w = new Uint32Array(4);
  if (parseAddr(text, w) !== 6) return [];
  const [w0, w1, w2, w3] = [w[0]!, w[1]!, w[2]!, w[3]!];
  const out: string[] = [];
  if (w0 === 0 && w1 === 0 && (w2 === 0 || w2 === 0x0000ffff || w2 === 0xffff0000)) out.push(formatWord(w3));
  if (w0 === 0x0064ff9b && w1 === 0 && w2 === 0) out.push(formatWord(w3));
  if (w0 >>> 16 === 0x2002) out.push(formatWord(((w0 & 0xffff) << 16) | (w1 >>> 16)));
  if (w0 === 0x20010000) out.push(formatWord(w1), formatWord(~w3));
  if ((w2 & 0xfdffffff) === 0x00005efe) out.push(formatWord(w3));
  return out;
}

const LOOPBACK = new IpMatcher(["127.0.0.0/8", "::1/128"]);

/** "localhost" or a loopback address (127.0.0.0/8, ::1, IPv4-mapped loopback); IPv6 may be bracketed. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "localhost" || LOOPBACK.lookup(bare) === true;
}
