// The webhook target guard against every spelling of a refused IPv4 address inside IPv6:
// for each standard embedding, an address is refused exactly when the IPv4 address it
// carries is refused (property-tested over the whole IPv4 space and the refused ranges).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCKED_RANGES, checkUrl, isBlockedAddress, resolveTarget, TargetRefused } from "../../src/delivery/targets.js";
import { embeddedIpv4, parseNetwork } from "../../src/net/ip.js";

const STRICT = { allowHttp: false, allowPrivate: false };
const hex = (n: number) => (n >>> 0).toString(16);
const hi = (v: number) => hex(v >>> 16);
const lo = (v: number) => hex(v & 0xffff);
const dotted = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;

/** Every embedding of an IPv4 address (as a uint32) that a translator or tunnel would deliver to it. */
const EMBEDDINGS: Record<string, (v: number) => string> = {
  "IPv4-compatible, hex": (v) => `::${hi(v)}:${lo(v)}`,
  "IPv4-compatible, dotted": (v) => `::${dotted(v)}`,
  "IPv4-mapped, hex": (v) => `::ffff:${hi(v)}:${lo(v)}`,
  "IPv4-mapped, dotted": (v) => `::ffff:${dotted(v)}`,
  "IPv4-mapped, uncompressed": (v) => `0:0:0:0:0:ffff:${hi(v)}:${lo(v)}`,
  "IPv4-translated": (v) => `::ffff:0:${hi(v)}:${lo(v)}`,
  "IPv4-translated, dotted": (v) => `::ffff:0:${dotted(v)}`,
  "NAT64 well-known prefix": (v) => `64:ff9b::${hi(v)}:${lo(v)}`,
  "NAT64, dotted": (v) => `64:ff9b::${dotted(v)}`,
  "6to4": (v) => `2002:${hi(v)}:${lo(v)}::1`,
  "ISATAP": (v) => `2001:db9::5efe:${dotted(v)}`,
  "ISATAP, universal": (v) => `2620:0:1::200:5efe:${hi(v)}:${lo(v)}`,
};

const blockedV4 = BLOCKED_RANGES.filter((r) => !r.includes(":")).map((r) => {
  const net = parseNetwork(r)!;
  const [a, b, c, d] = net.canonical.split("/")[0]!.split(".").map(Number) as [number, number, number, number];
  const first = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  return { range: r, first, size: 2 ** (32 - net.prefix) };
});
/** Any address inside a refused IPv4 range. */
const refusedV4 = fc.constantFrom(...blockedV4).chain(({ first, size }) => fc.integer({ min: 0, max: size - 1 }).map((k) => first + k));
const anyV4 = fc.integer({ min: 0, max: 2 ** 32 - 1 });

describe("the webhook target guard and IPv4 embedded in IPv6", () => {
  it("refuses Azure's WireServer and instance metadata, in every spelling", () => {
    for (const v4 of ["168.63.129.16", "169.254.169.254"]) {
      const v = v4.split(".").reduce((n, o) => n * 256 + Number(o), 0);
      expect(isBlockedAddress(v4), v4).toBe(true);
      for (const [name, embed] of Object.entries(EMBEDDINGS)) expect(isBlockedAddress(embed(v)), `${name} ${embed(v)}`).toBe(true);
      expect(() => checkUrl(`https://${v4}/`, STRICT)).toThrow(TargetRefused);
    }
    // The examples, literally.
    for (const ip of ["::7f00:1", "::ffff:0:7f00:1", "::a9fe:a9fe", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"]) expect(isBlockedAddress(ip), ip).toBe(true);
  });

  it("refuses them as URL literals and as DNS answers", async () => {
    for (const host of ["[::7f00:1]", "[::127.0.0.1]", "[::ffff:0:7f00:1]", "[::a9fe:a9fe]", "[64:ff9b::a00:1]", "[2002:a83f:8110::1]"])
      expect(() => checkUrl(`https://${host}/hook`, STRICT), host).toThrow(TargetRefused);
    const resolver = async () => [{ address: "::ffff:0:a83f:8110", family: 6 }];
    await expect(resolveTarget("https://hooks.example.com/", STRICT, resolver)).rejects.toThrow(/resolves to ::ffff:0:a83f:8110/);
  });

  it.each(Object.entries(EMBEDDINGS))("%s: refused exactly when the embedded IPv4 address is", (_name, embed) => {
    fc.assert(fc.property(refusedV4, (v) => isBlockedAddress(embed(v))), { numRuns: 400 });
    fc.assert(fc.property(anyV4, (v) => isBlockedAddress(embed(v)) === isBlockedAddress(dotted(v))), { numRuns: 1000 });
  });

  it("Teredo is refused when its server or its (inverted) client address is refused", () => {
    const teredo = (server: number, client: number) => `2001:0:${hi(server)}:${lo(server)}:0:0:${hex(~client >>> 16 & 0xffff)}:${hex(~client & 0xffff)}`;
    fc.assert(
      fc.property(anyV4, anyV4, (server, client) => isBlockedAddress(teredo(server, client)) === (isBlockedAddress(dotted(server)) || isBlockedAddress(dotted(client)))),
      { numRuns: 1000 },
    );
    expect(embeddedIpv4(teredo(0x08080808, 0xa83f8110))).toEqual(["8.8.8.8", "168.63.129.16"]);
  });

  it("an IPv6 address that embeds nothing is judged by the IPv6 ranges alone", () => {
    expect(embeddedIpv4("2606:4700:4700::1111")).toEqual([]);
    expect(isBlockedAddress("2606:4700:4700::1111")).toBe(false);
    expect(isBlockedAddress("64:ff9b::808:808")).toBe(false); // NAT64 to a public address is a real route
    expect(embeddedIpv4("10.0.0.1")).toEqual([]);
  });
});
