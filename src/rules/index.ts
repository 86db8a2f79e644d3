// Every rule tokenwatch runs. Adding a rule = one file in this folder plus a line here.
import { intuneTokenReuse } from "./intune-token-reuse.js";
import { interactiveToNonInteractivePivot } from "./interactive-to-noninteractive-pivot.js";
import type { Rule } from "./rule.js";
import { solorigateStsRefreshToken } from "./solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "./sts-refresh-token-modification.js";

export const rules: readonly Rule[] = [stsRefreshTokenModification, solorigateStsRefreshToken, intuneTokenReuse, interactiveToNonInteractivePivot];

export function ruleById(id: string): Rule | undefined {
  return rules.find((rule) => rule.meta.id === id);
}
