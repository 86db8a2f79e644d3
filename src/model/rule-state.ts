// A rule's run state as the engine, the stores and the API share it: the checkpoint and its
// lease, the admin's on/off setting, the health after the last run, and the two errors a
// state store raises when another run holds or has moved the rule.
import type { Actor } from "./actor.js";
import type { DateTime } from "./time.js";

/** Who processes the rule's windows now, and until when the claim holds without renewal. */
export interface Lease {
  owner: string;
  until: number;
}

export interface RuleState {
  /** End of the last window whose alerts, incidents and baseline updates are all stored. */
  windowEnd: number;
  /** Start of the rule's first window: data that arrived before it is the bootstrap history. */
  firstWindowStart: number;
  /** Earliest TimeGenerated the rule's baseline table has shown (null: none yet), exact. */
  dataSince: DateTime | null;
  /** Absent when no run holds the rule (released, or never taken). */
  lease?: Lease;
  etag?: string;
}

/** Whether a rule runs, as an admin last set it over the API (absent: enabled). */
export interface RuleSetting {
  enabled: boolean;
  changedBy: Actor;
  changedAt: number;
  reason: string;
}

export interface RuleAuditRecord extends RuleSetting {
  /** The setting before this change (null: never set, so enabled). */
  before: boolean | null;
}

/** A rule's health after its last scheduled run. */
export interface RuleHealth {
  ruleId: string;
  /** End of the last window processed completely (the checkpoint), null before the first. */
  lastSuccessfulWindowEnd: number | null;
  /** Whole windows due but not yet processed after the last run (catch-up still to do). */
  windowsBehind: number;
  /** Rows read from the logs by the last run, and rows of it rejected by validation. */
  rowsRead: number;
  rowsRejected: number;
  /** Events the last run's rule could not judge yet (users without a baseline while learning). */
  eventsHeldBack: number;
  /** Windows the last run completed. */
  windowsProcessed: number;
  durationMs: number;
  lastRunAt: number;
  /** Whether the last run ended in an error (its window stays un-checkpointed). */
  failing: boolean;
  /** The most recent error and when it happened; kept after later successes. */
  lastError: string | null;
  lastErrorAt: number | null;
  /** The table the last run found missing from the workspace (its connector is not connected), else null. */
  tableMissing: string | null;
}

/** Another invocation holds the rule: this one has nothing to do. */
export class LeaseHeld extends Error {
  constructor(
    ruleId: string,
    readonly lease?: Lease,
  ) {
    super(`rule ${ruleId}: being processed by another run${lease ? ` (lease held until ${new Date(lease.until).toISOString()})` : ""}`);
    this.name = "LeaseHeld";
  }
}

export class StateConflict extends Error {
  constructor(ruleId: string) {
    super(`rule ${ruleId}: checkpoint changed by another run`);
  }
}
