// A counting HTTP proxy in front of the Table service (Azurite): every request the measured
// hour sends, classified from the wire (not from the repositories' own idea of what they
// do), so the storage figures hold whatever the store code becomes. It records the
// entities written per table and partition (entity-group transactions counted by their
// sub-requests), which gives the write floor: one transaction per 100 entities written to
// a partition.
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface StoreTraffic {
  requests: number;
  /** Requests per table name (the account's path segment, prefix included); CreateTable under "Tables". */
  byTable: Map<string, number>;
  /** Entities written (insert, update, merge, delete) per `table\u0000partition`. */
  writes: Map<string, number>;
}

export class StoreProxy {
  readonly traffic: StoreTraffic = { requests: 0, byTable: new Map(), writes: new Map() };

  private constructor(
    private readonly server: Server,
    /** The connection string for clients of the proxy. */
    readonly connectionString: string,
  ) {}

  /** Listens on loopback and forwards to the table endpoint of `connectionString`. */
  static async start(connectionString: string): Promise<StoreProxy> {
    const endpoint = /TableEndpoint=([^;]+)/.exec(connectionString)?.[1];
    if (!endpoint) throw new Error("the storage connection string has no TableEndpoint");
    const target = new URL(endpoint);
    let proxy: StoreProxy | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        proxy!.record(req, body.toString("utf8"));
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on("error", (error) => {
          res.writeHead(502);
          res.end(String(error));
        });
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const proxied = new URL(endpoint);
    proxied.port = String(port);
    proxy = new StoreProxy(server, connectionString.replace(endpoint, proxied.toString().replace(/\/$/, "")));
    return proxy;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The traffic counted so far; counting starts afresh. */
  take(): StoreTraffic {
    const taken: StoreTraffic = { requests: this.traffic.requests, byTable: new Map(this.traffic.byTable), writes: new Map(this.traffic.writes) };
    this.traffic.requests = 0;
    this.traffic.byTable.clear();
    this.traffic.writes.clear();
    return taken;
  }

  private record(req: IncomingMessage, body: string): void {
    const t = this.traffic;
    t.requests++;
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    // /<account>/<Table>(PartitionKey='p',RowKey='r') | /<account>/<Table> | /<account>/Tables | /<account>/$batch
    const resource = path.split("/").filter(Boolean)[1] ?? "";
    if (resource === "$batch") {
      // One entity-group transaction: each sub-request is one entity of one partition.
      const subRequests = [...body.matchAll(/^(POST|PUT|PATCH|MERGE|DELETE) \S+\/([^/(\s]+)(\([^)]*\))?\S* HTTP\/1\.1/gm)];
      const table = subRequests[0]?.[2] ?? "?";
      t.byTable.set(table, (t.byTable.get(table) ?? 0) + 1);
      const partition = /PartitionKey='((?:[^']|'')*)'/.exec(decodeURIComponent(subRequests.find((m) => m[3])?.[3] ?? ""))?.[1] ?? /"PartitionKey":\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1] ?? "?";
      this.wrote(table, partition, subRequests.length);
      return;
    }
    const table = resource.replace(/\(.*$/, "");
    t.byTable.set(table, (t.byTable.get(table) ?? 0) + 1);
    if (req.method === "GET" || table === "Tables") return;
    const key = /PartitionKey='((?:[^']|'')*)'/.exec(resource)?.[1] ?? /"PartitionKey":\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1] ?? "?";
    this.wrote(table, key, 1);
  }

  private wrote(table: string, partition: string, entities: number): void {
    const key = `${table}\u0000${partition}`;
    this.traffic.writes.set(key, (this.traffic.writes.get(key) ?? 0) + entities);
  }
}

/** The traffic of several invocations together. */
export function sumTraffic(parts: readonly StoreTraffic[]): StoreTraffic {
  const sum: StoreTraffic = { requests: 0, byTable: new Map(), writes: new Map() };
  for (const t of parts) {
    sum.requests += t.requests;
    for (const [k, n] of t.byTable) sum.byTable.set(k, (sum.byTable.get(k) ?? 0) + n);
    for (const [k, n] of t.writes) sum.writes.set(k, (sum.writes.get(k) ?? 0) + n);
  }
  return sum;
}

/** Entity-group transactions the writes need at least: one per 100 entities of a partition. */
export function writeFloor(writes: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const entities of writes.values()) n += Math.ceil(entities / 100);
  return n;
}
