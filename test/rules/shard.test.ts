// The shard of an account is the same wherever it is computed: in KQL (the clause scopeKql
// writes, checked by the Kusto language service), in TypeScript (shardOf: replay and the local
// query API), and it is Kusto's documented hash_xxhash64. Every account lands in exactly one shard.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashXxhash64, shardOf } from "../../src/model/shard.js";
import { arrivedIn, scopeKql, type QuerySpec } from "../../src/model/query.js";
import type { Window } from "../../src/model/time.js";
import { rules } from "../../src/rules/index.js";
import type { Results, Specs } from "../../src/rules/rule.js";
import { parseRow, rowSchemas } from "../../src/model/rows.js";
import { ReplaySource } from "../../src/sources/replay.js";
import { fakeSource } from "../support/detection-harness.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { loadKusto, validateKql } from "../support/kusto.js";
import { at, cleanupTempDirs, nonInteractiveSignIn, stsAudit, writeLogs } from "../support/replay-fixtures.js";

const W: Window = { start: at("2026-11-18T10:00:00Z"), end: at("2026-11-18T11:00:00Z") };
/** Mixed case, guests, quotes, non-ASCII (UTF-8 bytes are hashed), and many plain ones. */
const UPNS = [
  "Plain@Contoso.com",
  "guest_x#EXT#@contoso.onmicrosoft.com",
  'o"brien@contoso.com',
  "jürgen.müller@contoso.de",
  "张伟@contoso.cn",
  "",
  ...Array.from({ length: 120 }, (_, i) => `user${i}@contoso.com`),
];

beforeAll(() => loadKusto());
afterAll(() => cleanupTempDirs());

describe("hash_xxhash64 and the shard of an account", () => {
  it("is Kusto's hash_xxhash64: the documentation's examples", () => {
    // learn.microsoft.com/kusto/query/hash-xxhash64-function: hash_xxhash64("World") = 1846988464401551951, and 51 mod 100.
    expect(hashXxhash64("World")).toBe(1846988464401551951n);
    expect(((hashXxhash64("World") % 100n) + 100n) % 100n).toBe(51n);
  });

  it("reads the 64-bit hash as a signed long, and a power-of-two count gives the unsigned residue too", () => {
    const negative = UPNS.filter((u) => hashXxhash64(u.toLowerCase()) < 0n);
    expect(negative.length).toBeGreaterThan(10); // the sign matters for half of all accounts
    for (const upn of UPNS)
      for (const count of [2, 4, 8, 64]) {
        const shard = shardOf(upn, count);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(count);
        expect(shard).toBe(Number(BigInt.asUintN(64, hashXxhash64(upn.toLowerCase())) % BigInt(count)));
      }
  });

  it("ignores case, as tolower() in the KQL does", () => {
    expect(shardOf("Plain@Contoso.com", 64)).toBe(shardOf("plain@contoso.com", 64));
  });

  it("the shard clause analyses cleanly, in every per-account rule's queries and follow-ups", () => {
    const window: Window = { ...W, shard: { count: 8, index: 5 } };
    const clause = "| where (hash_xxhash64(tolower(UserPrincipalName)) % 8 + 8) % 8 == 5";
    const perAccount = rules.filter((r) => r.perAccount);
    expect(perAccount.map((r) => r.meta.name).sort()).toEqual(["Forked session - session reused from a new network and a new device or client", "Interactive to Non-Interactive Token Theft Pivot", "Intune - Possible refresh token / PRT reuse accessing Intune resource"]);
    for (const rule of perAccount) {
      const first = rule.queries(window);
      const rows = (spec: QuerySpec) =>
        [nonInteractiveSignIn({ time: W.start + 60_000, upn: "a@contoso.com", ip: "192.0.2.1" })].map((r) => {
          const parsed = parseRow(rowSchemas[spec.table], r);
          if (!parsed.ok) throw new Error(parsed.reason);
          return parsed.row;
        });
      const specs: [string, QuerySpec][] = Object.entries(first);
      // A follow-up is a list of queries per name (split by each account's span).
      if (rule.followUp)
        for (const [name, value] of Object.entries(rule.followUp(window, Object.fromEntries(specs.map(([n, s]) => [n, rows(s)])) as Results<Specs>)))
          for (const spec of [value].flat() as QuerySpec[]) specs.push([name, spec]);
      for (const [name, spec] of specs) {
        const text = rule.kql(name, spec);
        expect(text, `${rule.meta.name} / ${name}`).toContain(clause);
        expect(validateKql(text), `${rule.meta.name} / ${name}:\n${text}`).toEqual([]);
      }
    }
    // The check has teeth: a misspelt function is reported.
    expect(validateKql(scopeKql({ ...arrivedIn("SigninLogs", window) }).replace("hash_xxhash64", "hash_xxhash46")).join("\n")).toMatch(/hash_xxhash46/);
  });
});

describe("a per-event rule's parts (Rule.partsBy)", () => {
  it("the part clause hashes the rule's column and analyses cleanly in its queries", () => {
    const perEvent = rules.filter((r) => r.partsBy);
    expect(perEvent.map((r) => [r.meta.name, r.partsBy]).sort()).toEqual([
      ["Interactive STS refresh token modifications", "Id"],
      ["UpdateStsRefreshToken[Solorigate]", "AccountObjectId"],
    ]);
    for (const rule of perEvent) {
      const shard = { count: 4, index: 3, column: rule.partsBy };
      for (const [name, spec] of Object.entries(rule.queries({ ...W, shard }))) {
        const text = rule.kql(name, spec);
        expect(text).toContain(`| where (hash_xxhash64(tolower(${rule.partsBy})) % 4 + 4) % 4 == 3`);
        expect(validateKql(text), `${rule.meta.name} / ${name}:\n${text}`).toEqual([]);
      }
    }
  });

  it("select the same audit records in the local query API and in replay, each in one part", async () => {
    const fake = await FakeLogAnalytics.start();
    try {
      const rows = UPNS.map((upn, i) => stsAudit({ time: W.start + (i + 1) * 1_000, user: upn || "x@contoso.com", id: i % 3 === 0 ? `Directory_${upn.toUpperCase()}` : `Directory_${upn}` }));
      fake.add("AuditLogs", rows);
      const source = fakeSource(fake);
      const replay = await ReplaySource.open(await writeLogs({ AuditLogs: rows }));
      const sts = rules.find((r) => r.partsBy === "Id")!;
      const seen = new Set<string>();
      for (let index = 0; index < 8; index++) {
        const spec = arrivedIn("AuditLogs", { ...W, shard: { count: 8, index, column: "Id" } });
        const remote = (await source.rows(spec, sts.kql("audit", spec))).rows.map((r) => r.Id).sort();
        const local = (await replay.rows(spec)).rows.map((r) => r.Id).sort();
        expect(remote).toEqual(local);
        for (const id of remote) {
          expect(seen.has(id)).toBe(false);
          expect(shardOf(id, 8)).toBe(index);
          seen.add(id);
        }
      }
      expect(seen.size).toBe(rows.length);
    } finally {
      await fake.close();
    }
  });
});

describe("sharded queries select the same accounts in the local query API and in replay", () => {
  let fake: FakeLogAnalytics;
  beforeAll(async () => {
    fake = await FakeLogAnalytics.start();
  });
  afterAll(async () => fake.close());

  it("each account in exactly one of 8 shards, the one shardOf names", async () => {
    const rows = UPNS.map((upn, i) => nonInteractiveSignIn({ time: W.start + (i + 1) * 1_000, upn, ip: `198.51.100.${(i % 250) + 1}`, id: `ni-${i}` }));
    fake.add("AADNonInteractiveUserSignInLogs", rows);
    const source = fakeSource(fake);
    const replay = await ReplaySource.open(await writeLogs({ AADNonInteractiveUserSignInLogs: rows }));
    const seen = new Map<string, number>();
    for (let index = 0; index < 8; index++) {
      const spec = arrivedIn("AADNonInteractiveUserSignInLogs", { ...W, shard: { count: 8, index } });
      const kql = rules.find((r) => r.perAccount && r.baseline)!.kql("signIns", spec);
      const remote = (await source.rows(spec, kql)).rows.map((r) => r.UserPrincipalName).sort();
      const local = (await replay.rows(spec)).rows.map((r) => r.UserPrincipalName).sort();
      expect(remote).toEqual(local);
      for (const upn of remote) {
        expect(seen.has(upn), upn).toBe(false);
        expect(shardOf(upn, 8)).toBe(index);
        seen.set(upn, index);
      }
    }
    expect(seen.size).toBe(UPNS.length);
    expect(new Set(seen.values()).size).toBe(8);
  });
});
