// Preloaded (`node --import`) into the Azurite table service of `bench --incidents`: queries
// served as Table Storage serves them, by walking entities in key order (PartitionKey, then
// RowKey) from the lowest PartitionKey the filter allows and stopping once the page is full.
//
// Stock Azurite (in memory) evaluates every query by filtering every entity of the table and
// then sorting all matches (LokiTableMetadataStore.queryTableEntities), so one 50-row page of a
// 300,000-entity table costs 300,000 filter calls and a sort of every match, where Table
// Storage reads a key range. The bench measures tokenwatch's design, so it runs on this too,
// and prints stock Azurite's figures beside it. The result of every query is unchanged: the
// same filter function decides each entity, the candidates are a superset of its matches, in
// the same order, with the same continuation (test/bench/ordered-scan.test.ts compares pages).
import { createRequire } from "node:module";

interface Entity {
  PartitionKey: string;
  RowKey: string;
}
interface Collection {
  data: Entity[];
  on(event: "insert" | "update" | "delete", listener: (docs: Entity | Entity[]) => void): void;
}
interface QueryNode {
  name: string;
  left?: QueryNode;
  right?: QueryNode;
  identifier?: string;
  value?: unknown;
}
/** The bounds of PartitionKey a filter allows, both inclusive (undefined: unbounded). */
interface Bounds {
  lower?: string;
  upper?: string;
}

const require = createRequire(import.meta.url);
const azurite = (path: string) => require(`azurite/dist/src/table/persistence/${path}`) as { default: unknown };
const Store = azurite("LokiTableMetadataStore.js").default as { prototype: Record<string, unknown> };
const parseQuery = azurite("QueryInterpreter/QueryParser.js").default as (query: string) => QueryNode;
const Generator = azurite("LokiTableStoreQueryGenerator.js").default as {
  generateQueryForPersistenceLayer(queryOptions: unknown, context: unknown): (entity: Entity) => boolean;
};

// Azurite's own order: JavaScript string comparison of PartitionKey, then RowKey.
const before = (a: Entity, pk: string, rk: string) => a.PartitionKey < pk || (a.PartitionKey === pk && a.RowKey < rk);
const byKey = (a: Entity, b: Entity) => (before(a, b.PartitionKey, b.RowKey) ? -1 : before(b, a.PartitionKey, a.RowKey) ? 1 : 0);

/**
 * Each collection's entities in key order: sorted once, then kept in order as Loki reports
 * each insert, update and delete (a write moves one entry, as Azurite's own indexes do), and
 * sorted afresh should the count ever disagree.
 */
const views = new WeakMap<Collection, { sorted: Entity[]; stale: boolean }>();
function sortedView(collection: Collection): Entity[] {
  let view = views.get(collection);
  if (!view) {
    const created = { sorted: [] as Entity[], stale: true };
    /** Each written entity, with the position of its key (`found`: an entry with that key is there). */
    const each = (docs: Entity | Entity[], f: (doc: Entity, at: number, found: boolean) => void) => {
      for (const doc of Array.isArray(docs) ? docs : [docs]) {
        const at = seek(created.sorted, doc.PartitionKey, doc.RowKey);
        const there = created.sorted[at];
        f(doc, at, there !== undefined && there.PartitionKey === doc.PartitionKey && there.RowKey === doc.RowKey);
      }
    };
    const unexpected = () => void (created.stale = true);
    collection.on("insert", (docs) => each(docs, (doc, at, found) => (found ? unexpected() : created.sorted.splice(at, 0, doc))));
    collection.on("update", (docs) => each(docs, (doc, at, found) => (found ? (created.sorted[at] = doc) : unexpected())));
    collection.on("delete", (docs) => each(docs, (_, at, found) => (found ? created.sorted.splice(at, 1) : unexpected())));
    views.set(collection, (view = created));
  }
  if (view.stale || view.sorted.length !== collection.data.length) {
    view.sorted = [...collection.data].sort(byKey);
    view.stale = false;
  }
  return view.sorted;
}

/** The first position whose key is at or after (pk, rk). */
function seek(sorted: readonly Entity[], pk: string, rk: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(sorted[mid]!, pk, rk)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const isPartitionKey = (n?: QueryNode) => n?.name === "id" && n.identifier === "PartitionKey";
const text = (n?: QueryNode) => (n?.name === "constant" && typeof n.value === "string" ? n.value : undefined);

/** PartitionKey bounds implied by a filter: `and` narrows, `or` widens, anything else leaves them open. */
function partitionBounds(node: QueryNode): Bounds {
  if (node.name === "and" || node.name === "or") {
    const [a, b] = [partitionBounds(node.left!), partitionBounds(node.right!)];
    const pick = (x: string | undefined, y: string | undefined, tighter: (x: string, y: string) => string) =>
      node.name === "and" ? (x === undefined ? y : y === undefined ? x : tighter(x, y)) : x === undefined || y === undefined ? undefined : tighter(x, y) === x ? y : x;
    return { lower: pick(a.lower, b.lower, (x, y) => (x > y ? x : y)), upper: pick(a.upper, b.upper, (x, y) => (x < y ? x : y)) };
  }
  const flipped = { gt: "lt", ge: "le", lt: "gt", le: "ge", eq: "eq" } as Record<string, string>;
  const [op, value] = isPartitionKey(node.left) ? [node.name, text(node.right)] : isPartitionKey(node.right) ? [flipped[node.name], text(node.left)] : [];
  if (value === undefined) return {};
  if (op === "eq") return { lower: value, upper: value };
  if (op === "gt" || op === "ge") return { lower: value };
  if (op === "lt" || op === "le") return { upper: value };
  return {};
}

type QueryArgs = [context: unknown, account: string, table: string, queryOptions: { filter?: string }, nextPartitionKey?: string, nextRowKey?: string];
interface StoreMethods {
  getEntityCollection(account: string, table: string, context: unknown): Collection;
  getMaxResultsOption(queryOptions: unknown): number;
  decodeContinuationHeader(value?: string): string | undefined;
  adjustQueryResultforTop(result: Entity[], max: number): { nextPartitionKeyResponse?: string; nextRowKeyResponse?: string };
}

Store.prototype.queryTableEntities = async function (this: StoreMethods, ...[context, account, table, queryOptions, nextPartitionKey, nextRowKey]: QueryArgs) {
  const collection = this.getEntityCollection(account, table, context);
  const matches = Generator.generateQueryForPersistenceLayer(queryOptions, context);
  const max = this.getMaxResultsOption(queryOptions);
  const fromPk = this.decodeContinuationHeader(nextPartitionKey);
  const fromRk = this.decodeContinuationHeader(nextRowKey);
  const { lower, upper } = queryOptions.filter ? partitionBounds(parseQuery(queryOptions.filter)) : {};
  const sorted = sortedView(collection);
  let i = lower === undefined ? 0 : seek(sorted, lower, "");
  if (fromPk !== undefined) i = Math.max(i, seek(sorted, fromPk, fromRk ?? ""));
  const result: Entity[] = [];
  for (; i < sorted.length && result.length <= max; i++) {
    const entity = sorted[i]!;
    if (upper !== undefined && entity.PartitionKey > upper) break;
    if (matches(entity)) result.push(entity);
  }
  const response = this.adjustQueryResultforTop(result, max);
  return [result, response.nextPartitionKeyResponse, response.nextRowKeyResponse];
};
process.stdout.write("tokenwatch: queries scan in key order\n");
