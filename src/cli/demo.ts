// `tokenwatch demo`: the Quick start. Simulates a small tenant with planted attacks,
// replays it through every rule on an in-memory Azurite, and prints incidents per account.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detect, type DetectOutput } from "./detect.js";
import { parseSimulateArgs, simulate } from "./simulate.js";

export async function demo(values: Record<string, string | boolean | undefined>, log: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "tokenwatch-demo-"));
  try {
    const options = parseSimulateArgs({ users: "300", days: "1", ...values, out: dir });
    const tenant = await simulate(options, log);
    const output = await detect({ logs: dir, from: Date.parse(tenant.from), to: Date.parse(tenant.to), log });
    process.stdout.write(summary(output));
    const found = tenant.planted.filter((p) => output.alerts.some((a) => a.ruleId === p.ruleId && a.account === p.account));
    process.stdout.write(`\nPlanted attacks found: ${found.length} of ${tenant.planted.length}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const SEVERITY_ORDER = ["High", "Medium", "Low", "Informational"];

/** Incidents grouped by account, the accounts hit by most rules first. */
export function summary(output: DetectOutput): string {
  const byAccount = new Map<string, DetectOutput["incidents"]>();
  for (const incident of output.incidents) byAccount.set(incident.account, [...(byAccount.get(incident.account) ?? []), incident]);
  const rows = [...byAccount].map(([account, incidents]) => {
    const rules = new Set(incidents.map((i) => i.ruleName));
    const severity = SEVERITY_ORDER.find((s) => incidents.some((i) => i.severity === s)) ?? "";
    const alerts = incidents.reduce((n, i) => n + i.alertIds.length, 0);
    return { account, severity, rules: [...rules].sort(), incidents: incidents.length, alerts, first: incidents.map((i) => i.firstAlertTime).sort()[0] ?? "" };
  });
  rows.sort((a, b) => b.rules.length - a.rules.length || SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) || a.account.localeCompare(b.account));
  const lines = [
    `\n${output.incidents.length} incidents, ${output.alerts.length} alerts, ${byAccount.size} accounts ` +
      `(${output.stats.rowsRead} rows read, ${output.stats.rowsRejected} rejected, ${output.stats.windows} rule windows)\n`,
  ];
  for (const r of rows) {
    const flag = r.rules.length > 1 ? "  << hit by several rules" : "";
    lines.push(`${r.severity.padEnd(7)} ${r.account}${flag}`);
    lines.push(`        ${r.incidents} incident(s), ${r.alerts} alert(s), first ${r.first}`);
    for (const rule of r.rules) lines.push(`        - ${rule}`);
  }
  return `${lines.join("\n")}\n`;
}
