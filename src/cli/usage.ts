import { basename, relative } from "node:path";

/** An unusable command line: the CLI prints its message as one line and exits 2. */
export class UsageError extends Error {}

/** Input the command cannot use or would read as "nothing found": one line, exit 2. */
export class InputError extends Error {}

/**
 * How to run this CLI again from the current folder, for the hints it prints: `tokenwatch`
 * when it was started by that name (installed or linked), `npx tokenwatch` through npx, else
 * `node <path to main.js>`.
 */
export function selfCommand(): string {
  const script = process.argv[1] ?? "tokenwatch";
  // npx (npm exec) puts the bin on PATH only for its own child: the hint must say npx too.
  if (basename(script) === "tokenwatch") return process.env.npm_command === "exec" ? "npx tokenwatch" : "tokenwatch";
  const path = relative(process.cwd(), script);
  return `node ${path.includes(" ") ? JSON.stringify(path) : path}`;
}
