// Switching rules off and on over the API: admin only, audited, the setting wins, and the
// rule list shows each rule's tables, connectors, whether it runs and why not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rules } from "../../src/rules/index.js";
import { ADMIN, READ, WRITE, startHost, stopAzurite, type Host } from "./harness.js";
import { solorigateStsRefreshToken } from "../../src/rules/solorigate-sts-refresh-token.js";
import { stsRefreshTokenModification } from "../../src/rules/sts-refresh-token-modification.js";

const STS = stsRefreshTokenModification.meta.id;
const SOLORIGATE = solorigateStsRefreshToken.meta.id;

let host: Host;
beforeAll(async () => {
  host = await startHost({ disabledRules: new Set([SOLORIGATE]) });
});
afterAll(async () => {
  await host?.close();
  await stopAzurite();
});

type RuleItem = { id: string; enabled: boolean; tables: string[]; connectors: string[]; disabled: { by: string; at: string | null; reason: string } | null; health: { status: string } };
const listed = async (): Promise<RuleItem[]> => (await host.call("GET", "/api/rules", { token: await host.token({ roles: [ADMIN] }) })).body.items;

describe("PUT /api/rules/{id}/enabled", () => {
  it("lists tables and connectors per rule, and a rule switched off by setting as disabled", async () => {
    const items = await listed();
    expect(items.map((r) => r.id)).toEqual(rules.map((r) => r.meta.id));
    const solorigate = items.find((r) => r.id === SOLORIGATE)!;
    expect(solorigate).toMatchObject({ enabled: false, tables: ["CloudAppEvents"], connectors: ["MicrosoftThreatProtection"], disabled: { by: "setting" }, health: { status: "disabled" } });
    expect(items.find((r) => r.id === STS)).toMatchObject({ enabled: true, disabled: null, health: { status: "never-run" } });
  });

  it("an admin switches a rule off and on; each change names who, when and why, and is audited", async () => {
    const admin = await host.token({ roles: [ADMIN], user: "secops-admin@contoso.com" });
    const off = await host.call("PUT", `/api/rules/${STS.toUpperCase()}/enabled`, { token: admin, body: { enabled: false, reason: "noisy during migration" } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ id: STS, enabled: false, disabled: { by: "secops-admin@contoso.com", reason: "noisy during migration" }, health: { status: "disabled" } });
    expect((await listed()).find((r) => r.id === STS)!.enabled).toBe(false);
    const on = await host.call("PUT", `/api/rules/${STS}/enabled`, { token: admin, body: { enabled: true, reason: "migration done" } });
    expect(on.body).toMatchObject({ enabled: true, disabled: null });
    const audit = await host.stores.ruleState.settingAudit(STS);
    expect(audit.map((a) => [a.changedBy.name, a.before, a.enabled, a.reason])).toEqual([
      ["secops-admin@contoso.com", false, true, "migration done"],
      ["secops-admin@contoso.com", null, false, "noisy during migration"],
    ]);
    // Audited by the caller's immutable object id and tenant, not only the name the token shows.
    expect(audit.every((a) => a.changedBy.id === "00000000-0000-0000-0000-00000000000a" && a.changedBy.tenantId !== null)).toBe(true);
  });

  it("refuses to switch on a rule the setting switched off (409), an unknown rule (404), a missing reason (400), and non-admins (403)", async () => {
    const admin = await host.token({ roles: [ADMIN] });
    expect((await host.call("PUT", `/api/rules/${SOLORIGATE}/enabled`, { token: admin, body: { enabled: true, reason: "try" } })).status).toBe(409);
    expect((await host.call("PUT", "/api/rules/00000000-0000-0000-0000-000000000000/enabled", { token: admin, body: { enabled: false, reason: "x" } })).status).toBe(404);
    const noReason = await host.call("PUT", `/api/rules/${STS}/enabled`, { token: admin, body: { enabled: false } });
    expect(noReason.status).toBe(400);
    expect(noReason.body.errors.map((e: { field: string }) => e.field)).toContain("body.reason");
    for (const role of [READ, WRITE])
      expect((await host.call("PUT", `/api/rules/${STS}/enabled`, { token: await host.token({ roles: [role] }), body: { enabled: false, reason: "x" } })).status).toBe(403);
    expect(await host.stores.ruleState.setting(SOLORIGATE)).toBeUndefined();
  });
});
