// The key-ordered scan `bench --incidents` preloads into Azurite (src/bench/ordered-scan.ts)
// must answer every query exactly as stock Azurite does: the same entities, in the same order,
// with the same continuation, page after page. Both services hold the same entities; the
// filters are the shapes the stores send, and some that bound PartitionKey in unusual ways.
import { TableClient, type TableEntity } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticIncidents } from "../../src/cli/bench-incidents.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { IncidentRepository } from "../../src/store/incidents.js";
import { TableStore } from "../../src/store/tables.js";

const PRELOAD = [new URL("../../dist/src/bench/ordered-scan.js", import.meta.url).href];

let stock: AzuriteTables;
let ordered: AzuriteTables;
const clients: TableClient[] = [];

const partitions = ["accounts", "all|73620", "all|73621", "all|73700", "it's", "severity-High|73620", "status-New|73620", "status-New|73699", "z", "~"];

beforeAll(async () => {
  [stock, ordered] = await Promise.all([startAzurite(), startAzurite({ tablePreload: PRELOAD })]);
  for (const azurite of [stock, ordered]) {
    const client = TableClient.fromConnectionString(azurite.connectionString, "Scan", { allowInsecureConnection: true });
    await client.createTable();
    // Written in a shuffled order, and some rewritten and deleted after, so neither store's insertion order is key order.
    const entities: TableEntity[] = partitions.flatMap((partitionKey, p) =>
      Array.from({ length: 13 }, (_, r) => ({ partitionKey, rowKey: `${String((r * 7919 + p) % 13).padStart(3, "0")}:${r % 5}`, n: p * 100 + r, even: r % 2 === 0 })),
    );
    const shuffled = entities.map((e, i) => ({ e, k: (i * 2654435761) % 4093 })).sort((a, b) => a.k - b.k).map(({ e }) => e);
    // A query between the writes: the key-ordered view is built, then kept in order write by write.
    for (const e of shuffled.slice(0, 70)) await client.createEntity(e);
    for await (const e of client.listEntities({ queryOptions: { filter: "PartitionKey ge 'all|'" } })) void e;
    for (const e of shuffled.slice(70)) await client.createEntity(e);
    for (const e of shuffled.slice(0, 20)) await client.updateEntity({ ...e, n: -1 }, "Merge");
    await client.submitTransaction(shuffled.filter((e) => e.partitionKey === "z").map((e) => ["upsert", { ...e, n: 7 }, "Replace"]));
    for (const e of shuffled.slice(60, 90)) await client.deleteEntity(e.partitionKey!, e.rowKey!);
    clients.push(client);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([stock?.stop(), ordered?.stop()]);
});

/** Every page of a query, as page sizes and continuation tokens show them. */
async function pages(client: TableClient, filter: string | undefined, size: number): Promise<unknown[]> {
  const out: unknown[] = [];
  const iterator = client.listEntities({ queryOptions: filter ? { filter } : {} }).byPage({ maxPageSize: size });
  for await (const page of iterator) out.push({ keys: page.map((e) => `${e.partitionKey}/${e.rowKey}/${String(e.n)}`), token: page.continuationToken ?? null });
  return out;
}

describe("the bench's key-ordered Azurite", () => {
  it("is preloaded into one service and not the other", () => {
    expect(ordered.tableStartup).toContain("queries scan in key order");
    expect(stock.tableStartup).not.toContain("queries scan in key order");
  });

  const filters = [
    undefined,
    "PartitionKey eq 'all|73620'",
    "PartitionKey ge 'all|' and PartitionKey lt 'all|~'",
    "PartitionKey ge 'status-New|' and PartitionKey lt 'status-New|~' and even eq true",
    "PartitionKey ge 'all|73621' and PartitionKey lt 'all|~' and (PartitionKey gt 'all|73621' or (PartitionKey eq 'all|73621' and RowKey gt '010'))",
    "PartitionKey eq 'it''s' and RowKey ge '005' and RowKey lt '020'",
    "(PartitionKey eq 'z' or PartitionKey eq 'accounts') and n gt 0",
    "'all|73700' le PartitionKey and 'severity-High|73620' gt PartitionKey",
    "not (PartitionKey eq 'all|73620')",
    "PartitionKey ne 'z' and PartitionKey lt 'b'",
    "PartitionKey gt 'zz'",
    "n lt 250",
    // The shapes of the baseline reads.
    "PartitionKey eq 'all|73620' and RowKey ge '004' and RowKey lt '009'",
    "PartitionKey eq 'all|73620' and n gt 2",
    "PartitionKey eq 'all|73620' or PartitionKey eq 'z'",
    "PartitionKey eq 'all|73620' and (RowKey lt '003' or n eq 3)",
    "RowKey ge '002' and PartitionKey eq 'z'",
  ];
  for (const filter of filters)
    it(`answers ${filter ?? "an unfiltered query"} page by page as stock Azurite does`, async () => {
      for (const size of [4, 1000]) {
        const [a, b] = await Promise.all(clients.map((c) => pages(c, filter, size)));
        expect(b).toEqual(a);
      }
      expect(((await pages(clients[0]!, filter, 1000))[0] as { keys: string[] }).keys.length).toBeGreaterThan(0);
    });

  it("keeps its key order write by write", async () => {
    const tables = [stock, ordered].map((a) => TableClient.fromConnectionString(a.connectionString, "Writes", { allowInsecureConnection: true }));
    const all = async () => Promise.all(tables.map((t) => pages(t, "PartitionKey ge 'p'", 1000)));
    const same = async () => {
      const [a, b] = await all();
      expect(b).toEqual(a);
    };
    for (const t of tables) {
      await t.createTable();
      for (const r of [5, 1, 9, 3, 7]) await t.createEntity({ partitionKey: "p", rowKey: String(r), n: r });
    }
    await same();
    /** A write's outcome as a client sees it: its status, or the error's. */
    const outcome = (p: Promise<unknown>) => p.then(() => "ok", (error: { statusCode?: number }) => `failed ${error.statusCode}`);
    const etagOf = async (t: TableClient, rowKey: string) => (await t.getEntity("p", rowKey)).etag;
    const steps: ((t: TableClient) => Promise<unknown>)[] = [
      (t) => t.deleteEntity("p", "3"),
      (t) => t.createEntity({ partitionKey: "p", rowKey: "4", n: 4 }),
      (t) => t.updateEntity({ partitionKey: "p", rowKey: "7", n: 70 }, "Replace"),
      (t) => t.upsertEntity({ partitionKey: "p", rowKey: "1", n: 10 }, "Merge"),
      (t) => t.upsertEntity({ partitionKey: "p", rowKey: "5", m: "replaced" }, "Replace"),
      (t) => t.deleteEntity("p", "1"),
      (t) => t.createEntity({ partitionKey: "q", rowKey: "0", n: 0 }),
      (t) => t.deleteEntity("p", "9"),
      // Failures: a missing entity, a stale ETag, an entity that exists.
      (t) => t.updateEntity({ partitionKey: "p", rowKey: "9", n: 9 }, "Replace"),
      (t) => t.updateEntity({ partitionKey: "p", rowKey: "7", n: 71 }, "Replace", { etag: 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"' }),
      (t) => t.createEntity({ partitionKey: "p", rowKey: "4", n: 44 }),
      // Under the ETag just read, then a transaction whose last action fails: the first two are rolled back.
      async (t) => t.updateEntity({ partitionKey: "p", rowKey: "7", n: 72 }, "Replace", { etag: await etagOf(t, "7") }),
      (t) =>
        t.submitTransaction([
          ["upsert", { partitionKey: "p", rowKey: "4", n: 400 }, "Replace"],
          ["delete", { partitionKey: "p", rowKey: "5" }],
          ["create", { partitionKey: "p", rowKey: "7", n: 700 }],
        ]),
      (t) => t.submitTransaction([["upsert", { partitionKey: "p", rowKey: "4", n: 401 }, "Replace"], ["upsert", { partitionKey: "p", rowKey: "8", n: 8 }, "Replace"]]),
    ];
    for (const step of steps) {
      const outcomes = [];
      for (const t of tables) outcomes.push(await outcome(step(t)));
      expect(outcomes[1]).toBe(outcomes[0]);
      await same();
      // Each entity by its keys, as a point read finds it.
      const points = await Promise.all(tables.map((t) => Promise.all(["1", "4", "5", "7", "8", "9"].map((r) => outcome(t.getEntity("p", r).then((e) => expect(e.n ?? e.m).toBeDefined()))))));
      expect(points[1]).toEqual(points[0]);
    }
  });

  it("serves the incident lists as stock Azurite does", async () => {
    const { incidents, alerts } = syntheticIncidents(150, 3);
    const lists = async (azurite: AzuriteTables) => {
      const repo = new IncidentRepository(new TableStore({ connectionString: azurite.connectionString, tablePrefix: "inc" }));
      await repo.bulkLoad(incidents, alerts);
      const out: unknown[] = [];
      for (const q of [{}, { status: ["New" as const] }, { severity: ["High" as const], from: Date.parse("2026-09-01T00:00:00Z") }]) {
        let after: { t: bigint; id: string } | undefined;
        for (;;) {
          const page = await repo.incidentPage(q, 17, after);
          out.push(page.items.map((l) => l.incident.id));
          const last = page.items.at(-1);
          if (!page.more || !last) break;
          after = { t: last.incident.lastAlertTime, id: last.incident.id };
        }
      }
      let next: string | null | undefined;
      do {
        const page = await repo.accountPage(3, next ?? undefined);
        out.push(page.items.map((a) => a.account));
        next = page.next;
      } while (next);
      return out;
    };
    const [a, b] = await Promise.all([lists(stock), lists(ordered)]);
    expect(a.flat().length).toBeGreaterThan(150);
    expect(b).toEqual(a);
  }, 60_000);
});
