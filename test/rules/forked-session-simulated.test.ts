// The forked-session rule through `tokenwatch detect` over a simulated tenant, as `npm run
// demo` runs it: it finds the planted forked session (and the pivot's replay, which is one
// too), and nothing else among the week-long sessions that roam between home, office,
// carrier, hotel and VPN networks and are shared by each device's apps.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { detect, type DetectOutput } from "../../src/cli/detect.js";
import { RULE_IDS, simulateTenant, type SimulationResult } from "../../src/sim/simulate.js";

let dir: string;
let tenant: SimulationResult;
let output: DetectOutput;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokenwatch-forked-"));
  tenant = await simulateTenant(dir, { users: 60, days: 1, historyDays: 7 });
  output = await detect({ logs: dir, from: Date.parse(tenant.from), to: Date.parse(tenant.to), log: () => {} });
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("finds exactly the planted forked sessions, and the other rules' planted attacks as before", () => {
  const key = (a: { ruleId: string; account: string; ip: string | null; time: string }) => `${a.ruleId}|${a.account}|${a.ip}|${a.time}`;
  const forked = output.alerts.filter((a) => a.ruleId === RULE_IDS.forked);
  expect(forked.map(key).sort()).toEqual(tenant.planted.filter((p) => p.ruleId === RULE_IDS.forked).map(key).sort());
  expect(forked.length).toBe(2);
  for (const p of tenant.planted) expect(output.alerts.some((a) => a.ruleId === p.ruleId && a.account === p.account), p.description).toBe(true);
});
