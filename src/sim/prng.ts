// Seeded randomness for the simulator: a mulberry32 generator plus a 32-bit hash to derive
// independent streams (per user, per hour, ...) so that output depends only on the options.

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of up to four 32-bit integers; used to seed independent streams. */
export function hash32(a: number, b = 0, c = 0, d = 0): number {
  let h = fmix((a | 0) ^ 0x9e3779b9);
  h = fmix(h ^ Math.imul(b | 0, 0xcc9e2d51) ^ 0x85ebca6b);
  h = fmix(h ^ Math.imul(c | 0, 0x1b873593) ^ 0xc2b2ae35);
  h = fmix(h ^ Math.imul(d | 0, 0xe6546b64) ^ 0x27d4eb2f);
  return h;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function hex32(n: number): string {
  return HEX[(n >>> 24) & 255]! + HEX[(n >>> 16) & 255]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
}

/** mulberry32; `reseed` lets hot loops reuse one instance. */
export class Rand {
  private s: number;

  constructor(seed: number) {
    this.s = seed | 0;
  }

  reseed(seed: number): this {
    this.s = seed | 0;
    return this;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** Index into `cumulative` (ascending cumulative weights, last = total). */
  weighted(cumulative: readonly number[]): number {
    const total = cumulative[cumulative.length - 1] ?? 0;
    const x = this.float() * total;
    let i = 0;
    while (i < cumulative.length - 1 && x >= cumulative[i]!) i++;
    return i;
  }

  /** Poisson sample (Knuth); fine for the small rates used per user and hour. */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = this.float();
    while (p > limit) {
      k++;
      p *= this.float();
    }
    return k;
  }

  normal(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** RFC 4122 version-4 style GUID (lowercase hex). */
  uuid(): string {
    const a = hex32(this.u32());
    const b = hex32(this.u32());
    const c = hex32(this.u32());
    const d = hex32(this.u32());
    return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${"89ab"[c.charCodeAt(0) & 3]}${c.slice(1, 4)}-${c.slice(4)}${d}`;
  }

  /** 22-character base64url string, the shape of UniqueTokenIdentifier. */
  token22(): string {
    let out = "";
    for (let i = 0; i < 22; i += 5) {
      let n = this.u32();
      for (let j = 0; j < 5 && i + j < 22; j++) {
        out += B64URL[n & 63];
        n >>>= 6;
      }
    }
    return out;
  }
}

/** Cumulative weights for `Rand.weighted`. */
export function cumulative(weights: readonly number[]): number[] {
  let sum = 0;
  return weights.map((w) => (sum += w));
}
