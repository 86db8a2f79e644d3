// The Table Storage repositories one storage account holds, as the composition root hands
// them out: the engine and the API take them as their ports (src/engine/ports.ts, src/api/ports.ts).
import type { AllowlistRepository } from "./allowlists.js";
import type { BaselineRepository } from "./baselines.js";
import type { IncidentRepository } from "./incidents.js";
import type { RuleStateRepository } from "./rule-state.js";
import type { SessionRepository } from "./sessions.js";

export interface Repositories {
  ruleState: RuleStateRepository;
  allowlists: AllowlistRepository;
  baselines: BaselineRepository;
  incidents: IncidentRepository;
  sessions: SessionRepository;
}
