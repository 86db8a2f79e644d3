// Baselines table: per account (partition), the IPs and ASNs it was seen with and when
// last. Updated from each window's summarized sightings; read only for the accounts a
// window's candidate events concern.
import type { TransactionAction } from "@azure/data-tables";
import type { KnownNetworks } from "../rules/rule.js";
import type { SignInSighting } from "../sources/rows.js";
import { decodeKey, encodeKey } from "./keys.js";
import { forEachLimit, type TableStore } from "./tables.js";

interface BaselineEntity {
  lastSeen: string;
}

const CONCURRENCY = 16;

export class BaselineRepository {
  constructor(private readonly store: TableStore) {}

  /**
   * Merges sightings into the table, one transaction per account. An entry's lastSeen is
   * the newest sighting of the window; a row arriving late with an older time can pull it
   * back by at most its own lateness, never below the window's data.
   */
  async record(sightings: readonly SignInSighting[]): Promise<void> {
    const byAccount = new Map<string, Map<string, number>>();
    for (const s of sightings) {
      if (!s.account) continue;
      let entries = byAccount.get(s.account);
      if (!entries) byAccount.set(s.account, (entries = new Map()));
      // Empty values are not a network: an unknown ASN must not make every unknown ASN "known".
      for (const rowKey of [s.ip && `ip:${encodeKey(s.ip)}`, s.asn && `asn:${encodeKey(s.asn)}`]) {
        if (rowKey) entries.set(rowKey, Math.max(entries.get(rowKey) ?? 0, s.lastSeen));
      }
    }
    await forEachLimit(byAccount, CONCURRENCY, async ([account, entries]) => {
      const partitionKey = encodeKey(account);
      const actions: TransactionAction[] = [...entries].map(([rowKey, lastSeen]) => [
        "upsert",
        { partitionKey, rowKey, lastSeen: new Date(lastSeen).toISOString() },
        "Merge",
      ]);
      await this.store.submit("Baselines", actions);
    });
  }

  /**
   * The known networks of each account, counting only entries seen after `since` (the
   * baseline period). Entries older than that are deleted on the way.
   */
  async load(accounts: Iterable<string>, since: number): Promise<Map<string, KnownNetworks>> {
    const out = new Map<string, KnownNetworks>();
    const sinceIso = new Date(since).toISOString();
    await forEachLimit(new Set(accounts), CONCURRENCY, async (account) => {
      const partitionKey = encodeKey(account);
      const entities = await this.store.list<BaselineEntity>("Baselines", `PartitionKey eq '${partitionKey.replaceAll("'", "''")}'`);
      const ips = new Set<string>();
      const asns = new Set<string>();
      const expired: TransactionAction[] = [];
      for (const e of entities) {
        if (e.lastSeen <= sinceIso) {
          expired.push(["delete", { partitionKey, rowKey: e.rowKey! }]);
          continue;
        }
        const rowKey = e.rowKey ?? "";
        if (rowKey.startsWith("ip:")) ips.add(decodeKey(rowKey.slice(3)));
        else if (rowKey.startsWith("asn:")) asns.add(decodeKey(rowKey.slice(4)));
      }
      if (ips.size || asns.size) out.set(account, { ips, asns });
      // Only this rule's run writes baselines, and runs of a rule never overlap (checkpoint
      // ETag), so an entry read as expired cannot have been refreshed meanwhile.
      await this.store.submit("Baselines", expired);
    });
    return out;
  }
}
