#!/usr/bin/env node
// The `tokenwatch` command. Subcommands live in their own files; this one parses, runs,
// and turns failures into one line on stderr and a non-zero exit. Each command's module is
// loaded when it runs, so `detect` does not pay for the API host's or Azure identity's imports.
import { writeFile } from "node:fs/promises";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DEV_TOKEN_OPTIONS } from "./dev-token.js";
import { UsageError } from "./usage.js";

const USAGE = `usage:
  tokenwatch detect --logs DIR --from ISO --to ISO [--allowlist FILE] [--out FILE]
  tokenwatch simulate --out DIR [--users N] [--days N] [--history-days N] [--seed N] [--to ISO]
  tokenwatch demo [--users N] [--days N]
  tokenwatch bench [--scale S|M|L] [--json]
  tokenwatch serve [--port N] [--step-seconds N] [--users N]
  tokenwatch dev-token [--role R ...] [--user U] [--hours N]
  tokenwatch backfill --rule ID --from ISO --to ISO [--logs DIR]`;

const log = (line: string) => process.stderr.write(`${line}\n`);

const commands: Record<string, { options: ParseArgsConfig["options"]; run(values: Record<string, string | boolean | undefined>): Promise<void> }> = {
  detect: {
    options: { logs: { type: "string" }, from: { type: "string" }, to: { type: "string" }, allowlist: { type: "string" }, out: { type: "string" } },
    async run(values) {
      const { detect, parseDetectArgs } = await import("./detect.js");
      const options = await parseDetectArgs(values);
      const output = await detect({ ...options, log });
      const text = `${JSON.stringify(output, null, 2)}\n`;
      if (typeof values.out === "string") await writeFile(values.out, text);
      else process.stdout.write(text);
    },
  },
  simulate: {
    options: { out: { type: "string" }, users: { type: "string" }, days: { type: "string" }, "history-days": { type: "string" }, seed: { type: "string" }, to: { type: "string" } },
    async run(values) {
      const { parseSimulateArgs, simulate } = await import("./simulate.js");
      await simulate(parseSimulateArgs(values), log);
    },
  },
  bench: {
    options: { scale: { type: "string" }, json: { type: "boolean" } },
    async run(values) {
      const { bench, parseBenchArgs } = await import("./bench.js");
      await bench(parseBenchArgs(values), log);
    },
  },
  demo: {
    options: { users: { type: "string" }, days: { type: "string" } },
    async run(values) {
      const { demo } = await import("./demo.js");
      await demo(values, log);
    },
  },
  serve: {
    options: { port: { type: "string" }, "step-seconds": { type: "string" }, users: { type: "string" } },
    async run(values) {
      const { parseServeArgs, serve } = await import("./serve.js");
      await serve({ ...parseServeArgs(values), log });
    },
  },
  backfill: {
    options: { rule: { type: "string" }, from: { type: "string" }, to: { type: "string" }, logs: { type: "string" } },
    async run(values) {
      const { backfill, parseBackfillArgs } = await import("./backfill.js");
      process.stdout.write(`${JSON.stringify(await backfill(await parseBackfillArgs(values), log), null, 2)}\n`);
    },
  },
  "dev-token": {
    options: DEV_TOKEN_OPTIONS,
    async run(values) {
      const { devToken, parseDevTokenArgs } = await import("./dev-token.js");
      process.stdout.write(`${await devToken(parseDevTokenArgs(values))}\n`);
    },
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"`);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]!);
  }
  await command.run(values);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tokenwatch: ${message.split("\n")[0]}\n`);
    if (error instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
