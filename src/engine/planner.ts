// The engine's incident planning as one object, for the composition root to hand to the
// incident store (IncidentPlanner in src/model/incident.ts).
import type { IncidentPlanner } from "../model/incident.js";
import { correlate } from "./correlation.js";
import { groupAlerts, groupingHorizon, isTriaged } from "./incidents.js";

export const incidentPlanner: IncidentPlanner = { groupAlerts, groupingHorizon, isTriaged, correlate };
