// VPN reconnects: some users work from home through the company's cloud VPN. Each reconnect
// gets a new egress IP in the VPN provider's ASN (in their own city), and the laptop's apps
// refresh their tokens through it in the laptop's ongoing session: the same session, device
// and clients from a new network, which the forked-session rule must not take for a fork.
// The refreshes carry MFA claims and reach no resource the Intune rule watches, and the VPN
// egress is in the user's own country, so neither the Intune nor the pivot rule sees them.

import { sessionIds } from "./activity.js";
import type { Buckets } from "./activity.js";
import { APPS, CORPORATE_VPN, RESOURCES } from "./catalog.js";
import { Rand, hash32 } from "./prng.js";
import { Auth } from "./rows.js";
import { DayKind, MS_DAY, MS_HOUR, dayState, networkSite, type User } from "./tenant.js";

const S_VPN = 0x5650;
/** Share of members who work from home through the VPN. */
const VPN_USERS = 0.15;
const ACCESS = [
  { app: APPS.office, resource: RESOURCES.exchange },
  { app: APPS.teams, resource: RESOURCES.teams },
  { app: APPS.oneDrive, resource: RESOURCES.sharePoint },
] as const;

export class VpnReconnects {
  private readonly users: readonly User[];
  private readonly rng = new Rand(0);
  private readonly aux = new Rand(0);

  constructor(
    private readonly seed: number,
    users: readonly User[],
    private readonly startMs: number,
    private readonly endMs: number,
  ) {
    this.users = users.filter((u) => !u.guest && u.laptop.id && new Rand(hash32(seed, S_VPN, u.index)).chance(VPN_USERS));
  }

  /** Adds the VPN users' refreshes of UTC hour `hour` to `out`: at home on a workday, in working hours, a reconnect now and then. */
  hour(hour: number, out: Buckets): void {
    const hourStart = hour * MS_HOUR;
    for (const user of this.users) {
      const localMs = hourStart + user.city.tz * 60_000;
      const day = Math.floor(localMs / MS_DAY);
      const localHour = Math.floor((localMs - day * MS_DAY) / MS_HOUR);
      if (localHour < user.workStart || localHour >= user.workStart + user.workHours) continue;
      const rng = this.rng.reseed(hash32(this.seed, S_VPN, user.index, hour));
      if (!rng.chance(0.5)) continue;
      const state = dayState(this.seed, user, day, this.aux);
      if (state.kind !== DayKind.Work || state.office) continue;
      const session = sessionIds(this.seed, user.index, day, this.aux).laptop;
      const site = networkSite(rng, CORPORATE_VPN, user.city);
      for (let k = rng.range(1, 3); k > 0; k--) {
        const t = hourStart + rng.int(MS_HOUR);
        const access = rng.pick(ACCESS);
        const seed = rng.u32();
        if (t < this.startMs || t >= this.endMs) continue;
        out.AADNonInteractiveUserSignInLogs.push({ t, seed, signIn: {
          interactive: false, t, user, site, device: user.laptop, app: access.app, resource: access.resource,
          result: "0", auth: Auth.MfaClaim, mfaMethod: "", conditionalAccess: "success", sessionId: session,
        } });
      }
    }
  }
}
