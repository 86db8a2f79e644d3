#!/usr/bin/env node
// The `tokenwatch` command: runs the command line program.ts defines. Failures become one
// line on stderr and a non-zero exit: 2 for an unusable command line or input that could
// not be looked at (never a silent "nothing found"), 1 otherwise.
import { CommanderError } from "commander";
import { clearProgress, program, self } from "./program.js";
import { InputError, UsageError } from "./usage.js";

const root = program();

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stdout.write(root.helpInformation());
    return 2;
  }
  try {
    await root.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
    if (error.code === "commander.help") return 2;
    throw new UsageError(error.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ").trim());
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    clearProgress();
    const message = error instanceof Error ? error.message : String(error);
    const known = error instanceof UsageError || error instanceof InputError;
    const command = root.commands.some((c) => c.name() === process.argv[2]) ? ` ${process.argv[2]}` : "";
    const hint = error instanceof UsageError ? ` (see: ${self}${command} --help)` : "";
    process.stderr.write(`tokenwatch: ${message.split("\n")[0]}${hint}\n`);
    process.exitCode = known ? 2 : 1;
  },
);
