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
//
// Writes likewise: stock Azurite finds an entity by key by filtering the table, replaces one
// by removing it and inserting its new version (Loki's remove renumbers every index entry
// after it), and keeps adaptive indexes that only its own queries used; at 100,000 users each
// of an hour's ~150,000 upserts cost milliseconds, and the emulator took the machine's other
// core for minutes beside every measured invocation. Here an entity is found by key in the
// key-ordered view, replaced in place, and the collection keeps no adaptive indexes. What is
// stored, and every status and error, stays the same (the test compares them write by write).
import { createRequire } from "node:module";

interface Entity {
  PartitionKey: string;
  RowKey: string;
}
interface Collection {
  data: Entity[];
  cloneObjects: boolean;
  adaptiveBinaryIndices: boolean;
  on(event: "insert" | "update" | "delete", listener: (docs: Entity | Entity[]) => void): void;
  findOne(query: object): Entity | null;
  update(doc: Entity): void;
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
const Errors = (require("azurite/dist/src/table/errors/StorageErrorFactory.js") as { default: Record<"getEntityNotFound" | "getPreconditionFailed", (context: unknown) => Error> }).default;

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

/** Loki's findOne of one entity by its keys, as a seek in the key-ordered view (the same entity or null). */
function findByKey(collection: Collection, query: object): Entity | null | undefined {
  const keys = Object.keys(query);
  const { PartitionKey: pk, RowKey: rk } = query as Partial<Entity>;
  if (keys.length !== 2 || typeof pk !== "string" || typeof rk !== "string" || collection.cloneObjects) return undefined;
  const sorted = sortedView(collection);
  const found = sorted[seek(sorted, pk, rk)];
  return found && found.PartitionKey === pk && found.RowKey === rk ? found : null;
}

const entityCollections = new WeakSet<Collection>();
const getEntityCollection = Store.prototype.getEntityCollection as (this: unknown, ...args: unknown[]) => Collection;
Store.prototype.getEntityCollection = function (this: unknown, ...args: unknown[]) {
  const collection = getEntityCollection.apply(this, args);
  // Stock Azurite's queries (replaced above) were the only users of the adaptive indexes; the seed's bulk insert turns them back on.
  collection.adaptiveBinaryIndices = false;
  if (!entityCollections.has(collection)) {
    entityCollections.add(collection);
    const findOne = collection.findOne.bind(collection);
    collection.findOne = (query) => {
      const found = findByKey(collection, query);
      return found === undefined ? findOne(query) : found;
    };
  }
  return collection;
};

interface StoredEntity extends Entity {
  eTag: string;
  lastModifiedTime: string;
  properties: Record<string, unknown>;
  $loki?: number;
  meta?: object;
}

/** LokiTableMetadataStore.updateTableEntity (azurite 3.35), the entity replaced in place instead of removed and inserted again. */
Store.prototype.updateTableEntity = async function (
  this: StoreMethods & { transactionRollbackTheseEntities: StoredEntity[]; encodeIfMatch(value?: string): string | undefined },
  ...[context, table, account, entity, ifMatch, batchId]: [unknown, string, string, StoredEntity, string | undefined, string | undefined]
) {
  const collection = this.getEntityCollection(account, table, context);
  const doc = collection.findOne({ PartitionKey: entity.PartitionKey, RowKey: entity.RowKey }) as StoredEntity | null;
  if (!doc) throw Errors.getEntityNotFound(context);
  if (batchId !== "") this.transactionRollbackTheseEntities.push(doc);
  const encodedIfMatch = this.encodeIfMatch(ifMatch);
  if (encodedIfMatch === undefined || encodedIfMatch === "*" || this.encodeIfMatch(doc.eTag) === encodedIfMatch) {
    entity.properties.Timestamp = entity.lastModifiedTime;
    entity.properties["Timestamp@odata.type"] = "Edm.DateTime";
    entity.$loki = doc.$loki;
    entity.meta = { ...doc.meta };
    collection.update(entity);
    return entity;
  }
  throw Errors.getPreconditionFailed(context);
};

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
