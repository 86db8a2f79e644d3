// The bench's own parts: the generated tenant (deterministic, the same rows as `simulate`
// writes, regenerated hours equal to the walk's, a shard equal to its users' part of the
// whole), the local query API's provider over it, and the hand-written floor agreeing with
// the engine. The bench itself (npm run bench) is not part of the tests.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TableClient, odata } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOUR, LiveTenant } from "../../src/bench/live-tenant.js";
import { declaredRange, inScope, parseQuery, storedRow, type StoredRow } from "../../src/bench/query-api.js";
import { shardOf } from "../../src/model/shard.js";
import { defaultLists, engineAlerts, floorAlerts, type SampleLine } from "../../src/bench/throughput.js";
import { TABLES, simulateTenant, type SimulateOptions } from "../../src/sim/simulate.js";
import { scopeKql, type QuerySpec } from "../../src/model/query.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { BaselineRepository } from "../../src/store/baselines.js";
import { SessionSeed } from "../../src/bench/session-seed.js";
import { parseRow, signInSchema, type SignInRow } from "../../src/model/rows.js";
import { sessionKey } from "../../src/model/sessions.js";
import { compareTime } from "../../src/model/time.js";
import { SessionFold } from "../../src/rules/sessions.js";
import { TableStore } from "../../src/store/tables.js";

const OPTIONS: SimulateOptions = { users: 120, days: 1, historyDays: 1, seed: 7, to: "2026-11-04T00:00:00.000Z" };
const END = Date.parse(OPTIONS.to!) / HOUR;
const KEEP_FROM = END - 30;

/** Every line of the given hours, per table, as the tenant renders them. */
function lines(tenant: LiveTenant, from: number, to: number): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(TABLES.map((t) => [t, []]));
  for (let hour = from; hour < to; hour++) {
    const rows = tenant.regenerate(hour);
    for (const table of TABLES) out[table]!.push(...rows[table].items.map((item) => tenant.generator.render(item)));
  }
  return out;
}

describe("the generated benchmark tenant", () => {
  let dir: string;
  let files: Record<string, StoredRow[]>;
  let tenant: LiveTenant;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tokenwatch-bench-test-"));
    await simulateTenant(dir, OPTIONS);
    files = {};
    for (const table of TABLES) {
      const text = await readFile(join(dir, `${table}.ndjson`), "utf8");
      files[table] = text.split("\n").filter(Boolean).map((line) => storedRow(JSON.parse(line) as Record<string, unknown>));
    }
    tenant = new LiveTenant(OPTIONS);
    tenant.advance(END, KEEP_FROM);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("makes the rows `simulate` writes, and makes an hour again exactly as the walk made it", () => {
    const again = new LiveTenant(OPTIONS);
    const seen: string[] = [];
    again.advance(END, KEEP_FROM, (hour, buckets) => {
      if (hour === END - 3) for (const table of TABLES) seen.push(...buckets[table].map((item) => again.generator.render(item)));
    });
    // Regenerated after the walk went past it, from the kept state.
    const regenerated = lines(tenant, END - 3, END - 2);
    expect(TABLES.flatMap((t) => regenerated[t]!)).toEqual(seen);
    expect(seen.length).toBeGreaterThan(100);
    // The whole kept span is the files' rows of those hours, in order.
    const all = lines(tenant, KEEP_FROM, END);
    for (const table of TABLES) {
      const expected = files[table]!.filter((r) => r.time >= KEEP_FROM * HOUR).map((r) => JSON.stringify(r.raw));
      expect(all[table]!.map((l) => JSON.stringify(JSON.parse(l)))).toEqual(expected);
    }
  });

  it("refuses a query that reaches before the hours it can make again", () => {
    const spec: QuerySpec = { table: "SigninLogs", arrived: { to: END * HOUR }, time: { from: (KEEP_FROM - 2) * HOUR, to: END * HOUR } };
    expect(() => tenant.select(parseQuery(`${scopeKql(spec)}\n| project TimeGenerated`))).toThrow(/before the generated span/);
  });

  it("answers a query with the rows in its scope and counts the rows its declared time range scans", () => {
    // 14:00 UTC, a working hour.
    const window = { start: (END - 10) * HOUR, end: (END - 9) * HOUR };
    const earlier = files.SigninLogs!.filter((r) => r.time >= window.start - 4 * HOUR && r.time < window.start - HOUR);
    const accounts = [...new Set(earlier.map((r) => String(r.raw.UserPrincipalName).toLowerCase()))].slice(0, 5).sort();
    const specs: QuerySpec[] = [
      // A first stage: the rows that arrived in the window, looking back 7 days.
      { table: "AADNonInteractiveUserSignInLogs", arrived: { from: window.start, to: window.end }, time: { from: window.start - 7 * 24 * HOUR, to: window.end } },
      { table: "AuditLogs", arrived: { from: window.start, to: window.end }, time: { from: window.start - 7 * 24 * HOUR, to: window.end } },
      // A slice of a sharded run, by account, and a per-event rule's part by another column.
      { table: "SigninLogs", arrived: { from: window.start, to: window.end }, time: { from: window.start - 7 * 24 * HOUR, to: window.end }, shard: { count: 4, index: 1 } },
      { table: "AuditLogs", arrived: { from: window.start, to: window.end }, time: { from: window.start - 7 * 24 * HOUR, to: window.end }, shard: { count: 2, index: 0, column: "Id" } },
      // A follow-up: some accounts' earlier rows.
      { table: "SigninLogs", arrived: { to: window.start }, time: { from: window.start - 5 * HOUR + 1234, to: window.start - 77 }, accounts },
    ];
    for (const spec of specs) {
      const q = parseQuery(`${scopeKql(spec)}\n| project TimeGenerated`);
      const expected = files[spec.table]!.filter((r) => inScope(r, q));
      expect(expected.length).toBeGreaterThan(0);
      const key = (r: StoredRow) => JSON.stringify(r.raw);
      expect(tenant.select(q).map(key).sort()).toEqual(expected.map(key).sort());
      const { from, to } = declaredRange(q);
      // Counted per second: exact for ranges on whole seconds.
      const second = (t: number) => Math.floor(t / 1000) * 1000;
      expect(tenant.scanned(q)).toBe(files[spec.table]!.filter((r) => r.time >= second(from) && r.time < Math.ceil(to / 1000) * 1000).length);
    }
  });

  it("generates a shard as its users' part of the whole tenant", () => {
    const plain = { ...OPTIONS, attacks: false };
    const whole = new LiveTenant(plain);
    whole.advance(END, END - 4);
    const shard = new LiveTenant(plain, (upn) => shardOf(upn, 4) === 1);
    shard.advance(END, END - 4);
    const inShard = whole.generator.users.filter((u) => shardOf(u.upn, 4) === 1);
    expect(shard.generator.users.map((u) => [u.index, u.upn])).toEqual(inShard.map((u) => [u.index, u.upn]));
    expect(inShard.length).toBeGreaterThan(10);
    expect(inShard.length).toBeLessThan(whole.generator.users.length / 2);
    const upns = new Set(inShard.map((u) => u.upn));
    for (const table of ["SigninLogs", "AADNonInteractiveUserSignInLogs"] as const) {
      const fromWhole = lines(whole, END - 4, END)[table]!.filter((l) => upns.has(String((JSON.parse(l) as { UserPrincipalName: string }).UserPrincipalName)));
      expect(lines(shard, END - 4, END)[table]).toEqual(fromWhole);
      expect(fromWhole.length).toBeGreaterThan(0);
    }
  });
});

describe("the forked-session rule's steady state (src/bench/session-seed.ts)", () => {
  it("folds each session from its first sign-in and latest sighting of each value into the state all of its rows make", () => {
    const tenant = new LiveTenant(OPTIONS);
    const seed = new SessionSeed(-Infinity);
    const rows: SignInRow[] = [];
    tenant.advance(END, END, (_hour, buckets) => {
      for (const table of ["SigninLogs", "AADNonInteractiveUserSignInLogs"] as const)
        for (const item of buckets[table]) {
          if (!("signIn" in item)) continue;
          seed.add(item);
          const parsed = parseRow(signInSchema, JSON.parse(tenant.generator.render(item)));
          if (parsed.ok) rows.push(parsed.row);
        }
    });
    const fold = new SessionFold(() => undefined).addAll(rows.sort((a, b) => compareTime(a.TimeGenerated, b.TimeGenerated) || a.Id.localeCompare(b.Id)));
    const everyRow = new Map([...fold.touched()].map((state) => [state.sessionId, state]));
    const seeded = seed.states((item) => tenant.generator.render(item), () => true);
    expect(seeded.length).toBe(everyRow.size);
    expect(seeded.length).toBeGreaterThan(200);
    for (const state of seeded) expect(state).toEqual(everyRow.get(state.sessionId));
    // A pick by key and latest sighting: only the sessions it names.
    const one = seeded[0]!;
    expect(seed.states((item) => tenant.generator.render(item), (key) => key === sessionKey(one)).map((s) => s.sessionId)).toEqual([one.sessionId]);
  });
});

describe("the engine's hand-written floor", () => {
  it("counts the alerts the engine raises on the same rows", () => {
    // The detection day of a tenant with planted attacks, and a baseline from the day before.
    const options: SimulateOptions = { users: 300, days: 1, historyDays: 1, seed: 11, to: "2026-11-04T00:00:00.000Z" };
    const tenant = new LiveTenant(options);
    const end = Date.parse(options.to!) / HOUR;
    const from = end - 24;
    const known = new Map<string, { ips: Set<string>; asns: Set<string> }>();
    tenant.advance(end, from, (_hour, buckets) => {
      for (const item of buckets.AADNonInteractiveUserSignInLogs) {
        if (!("signIn" in item) || item.t >= from * HOUR) continue;
        const account = item.signIn.user.upn.toLowerCase();
        let networks = known.get(account);
        if (!networks) known.set(account, (networks = { ips: new Set(), asns: new Set() }));
        networks.ips.add(item.signIn.site.ip);
        networks.asns.add(item.signIn.site.asn);
      }
    });
    const sample: SampleLine[] = [];
    for (let hour = from; hour < end; hour++) {
      const rows = tenant.regenerate(hour);
      for (const table of TABLES)
        rows[table].items.forEach((item, i) => sample.push({ table, line: tenant.generator.render(item), hour: Math.floor(rows[table].arrivals[i]! / HOUR) }));
    }
    const lists = defaultLists();
    for (const baselines of [known, new Map()]) {
      const engine = engineAlerts(sample, lists, baselines);
      expect(engine).toBeGreaterThan(0);
      expect(floorAlerts(sample, lists, baselines)).toBe(engine);
    }
    // Planted attacks of every rule are among them: fewer alerts with the baseline than without.
    expect(engineAlerts(sample, lists, known)).toBeLessThan(engineAlerts(sample, lists, new Map()));
  });
});

describe("the bench's control for Azurite's seeding (src/bench/azurite-seed.ts, built)", () => {
  const seedPreload = new URL("../../dist/src/bench/azurite-seed.js", import.meta.url).href;
  let plain: AzuriteTables;
  beforeAll(async () => {
    plain = await startAzurite();
  });
  afterAll(async () => plain?.stop());

  it("starts with the rows record() leaves in an empty table when given them as its seed", async () => {
    const t0 = 17_900_000_000_000_000n;
    const sightings = Array.from({ length: 300 }, (_, i) => ({
      account: `user${i % 120}@contoso.com`,
      ip: i % 7 === 0 ? "" : `10.0.${i % 5}.${i % 120}`,
      asn: String(64500 + (i % 3)),
      lastSeen: t0 + BigInt((i * 7919) % 1000) * 10_000_000n,
    }));
    await new BaselineRepository(new TableStore({ connectionString: plain.connectionString })).record(sightings);
    const dir = await mkdtemp(join(tmpdir(), "tokenwatch-seed-test-"));
    const file = join(dir, "seed.ndjson");
    await writeFile(file, BaselineRepository.rowsFor(sightings).map((row) => `${JSON.stringify({ table: "Baselines", row })}\n`).join(""));
    process.env.TOKENWATCH_BENCH_AZURITE_SEED = file;
    const seeded = await startAzurite({ tablePreload: [seedPreload] }).finally(() => delete process.env.TOKENWATCH_BENCH_AZURITE_SEED);
    try {
      const [a, b] = await Promise.all(
        [plain, seeded].map(async (azurite) =>
          (await new TableStore({ connectionString: azurite.connectionString }).list<Record<string, string>>("Baselines")).map(({ partitionKey, rowKey, lastSeen, newest }) => ({ partitionKey, rowKey, lastSeen, newest })),
        ),
      );
      expect(a.length).toBeGreaterThan(200);
      expect(b).toEqual(a);
      // The stored rows are a working table: the repository reads and merges into it.
      const repo = new BaselineRepository(new TableStore({ connectionString: seeded.connectionString }));
      expect((await repo.load(["user3@contoso.com"], 0)).get("user3@contoso.com")?.asns.size).toBeGreaterThan(0);
      await repo.record([{ account: "user3@contoso.com", ip: "192.0.2.1", asn: "64999", lastSeen: t0 + 10n ** 12n }]);
      expect((await repo.load(["user3@contoso.com"], 0)).get("user3@contoso.com")?.ips.has("192.0.2.1")).toBe(true);
    } finally {
      await seeded.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
