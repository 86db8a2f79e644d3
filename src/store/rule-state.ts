// Per-rule state in the Checkpoints table: the last fully processed window and what the
// baseline needs to know about the data's history. One entity per rule, ETag-guarded.
import { odata, statusOf, type TableStore } from "./tables.js";

export interface RuleState {
  /** End of the last window whose alerts, incidents and baseline updates are all stored. */
  windowEnd: number;
  /** Start of the rule's first window: data that arrived before it is the bootstrap history. */
  firstWindowStart: number;
  /** Earliest TimeGenerated the rule's baseline table has shown (null: none yet). */
  dataSince: number | null;
  etag?: string;
}

interface StateEntity {
  windowEnd: string;
  firstWindowStart: string;
  dataSince?: string;
}

const ROW = "window";

function fromEntity(entity: StateEntity & { etag: string }): RuleState {
  return {
    windowEnd: Date.parse(entity.windowEnd),
    firstWindowStart: Date.parse(entity.firstWindowStart),
    dataSince: entity.dataSince ? Date.parse(entity.dataSince) : null,
    etag: entity.etag,
  };
}

export class RuleStateRepository {
  constructor(private readonly store: TableStore) {}

  async get(ruleId: string): Promise<RuleState | undefined> {
    const entity = await this.store.get<StateEntity>("Checkpoints", ruleId, ROW);
    return entity && fromEntity(entity);
  }

  /**
   * Writes the state if nobody else moved it since it was read (ETag), so two runs of
   * one rule can never both advance it; returns the new state with its ETag.
   * Throws StateConflict when it changed underneath.
   */
  async put(ruleId: string, state: RuleState): Promise<RuleState> {
    const client = await this.store.table("Checkpoints");
    const entity = {
      partitionKey: ruleId,
      rowKey: ROW,
      windowEnd: new Date(state.windowEnd).toISOString(),
      firstWindowStart: new Date(state.firstWindowStart).toISOString(),
      dataSince: state.dataSince === null ? "" : new Date(state.dataSince).toISOString(),
    };
    try {
      const response = state.etag
        ? await client.updateEntity(entity, "Replace", { etag: state.etag })
        : await client.createEntity(entity);
      return { ...state, etag: response.etag };
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409) throw new StateConflict(ruleId);
      throw error;
    }
  }

  async all(): Promise<Map<string, RuleState>> {
    const out = new Map<string, RuleState>();
    for (const entity of await this.store.list<StateEntity>("Checkpoints", `RowKey eq ${odata(ROW)}`)) out.set(entity.partitionKey, fromEntity(entity));
    return out;
  }
}

export class StateConflict extends Error {
  constructor(ruleId: string) {
    super(`rule ${ruleId}: checkpoint changed by another run`);
  }
}
