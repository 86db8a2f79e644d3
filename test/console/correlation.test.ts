// The console's correlated accounts, in Chromium against the real local host: an account hit
// by two rules within a day (placed through the real repository on the host's storage, as
// the rules' runs place alerts) is listed first with its badge, and its correlated incident
// shows the incidents it links, each linking back. axe-checked like every view.
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDevKey, signDevToken } from "../../src/api/dev-auth.js";
import { startServe, type RunningHost } from "../../src/cli/serve.js";
import { CORRELATION_RULE_ID } from "../../src/model/correlation.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { fromMs } from "../../src/model/time.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { TableStore } from "../../src/store/tables.js";
import { launchChromium, type Browser } from "./chromium.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const ACCOUNT = "zoe.correlated@contoso.com";
const PREFIX = `cons${process.pid}`;
const SHOTS = join(process.cwd(), "test-output", "console");

let home: string;
let azurite: AzuriteTables;
let host: RunningHost;
let browser: Browser;
let axeSource: string;

const alert = (rule: typeof stsRefreshTokenModification, id: string, time: number) => ({
  id: id.padEnd(32, "0"),
  ruleId: rule.meta.id,
  ruleName: rule.meta.name,
  severity: rule.meta.severity,
  time: fromMs(time),
  account: ACCOUNT,
  ip: "203.0.113.66",
  title: `${rule.meta.name}: ${ACCOUNT}`,
  details: {},
  entities: [{ type: "account" as const, name: ACCOUNT }],
});

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "tokenwatch-console-corr-"));
  process.env.TOKENWATCH_HOME = home;
  azurite = await startAzurite();
  process.env.TOKENWATCH_STORAGE_CONNECTION_STRING = azurite.connectionString;
  process.env.TOKENWATCH_TABLE_PREFIX = PREFIX;
  delete process.env.TOKENWATCH_STORAGE_TABLE_ENDPOINT;
  delete process.env.TOKENWATCH_WORKSPACE_ID;
  await mkdir(SHOTS, { recursive: true });
  axeSource = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  const t = Date.parse("2026-11-01T08:00:00.000Z");
  const { incidents } = createStores(new TableStore({ connectionString: azurite.connectionString, tablePrefix: PREFIX }), incidentPlanner);
  await incidents.place([alert(interactiveToNonInteractivePivot, "c0ffee01", t)], Date.now());
  await incidents.place([alert(stsRefreshTokenModification, "c0ffee02", t + 5 * 3_600_000)], Date.now());
  host = await startServe({ port: 0, stepMs: 1000, users: 10, log: () => {} });
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await host?.close();
  await azurite?.stop();
  await rm(home, { recursive: true, force: true });
});

async function axe(page: import("playwright-core").Page, name: string) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await (globalThis as any).axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact }));
  });
  expect(violations.filter((v: { impact: string }) => v.impact === "serious" || v.impact === "critical"), `axe on ${name}`).toEqual([]);
}

describe("correlated accounts in the console", () => {
  it("lists the correlated account first, and its correlated incident links the rules' incidents both ways", async () => {
    const token = await signDevToken(await loadDevKey(), { roles: ["Incidents.Read"] });
    const [top] = ((await (await fetch(`${host.url}/api/accounts`, { headers: { authorization: `Bearer ${token}` } })).json()) as any).items;
    expect(top).toMatchObject({ account: ACCOUNT, correlated: true, multipleRules: true });
    expect(top.rules.map((r: { id: string }) => r.id).sort()).toEqual([interactiveToNonInteractivePivot.meta.id, stsRefreshTokenModification.meta.id].sort());

    const page = await browser.context.newPage();
    await page.goto(`${host.url}/`);
    await page.getByRole("radio", { name: /^Analyst/ }).check();
    await page.getByLabel("User name").fill("ana@tokenwatch.local");
    await page.getByRole("button", { name: "Sign in" }).click();
    const firstRow = page.locator("tbody tr").first();
    await expect.poll(() => firstRow.getByRole("link").textContent()).toBe(ACCOUNT);
    expect(await firstRow.textContent()).toContain("Correlated");
    await axe(page, "10-accounts-correlated");

    await firstRow.getByRole("link").click();
    const correlatedRow = page.getByRole("row").filter({ hasText: "Account correlation across rules" });
    await correlatedRow.getByRole("link").click();
    const linked = page.locator("section", { has: page.getByRole("heading", { name: /Linked incidents/ }) });
    await expect.poll(() => linked.getByRole("listitem").count()).toBe(2);
    expect(await linked.textContent()).toContain(interactiveToNonInteractivePivot.meta.name);
    expect(await linked.textContent()).toContain(stsRefreshTokenModification.meta.name);
    await expect.poll(() => page.locator("article.alert").count()).toBe(2);
    await axe(page, "11-incident-correlated");

    await linked.getByRole("link").first().click();
    const back = page.locator("section", { has: page.getByRole("heading", { name: "Correlated by" }) });
    await expect.poll(() => back.getByRole("listitem").count()).toBe(1);
    await back.getByRole("link").click();
    await expect.poll(() => page.url()).toMatch(/#\/incident\/[0-9a-f]{32}$/);
    const id = page.url().split("/").at(-1)!;
    const detail = (await (await fetch(`${host.url}/api/incidents/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
    expect(detail.ruleId).toBe(CORRELATION_RULE_ID);
    await page.close();
  });
});
