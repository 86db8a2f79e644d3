// The readable form of a detect run: incidents grouped per account (demo, detect --format table).
import type { DetectOutput } from "./detect.js";

const SEVERITY_ORDER = ["High", "Medium", "Low", "Informational"];

/** Incidents grouped by account: correlated accounts first (with --correlations), then those hit by most rules. */
export function summary(output: DetectOutput): string {
  const byAccount = new Map<string, DetectOutput["incidents"]>();
  for (const incident of output.incidents) byAccount.set(incident.account, [...(byAccount.get(incident.account) ?? []), incident]);
  const rows = [...byAccount].map(([account, incidents]) => {
    const rules = new Set(incidents.map((i) => i.ruleName));
    const severity = SEVERITY_ORDER.find((s) => incidents.some((i) => i.severity === s)) ?? "";
    const alerts = incidents.reduce((n, i) => n + i.alertIds.length, 0);
    const correlated = (output.correlations ?? []).filter((c) => c.account === account);
    return { account, correlated, severity, rules: [...rules].sort(), incidents: incidents.length, alerts, first: incidents.map((i) => i.firstAlertTime).sort()[0] ?? "" };
  });
  rows.sort((a, b) => b.correlated.length - a.correlated.length || b.rules.length - a.rules.length || SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) || a.account.localeCompare(b.account));
  const lines = [
    `\n${output.incidents.length} incidents, ${output.alerts.length} alerts, ${byAccount.size} accounts ` +
      `(${output.stats.rowsRead} rows read, ${output.stats.rowsRejected} rejected, ${output.stats.windows} rule windows)\n`,
  ];
  for (const r of rows) {
    const flag = r.correlated.length ? `  << correlated: ${r.correlated.map((c) => `${c.severity} incident ${c.id}`).join(", ")}` : r.rules.length > 1 ? "  << hit by several rules" : "";
    lines.push(`${r.severity.padEnd(7)} ${r.account}${flag}`);
    lines.push(`        ${r.incidents} incident(s), ${r.alerts} alert(s), first ${r.first}`);
    for (const rule of r.rules) lines.push(`        - ${rule}`);
  }
  return `${lines.join("\n")}\n`;
}
