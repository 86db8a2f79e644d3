// The port between the engine and the logs: Log Analytics in Azure, replay files here.
// A source answers a rule's QuerySpec; the Log Analytics source runs the rule's KQL for
// it, the replay source applies the spec's bounds to the rows it loaded.
import type { DateTime } from "../model/time.js";
import type { QuerySpec } from "../model/query.js";
import type { Rejection, RowOf, SignInSighting, TableName } from "../model/rows.js";

export interface Fetched<T> {
  rows: T[];
  /** Rows that failed validation: skipped, counted, reported. */
  rejected: Rejection[];
}

// `label` (`<rule id>/<query name>`) names the query in rejections and errors.
export interface LogSource {
  rows<T extends TableName>(spec: QuerySpec<T>, kql: string, label?: string): Promise<Fetched<RowOf<T>>>;
  /** (account, ip, asn, lastSeen) of the spec's rows: a summarized query. */
  sightings(spec: QuerySpec, kql: string, label?: string): Promise<Fetched<SignInSighting>>;
  /** The earliest TimeGenerated among the spec's rows, or null when there are none. */
  earliest(spec: QuerySpec, kql: string, label?: string): Promise<DateTime | null>;
}

/**
 * The workspace has no such table: no data connector sends it (CloudAppEvents without
 * Defender XDR). Not a failure to retry every hour, but a state for the rule's health.
 */
export class TableMissing extends Error {
  constructor(readonly table: TableName) {
    super(`table ${table} does not exist in the workspace (its data connector is not connected)`);
    this.name = "TableMissing";
  }
}
