// The Table Storage repositories one storage account holds, as the composition root hands
// them out: the engine takes them as its ports (src/engine/ports.ts), the API as they are.
import type { AllowlistRepository } from "./allowlists.js";
import type { BaselineRepository } from "./baselines.js";
import type { IncidentRepository } from "./incidents.js";
import type { RuleStateRepository } from "./rule-state.js";

export interface Repositories {
  ruleState: RuleStateRepository;
  allowlists: AllowlistRepository;
  baselines: BaselineRepository;
  incidents: IncidentRepository;
}
