// The bench's control for one cost of the emulator, not of Table Storage: Azurite's in-memory
// table store answers every query by testing each entity of the table (LokiTableMetadataStore
// queryTableEntities: `.chain().where(fn)`), so a query of one partition costs time in
// proportion to the whole table, where Table Storage seeks to the partition. This launcher
// starts Azurite's table service with that one method narrowed first to the query's partition,
// through the PartitionKey index Azurite already keeps, when the filter is a conjunction that
// names one PartitionKey; every other request runs unchanged. The entities returned, their
// order, continuation and every request and response are the same; only the emulator's time
// changes (test/bench/bench.test.ts compares the answers). Usage: node <this> <azurite args>.
//
// Second control, for the same reason: with TOKENWATCH_BENCH_AZURITE_SEED naming an NDJSON
// file of `{table, row}`, the table service starts with those rows stored, each inserted into
// its table's collection as Azurite's own insert stores an entity (properties, Timestamp,
// ETag), instead of through thousands of HTTP transactions that Azurite applies one entity at
// a time (about 2 ms each here: the steady state of a 100,000-user tenant would take it an
// hour to store). What the measured hour then reads and writes is the same table.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const root = join(dirname(require.resolve("azurite/package.json")), "dist", "src", "table");

interface Chain {
  find(query: object): Chain;
}
interface Collection {
  chain(): Chain;
  insert(docs: object[]): void;
  adaptiveBinaryIndices: boolean;
  ensureAllIndexes(force: boolean): void;
}
interface Store {
  init(): Promise<void>;
  createTable(context: unknown, table: { account: string; table: string }): Promise<void>;
  getEntityCollection(account: string, table: string, context: unknown): Collection;
  queryTableEntities(context: unknown, account: string, table: string, queryOptions: { filter?: string }, ...rest: unknown[]): Promise<unknown>;
}

/**
 * The PartitionKey a filter requires, when it is `PartitionKey eq '<key>'` alone or followed by
 * ` and …` with no `or` and no `not` anywhere (then every matching entity is in that partition).
 */
function partitionOf(filter: string | undefined): string | null {
  const m = /^\s*PartitionKey eq '((?:[^']|'')*)'(\s+and\s+[\s\S]*)?$/.exec(filter ?? "");
  if (!m || /\b(or|not)\b/i.test(m[2] ?? "")) return null;
  return m[1]!.replace(/''/g, "'");
}

const { default: LokiTableMetadataStore } = require(join(root, "persistence", "LokiTableMetadataStore.js")) as { default: { prototype: Store } };
const query = LokiTableMetadataStore.prototype.queryTableEntities;
LokiTableMetadataStore.prototype.queryTableEntities = function (this: Store, context, account, table, queryOptions, ...rest) {
  const partition = partitionOf(queryOptions.filter);
  if (partition === null) return query.call(this, context, account, table, queryOptions, ...rest);
  const collection = this.getEntityCollection(account, table, context);
  const chain = collection.chain;
  collection.chain = function (this: Collection) {
    return chain.call(this).find({ PartitionKey: partition });
  };
  // The method reaches chain() before its first await: restored before any other request runs.
  try {
    return query.call(this, context, account, table, queryOptions, ...rest);
  } finally {
    collection.chain = chain;
  }
};

/** The development account's name (public, as in src/store/azurite.ts). */
const ACCOUNT = "devstoreaccount1";

const seedFile = process.env.TOKENWATCH_BENCH_AZURITE_SEED;
if (seedFile) {
  const { newTableEntityEtag } = require(join(root, "utils", "utils.js")) as { newTableEntityEtag(modTime: string): string };
  const { truncatedISO8061Date } = require(join(root, "..", "common", "utils", "utils.js")) as { truncatedISO8061Date(date: Date, withMilliseconds: boolean, hrtimePrecision: boolean): string };
  const init = LokiTableMetadataStore.prototype.init;
  LokiTableMetadataStore.prototype.init = async function (this: Store) {
    await init.call(this);
    const modified = truncatedISO8061Date(new Date(), true, true);
    const eTag = newTableEntityEtag(modified);
    const docs = new Map<string, object[]>();
    for (const line of readFileSync(seedFile, "utf8").split("\n")) {
      if (!line) continue;
      const { table, row } = JSON.parse(line) as { table: string; row: { partitionKey: string; rowKey: string } & Record<string, string> };
      const { partitionKey, rowKey, ...values } = row;
      // As LokiTableMetadataStore.insertTableEntity stores what TableHandler.createPersistedEntity made of a request.
      const properties = { PartitionKey: partitionKey, RowKey: rowKey, ...values, Timestamp: modified, "Timestamp@odata.type": "Edm.DateTime" };
      let list = docs.get(table);
      if (!list) docs.set(table, (list = []));
      list.push({ PartitionKey: partitionKey, RowKey: rowKey, properties, lastModifiedTime: modified, eTag });
    }
    for (const [table, list] of docs) {
      await this.createTable({}, { account: ACCOUNT, table });
      const collection = this.getEntityCollection(ACCOUNT, table, {});
      // Indexes built once after the inserts rather than updated by each (Loki's adaptive indexes cost O(n) an insert).
      collection.adaptiveBinaryIndices = false;
      collection.insert(list);
      collection.ensureAllIndexes(true);
      collection.adaptiveBinaryIndices = true;
    }
  };
}

require(join(root, "main.js"));
