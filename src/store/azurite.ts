// Starts the Azurite table service (and, when asked, its queue service) as child processes
// on free loopback ports, in memory, for the CLI (when no storage is configured) and for tests.
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

/** Azurite's well-known development account (public, documented by Microsoft). */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteTables {
  /** Names the table endpoint, and the queue endpoint when the queue service runs. */
  connectionString: string;
  endpoint: string;
  /** The queue service's endpoint, when started with `queue: true`. */
  queueEndpoint?: string;
  /** What the table service printed while starting. */
  tableStartup: string;
  stop(): Promise<void>;
}

type Service = "table" | "queue";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function azuriteBin(service: Service): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("azurite/package.json")), "dist", "src", service, "main.js");
}

/**
 * Start Azurite's table service, and its queue service with `queue`; retries on a port race with
 * another process. `tablePreload`: modules the table service's process imports first (`node
 * --import`): the benches' controls for the emulator's own costs (src/bench/ordered-scan.ts,
 * src/bench/azurite-seed.ts).
 */
export async function startAzurite(options: { queue?: boolean; tablePreload?: readonly string[]; startTimeoutMs?: number } = {}): Promise<AzuriteTables> {
  const [table, queue] = await Promise.all([start("table", options.tablePreload ?? [], options.startTimeoutMs), options.queue ? start("queue", []) : undefined]);
  return {
    endpoint: table.endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=${table.endpoint};${queue ? `QueueEndpoint=${queue.endpoint};` : ""}`,
    ...(queue ? { queueEndpoint: queue.endpoint } : {}),
    tableStartup: table.startup,
    stop: async () => void (await Promise.all([table.stop(), queue?.stop()])),
  };
}

async function start(service: Service, preload: readonly string[], startTimeoutMs = 30_000): Promise<{ endpoint: string; startup: string; stop(): Promise<void> }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      return await launch(service, preload, port, startTimeoutMs);
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`could not start Azurite's ${service} service: ${String(lastError)}`);
}

function launch(service: Service, preload: readonly string[], port: number, startTimeoutMs: number): Promise<{ endpoint: string; startup: string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...preload.flatMap((module) => ["--import", module]), azuriteBin(service), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", `--${service}Host`, "127.0.0.1", `--${service}Port`, String(port)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  // Azurite must not outlive us, even when we exit without calling stop().
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error(`Azurite did not start in ${startTimeoutMs / 1000} s: ${output.slice(-300)}`)), startTimeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/successfully (started|listens)/.test(output)) {
        // Started: its access log (a line per request) is drained, no longer kept and searched.
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        const startup = output;
        output = "";
        clearTimeout(timer);
        resolve({
          endpoint,
          startup,
          stop: async () => {
            process.off("exit", killOnExit);
            await stop();
          },
        });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-300)));
    child.once("exit", (code) => fail(new Error(`Azurite exited with ${code}: ${output.slice(-300)}`)));
  });
}
