// The CLI teaches itself: help per command with examples, the allowlist and logs formats,
// and `tokenwatch rules` straight from the rule registry. Runs the built CLI as a user does.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { LIST_NAMES } from "../../src/model/allowlists.js";
import { rules } from "../../src/rules/index.js";
import { TABLES } from "../../src/model/rows.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = join(ROOT, "dist/src/cli/main.js");
const COMMANDS = ["detect", "export", "rules", "simulate", "demo", "bench", "serve", "dev-token", "backfill"];

beforeAll(() => {
  if (!existsSync(MAIN)) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, stdio: "ignore" });
  expect(existsSync(MAIN), `${MAIN} missing: run npm run build`).toBe(true);
});

const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });

describe.concurrent("tokenwatch help", () => {
  it("--help lists every command with examples; no command at all prints it and exits 2", () => {
    const help = cli("--help");
    expect(help.status).toBe(0);
    for (const name of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
    expect(help.stdout).toContain("Examples:");
    const bare = cli();
    expect(bare.status).toBe(2);
    expect(bare.stdout).toContain("Commands:");
  });

  it.each(COMMANDS)("%s --help: exit 0 with options and examples that run this CLI", (name) => {
    const help = cli(name, "--help");
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain(`Usage: tokenwatch ${name}`);
    expect(help.stdout).toMatch(new RegExp(`Examples:\\n  node dist/src/cli/main\\.js ${name}\\b`));
  });

  it("run through npx, the examples say npx tokenwatch (the bin is on PATH only inside npx)", () => {
    const run = spawnSync("npx", ["tokenwatch", "dev-token", "--help"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("Examples:\n  npx tokenwatch dev-token\n");
  });

  it("detect --help explains the logs folder, the table file names, the allowlist file and every list name", () => {
    const { stdout } = cli("detect", "--help");
    for (const table of TABLES) expect(stdout).toContain(table);
    expect(stdout).toContain("<Table>.ndjson");
    expect(stdout).toContain('{"network": [');
    for (const list of LIST_NAMES) expect(stdout).toMatch(new RegExp(`^  ${list} `, "m"));
    expect(stdout).toContain("--allow-empty");
    expect(stdout).toContain("docs/replay-format.md");
  });

  it("a mistyped command: exit 2, one line with the suggestion", () => {
    const run = cli("detcet");
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("Did you mean detect?");
  });
});

describe.concurrent("tokenwatch rules", () => {
  it("--format json: every rule of the registry with id, name, severity and tables", () => {
    const run = cli("rules", "--format", "json");
    expect(run.status, run.stderr).toBe(0);
    const listed = JSON.parse(run.stdout) as { id: string; name: string; severity: string; tables: string[]; connectors: string[] }[];
    expect(listed.map((r) => r.id)).toEqual(rules.map((r) => r.meta.id));
    for (const [i, rule] of rules.entries()) {
      expect(listed[i]!.name).toBe(rule.meta.name);
      expect(listed[i]!.severity).toBe(rule.meta.severity);
      // Every table the rule's queries read is listed.
      const window = { start: 0, end: 3_600_000 };
      for (const spec of Object.values(rule.queries(window))) expect(listed[i]!.tables).toContain(spec.table);
      expect(listed[i]!.connectors.length).toBeGreaterThan(0);
    }
  });

  it("--format table: one block per rule a person can read", () => {
    const run = cli("rules", "--format", "table");
    expect(run.status).toBe(0);
    for (const rule of rules) expect(run.stdout).toContain(`${rule.meta.severity.padEnd(7)} ${rule.meta.id}  ${rule.meta.name}`);
    expect(run.stdout).toContain("tables: CloudAppEvents (connector: MicrosoftThreatProtection)");
  });
});
