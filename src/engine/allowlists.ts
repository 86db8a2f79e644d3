// The allowlists as a rule reads them at a moment, from the stored entries.
import type { AllowlistEntry } from "../model/allowlists.js";
import { IpMatcher } from "../net/ip.js";
import type { Allowlists } from "../rules/rule.js";

/** The lists as the rules see them at a moment: expired entries left out. */
export function allowlistsAt(entries: readonly AllowlistEntry[], at: number): Allowlists {
  const live = entries.filter((e) => e.expiresAt === null || e.expiresAt > at);
  return {
    network: new IpMatcher(live.filter((e) => e.list === "network").map((e) => e.value)),
    principals: live.filter((e) => e.list === "principals").map((e) => e.value),
  };
}
