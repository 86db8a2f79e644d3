import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IpMatcher, ipIsInAnyRange, parseIp, parseNetwork } from "../../src/net/ip.js";

describe("parseIp: IPv4", () => {
  it.each([
    ["1.2.3.4", "1.2.3.4"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["10.0.0.1", "10.0.0.1"],
    ["  198.51.100.7\t\n", "198.51.100.7"],
  ])("accepts %j -> %s", (text, canonical) => {
    expect(parseIp(text)).toEqual({ family: 4, canonical });
  });

  it.each([
    ["empty", ""],
    ["whitespace only", "   "],
    ["leading zero octet", "01.2.3.4"],
    ["leading zero last octet", "1.2.3.04"],
    ["double zero", "1.00.3.4"],
    ["octet 256", "1.2.3.256"],
    ["octet 999", "999.1.1.1"],
    ["too few octets", "1.2.3"],
    ["too many octets", "1.2.3.4.5"],
    ["trailing dot", "1.2.3.4."],
    ["leading dot", ".1.2.3.4"],
    ["empty octet", "1..3.4"],
    ["port suffix", "1.2.3.4:443"],
    ["cidr is not an address", "1.2.3.0/24"],
    ["inner whitespace", "1.2. 3.4"],
    ["sign", "+1.2.3.4"],
    ["hex octet", "0x1.2.3.4"],
    ["single integer", "16909060"],
    ["letters", "a.b.c.d"],
    ["fullwidth digits", "１.2.3.4"],
  ])("rejects %s (%j)", (_name, text) => {
    expect(parseIp(text)).toBeNull();
  });
});

describe("parseIp: IPv6", () => {
  it.each([
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of equal runs
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // longest run wins
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // single zero group not compressed
    ["2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ["FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    ["fe80::0001", "fe80::1"],
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
    ["::FFFF:0102:0304", "::ffff:1.2.3.4"], // mapped written in hex -> mixed notation
    ["0:0:0:0:0:ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::1.2.3.4", "::102:304"], // deprecated IPv4-compatible form is not kept mixed
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
    [" 2001:db8::1 ", "2001:db8::1"],
  ])("accepts %j -> %s", (text, canonical) => {
    expect(parseIp(text)).toEqual({ family: 6, canonical });
  });

  it.each([
    ["single colon", ":"],
    ["triple colon", ":::"],
    ["two ::", "1::2::3"],
    ["two :: adjacent", "::1::"],
    ["too many groups", "1:2:3:4:5:6:7:8:9"],
    ["nine groups with ::", "1:2:3:4:5:6:7:8::"],
    ["8 groups plus ::", "::1:2:3:4:5:6:7:8"],
    ["too few groups", "1:2:3:4:5:6:7"],
    ["five hex digits", "12345::"],
    ["leading single colon", ":1::"],
    ["trailing single colon", "1::2:"],
    ["non-hex", "2001:db8::g"],
    ["zone id", "fe80::1%eth0"],
    ["numeric zone id", "fe80::1%1"],
    ["bracketed", "[::1]"],
    ["bracketed with port", "[2001:db8::1]:443"],
    ["embedded IPv4 not last", "::1.2.3.4:1"],
    ["embedded IPv4 too many groups", "1:2:3:4:5:6:7:1.2.3.4"],
    ["embedded IPv4 leading zero", "::ffff:1.2.3.04"],
    ["embedded IPv4 out of range", "::ffff:1.2.3.256"],
    ["embedded IPv4 short", "::ffff:1.2.3"],
    ["cidr is not an address", "2001:db8::/32"],
    ["inner space", "2001:db8:: 1"],
    ["hex prefix", "0x2001::1"],
  ])("rejects %s (%j)", (_name, text) => {
    expect(parseIp(text)).toBeNull();
  });

  it("returns null for non-string input from untyped callers", () => {
    expect(parseIp(undefined as unknown as string)).toBeNull();
    expect(parseIp(null as unknown as string)).toBeNull();
  });
});

describe("parseNetwork", () => {
  it.each([
    ["198.51.100.7", { family: 4, kind: "address", canonical: "198.51.100.7", prefix: 32 }],
    ["2001:DB8::1", { family: 6, kind: "address", canonical: "2001:db8::1", prefix: 128 }],
    ["203.0.113.0/24", { family: 4, kind: "range", canonical: "203.0.113.0/24", prefix: 24 }],
    ["10.1.2.3/8", { family: 4, kind: "range", canonical: "10.0.0.0/8", prefix: 8 }],
    ["10.1.2.3/32", { family: 4, kind: "range", canonical: "10.1.2.3/32", prefix: 32 }],
    ["255.255.255.255/0", { family: 4, kind: "range", canonical: "0.0.0.0/0", prefix: 0 }],
    ["10.1.2.3/31", { family: 4, kind: "range", canonical: "10.1.2.2/31", prefix: 31 }],
    ["2001:DB8::/32", { family: 6, kind: "range", canonical: "2001:db8::/32", prefix: 32 }],
    ["2001:db8:abcd:1234::1/48", { family: 6, kind: "range", canonical: "2001:db8:abcd::/48", prefix: 48 }],
    ["2001:db8::ffff/127", { family: 6, kind: "range", canonical: "2001:db8::fffe/127", prefix: 127 }],
    ["2001:db8::1/128", { family: 6, kind: "range", canonical: "2001:db8::1/128", prefix: 128 }],
    ["ffff::/0", { family: 6, kind: "range", canonical: "::/0", prefix: 0 }],
    ["::ffff:10.9.8.7/104", { family: 6, kind: "range", canonical: "::ffff:10.0.0.0/104", prefix: 104 }],
    [" 10.0.0.0/8 ", { family: 4, kind: "range", canonical: "10.0.0.0/8", prefix: 8 }],
  ])("parses %j", (text, expected) => {
    expect(parseNetwork(text)).toEqual(expected);
  });

  it.each([
    ["empty", ""],
    ["prefix too large v4", "10.0.0.0/33"],
    ["prefix too large v6", "2001:db8::/129"],
    ["negative prefix", "10.0.0.0/-1"],
    ["plus prefix", "10.0.0.0/+8"],
    ["leading-zero prefix", "10.0.0.0/08"],
    ["empty prefix", "10.0.0.0/"],
    ["no address", "/8"],
    ["double slash", "10.0.0.0/8/8"],
    ["hex prefix", "10.0.0.0/0x8"],
    ["space before prefix", "10.0.0.0 /8"],
    ["space after slash", "10.0.0.0/ 8"],
    ["fractional prefix", "10.0.0.0/8.0"],
    ["netmask form", "10.0.0.0/255.0.0.0"],
    ["bad address", "10.0.0.256/8"],
    ["zone id", "fe80::%eth0/64"],
    ["port", "10.0.0.1:80"],
    ["range syntax", "10.0.0.1-10.0.0.9"],
  ])("rejects %s (%j)", (_name, text) => {
    expect(parseNetwork(text)).toBeNull();
  });
});

describe("IpMatcher", () => {
  it("matches addresses and ranges of both families", () => {
    const m = new IpMatcher(["203.0.113.0/24", "198.51.100.7", "2001:db8::/32", "2001:db8:ffff::1"]);
    expect(m.size).toBe(4);
    expect(m.lookup("203.0.113.0")).toBe(true);
    expect(m.lookup("203.0.113.255")).toBe(true);
    expect(m.lookup("203.0.112.255")).toBe(false);
    expect(m.lookup("203.0.114.0")).toBe(false);
    expect(m.lookup("198.51.100.7")).toBe(true);
    expect(m.lookup("198.51.100.8")).toBe(false);
    expect(m.lookup("2001:db8::")).toBe(true);
    expect(m.lookup("2001:DB8:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF")).toBe(true);
    expect(m.lookup("2001:db9::")).toBe(false);
    expect(m.lookup("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(false);
    expect(m.lookup(" 203.0.113.9 ")).toBe(true);
  });

  it("returns null for anything that is not an address", () => {
    const m = new IpMatcher(["0.0.0.0/0", "::/0"]);
    for (const bad of ["", "garbage", "1.2.3.4:80", "1.2.3.0/24", "fe80::1%eth0", "[::1]", "01.2.3.4"]) {
      expect(m.lookup(bad)).toBeNull();
      expect(ipIsInAnyRange(bad, m)).toBeNull();
    }
    expect(m.lookup(undefined as unknown as string)).toBeNull();
  });

  it("empty matcher: false for addresses, null for garbage", () => {
    expect(IpMatcher.empty.size).toBe(0);
    expect(IpMatcher.empty.lookup("1.2.3.4")).toBe(false);
    expect(IpMatcher.empty.lookup("::1")).toBe(false);
    expect(IpMatcher.empty.lookup("nope")).toBeNull();
    expect(new IpMatcher([]).lookup("::")).toBe(false);
  });

  it("/0 matches its whole family only", () => {
    const v4all = new IpMatcher(["0.0.0.0/0"]);
    expect(v4all.lookup("0.0.0.0")).toBe(true);
    expect(v4all.lookup("255.255.255.255")).toBe(true);
    expect(v4all.lookup("::")).toBe(false);
    expect(v4all.lookup("2001:db8::1")).toBe(false);
    const v6all = new IpMatcher(["::/0"]);
    expect(v6all.lookup("::")).toBe(true);
    expect(v6all.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(true);
    expect(v6all.lookup("0.0.0.0")).toBe(false);
    expect(v6all.lookup("10.1.2.3")).toBe(false);
  });

  it("/32 and /128 match exactly one address", () => {
    const m = new IpMatcher(["10.0.0.5/32", "2001:db8::5/128"]);
    expect(m.lookup("10.0.0.5")).toBe(true);
    expect(m.lookup("10.0.0.4")).toBe(false);
    expect(m.lookup("10.0.0.6")).toBe(false);
    expect(m.lookup("2001:db8::5")).toBe(true);
    expect(m.lookup("2001:db8::4")).toBe(false);
    expect(m.lookup("2001:db8::6")).toBe(false);
  });

  it("keeps families apart (same bits, different family)", () => {
    // ::a00:1 has the same low 32 bits as 10.0.0.1 but is not it.
    const m = new IpMatcher(["10.0.0.0/8"]);
    expect(m.lookup("::a00:1")).toBe(false);
    expect(m.lookup("::10.0.0.1")).toBe(false); // IPv4-compatible (deprecated) is not mapped
    const m6 = new IpMatcher(["::/96"]);
    expect(m6.lookup("::a00:1")).toBe(true);
    expect(m6.lookup("10.0.0.1")).toBe(false);
  });

  it("treats IPv4-mapped IPv6 addresses as IPv4 (lookups and entries)", () => {
    const m = new IpMatcher(["203.0.113.0/24", "::ffff:198.51.100.0/120", "::ffff:192.0.2.1"]);
    expect(m.lookup("::ffff:203.0.113.7")).toBe(true);
    expect(m.lookup("::FFFF:CB00:7107")).toBe(true); // same, in hex
    expect(m.lookup("0:0:0:0:0:ffff:203.0.113.7")).toBe(true);
    expect(m.lookup("::ffff:203.0.114.7")).toBe(false);
    expect(m.lookup("198.51.100.200")).toBe(true); // mapped entry matches plain IPv4
    expect(m.lookup("::ffff:198.51.100.200")).toBe(true);
    expect(m.lookup("192.0.2.1")).toBe(true);
    expect(m.lookup("192.0.2.2")).toBe(false);
    // ::ffff:0:0/96 is the whole IPv4 space.
    const all = new IpMatcher(["::ffff:0:0/96"]);
    expect(all.lookup("1.2.3.4")).toBe(true);
    expect(all.lookup("::ffff:255.255.255.255")).toBe(true);
    expect(all.lookup("::fffe:ffff:ffff")).toBe(false);
    expect(all.lookup("::1:0:0:0")).toBe(false);
  });

  it("broad IPv6 ranges do not match mapped (i.e. IPv4) clients", () => {
    const m = new IpMatcher(["::/0"]);
    expect(m.lookup("::ffff:1.2.3.4")).toBe(false);
    expect(new IpMatcher(["::/64"]).lookup("::ffff:1.2.3.4")).toBe(false);
    expect(new IpMatcher(["::/64"]).lookup("::fffe:1.2.3.4")).toBe(true);
  });

  it("merges overlapping and adjacent ranges correctly", () => {
    const m = new IpMatcher([
      "10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.3.0/24",
      "2001:db8::/64", "2001:db8:0:1::/64", "2001:db8::/48", "2001:db8:0:3::/64",
      "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]);
    expect(m.size).toBe(10);
    expect(m.lookup("10.0.1.255")).toBe(true);
    expect(m.lookup("10.0.2.0")).toBe(false);
    expect(m.lookup("10.0.3.0")).toBe(true);
    expect(m.lookup("2001:db8:0:ffff::")).toBe(true);
    expect(m.lookup("2001:db8:1::")).toBe(false);
    expect(m.lookup("255.255.255.255")).toBe(true);
    expect(m.lookup("255.255.255.254")).toBe(false);
    expect(m.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(true);
    expect(m.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")).toBe(false);
  });

  it("does not merge ranges separated by a single-address gap", () => {
    const m = new IpMatcher(["10.0.0.0/31", "10.0.0.3", "2001:db8::/127", "2001:db8::3"]);
    expect(m.lookup("10.0.0.1")).toBe(true);
    expect(m.lookup("10.0.0.2")).toBe(false);
    expect(m.lookup("10.0.0.3")).toBe(true);
    expect(m.lookup("2001:db8::1")).toBe(true);
    expect(m.lookup("2001:db8::2")).toBe(false);
    expect(m.lookup("2001:db8::3")).toBe(true);
  });

  it("size counts entries as given, duplicates included", () => {
    expect(new IpMatcher(["1.2.3.4", "1.2.3.4", "1.2.3.0/24"]).size).toBe(3);
    expect(new IpMatcher(new Set(["::1", "1.1.1.1"])).size).toBe(2);
  });

  it("throws an error naming the invalid entry", () => {
    expect(() => new IpMatcher(["10.0.0.0/8", "10.0.0.0/33"])).toThrow(/10\.0\.0\.0\/33/);
    expect(() => new IpMatcher(["not-an-ip"])).toThrow(/not-an-ip/);
    expect(() => new IpMatcher([""])).toThrow(Error);
  });
});

// ---------------------------------------------------------------------------
// Property tests against an independent BigInt reference
// ---------------------------------------------------------------------------

const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;
const MAPPED_PREFIX = 0xffffn << 32n;

type Fam = 4 | 6;
interface Addr { family: Fam; value: bigint }
interface Range { family: Fam; value: bigint; prefix: number }
interface Style { pad: boolean; upper: boolean; compress: boolean; mixed: boolean }

const bits = (f: Fam): bigint => (f === 4 ? 32n : 128n);
const maxOf = (f: Fam): bigint => (f === 4 ? V4_MAX : V6_MAX);

function refInterval(r: Range): { family: Fam; first: bigint; last: bigint } {
  const host = (1n << (bits(r.family) - BigInt(r.prefix))) - 1n;
  const first = r.value & ~host & maxOf(r.family);
  const last = first | host;
  // Mapped rule: an IPv6 range wholly inside ::ffff:0:0/96 is the IPv4 range it maps.
  if (r.family === 6 && r.prefix >= 96 && first >> 32n === 0xffffn) {
    return { family: 4, first: first & V4_MAX, last: last & V4_MAX };
  }
  return { family: r.family, first, last };
}

function refLookup(ranges: Range[], a: Addr): boolean {
  let { family, value } = a;
  if (family === 6 && value >> 32n === 0xffffn) {
    family = 4;
    value &= V4_MAX;
  }
  return ranges.some((r) => {
    const iv = refInterval(r);
    return iv.family === family && iv.first <= value && value <= iv.last;
  });
}

function v4Text(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => ((v >> s) & 0xffn).toString()).join(".");
}

/** Render an IPv6 value in one of many valid RFC 4291 spellings. */
function v6Text(v: bigint, st: Style): string {
  const groups: string[] = [];
  for (let k = 7; k >= 0; k--) {
    let g = ((v >> BigInt(16 * k)) & 0xffffn).toString(16);
    if (st.pad) g = g.padStart(4, "0");
    if (st.upper) g = g.toUpperCase();
    groups.push(g);
  }
  let tail: string[] = [];
  if (st.mixed) {
    groups.splice(6, 2);
    tail = [v4Text(v & V4_MAX)];
  }
  const all = [...groups, ...tail];
  if (st.compress) {
    // Compress the first zero-group run (any length >= 1), not necessarily the longest.
    const start = groups.findIndex((g) => /^0+$/.test(g));
    if (start >= 0) {
      let end = start;
      while (end < groups.length && /^0+$/.test(groups[end]!)) end++;
      return `${all.slice(0, start).join(":")}::${all.slice(end).join(":")}`;
    }
  }
  return all.join(":");
}

const addrText = (a: Addr, st: Style): string => (a.family === 4 ? v4Text(a.value) : v6Text(a.value, st));

const styleArb: fc.Arbitrary<Style> = fc.record({
  pad: fc.boolean(),
  upper: fc.boolean(),
  compress: fc.boolean(),
  mixed: fc.boolean(),
});

const v4ValueArb = fc.oneof(
  fc.bigInt({ min: 0n, max: V4_MAX }),
  fc.constantFrom(0n, V4_MAX, 0x0a000000n, 0xc0a80000n),
  // A small neighbourhood so random addresses and ranges collide often.
  fc.bigInt({ min: 0x0a000000n, max: 0x0a0003ffn }),
);
const v6ValueArb = fc.oneof(
  fc.bigInt({ min: 0n, max: V6_MAX }),
  fc.constantFrom(0n, 1n, V6_MAX, MAPPED_PREFIX, MAPPED_PREFIX | V4_MAX),
  v4ValueArb.map((v) => MAPPED_PREFIX | v), // IPv4-mapped
  fc.bigInt({ min: 0n, max: 0xffffn }).map((v) => (0x20010db8n << 96n) | (v << 64n) | (v & 0xfn)),
  fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), // low space incl. ::/96 and around ::ffff:0:0/96
);
const addrArb: fc.Arbitrary<Addr> = fc.oneof(
  v4ValueArb.map((value) => ({ family: 4 as const, value })),
  v6ValueArb.map((value) => ({ family: 6 as const, value })),
);
const rangeArb: fc.Arbitrary<Range> = fc.oneof(
  fc.record({ family: fc.constant(4 as const), value: v4ValueArb, prefix: fc.integer({ min: 0, max: 32 }) }),
  fc.record({ family: fc.constant(4 as const), value: v4ValueArb, prefix: fc.integer({ min: 16, max: 32 }) }),
  fc.record({ family: fc.constant(6 as const), value: v6ValueArb, prefix: fc.integer({ min: 0, max: 128 }) }),
  fc.record({ family: fc.constant(6 as const), value: v6ValueArb, prefix: fc.integer({ min: 90, max: 128 }) }),
);

describe("IpMatcher property tests", () => {
  it("agrees with a naive BigInt linear scan (incl. range boundaries)", () => {
    fc.assert(
      fc.property(
        fc.array(rangeArb, { maxLength: 25 }),
        fc.array(addrArb, { maxLength: 25 }),
        fc.array(styleArb, { minLength: 1, maxLength: 6 }),
        (ranges, randomAddrs, styles) => {
          const entries = ranges.map((r, i) => {
            const st = styles[i % styles.length]!;
            const addr = addrText(r, st);
            // Alternate between "a/p" and a bare address for full-length prefixes.
            return r.prefix === Number(bits(r.family)) && i % 2 === 0 ? addr : `${addr}/${r.prefix}`;
          });
          const m = new IpMatcher(entries);
          expect(m.size).toBe(ranges.length);

          // Queries: random addresses + first-1, first, last, last+1 of every range.
          const queries: Addr[] = [...randomAddrs];
          for (const r of ranges) {
            const iv = refInterval(r);
            for (const v of [iv.first - 1n, iv.first, iv.last, iv.last + 1n]) {
              if (v < 0n || v > maxOf(iv.family)) continue;
              queries.push({ family: iv.family, value: v });
              // Also the mapped spelling of IPv4 boundaries.
              if (iv.family === 4) queries.push({ family: 6, value: MAPPED_PREFIX | v });
            }
          }
          queries.forEach((q, i) => {
            const text = addrText(q, styles[(i + 1) % styles.length]!);
            const expected = refLookup(ranges, q);
            if (m.lookup(text) !== expected) {
              throw new Error(`lookup(${text}) should be ${expected} for ${JSON.stringify(entries)}`);
            }
            expect(ipIsInAnyRange(text, m)).toBe(expected);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("parses every spelling of an address to the same canonical text, matching WHATWG URL's IPv6 serializer", () => {
    fc.assert(
      fc.property(v6ValueArb, styleArb, styleArb, (value, st1, st2) => {
        const a = parseIp(v6Text(value, st1));
        const b = parseIp(v6Text(value, st2));
        expect(a).not.toBeNull();
        expect(a).toEqual(b);
        expect(a!.family).toBe(6);
        if (value >> 32n === 0xffffn) {
          expect(a!.canonical).toBe(`::ffff:${v4Text(value & V4_MAX)}`);
        } else {
          // WHATWG URL serialises IPv6 hosts per RFC 5952 (no mixed notation).
          const expected = new URL(`http://[${v6Text(value, st1)}]/`).hostname.slice(1, -1);
          expect(a!.canonical).toBe(expected);
        }
        // canonical is a fixed point.
        expect(parseIp(a!.canonical)?.canonical).toBe(a!.canonical);
      }),
      { numRuns: 500 },
    );
  });

  it("accepts exactly what node:net isIP accepts (minus zone ids) on fuzzed near-addresses", () => {
    const fragments = [
      "0", "1", "9", "f", "F", "ff", "ffff", "00", "000", "0000", "00000", "12345", "255", "256", "01",
      ":", ":", "::", ".", ".", "1.2.3.4", "%eth0", "/", " ", "g", "x", "[", "]", "-",
    ];
    const textArb = fc.array(fc.constantFrom(...fragments), { maxLength: 18 }).map((p) => p.join(""));
    fc.assert(
      fc.property(textArb, (text) => {
        const trimmed = text.trim();
        const expected = isIP(trimmed) !== 0 && !trimmed.includes("%");
        expect(parseIp(text) !== null).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
