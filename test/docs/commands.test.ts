// The commands the README and docs show, and the hints the CLI prints, run as written
// against the local host (`tokenwatch serve`), so that they cannot drift from the code again.
// Only what needs Azure itself (`az`, `azd`, a real workspace) is left to the static check:
// every `tokenwatch` command line in the docs names a real command and only its options.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_DEFAULT_USERS } from "../../src/cli/demo.js";
import { program } from "../../src/cli/program.js";
import { SERVE_DEFAULT_USERS } from "../../src/cli/serve.js";
import { EVENT_TYPES } from "../../src/delivery/schema.js";
import { dataSources, rules } from "../../src/rules/index.js";
import { cleanupTempDirs, tempDir } from "../support/replay-fixtures.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = join(ROOT, "dist/src/cli/main.js");
const DOCS = ["README.md", "docs/deploy.md", "docs/webhooks.md", "docs/replay-format.md"];

/** The shell commands of a document's ```sh blocks, continuation lines joined. */
async function shellCommands(doc: string): Promise<string[]> {
  const text = await readFile(join(ROOT, doc), "utf8");
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!
      .replace(/\\\n\s*/g, " ")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#")),
  );
}

/** Runs a command line with bash in `cwd`; stdout, stderr and the exit status. */
function bash(command: string, cwd: string, env: Record<string, string> = {}) {
  return spawnSync("bash", ["-c", `set -euo pipefail\n${command}`], { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
}

/** The environment a command runs in: no storage account, so the CLI starts its own Azurite. */
const env = () => {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("TOKENWATCH_")) e[k] = v;
  return e;
};

beforeAll(() => {
  if (!existsSync(MAIN)) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, stdio: "ignore" });
  expect(existsSync(MAIN), `${MAIN} missing: run npm run build`).toBe(true);
});
afterAll(cleanupTempDirs);

describe("every tokenwatch command line in the docs names a real command and only its options", () => {
  it.each(DOCS)("%s", async (doc) => {
    const text = await readFile(join(ROOT, doc), "utf8");
    const root = program();
    const lines = [...text.matchAll(/(?:npx |\$\()?tokenwatch ([a-z-]+)((?: +[^\s`|)]+)*)/g)].filter((m) => !/^(?:catches|pushes|is|was|reads|runs|serve\)|detect\))$/.test(m[1]!));
    const problems: string[] = [];
    for (const [whole, name, rest] of lines) {
      const command = root.commands.find((c) => c.name() === name);
      if (!command) {
        if (/^[a-z]+-?[a-z]*$/.test(name!) && /--/.test(rest ?? "")) problems.push(`${whole}: no command ${name}`);
        continue;
      }
      const flags = new Set(command.options.map((o) => o.long));
      for (const flag of (rest ?? "").match(/--[a-z-]+/g) ?? []) if (!flags.has(flag) && flag !== "--help") problems.push(`${whole.trim()}: ${name} has no ${flag}`);
    }
    expect(problems).toEqual([]);
    // The check saw the commands: README and the replay doc each show several.
    if (doc === "README.md" || doc === "docs/replay-format.md")
      expect(lines.filter((m) => root.commands.some((c) => c.name() === m[1])).length, doc).toBeGreaterThanOrEqual(doc === "README.md" ? 4 : 1);
  });

  it("the README's tenant sizes are the ones serve and demo simulate", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain(`a simulated ${SERVE_DEFAULT_USERS}-user tenant`);
    expect(readme).toContain(`\`npm run demo\` simulates a ${DEMO_DEFAULT_USERS}-user day`);
  });

  it("docs/deploy.md names each rule's tables and data connector as the registry does", async () => {
    const text = await readFile(join(ROOT, "docs/deploy.md"), "utf8");
    for (const rule of rules) {
      const row = new RegExp(`^ *\\| \`${rule.meta.id}\` \\| ([^|]+) \\| ([^|]+) \\| (\\w+) `, "m").exec(text);
      expect(row, rule.meta.id).not.toBeNull();
      const { tables, connectors } = dataSources(rule);
      expect([row![1], row![2], row![3]]).toEqual([rule.meta.name, tables.join(", "), connectors.join(", ")]);
    }
  });

  it("docs/webhooks.md subscribes with the event type names the API accepts", async () => {
    const text = await readFile(join(ROOT, "docs/webhooks.md"), "utf8");
    const rows = [...text.matchAll(/^\| `([a-zA-Z.]+)` \| `com\.tokenwatch\.([a-zA-Z.]+)` \|/gm)];
    expect(rows.map((r) => r[1]).sort()).toEqual([...EVENT_TYPES].sort());
    for (const r of rows) expect(r[2]).toBe(r[1]);
  });
});

describe("against the local host", () => {
  let serve: ChildProcess;
  let url = "";
  let banner = "";

  beforeAll(async () => {
    serve = spawn(process.execPath, [MAIN, "serve", "--port", "0", "--users", "20", "--step-seconds", "1"], { cwd: ROOT, env: env(), stdio: ["ignore", "ignore", "pipe"] });
    await new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${banner}`)), 90_000);
      serve.stderr!.setEncoding("utf8").on("data", (d: string) => {
        banner += d;
        const m = /tokenwatch API on (http:\/\/127\.0\.0\.1:\d+)\/api\//.exec(banner);
        if (m && banner.includes("try: ")) {
          url = m[1]!;
          clearTimeout(timer);
          resolvePromise();
        }
      });
      serve.once("exit", (code) => reject(new Error(`serve exited ${code}:\n${banner}`)));
    });
  }, 120_000);
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once("exit", r));
      serve.kill("SIGTERM");
      await exited;
    }
  });

  it("the serve banner's curl runs as printed", () => {
    const line = /try: (.*)/.exec(banner)![1]!;
    const run = bash(line.replace(/^curl /, "curl -f "), ROOT);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toHaveProperty("items");
  });

  it("README: the dev token and the curl lines of the Quick start", async () => {
    const commands = (await shellCommands("README.md")).filter((c) => c.startsWith("TOKEN=") || c.startsWith("curl "));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    const script = commands.map((c) => c.replaceAll("http://127.0.0.1:7071", url).replace(/^curl -s /, "curl -sf -w '\\n' ")).join("\n");
    const run = bash(script, ROOT);
    expect(run.status, run.stderr).toBe(0);
    for (const answer of run.stdout.trim().split("\n")) expect(JSON.parse(answer)).toHaveProperty("items");
  });

  it("docs/deploy.md and docs/webhooks.md: every curl to the API, with an admin token", async () => {
    const token = bash(`node ${MAIN} dev-token`, ROOT).stdout.trim();
    const commands = [...(await shellCommands("docs/deploy.md")), ...(await shellCommands("docs/webhooks.md"))].filter((c) => c.startsWith("curl ") && c.includes("$API/api/"));
    // health, rules, the rule switch, and a webhook subscription in each doc.
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const command of commands) {
      const run = bash(command, ROOT, { API: url, TOKEN: token });
      expect(run.status, `${command}\n${run.stderr}`).toBe(0);
      expect(() => JSON.parse(run.stdout), command).not.toThrow();
    }
  });

  it("README: detect and rules as shown, on an export folder", async () => {
    const cwd = await tempDir();
    await mkdir(join(cwd, "export"));
    await cp(join(ROOT, "test/fixtures/scenarios/pivot-basic/logs"), join(cwd, "export"), { recursive: true });
    // (export and detect --workspace need an Azure login: the static check above covers them.)
    const commands = (await shellCommands("README.md")).filter((c) => /^npx tokenwatch (detect --logs|rules)\b/.test(c));
    expect(commands).toHaveLength(2);
    for (const command of commands) {
      const run = bash(command.replace(/ \[[^\]]*\]/g, "").replace(/^npx tokenwatch/, `node ${MAIN}`), cwd, env());
      expect(run.status, `${command}\n${run.stderr}`).toBe(0);
      expect(() => JSON.parse(run.stdout)).not.toThrow();
    }
  });
});

describe("the hints the CLI prints run as printed", () => {
  it("simulate's `replay it:` line replays the folder it wrote", async () => {
    const out = join(await tempDir(), "tenant");
    const simulate = bash(`node ${MAIN} simulate --out ${out} --users 20 --history-days 1`, ROOT, env());
    expect(simulate.status, simulate.stderr).toBe(0);
    const hint = /replay it: (.*)/.exec(simulate.stderr)![1]!;
    const run = bash(hint, ROOT, env());
    expect(run.status, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { stats: { rowsRead: number } }).stats.rowsRead).toBeGreaterThan(0);
  });

  it("demo names no folder it deletes", () => {
    const run = bash(`node ${MAIN} demo --users 20`, ROOT, env());
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Planted attacks found: \d+ of \d+/);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/tokenwatch-demo-|replay it/);
  });
});
