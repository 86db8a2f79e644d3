// A buffered NDJSON file writer that respects stream backpressure.

import { createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
import { finished } from "node:stream/promises";

const CHUNK = 1 << 20;

export class LineWriter {
  private buf = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private readonly stream: WriteStream;
  lines = 0;

  constructor(path: string) {
    this.stream = createWriteStream(path);
    // kept so that an error between writes is not unhandled; the next flush or close reports it
    this.stream.on("error", () => {});
  }

  /** Queues one line; returns true when the caller should `await flush()`. */
  add(line: string): boolean {
    // a UTF-16 code unit never takes more than 3 UTF-8 bytes
    if (this.used + line.length * 3 + 1 > this.buf.length) {
      this.spill();
      if (line.length * 3 + 1 > this.buf.length) this.buf = Buffer.allocUnsafe(line.length * 3 + 1);
    }
    this.used += this.buf.write(line, this.used, "utf8");
    this.buf[this.used++] = 10;
    this.lines++;
    return this.queued.length > 0;
  }

  private queued: Buffer[] = [];

  /** Moves the filled part of the buffer to the queue and starts a fresh buffer. */
  private spill(): void {
    if (this.used === 0) return;
    this.queued.push(this.buf.subarray(0, this.used));
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
  }

  async flush(): Promise<void> {
    if (this.stream.errored) throw this.stream.errored;
    this.spill();
    let ok = true;
    for (const b of this.queued) ok = this.stream.write(b);
    this.queued = [];
    if (!ok) await once(this.stream, "drain");
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
  }

  /** Stops writing after a failure elsewhere. */
  abort(): void {
    this.stream.destroy();
  }
}
