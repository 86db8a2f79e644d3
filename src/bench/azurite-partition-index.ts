// The bench's control for one cost of the emulator, not of Table Storage: Azurite's in-memory
// table store answers every query by testing each entity of the table (LokiTableMetadataStore
// queryTableEntities: `.chain().where(fn)`), so a query of one partition costs time in
// proportion to the whole table, where Table Storage seeks to the partition. This launcher
// starts Azurite's table service with that one method narrowed first to the query's partition,
// through the PartitionKey index Azurite already keeps, when the filter is a conjunction that
// names one PartitionKey; every other request runs unchanged. The entities returned, their
// order, continuation and every request and response are the same; only the emulator's time
// changes (test/bench/bench.test.ts compares the answers). Usage: node <this> <azurite args>.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const root = join(dirname(require.resolve("azurite/package.json")), "dist", "src", "table");

interface Chain {
  find(query: object): Chain;
}
interface Collection {
  chain(): Chain;
}
interface Store {
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

require(join(root, "main.js"));
