// Where an invocation's bytes go: preloaded into the bench's measured invocations,
//   TOKENWATCH_SOCKET_BYTES=/tmp/bytes.ndjson \
//   TOKENWATCH_BENCH_NODE_ARGS="--import ./scripts/socket-bytes.mjs" npm run bench -- --scale M --json
// it counts the bytes each invocation writes to and reads from its sockets, by request
// (method, table or API path, and for a $batch the table of its first sub-request), and
// appends one JSON line per invocation to $TOKENWATCH_SOCKET_BYTES when the process exits.
// A diagnostic, not a figure of the bench: it wraps net.Socket's write and push, so the
// invocation's CPU seconds in that run are not comparable with others.
import { appendFileSync } from "node:fs";
import net from "node:net";

const file = process.env.TOKENWATCH_SOCKET_BYTES;
if (!file) throw new Error("socket-bytes.mjs: set TOKENWATCH_SOCKET_BYTES to the file to append to");

/** Per request kind: requests, bytes written (request line, headers, body), bytes read (response). */
const byKind = new Map();
const count = (kind, field, n) => {
  const entry = byKind.get(kind) ?? { requests: 0, written: 0, read: 0 };
  entry[field] += n;
  byKind.set(kind, entry);
};
/** The request a socket is sending or answering (requests on one keep-alive socket are sequential). */
const current = new WeakMap();

function kindOf(text) {
  const line = /^(GET|POST|PUT|MERGE|DELETE|PATCH) (\S+) HTTP/.exec(text);
  if (!line) return undefined;
  const [, method, url] = line;
  const path = url.split("?")[0].replace(/^https?:\/\/[^/]+/, "");
  // Azurite's account segment and an entity's keys: the table is what matters.
  const name = path.replace(/^\/devstoreaccount1\//, "").replace(/\(.*$/, "()").replace(/^\/v1\/workspaces\/[^/]+\//, "query: ");
  if (!path.endsWith("$batch")) return `${method} ${name}`;
  const first = /\r\n(?:PUT|MERGE|POST|DELETE) \S*\/([A-Za-z0-9]+)[(\s]/.exec(text);
  return `POST $batch (${first?.[1] ?? "?"})`;
}

const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (chunk, encoding, callback) {
  // A request's line and its first sub-request are at its start.
  const text = typeof chunk === "string" ? chunk.slice(0, 2048) : Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.length, 2048)).toString("latin1");
  const kind = kindOf(text);
  if (kind) {
    current.set(this, kind);
    count(kind, "requests", 1);
  }
  count(current.get(this) ?? "(other)", "written", typeof chunk === "string" ? Buffer.byteLength(chunk, typeof encoding === "string" ? encoding : "utf8") : chunk.length);
  return write.call(this, chunk, encoding, callback);
};

const push = net.Socket.prototype.push;
net.Socket.prototype.push = function (chunk, encoding) {
  if (chunk) count(current.get(this) ?? "(other)", "read", chunk.length);
  return push.call(this, chunk, encoding);
};

process.on("exit", () => {
  const kinds = Object.fromEntries([...byKind].sort((a, b) => b[1].written + b[1].read - (a[1].written + a[1].read)));
  appendFileSync(file, `${JSON.stringify({ pid: process.pid, kinds })}\n`);
});
