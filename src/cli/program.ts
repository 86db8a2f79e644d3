// The `tokenwatch` command line: commander parses and writes the help. Each subcommand lives
// in its own file and is loaded when it runs, so `detect` does not pay for the API host's or
// Azure identity's imports. main.ts runs it; the docs test reads the options from it.
import { writeFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { LIST_DEFAULTS, LIST_DESCRIPTIONS, LIST_NAMES } from "../model/allowlists.js";
import { TABLES } from "../model/rows.js";
import { stsRefreshTokenModification } from "../rules/sts-refresh-token-modification.js";
import { selfCommand } from "./usage.js";

/** Option values; only `dev-token --role` repeats, and its parser takes the array. */
type Values = Record<string, string | boolean | undefined>;

export const log = (line: string) => {
  clearProgress();
  process.stderr.write(`${line}\n`);
};

// A terminal gets one progress line on stderr, rewritten in place; pipes and files get none.
let progressShown = false;
export function clearProgress() {
  if (progressShown) process.stderr.write("\r\x1b[2K");
  progressShown = false;
}

export const self = selfCommand();

const ALLOWLIST_HELP = `
Allowlist file (--allowlist FILE): a JSON object of list name to entries; a list left out
keeps its defaults. Example:
  {"network": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"], "principals": ["Backup App"]}
Lists:
${LIST_NAMES.map((n) => `  ${n.padEnd(11)} ${LIST_DESCRIPTIONS[n]}\n  ${"".padEnd(11)} default: ${LIST_DEFAULTS[n].length ? LIST_DEFAULTS[n].join(", ") : "(empty)"}`).join("\n")}`;

const LOGS_HELP = `
Logs folder (--logs DIR): one file per table, named <Table>.ndjson or <Table>.jsonl, one JSON
row per line with Log Analytics column names (${TABLES.join(", ")}).
A missing file is an empty table; every other file or folder in DIR is named on stderr. With
no table rows at all the command exits 2 (--allow-empty runs anyway), and so it does when
every row of a table is rejected. docs/replay-format.md describes the format.`;

/** commander's option values keyed by the flag as typed (`history-days`), for the parsers. */
function values(command: Command): Values {
  const opts = command.opts();
  // Options not given are left out, as the parsers and `demo`'s defaults expect.
  return Object.fromEntries(command.options.flatMap((o) => (opts[o.attributeName()] === undefined ? [] : [[o.long!.slice(2), opts[o.attributeName()] as Values[string]]])));
}

/** `json` when asked, or when stdout is not a terminal (pipes keep the contract's JSON); else `table`. */
function formatOf(v: Values): "json" | "table" {
  return (v.format as "json" | "table" | undefined) ?? (process.stdout.isTTY ? "table" : "json");
}
const formatOption = () =>
  new Option("--format <format>", "stdout as the JSON document or a readable table (default: table on a terminal, else json)").choices(["json", "table"]);

export function program(): Command {
  const root = new Command("tokenwatch")
    .description("Refresh-token theft detection for Microsoft Entra ID over Azure Log Analytics.")
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Examples:
  ${self} demo                          simulate a tenant with planted attacks and show what is found
  ${self} detect --logs ./export --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z
  ${self} rules                         the rules, their tables and severity
  ${self} serve                         the API on localhost with a simulated tenant
  ${self} <command> --help              each command's options and examples`,
    );

  root
    .command("detect")
    .description("Replay exported logs through every rule as the hourly timers would; print alerts and incidents.")
    .option("--logs <dir>", "folder of <Table>.ndjson files (this or --workspace)")
    .option("--workspace <id>", "a Log Analytics workspace id: run the rules against it live, with your Azure login")
    .option("--from <iso>", "first event time evaluated, ISO 8601 (required)")
    .option("--to <iso>", "end of the range, exclusive, ISO 8601 (required)")
    .option("--allowlist <file>", "JSON allowlists (see below)")
    .option("--out <file>", "write the JSON document here instead of stdout")
    .addOption(formatOption())
    .option("--allow-empty", "run even when the folder holds no table rows")
    .option("--correlations", "also report correlated incidents (key `correlations`), see below")
    .addHelpText(
      "after",
      `
Examples:
  ${self} detect --logs ./export --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z
  ${self} detect --logs ./export --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --correlations
  ${self} detect --logs ./export --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --allowlist allow.json --out result.json
  ${self} detect --logs ./export --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --format json | jq '.alerts[].account'
  ${self} detect --workspace 00000000-0000-0000-0000-000000000000 --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z

With --workspace the rules query the workspace through DefaultAzureCredential (az login),
reading rows that arrived up to 2 days after --to (or until now, less the ingestion delay).

Rows before --from are history: they feed baselines and raise nothing. Without a storage
setting the state lives in an in-memory Azurite started for the run.

An account with alerts of two or more different rules within TOKENWATCH_CORRELATION_WINDOW_HOURS
(24), or sharing a SessionId or UniqueTokenIdentifier, gets one correlated High incident
linking the rules' incidents. It is no rule's alert, so "alerts" and "incidents" never hold it;
--correlations adds the key "correlations" with those incidents (memberIncidentIds).
${LOGS_HELP}
${ALLOWLIST_HELP}`,
    )
    .action(async (_o, command: Command) => {
      const v = values(command);
      const { detect, parseDetectArgs } = await import("./detect.js");
      const options = await parseDetectArgs(v);
      const format = formatOf(v);
      const output = await detect({ ...options, log, progress: process.stderr.isTTY ? showProgress : undefined });
      clearProgress();
      const json = `${JSON.stringify(output, null, 2)}\n`;
      if (typeof v.out === "string") await writeFile(v.out, json);
      if (format === "table") {
        const { summary } = await import("./summary.js");
        process.stdout.write(summary(output));
      } else if (typeof v.out !== "string") process.stdout.write(json);
    });

  root
    .command("export")
    .description("Write a Log Analytics workspace's tables in the replay layout, for detect --logs.")
    .option("--workspace <id>", "the workspace id, a GUID (required)")
    .option("--from <iso>", "first event time, ISO 8601 (required); include 14 days before the range to replay, for the Intune baseline")
    .option("--to <iso>", "end, exclusive, ISO 8601 (required)")
    .option("--out <dir>", "folder to write <Table>.ndjson into (required)")
    .addHelpText(
      "after",
      `
Examples:
  ${self} export --workspace 00000000-0000-0000-0000-000000000000 --from 2026-10-18T00:00:00Z --to 2026-11-02T00:00:00Z --out ./export
  then: ${self} detect --logs ./export --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z

Queries go through DefaultAzureCredential (az login) with Log Analytics Reader on the
workspace; a table a day at a time, only the columns the rules read, _TimeReceived from
ingestion_time(). A table the workspace lacks is named and gets no file. docs/replay-format.md`,
    )
    .action(async (_o, command: Command) => {
      const { exportLogs, parseExportArgs } = await import("./export.js");
      const args = parseExportArgs(values(command));
      const [{ createLogAnalyticsSource }, { lazyCredential }, { loadConfig }] = await Promise.all([import("../app.js"), import("../credential.js"), import("../config.js")]);
      const source = createLogAnalyticsSource({ ...loadConfig(), TOKENWATCH_WORKSPACE_ID: args.workspace }, await lazyCredential()());
      process.stdout.write(`${JSON.stringify(await exportLogs(source, args, log), null, 2)}\n`);
    });

  root
    .command("rules")
    .description("The rules tokenwatch runs: id, name, tables, severity, schedule and the data connector each needs.")
    .addOption(formatOption())
    .addHelpText("after", `\nExamples:\n  ${self} rules\n  ${self} rules --format json`)
    .action(async (_o, command: Command) => {
      const { ruleList, rulesTable } = await import("./rules.js");
      process.stdout.write(formatOf(values(command)) === "json" ? `${JSON.stringify(ruleList(), null, 2)}\n` : rulesTable());
    });

  root
    .command("simulate")
    .description("Write a seeded synthetic tenant with planted attacks in the replay layout.")
    .option("--out <dir>", "folder to write (required)")
    .option("--users <n>", "users in the tenant (default 1000)")
    .option("--days <n>", "days of detection range (default 1)")
    .option("--history-days <n>", "days of history before it, for baselines (default 14)")
    .option("--seed <n>", "random seed (default 1)")
    .option("--to <iso>", "end of the range (default: the start of today, UTC)")
    .addHelpText("after", `\nExamples:\n  ${self} simulate --out ./tenant --users 300\n  then run the detect command it prints`)
    .action(async (_o, command: Command) => {
      const { parseSimulateArgs, simulate } = await import("./simulate.js");
      const options = parseSimulateArgs(values(command));
      const result = await simulate(options, log);
      log(`replay it: ${self} detect --logs ${options.out} --from ${result.from} --to ${result.to}`);
    });

  root
    .command("demo")
    .description("Simulate a tenant with planted attacks, replay it, and print the incidents per account.")
    .option("--users <n>", "users in the tenant (default 300)")
    .option("--days <n>", "days of detection range (default 1)")
    .addHelpText("after", `\nExamples:\n  ${self} demo\n  ${self} demo --users 1000 --days 2\nTo keep the simulated logs and replay them yourself: ${self} simulate --help`)
    .action(async (_o, command: Command) => {
      const { demo } = await import("./demo.js");
      await demo(values(command), log);
    });

  root
    .command("bench")
    .description("Measure one steady-state hour on the production path and the engine's throughput, on a generated tenant.")
    .addOption(new Option("--scale <size>", "tenant size: S 1,000, M 20,000, L 100,000 users; XL 1,000,000 (one shard of 16, projected)").choices(["S", "M", "L", "XL"]))
    .option("--json", "print the figures as JSON")
    .option("--incidents", "measure incident list latency at 100 and 100,000 incidents instead")
    .option("--throughput", "measure only the engine's throughput against its floors (no Azurite, no measured hour)")
    .addHelpText("after", `\nExamples:\n  ${self} bench\n  ${self} bench --scale M --json\n  ${self} bench --throughput\n  ${self} bench --incidents --json`)
    .action(async (_o, command: Command) => {
      const { bench, parseBenchArgs } = await import("./bench.js");
      await bench(parseBenchArgs(values(command)), log);
    });

  root
    .command("serve")
    .description("Run the API on localhost over an in-memory Azurite, with a simulated tenant (or the configured workspace).")
    .option("--port <n>", "port (default 7071)")
    .option("--step-seconds <n>", "real seconds per simulated hour (default 2)")
    .option("--users <n>", "simulated users (default 200)")
    .addHelpText("after", `\nExamples:\n  ${self} serve\n  curl -H "Authorization: Bearer $(${self} dev-token)" http://localhost:7071/api/accounts`)
    .action(async (_o, command: Command) => {
      const { parseServeArgs, serve } = await import("./serve.js");
      await serve({ ...parseServeArgs(values(command)), log });
    });

  root
    .command("dev-token")
    .description("Print a token signed by the local dev key, for `serve` (or a host in dev mode).")
    .option("--role <role...>", "roles to grant (default: all)")
    .option("--user <name>", "the token's user")
    .option("--hours <n>", "lifetime in hours (default 8)")
    .addHelpText("after", `\nExamples:\n  ${self} dev-token\n  ${self} dev-token --role Incidents.Read --user analyst@contoso.com`)
    .action(async (_o, command: Command) => {
      const { devToken, parseDevTokenArgs } = await import("./dev-token.js");
      process.stdout.write(`${await devToken(parseDevTokenArgs(values(command)))}\n`);
    });

  root
    .command("backfill")
    .description("Re-evaluate one rule over a past range (at most 7 days) without moving its live checkpoint.")
    .option("--rule <id>", "rule id, from `tokenwatch rules` (required)")
    .option("--from <iso>", "start, ISO 8601 (required)")
    .option("--to <iso>", "end, exclusive, ISO 8601 (required)")
    .option("--logs <dir>", "replay files instead of the configured Log Analytics workspace")
    .option("--allow-empty", "with --logs: run even when the folder holds no table rows")
    .addHelpText("after", `\nExamples:\n  ${self} backfill --rule ${stsRefreshTokenModification.meta.id} --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --logs ./export\n${LOGS_HELP}`)
    .action(async (_o, command: Command) => {
      const { backfill, parseBackfillArgs } = await import("./backfill.js");
      process.stdout.write(`${JSON.stringify(await backfill(await parseBackfillArgs(values(command)), log), null, 2)}\n`);
    });

  // Errors are printed once, as one line, by main() below.
  for (const command of [root, ...root.commands]) command.exitOverride().configureOutput({ outputError: () => undefined });
  return root;
}

function showProgress(p: { windowsDone: number; windowsTotal: number; rowsFetched: number; elapsedMs: number }) {
  const rate = p.elapsedMs > 0 ? Math.round((p.rowsFetched * 1000) / p.elapsedMs) : 0;
  process.stderr.write(`\r\x1b[2Kwindows ${p.windowsDone} of ${p.windowsTotal}, ${rate.toLocaleString("en-US")} rows/s`);
  progressShown = true;
}
