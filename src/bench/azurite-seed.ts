// Preloaded (`node --import`) into the tenant bench's Azurite, the bench's control for one
// cost of the emulator, not of Table Storage: with TOKENWATCH_BENCH_AZURITE_SEED naming an
// NDJSON file of `{table, row}`, the table service starts with those rows stored, each
// inserted into its table's collection as Azurite's own insert stores an entity (properties,
// Timestamp, ETag), instead of through thousands of HTTP transactions that Azurite applies one
// entity at a time (about 2 ms each here: the steady state of a 100,000-user tenant would take
// it an hour to store). What the measured hour then reads and writes is the same table
// (test/bench/bench.test.ts). The bench's other control is src/bench/ordered-scan.ts.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const root = join(dirname(require.resolve("azurite/package.json")), "dist", "src", "table");

interface Collection {
  insert(docs: object[]): void;
  adaptiveBinaryIndices: boolean;
  ensureAllIndexes(force: boolean): void;
}
interface Store {
  init(): Promise<void>;
  createTable(context: unknown, table: { account: string; table: string }): Promise<void>;
  getEntityCollection(account: string, table: string, context: unknown): Collection;
}

const { default: LokiTableMetadataStore } = require(join(root, "persistence", "LokiTableMetadataStore.js")) as { default: { prototype: Store } };

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

