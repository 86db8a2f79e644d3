// `tokenwatch rules`: the rule registry as a person reads it, never a copy of it.
import { dataSources, rules } from "../rules/index.js";

export function ruleList() {
  return rules.map((rule) => ({
    id: rule.meta.id,
    name: rule.meta.name,
    severity: rule.meta.severity,
    ...dataSources(rule),
    queryFrequency: rule.meta.queryFrequency,
    queryPeriod: rule.meta.queryPeriod,
  }));
}

export function rulesTable(): string {
  const lines = ruleList().flatMap((r) => [
    `${r.severity.padEnd(7)} ${r.id}  ${r.name}`,
    `        tables: ${r.tables.join(", ")} (connector: ${r.connectors.join(", ")}); every ${r.queryFrequency}, looking back ${r.queryPeriod}`,
  ]);
  return `${lines.join("\n")}\n`;
}
