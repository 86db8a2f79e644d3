// The deployment scripts, run for real (bash) against a stand-in Azure CLI (fake-az/az) that
// answers from a JSON world: the postprovision hook that assigns Log Analytics Reader on the
// tenant's workspace, and the app lookup of infra/register-api-app.sh.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fakeAz = fileURLToPath(new URL("./fake-az", import.meta.url));

const LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893";
const WORKSPACE = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law-sentinel";
const SECURITY_SUB = "/subscriptions/22222222-2222-2222-2222-222222222222";
const IDENTITY = "33333333-3333-3333-3333-333333333333";
const account = { id: "11111111-1111-1111-1111-111111111111", tenantId: "44444444-4444-4444-4444-444444444444", objectId: "99999999-9999-9999-9999-999999999999", user: { name: "deployer@contoso.com", type: "user" } };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Every az call's arguments. */
  calls: string[][];
  /** The world after the run (the fake keeps role assignments it creates). */
  state: Record<string, unknown>;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tw-az-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a repository script with the fake az first on PATH and the given world and env. */
function runScript(script: string, args: string[], world: object, env: Record<string, string>, workDir = dir): Promise<Run> {
  const statePath = join(workDir, "world.json");
  const logPath = join(workDir, "az.log");
  writeFileSync(statePath, JSON.stringify(world));
  writeFileSync(logPath, "");
  return new Promise((resolve) => {
    execFile(
      "bash",
      [join(root, script), ...args],
      { cwd: workDir, env: { PATH: `${fakeAz}:${process.env.PATH}`, HOME: workDir, FAKE_AZ_STATE: statePath, FAKE_AZ_LOG: logPath, ...env } },
      (error, stdout, stderr) => {
        const calls = readFileSync(logPath, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as string[]);
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, calls, state: JSON.parse(readFileSync(statePath, "utf8")) as Record<string, unknown> });
      },
    );
  });
}

const hook = (world: object, env: Record<string, string> = {}) =>
  runScript("infra/hooks/assign-workspace-reader.sh", [], world, { TOKENWATCH_WORKSPACE_RESOURCE_ID: WORKSPACE, TOKENWATCH_IDENTITY_PRINCIPAL_ID: IDENTITY, ...env });
const creates = (run: Run) => run.calls.filter((c) => c.slice(0, 3).join(" ") === "role assignment create");
const readerAt = (scope: string, principalId = IDENTITY) => ({ scope, principalId, roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${LOG_ANALYTICS_READER}` });

describe("postprovision hook: Log Analytics Reader on the tenant's workspace", () => {
  it("assigns the role to the identity at the workspace, as a service principal", async () => {
    const run = await hook({ account, canAssignAt: [WORKSPACE], assignments: [] });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(creates(run)).toHaveLength(1);
    const create = creates(run)[0]!;
    const arg = (name: string) => create[create.indexOf(name) + 1];
    expect([arg("--assignee-object-id"), arg("--assignee-principal-type"), arg("--role"), arg("--scope")]).toEqual([IDENTITY, "ServicePrincipal", LOG_ANALYTICS_READER, WORKSPACE]);
    expect(run.state.assignments).toEqual([expect.objectContaining({ scope: WORKSPACE, principalId: IDENTITY })]);
  });

  it("is idempotent: a second run, or an assignment inherited from the subscription, creates nothing", async () => {
    const first = await hook({ account, canAssignAt: [WORKSPACE], assignments: [] });
    const second = await hook(first.state);
    expect(second.code).toBe(0);
    expect(creates(second)).toEqual([]);
    expect(second.stdout).toContain("already has it");
    // The security team assigned it on their subscription; the deployer may not assign roles at all.
    const inherited = await hook({ account, canAssignAt: [], assignments: [readerAt(SECURITY_SUB)] });
    expect(inherited.code).toBe(0);
    expect(creates(inherited)).toEqual([]);
    expect(inherited.stdout).toContain(SECURITY_SUB);
  });

  it("another principal's assignment does not count", async () => {
    const run = await hook({ account, canAssignAt: [WORKSPACE], assignments: [readerAt(WORKSPACE, "55555555-5555-5555-5555-555555555555")] });
    expect(run.code).toBe(0);
    expect(creates(run)).toHaveLength(1);
  });

  it("a deployer without the right to assign roles gets the missing permission and the owner's command, and the hook fails", async () => {
    const run = await hook({ account, canAssignAt: [], assignments: [] });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("you may not assign roles on the workspace");
    expect(run.stderr).toContain("Microsoft.Authorization/roleAssignments/write");
    expect(run.stderr).toContain(`az role assignment create --assignee-object-id ${IDENTITY} --assignee-principal-type ServicePrincipal --role ${LOG_ANALYTICS_READER} --scope ${WORKSPACE}`);
  });

  it("fails, never passes, when it cannot look: no sign-in, unreadable workspace, missing settings", async () => {
    const signedOut = await hook({ assignments: [] });
    expect(signedOut.code).not.toBe(0);
    expect(signedOut.stderr).toContain("az login");
    const unreadable = await hook({ account, unreadable: [SECURITY_SUB], canAssignAt: [], assignments: [] });
    expect(unreadable.code).not.toBe(0);
    expect(unreadable.stderr).toContain("cannot read the role assignments");
    expect(creates(unreadable)).toEqual([]);
    const noIdentity = await hook({ account }, { TOKENWATCH_IDENTITY_PRINCIPAL_ID: "" });
    expect(noIdentity.code).not.toBe(0);
    expect(noIdentity.stderr).toContain("TOKENWATCH_IDENTITY_PRINCIPAL_ID");
    expect(noIdentity.calls).toEqual([]);
  });
});

describe("register-api-app.sh finds the app registration by its exact name", () => {
  const assign = (apps: object[]) => runScript("infra/register-api-app.sh", ["assign", "analyst@contoso.com", "Incidents.Read", "tokenwatch-api-prod"], { account, apps }, {});

  it("a registration whose name only starts with the name is not it", async () => {
    const run = await assign([{ displayName: "tokenwatch-api-prod-old", appId: "66666666-6666-6666-6666-666666666666", id: "x" }]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("no app registration named tokenwatch-api-prod");
    const lookup = run.calls.find((c) => c.slice(0, 3).join(" ") === "ad app list")!;
    expect(lookup[lookup.indexOf("--filter") + 1]).toBe("displayName eq 'tokenwatch-api-prod'");
  });

  it("two registrations with the same name are an error, not a guess", async () => {
    const app = { displayName: "tokenwatch-api-prod", appId: "66666666-6666-6666-6666-666666666666", id: "x" };
    const run = await assign([app, { ...app, appId: "77777777-7777-7777-7777-777777777777", id: "y" }]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("2 app registrations are named tokenwatch-api-prod");
  });

  it("quotes in a name are escaped for the OData filter", async () => {
    const run = await runScript("infra/register-api-app.sh", ["assign", "analyst@contoso.com", "Incidents.Read", "o'brien api"], { account, apps: [] }, {});
    const lookup = run.calls.find((c) => c.slice(0, 3).join(" ") === "ad app list")!;
    expect(lookup[lookup.indexOf("--filter") + 1]).toBe("displayName eq 'o''brien api'");
  });
});

describe("scripts/preflight.sh checks the permissions azd up needs, before it runs", () => {
  const SUBSCRIPTION = `/subscriptions/${account.id}`;
  const permissions = (...entries: Role[]) => ({ value: entries.map((e) => ({ notActions: [], ...e })) });
  const arm = (scope: string) => `https://management.azure.com${scope}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`;
  // Built-in role definitions, as their actions and notActions read.
  interface Role { id?: string; actions: string[]; notActions?: string[] }
  const owner: Role = { id: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", actions: ["*"] };
  const contributor: Role = { id: "b24988ac-6180-42a0-ab88-20f7382dd24c", actions: ["*"], notActions: ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"] };
  const rbacAdministrator: Role = { id: "f58310d9-a9f6-439a-9e8d-f62e7b41a168", actions: ["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete", "*/read", "Microsoft.Support/*"] };
  const logAnalyticsReader: Role = { actions: ["*/read", "Microsoft.OperationalInsights/workspaces/analytics/query/action", "Microsoft.OperationalInsights/workspaces/search/action"] };
  /** The deployer's role assignments on the app's subscription (or elsewhere), and those roles' definitions. */
  const holds = (...held: { role: Role; scope?: string; condition?: string }[]) =>
    Object.fromEntries([
      [
        `https://management.azure.com${SUBSCRIPTION}/providers/Microsoft.Authorization/roleAssignments?$filter=assignedTo('${account.objectId}')&api-version=2022-04-01`,
        { value: held.map(({ role, scope, condition }) => ({ properties: { scope: scope ?? SUBSCRIPTION, roleDefinitionId: `${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${role.id}`, condition } })) },
      ],
      ...held.map(({ role }) => [
        `https://management.azure.com${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${role.id}?api-version=2022-04-01`,
        { properties: { permissions: [{ actions: role.actions, notActions: role.notActions ?? [] }] } },
      ]),
    ]);
  const workspaceResource = { id: WORKSPACE, properties: { customerId: "88888888-8888-8888-8888-888888888888" } };
  const graph = "https://graph.microsoft.com/v1.0";
  const usersMayRegister = (allowed: boolean) => ({ [`${graph}/policies/authorizationPolicy`]: { defaultUserRolePermissions: { allowedToCreateApps: allowed } } });
  const preflight = (world: object, env: Record<string, string> = {}) => runScript("scripts/preflight.sh", [], { account, ...world }, { TOKENWATCH_WORKSPACE_RESOURCE_ID: WORKSPACE, ...env });
  const line = (run: Run, what: string) => run.stdout.split("\n").find((l) => l.includes(` ${what}`)) ?? `(no line for ${what})`;

  it("the usual split passes: Contributor + RBAC Administrator on the app's subscription, RBAC Administrator on the security team's workspace", async () => {
    const run = await preflight({
      resources: { [WORKSPACE]: workspaceResource },
      rest: { ...holds({ role: contributor }, { role: rbacAdministrator }), [arm(WORKSPACE)]: permissions(rbacAdministrator), ...usersMayRegister(true) },
    });
    expect(run.stdout).not.toMatch(/MISSING|UNKNOWN/);
    expect(line(run, "workspace read")).toContain("88888888-8888-8888-8888-888888888888");
    expect(run.code).toBe(0);
  });

  it("Contributor alone, Log Analytics Reader on the workspace, no app-registration right: each gap is named, exit 1", async () => {
    const run = await preflight({
      resources: { [WORKSPACE]: workspaceResource },
      rest: { ...holds({ role: contributor }, { role: rbacAdministrator, scope: `${SUBSCRIPTION}/resourceGroups/someone-elses` }), [arm(WORKSPACE)]: permissions(logAnalyticsReader), ...usersMayRegister(false), [`${graph}/me/transitiveMemberOf/microsoft.graph.directoryRole`]: { value: [] } },
    });
    expect(run.code).toBe(1);
    // RBAC Administrator on some other resource group does not count for the new one.
    expect(line(run, "subscription")).toMatch(/^MISSING .*lacks Microsoft\.Authorization\/roleAssignments\/write;/);
    expect(line(run, "workspace read")).toMatch(/^ok/);
    expect(line(run, "workspace role")).toMatch(/^MISSING .*cannot assign roles on the workspace/);
    expect(line(run, "Entra app registration")).toMatch(/^MISSING .*Application Developer/);
  });

  it("a delegated RBAC Administrator (an assignment with a condition) passes, with the condition pointed out", async () => {
    const run = await preflight({
      resources: { [WORKSPACE]: workspaceResource },
      rest: { ...holds({ role: contributor }, { role: rbacAdministrator, condition: "@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {...}" }), [arm(WORKSPACE)]: permissions(rbacAdministrator), ...usersMayRegister(true) },
    });
    expect(line(run, "subscription")).toMatch(/^ok .*has a condition, which is not evaluated here/);
    expect(run.code).toBe(0);
  });

  it("an app-registering directory role passes where the tenant forbids users to register apps", async () => {
    const run = await preflight({
      resources: { [WORKSPACE]: workspaceResource },
      rest: {
        ...holds({ role: owner }),
        [arm(WORKSPACE)]: permissions(owner),
        ...usersMayRegister(false),
        [`${graph}/me/transitiveMemberOf/microsoft.graph.directoryRole`]: { value: [{ displayName: "Application Developer", roleTemplateId: "cf1c38e5-3621-4004-a7cb-879624dced7c" }] },
      },
    });
    expect(line(run, "Entra app registration")).toBe("ok       Entra app registration: you hold Application Developer");
    expect(run.code).toBe(0);
  });

  it("what it cannot look at is UNKNOWN, never ok: exit 2", async () => {
    const run = await preflight({ resources: { [WORKSPACE]: workspaceResource }, rest: { ...holds({ role: owner }) } });
    expect(line(run, "workspace role")).toMatch(/^UNKNOWN .*cannot read your permissions on the workspace/);
    expect(line(run, "Entra app registration")).toMatch(/^UNKNOWN .*cannot read the tenant's authorization policy/);
    expect(run.code).toBe(2);
    const signedOut = await runScript("scripts/preflight.sh", [], {}, { TOKENWATCH_WORKSPACE_RESOURCE_ID: WORKSPACE });
    expect(signedOut.code).toBe(1);
    expect(signedOut.stdout).toMatch(/^MISSING  Azure CLI sign-in: not signed in: az login/m);
  });

  it("a redeployment needs no right on the workspace once the identity has the role, nor Entra rights once the API is registered", async () => {
    const run = await preflight(
      { resources: { [WORKSPACE]: workspaceResource }, rest: { ...holds({ role: owner }) }, assignments: [readerAt(WORKSPACE)] },
      { TOKENWATCH_IDENTITY_PRINCIPAL_ID: IDENTITY, TOKENWATCH_API_AUDIENCE: "api://x,x" },
    );
    expect(run.stdout).not.toMatch(/MISSING|UNKNOWN/);
    expect(run.code).toBe(0);
  });

  it("a workspace id that is not one, or a workspace it cannot read, is MISSING", async () => {
    const wrong = await preflight({ rest: { ...holds({ role: owner }), ...usersMayRegister(true) } }, { TOKENWATCH_WORKSPACE_RESOURCE_ID: "law-sentinel" });
    expect(line(wrong, "workspace")).toMatch(/^MISSING .*not a workspace resource id: law-sentinel/);
    expect(wrong.code).toBe(1);
    const unreadable = await preflight({ rest: { ...holds({ role: owner }), [arm(WORKSPACE)]: permissions(owner), ...usersMayRegister(true) } });
    expect(line(unreadable, "workspace read")).toMatch(/^MISSING .*ResourceNotFound/);
    expect(unreadable.code).toBe(1);
  });
});
