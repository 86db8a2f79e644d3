// Every rule tokenwatch runs. Adding a rule = one file in this folder plus a line here.
import { forkedSession } from "./forked-session.js";
import { intuneTokenReuse } from "./intune-token-reuse.js";
import { interactiveToNonInteractivePivot } from "./interactive-to-noninteractive-pivot.js";
import type { Rule } from "./rule.js";
import { solorigateStsRefreshToken } from "./solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "./sts-refresh-token-modification.js";

export const rules: readonly Rule[] = [stsRefreshTokenModification, solorigateStsRefreshToken, intuneTokenReuse, interactiveToNonInteractivePivot, forkedSession];

export function ruleById(id: string): Rule | undefined {
  return rules.find((rule) => rule.meta.id === id);
}

/** The Log Analytics tables a rule reads and the data connectors that send them, from its metadata. */
export function dataSources(rule: Rule): { tables: string[]; connectors: string[] } {
  const connectors = rule.meta.requiredDataConnectors;
  return { tables: connectors.flatMap((c) => c.dataTypes), connectors: connectors.map((c) => c.connectorId) };
}
