// Tenant-wide background, one hour at a time, scaled with the tenant size: directory changes in
// AuditLogs (including the legitimate STS refresh-token updates the rules exclude), their
// Directorysync mirror in CloudAppEvents, and failed password-spray sign-ins.

import { APPS, CITIES, CORP_EGRESS, HOSTING, ONMICROSOFT, RESOURCES } from "./catalog.js";
import { Rand, cumulative, hash32 } from "./prng.js";
import type { Buckets } from "./activity.js";
import { Auth, rawEvent, stsProperties, type AuditEvent, type Initiator, type ModifiedProperty, type Target } from "./rows.js";
import { MS_DAY, MS_HOUR, networkSite, type Site, type User } from "./tenant.js";

const S_NOISE = 0x4e4f;
const S_TENANT = 0x544e;

/** Share of a day's tenant-wide events that falls in UTC hour h (busy 06-22 UTC); sums to 1. */
const hourShare = (h: number): number => (h >= 6 && h < 22 ? 1.5 : 0.25) / 26;

export const STS_OPERATION = "Update StsRefreshTokenValidFrom Timestamp";

export interface AppIdentity {
  appId: string;
  displayName: string;
  servicePrincipalId: string;
}

export const appInitiator = (a: AppIdentity): Initiator => ({
  app: { appId: a.appId, displayName: a.displayName, servicePrincipalId: a.servicePrincipalId, servicePrincipalName: a.displayName },
});

export const userTarget = (u: User, modifiedProperties: ModifiedProperty[] = []): Target => ({
  id: u.id, displayName: u.displayName, type: "User", userPrincipalName: u.upn, modifiedProperties,
});

/** The audit rows one STS refresh-token update produces: the "Update user" companion and the STS row. */
export function stsAuditEvents(
  rng: Rand, t: number, initiatedBy: Initiator, target: User, oldMs: number, newMs: number, extra: ModifiedProperty[] = [],
): AuditEvent[] {
  const correlationId = rng.uuid();
  const properties = stsProperties(oldMs, newMs, extra);
  const base = { category: "UserManagement", service: "Core Directory", aadOperationType: "Update" as const, initiatedBy, correlationId };
  return [
    { ...base, t: t - 1000, operation: "Update user", targets: [userTarget(target, properties)] },
    { ...base, t, operation: STS_OPERATION, targets: [userTarget(target, properties)] },
  ];
}

interface Ctx {
  rng: Rand;
  t: number;
  member: () => User;
  admin: () => Initiator;
  self: (u: User) => Initiator;
}

const change = (displayName: string, oldValue: string, newValue: string): ModifiedProperty[] => [
  { displayName, oldValue: JSON.stringify([oldValue]), newValue: JSON.stringify([newValue]) },
  { displayName: "Included Updated Properties", oldValue: null, newValue: JSON.stringify(displayName) },
];

export class TenantNoise {
  private readonly rng = new Rand(0);
  private readonly members: readonly User[];
  private readonly admins: readonly User[];
  private readonly groups: readonly { id: string; name: string }[];
  private readonly apps: Record<"mcas" | "adConnect" | "deviceRegistration" | "licensing" | "substrate", AppIdentity>;
  private readonly sync: { id: string; upn: string; site: Site };
  private readonly ops: readonly ((c: Ctx) => AuditEvent[])[];
  private readonly opsCum: number[];

  constructor(
    private readonly seed: number,
    private readonly users: readonly User[],
    private readonly startMs: number,
    private readonly endMs: number,
  ) {
    const members = users.filter((u) => !u.guest);
    this.members = members.length ? members : users;
    const admins = this.members.filter((u) => u.admin);
    this.admins = admins.length ? admins : this.members.slice(0, 1);
    const rng = new Rand(hash32(seed, S_TENANT));
    const app = (displayName: string, appId = rng.uuid()): AppIdentity => ({ appId, displayName, servicePrincipalId: rng.uuid() });
    this.apps = {
      mcas: app("Microsoft Cloud App Security", "05a65629-4c1b-48c1-a78b-804c4abdd4af"),
      adConnect: app("ADConnectSyncAccount1"),
      deviceRegistration: app("Device Registration Service", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"),
      licensing: app("Microsoft Azure AD Group-Based Licensing"),
      substrate: app("Microsoft Substrate Management", "98db8bd6-0cc0-4e67-9de5-f187f1cd1b41"),
    };
    this.groups = ["All Staff", "Sales Team", "Engineering", "VPN Users", "Intune Pilot", "Finance Approvers", "M365 E5 Licensed", "Travel Policy Exempt"]
      .map((name) => ({ id: rng.uuid(), name }));
    const hq = CITIES.find((c) => c.city === "Seattle")!;
    const egress = CORP_EGRESS.US!;
    this.sync = {
      id: rng.uuid(),
      upn: `Sync_CONTOSO-DC01_${rng.uuid().slice(0, 12)}@${ONMICROSOFT}`,
      site: { ip: egress.ips[0]!, asn: egress.asn, isp: egress.isp, city: hq },
    };
    const ops: [number, (c: Ctx) => AuditEvent[]][] = [
      [20, (c) => {
        const u = c.member();
        const [field, from, to] = c.rng.pick([
          ["JobTitle", "Analyst", "Senior Analyst"], ["Department", "Sales", "Marketing"],
          ["TelephoneNumber", "+1 425 555 0100", "+1 425 555 0199"], ["OfficeLocation", "Building 4", "Building 9"],
        ] as const);
        return [this.audit(c, "Update user", "UserManagement", "Update", c.admin(), [userTarget(u, change(field, from, to))])];
      }],
      [15, (c) => this.groupChange(c, "Add member to group", "Add")],
      [5, (c) => this.groupChange(c, "Remove member from group", "Delete")],
      [6, (c) => {
        const u = c.member();
        return [this.audit(c, "Change user license", "UserManagement", "Update", appInitiator(this.apps.licensing),
          [userTarget(u, [{ displayName: "AssignedLicense", oldValue: "[]", newValue: '["[SkuName=SPE_E5, AccountId=contoso, SkuId=06ebc4ee-1bb5-47dd-8120-11324bc54e06, DisabledPlans=[]]"]' }])])];
      }],
      [3, (c) => [this.audit(c, "Reset user password", "UserManagement", "Update", c.admin(), [userTarget(c.member())])]],
      [4, (c) => {
        const u = c.member();
        return [this.audit(c, "Change user password", "UserManagement", "Update", c.self(u), [userTarget(u)])];
      }],
      [5, (c) => {
        const u = c.member();
        return [{
          ...this.audit(c, "User registered security info", "UserManagement", "Add", c.self(u), [userTarget(u)]),
          service: "Authentication Methods",
          additionalDetails: [{ key: "Method", value: c.rng.pick(["Microsoft Authenticator", "Phone", "FIDO2 security key"]) }],
        }];
      }],
      [15, (c) => this.deviceChange(c, "Update device", "Update")],
      [3, (c) => this.deviceChange(c, "Add registered owner to device", "Add")],
      [2, (c) => {
        const u = c.member();
        return [this.audit(c, "Consent to application", "ApplicationManagement", "Add", c.self(u),
          [{ id: c.rng.uuid(), displayName: c.rng.pick(["Adobe Acrobat", "Zoom", "Miro", "Calendly", "Grammarly"]), type: "ServicePrincipal", modifiedProperties: [] }])];
      }],
      [4, (c) => [this.audit(c, "Update service principal", "ApplicationManagement", "Update", appInitiator(this.apps.substrate),
        [{ id: c.rng.uuid(), displayName: c.rng.pick(["Office 365 Exchange Online", "Microsoft Teams Services", "Office 365 SharePoint Online"]), type: "ServicePrincipal", modifiedProperties: [] }])]],
      [4, (c) => [this.audit(c, "Add app role assignment grant to user", "ApplicationManagement", "Add", c.admin(),
        [{ id: c.rng.uuid(), displayName: c.rng.pick(["Salesforce", "ServiceNow", "Workday", "GitHub Enterprise"]), type: "ServicePrincipal", modifiedProperties: [] }, userTarget(c.member())])]],
    ];
    this.ops = ops.map(([, f]) => f);
    this.opsCum = cumulative(ops.map(([w]) => w));
  }

  private audit(c: Ctx, operation: string, category: string, aadOperationType: AuditEvent["aadOperationType"], initiatedBy: Initiator, targets: Target[]): AuditEvent {
    return { t: c.t, operation, category, service: "Core Directory", aadOperationType, initiatedBy, targets, correlationId: c.rng.uuid() };
  }

  private groupChange(c: Ctx, operation: string, type: "Add" | "Delete"): AuditEvent[] {
    const u = c.member();
    const g = c.rng.pick(this.groups);
    const props: ModifiedProperty[] = [
      { displayName: "Group.ObjectID", oldValue: type === "Delete" ? JSON.stringify(g.id) : null, newValue: type === "Add" ? JSON.stringify(g.id) : null },
      { displayName: "Group.DisplayName", oldValue: type === "Delete" ? JSON.stringify(g.name) : null, newValue: type === "Add" ? JSON.stringify(g.name) : null },
    ];
    return [this.audit(c, operation, "GroupManagement", type, c.admin(), [userTarget(u, props), { id: g.id, displayName: g.name, type: "Group", modifiedProperties: [] }])];
  }

  private deviceChange(c: Ctx, operation: string, type: "Add" | "Update"): AuditEvent[] {
    const u = c.member();
    const device: Target = {
      id: u.laptop.id || c.rng.uuid(), displayName: u.laptop.name || "DESKTOP-" + c.rng.range(100000, 999999), type: "Device",
      modifiedProperties: type === "Update" ? change("ApproximateLastLogonTimestamp", "2026-10-01T08:00:00Z", new Date(c.t).toISOString()) : [],
    };
    return [this.audit(c, operation, "DeviceManagement", type, appInitiator(this.apps.deviceRegistration), type === "Add" ? [device, userTarget(u)] : [device])];
  }

  /** Adds the tenant-wide events of UTC hour `hour` to `out`. */
  hour(hour: number, out: Buckets): void {
    const hourStart = hour * MS_HOUR;
    const rng = this.rng.reseed(hash32(this.seed, S_NOISE, hour));
    const weekday = (Math.floor(hourStart / MS_DAY) + 4) % 7;
    const share = hourShare(hour % 24) * (weekday === 0 || weekday === 6 ? 0.3 : 1);
    const n = this.users.length;
    const ctx: Ctx = {
      rng,
      t: 0,
      member: () => rng.pick(this.members),
      admin: () => {
        const a = rng.pick(this.admins);
        return { user: { id: a.id, displayName: null, userPrincipalName: a.upn, ipAddress: (a.corp[0] ?? a.home).ip, roles: [] } };
      },
      self: (u) => ({ user: { id: u.id, displayName: null, userPrincipalName: u.upn, ipAddress: u.home.ip, roles: [] } }),
    };
    const at = () => (ctx.t = hourStart + rng.int(MS_HOUR));
    const emit = (events: AuditEvent[]) => {
      for (const e of events) if (e.t >= this.startMs && e.t < this.endMs) out.AuditLogs.push({ t: e.t, seed: rng.u32(), audit: e });
    };

    for (let k = rng.poisson(n * 0.25 * share); k > 0; k--) {
      at();
      emit(this.ops[rng.weighted(this.opsCum)]!(ctx));
    }
    // allowlisted principals refreshing tokens (session revocation by MCAS, sync tooling)
    for (const [app, perDay] of [[this.apps.mcas, n / 2000 + 0.2], [this.apps.adConnect, n / 1500 + 0.2]] as const) {
      for (let k = rng.poisson(perDay * share); k > 0; k--) {
        const t = at();
        emit(stsAuditEvents(rng, t, appInitiator(app), ctx.member(), t - rng.range(1, 90) * MS_DAY, t - rng.range(1, 5) * 60_000));
      }
    }
    // on-premises password changes synced by Entra Connect: excluded by both rules through "DirectorySync"
    for (let k = rng.poisson(n * 0.008 * share); k > 0; k--) {
      const t = at();
      const target = ctx.member();
      const oldMs = t - rng.range(30, 120) * MS_DAY;
      const initiatedBy: Initiator = { user: { id: this.sync.id, displayName: "On-Premises Directory Synchronization Service Account", userPrincipalName: this.sync.upn, ipAddress: this.sync.site.ip, roles: [] } };
      emit(stsAuditEvents(rng, t, initiatedBy, target, oldMs, t, [{ displayName: "Action Client Name", oldValue: null, newValue: '"DirectorySync"' }]));
      const cloudT = t + rng.range(1, 30) * 1000;
      if (cloudT >= this.startMs && cloudT < this.endMs) {
        out.CloudAppEvents.push({ t: cloudT, seed: rng.u32(), cloud: {
          t: cloudT,
          actionType: `${STS_OPERATION}.`,
          application: "Microsoft 365",
          applicationId: 11161,
          accountObjectId: this.sync.id,
          accountDisplayName: "Directorysync Service",
          accountType: "Application",
          isAdminOperation: false,
          site: this.sync.site,
          userAgent: "",
          activityType: "Edit",
          raw: rawEvent(STS_OPERATION, 8, "AzureActiveDirectory", {
            UserKey: this.sync.id, UserType: 4, ObjectId: target.upn, UserId: "Directorysync@contoso.com", AzureActiveDirectoryEventType: 1,
            ModifiedProperties: [{ Name: "StsRefreshTokensValidFrom", NewValue: `["${new Date(t).toISOString().slice(0, 19)}Z"]`, OldValue: `["${new Date(oldMs).toISOString().slice(0, 19)}Z"]` }],
            Actor: [{ ID: "Directorysync Service", Type: 1 }, { ID: this.sync.id, Type: 2 }],
            Target: [{ ID: `User_${target.id}`, Type: 2 }, { ID: target.upn, Type: 5 }],
          }),
        } });
      }
    }
    // password spray from hosting networks: failures only, never a success
    for (let k = rng.poisson(n * 0.01 / 24); k > 0; k--) {
      const t = hourStart + rng.int(MS_HOUR);
      const hosting = rng.pick(HOSTING);
      const site = networkSite(rng, hosting, CITIES[hosting.city]!);
      const user = ctx.member();
      const python = rng.chance(0.4);
      const seed = rng.u32();
      const sessionId = rng.uuid();
      const result = rng.chance(0.85) ? "50126" : "50053";
      if (t < this.startMs || t >= this.endMs) continue;
      out.SigninLogs.push({ t, seed, signIn: {
        interactive: true, t, user, site, device: user.laptop,
        app: python ? APPS.aadPowerShell : APPS.office, resource: python ? RESOURCES.aad : RESOURCES.graph,
        result, auth: Auth.Password, mfaMethod: "", conditionalAccess: "notApplied", sessionId,
        userAgent: python ? "python-requests/2.31.0" : "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        deviceDetail: `{"deviceId":"","operatingSystem":"${python ? "Linux" : "Windows10"}","browser":"${python ? "Python Requests 2.31" : "Chrome 120.0.0"}"}`,
      } });
    }
  }
}
