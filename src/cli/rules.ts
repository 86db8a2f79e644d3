// `tokenwatch rules`: the rule registry as a person reads it, never a copy of it.
import { rules } from "../rules/index.js";

export function ruleList() {
  return rules.map(({ meta }) => ({
    id: meta.id,
    name: meta.name,
    severity: meta.severity,
    tables: meta.requiredDataConnectors.flatMap((c) => c.dataTypes),
    connectors: meta.requiredDataConnectors.map((c) => c.connectorId),
    queryFrequency: meta.queryFrequency,
    queryPeriod: meta.queryPeriod,
  }));
}

export function rulesTable(): string {
  const lines = ruleList().flatMap((r) => [
    `${r.severity.padEnd(7)} ${r.id}  ${r.name}`,
    `        tables: ${r.tables.join(", ")} (connector: ${r.connectors.join(", ")}); every ${r.queryFrequency}, looking back ${r.queryPeriod}`,
  ]);
  return `${lines.join("\n")}\n`;
}
