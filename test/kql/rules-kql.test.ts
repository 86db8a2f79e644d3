// Every KQL text tokenwatch can send analyses cleanly against the Log Analytics schemas:
// each rule's first-stage queries, its follow-up queries built from sample rows (account
// lists with awkward UPNs), its baseline summaries, and the texts the Log Analytics source
// actually sent after splitting a window (time slices and user-hash partitions).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rules } from "../../src/rules/index.js";
import { arrivedIn, type QuerySpec } from "../../src/model/query.js";
import { type Results, type Rule, type Specs } from "../../src/rules/rule.js";
import { type Window } from "../../src/model/time.js";
import { parseRow, rowSchemas, type TableName } from "../../src/model/rows.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { fakeSource } from "../support/detection-harness.js";
import { loadKusto, validateKql } from "../support/kusto.js";
import { HOUR, at, interactiveSignIn, nonInteractiveSignIn, stsAudit, type Row } from "../support/replay-fixtures.js";

const W: Window = { start: at("2026-11-18T10:00:00Z"), end: at("2026-11-18T11:00:00Z") };
const UPNS = ['o"brien@contoso.com', "guest_x#EXT#@contoso.onmicrosoft.com", "back\\slash@contoso.com", "tab\tuser@contoso.com", "Plain@Contoso.com"];

/** Sample rows of a table, as the first stage would have returned them. */
function sampleRows(table: TableName): unknown[] {
  let raw: Row[];
  if (table === "SigninLogs") raw = UPNS.map((upn, i) => interactiveSignIn({ time: W.start + (i + 1) * 60_000, upn, ip: `192.0.2.${i + 1}` }));
  else if (table === "AADNonInteractiveUserSignInLogs") raw = UPNS.map((upn, i) => nonInteractiveSignIn({ time: W.start + (i + 1) * 60_000, upn, ip: `198.51.100.${i + 1}` }));
  else if (table === "AuditLogs") raw = [stsAudit({ time: W.start + 60_000, user: UPNS[0]! })];
  else raw = [{ TimeGenerated: new Date(W.start + 60_000).toISOString(), ActionType: "Update StsRefreshTokenValidFrom Timestamp.", RawEventData: {} }];
  return raw.map((r) => {
    const parsed = parseRow(rowSchemas[table], r);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.row;
  });
}

/** Every (name, spec, KQL) a rule renders for the sample window. */
function renderAll(rule: Rule): [string, QuerySpec, string][] {
  const out: [string, QuerySpec, string][] = [];
  const first = rule.queries(W);
  for (const [name, spec] of Object.entries(first)) out.push([name, spec, rule.kql(name, spec)]);
  if (rule.followUp) {
    const results = Object.fromEntries(Object.entries(first).map(([name, spec]) => [name, sampleRows(spec.table)])) as Results<Specs>;
    const second = rule.followUp(W, results);
    for (const [name, spec] of Object.entries(second)) {
      expect(spec.accounts?.length, `${name} has the sample accounts`).toBe(UPNS.length);
      out.push([name, spec, rule.kql(name, spec)]);
    }
  }
  if (rule.baseline) {
    const spec = arrivedIn(rule.baseline.table, W);
    const history: QuerySpec = { table: rule.baseline.table, arrived: { to: W.start }, time: { from: W.start - 14 * 24 * HOUR, to: W.start } };
    out.push(["sightings", spec, rule.baseline.sightingsKql(spec)], ["earliest", history, rule.baseline.earliestKql(history)]);
  }
  return out;
}

beforeAll(() => loadKusto());

describe("rule KQL analyses cleanly against the Log Analytics schemas", () => {
  for (const rule of rules) {
    it(rule.meta.name, () => {
      const rendered = renderAll(rule);
      expect(rendered.length).toBeGreaterThan(0);
      for (const [name, , text] of rendered) expect(validateKql(text), `${rule.meta.name} / ${name}:\n${text}`).toEqual([]);
    });
  }

  it("fails a rule's KQL with a column renamed (the check has teeth)", () => {
    for (const rule of rules) {
      const [[name, , text]] = renderAll(rule) as [[string, QuerySpec, string]];
      const broken = text.replace("| project TimeGenerated,", "| project TimeGenerate,").replace("| where TimeGenerated >=", "| where TimeGenerate >=");
      expect(broken).not.toBe(text);
      expect(validateKql(broken).join("\n"), `${rule.meta.name} / ${name}`).toMatch(/TimeGenerate/);
    }
  });
});

describe("the texts the Log Analytics source sends after splitting", () => {
  let fake: FakeLogAnalytics;
  beforeAll(async () => {
    fake = await FakeLogAnalytics.start();
  });
  afterAll(async () => fake.close());

  it("time slices and user-hash partitions of every rule's queries analyse cleanly", async () => {
    const burst = (table: "SigninLogs" | "AADNonInteractiveUserSignInLogs") =>
      Array.from({ length: 12 }, (_, i) => (table === "SigninLogs" ? interactiveSignIn : nonInteractiveSignIn)({ time: W.start + 60_000, upn: `${UPNS[i % UPNS.length]}${i}`, ip: "203.0.113.1" }));
    fake.add("SigninLogs", burst("SigninLogs"));
    fake.add("AADNonInteractiveUserSignInLogs", burst("AADNonInteractiveUserSignInLogs"));
    fake.rowLimit = 4;
    const source = fakeSource(fake, { rowLimit: 4, minSliceMs: 15 * 60_000 });
    for (const rule of rules) {
      for (const [name, spec, text] of renderAll(rule)) {
        if (spec.table !== "SigninLogs" && spec.table !== "AADNonInteractiveUserSignInLogs") continue;
        if (name === "sightings") await source.sightings(spec, text);
        else if (name === "earliest") await source.earliest(spec, text);
        else await source.rows(spec, text);
      }
    }
    const sent = fake.requests.map((r) => r.text!);
    expect(fake.requests.some((r) => r.query?.partition)).toBe(true);
    expect(fake.requests.some((r) => r.query && r.query.arrived.from !== undefined && r.query.arrived.to - r.query.arrived.from < HOUR)).toBe(true);
    for (const text of new Set(sent)) expect(validateKql(text), text).toEqual([]);
  });
});
