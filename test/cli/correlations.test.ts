// `tokenwatch detect --correlations`, through the built CLI: the correlated incidents a
// scenario expects (expected.json `correlations`, none when absent), and without the flag
// an output of exactly the replay contract's keys.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORRELATION_RULE_ID } from "../../src/model/correlation.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = join(ROOT, "dist/src/cli/main.js");
const SCENARIOS = join(ROOT, "test/fixtures/scenarios");

let azurite: AzuriteTables;
beforeAll(async () => {
  if (!existsSync(MAIN)) spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, stdio: "ignore" });
  expect(existsSync(MAIN), `${MAIN} missing: run npm run build`).toBe(true);
  azurite = await startAzurite();
}, 120_000);
afterAll(async () => azurite?.stop());

let runs = 0;
const runId = Math.random().toString(36).slice(2, 8);

interface Incident {
  id: string;
  ruleId: string;
  account: string;
  severity: string;
  alertIds: string[];
  memberIncidentIds?: string[];
}
interface Output {
  alerts: { id: string; incidentId: string }[];
  incidents: Incident[];
  correlations?: Incident[];
}
interface Expected {
  from: string;
  to: string;
  correlations?: { account: string; members: string[] }[];
}

/** The built CLI's detect over a scenario, on fresh tables of the shared Azurite. */
async function detect(name: string, flags: string[]): Promise<Output> {
  const dir = join(SCENARIOS, name);
  const exp = JSON.parse(await readFile(join(dir, "expected.json"), "utf8")) as Expected;
  const env = { ...process.env, TOKENWATCH_STORAGE_CONNECTION_STRING: azurite.connectionString, TOKENWATCH_TABLE_PREFIX: `cor${runId}r${++runs}` };
  delete env.TOKENWATCH_STORAGE_TABLE_ENDPOINT;
  const child = spawn(process.execPath, [MAIN, "detect", "--logs", join(dir, "logs"), "--from", exp.from, "--to", exp.to, "--format", "json", ...flags], { cwd: ROOT, env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise((r) => child.once("close", r));
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as Output;
}

describe.concurrent("tokenwatch detect --correlations", () => {
  it("correlation-pivot-and-sts: one correlated High incident linking dan's pivot and STS incidents", async () => {
    const exp = JSON.parse(await readFile(join(SCENARIOS, "correlation-pivot-and-sts/expected.json"), "utf8")) as Expected;
    const output = await detect("correlation-pivot-and-sts", ["--correlations"]);
    expect(output.correlations).toHaveLength(exp.correlations!.length);
    for (const e of exp.correlations!) {
      const [c, ...more] = output.correlations!.filter((c) => c.account === e.account);
      expect(more).toEqual([]);
      expect(c).toMatchObject({ ruleId: CORRELATION_RULE_ID, severity: "High" });
      const members = output.incidents.filter((i) => c!.memberIncidentIds!.includes(i.id));
      expect(members.map((i) => i.ruleId).sort()).toEqual([...e.members].sort());
      expect([...c!.alertIds].sort()).toEqual(members.flatMap((i) => i.alertIds).sort());
    }
    // No alert names it and the rules' incidents stay as the contract has them.
    expect(output.incidents.some((i) => i.ruleId === CORRELATION_RULE_ID)).toBe(false);
    expect(output.alerts.every((a) => output.incidents.some((i) => i.id === a.incidentId))).toBe(true);
  });

  it("without the flag the output has the contract's keys only", async () => {
    const output = await detect("correlation-pivot-and-sts", []);
    expect(Object.keys(output)).toEqual(["alerts", "incidents", "stats"]);
  });

  it("pivot-basic, one rule per account: no correlation", async () => {
    expect((await detect("pivot-basic", ["--correlations"])).correlations).toEqual([]);
  });
});
