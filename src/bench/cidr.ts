// `cidrVsNaive`: the allowlist matcher against a linear scan of the same ranges.
import { IpMatcher, parseIp } from "../net/ip.js";
import { Rand } from "../sim/prng.js";

/** 1,000,000 lookups against 10,000 mixed ranges: the matcher over a linear scan of parsed ranges. */
export function cidrVsNaive(): { ratio: number; matcherRate: number } {
  const rand = new Rand(42);
  const byte = () => rand.int(256);
  const word = () => rand.int(65536).toString(16);
  const ranges: string[] = [];
  for (let i = 0; i < 10_000; i++)
    ranges.push(i % 2 === 0 ? `${byte()}.${byte()}.${byte()}.0/${16 + rand.int(17)}` : `2001:${word()}:${word()}::/${32 + rand.int(33)}`);
  const addresses: string[] = [];
  for (let i = 0; i < 1_000_000; i++)
    addresses.push(i % 2 === 0 ? `${byte()}.${byte()}.${byte()}.${byte()}` : `2001:${word()}:${word()}::${word()}`);

  const matcher = new IpMatcher(ranges);
  let hits = 0;
  let t = performance.now();
  for (const a of addresses) if (matcher.lookup(a)) hits++;
  const matcherMs = performance.now() - t;

  // The naive reference: every range parsed once to [first, last] BigInts, scanned per lookup.
  const parsed = ranges.map((r) => {
    const [address, prefix] = r.split("/") as [string, string];
    const ip = parseIp(address)!;
    const bits = ip.family === 4 ? 32 : 128;
    const value = toBigInt(ip.canonical, ip.family);
    const host = (1n << BigInt(bits - Number(prefix))) - 1n;
    return { family: ip.family, first: value & ~host, last: value | host };
  });
  const sample = addresses.slice(0, 2_000);
  let naiveHits = 0;
  t = performance.now();
  for (const a of sample) {
    const ip = parseIp(a)!;
    const value = toBigInt(ip.canonical, ip.family);
    for (const r of parsed) if (r.family === ip.family && value >= r.first && value <= r.last) {
      naiveHits++;
      break;
    }
  }
  const naivePerLookup = (performance.now() - t) / sample.length;
  if (hits < 0 || naiveHits < 0) throw new Error("unreachable");
  const matcherPerLookup = matcherMs / addresses.length;
  return { ratio: naivePerLookup / matcherPerLookup, matcherRate: 1000 / matcherPerLookup };
}

function toBigInt(canonical: string, family: 4 | 6): bigint {
  if (family === 4) return canonical.split(".").reduce((n, o) => (n << 8n) | BigInt(o), 0n);
  const [head = "", tail = ""] = canonical.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = canonical.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return groups.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n);
}
