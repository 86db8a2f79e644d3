// Invariants of the azd template that no Bicep compiler runs here: the Flex Consumption shape,
// keyless storage, the roles, nothing deployed outside the app's own resource group, and
// azure.yaml / main.parameters.json / the postprovision hook agreeing with main.bicep.
import { accessSync, constants, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const main = read("infra/main.bicep");
const platform = read("infra/app/platform.bicep");
const fn = read("infra/app/function.bicep");
const all = [main, platform, fn].join("\n");
const azureYaml = read("azure.yaml");
const hookPath = /^ {2}postprovision:\n(?: {4}.*\n)*? {4}run: \.\/(\S+)\n/m.exec(azureYaml)?.[1];
const hook = hookPath ? read(hookPath) : "";

/** `param name type [= default]` declarations of a Bicep file. */
function params(bicep: string): Map<string, { hasDefault: boolean }> {
  return new Map([...bicep.matchAll(/^param\s+(\w+)\s+\w+(\s*=)?/gm)].map((m) => [m[1]!, { hasDefault: Boolean(m[2]) }]));
}

/** The resource types declared, with their API versions. */
const resources = [...all.matchAll(/^resource\s+\w+\s+'([^'@]+)@([^']+)'/gm)].map((m) => `${m[1]}@${m[2]}`);

describe("azd template", () => {
  it("declares the Flex Consumption resources with current API versions", () => {
    expect(resources).toEqual(
      expect.arrayContaining([
        "Microsoft.Web/serverfarms@2024-04-01",
        "Microsoft.Web/sites@2024-04-01",
        "Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31",
        "Microsoft.Storage/storageAccounts@2023-05-01",
        "Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01",
        "Microsoft.Insights/components@2020-02-02",
        "Microsoft.OperationalInsights/workspaces@2023-09-01",
        "Microsoft.Authorization/roleAssignments@2022-04-01",
      ]),
    );
    expect(platform).toMatch(/tier: 'FlexConsumption'\s+name: 'FC1'/);
    expect(fn).toMatch(/kind: 'functionapp,linux'/);
    expect(fn).toMatch(/runtime: \{\s+name: 'node'\s+version: '22'\s+\}/);
    expect(fn).toMatch(/type: 'blobContainer'/);
    expect(fn).toMatch(/type: 'UserAssignedIdentity'\s+userAssignedIdentityResourceId: identityId/);
  });

  it("storage takes no keys, no public blobs, TLS 1.2 at least; App Insights takes Entra ID tokens only", () => {
    expect(platform).toMatch(/allowSharedKeyAccess: false/);
    expect(platform).toMatch(/allowBlobPublicAccess: false/);
    expect(platform).toMatch(/minimumTlsVersion: 'TLS1_2'/);
    expect(platform).toMatch(/DisableLocalAuth: true/);
    expect(all).not.toMatch(/listKeys\(|AccountKey|InstrumentationKey/);
  });

  it("assigns the identity exactly the roles it needs: four in its own resource group, Log Analytics Reader on the workspace by the hook", () => {
    const inBicep = {
      "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
      "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
      "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
      "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    };
    const logAnalyticsReader = "73c42c96-874c-492b-b04d-ab87d138a893";
    for (const [role, id] of Object.entries(inBicep)) expect(all, role).toContain(id);
    expect(resources.filter((r) => r.startsWith("Microsoft.Authorization/roleAssignments")).length).toBe(Object.keys(inBicep).length);
    expect(all.match(/principalType: 'ServicePrincipal'/g)?.length).toBe(Object.keys(inBicep).length);
    // Each assignment's name is a guid of its scope, the identity and the role: unique per deployment.
    const names = [...platform.matchAll(/^resource \w+ 'Microsoft\.Authorization\/roleAssignments@[^']+' = \{\n {2}name: (.+)$/gm)].map((m) => m[1]);
    expect(names).toHaveLength(4);
    for (const name of names) expect(name).toMatch(/^guid\(\w+\.id, identity\.id, roles\.\w+\)$/);
    expect(all).not.toContain(logAnalyticsReader);
    expect(hook).toContain(`LOG_ANALYTICS_READER="${logAnalyticsReader}"`);
  });

  it("deploys nothing outside its own resource group: the workspace is only read, where it lives", () => {
    const modules = [...main.matchAll(/^module\s+\w+\s+'[^']+'\s*=\s*\{\n {2}name: '([^']+)'\n {2}scope: (\w+)\n/gm)];
    expect(modules.length).toBe([...main.matchAll(/^module\s/gm)].length);
    for (const [, name, scope] of modules) {
      expect(scope, name).toBe("rg");
      // Unique per subscription, environment and region, like every other name here.
      expect(name).toMatch(/-\$\{resourceToken\}$/);
    }
    expect(all.replace(/\/\/.*$/gm, "")).not.toMatch(/Microsoft\.Resources\/deployments/);
    // Every declaration scoped outside `rg` is an `existing` one: read, never deployed.
    const scopedElsewhere = [...main.matchAll(/^resource\s+(\w+)\s+'[^']+'\s*(existing\s*)?=\s*\{[^}]*?\n {2}scope: resourceGroup\(/gm)];
    expect(scopedElsewhere.map((m) => [m[1], Boolean(m[2])])).toEqual([["tenantWorkspace", true]]);
    expect(main).toMatch(
      /resource tenantWorkspace 'Microsoft\.OperationalInsights\/workspaces@[^']+' existing = \{\n {2}name: last\(workspaceIdParts\)\n {2}scope: resourceGroup\(workspaceIdParts\[2\], workspaceIdParts\[4\]\)\n\}/,
    );
    expect(main).toMatch(/name: 'TOKENWATCH_WORKSPACE_ID'\n\s+value: tenantWorkspace\.properties\.customerId\n/);
  });

  it("the postprovision hook gets the workspace id and the identity from the azd environment", () => {
    expect(hookPath).toBe("infra/hooks/assign-workspace-reader.sh");
    accessSync(new URL(`../../${hookPath}`, import.meta.url), constants.X_OK); // azd runs it by its shebang
    expect(hook.split("\n")[0]).toBe("#!/usr/bin/env bash");
    // The workspace id is the value main.parameters.json passes as tenantWorkspaceResourceId.
    const parameters = (JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, { value: string }> }).parameters;
    const workspaceVar = /^\$\{(\w+)\}$/.exec(parameters.tenantWorkspaceResourceId!.value)?.[1];
    expect(workspaceVar).toBe("TOKENWATCH_WORKSPACE_RESOURCE_ID");
    expect(hook).toContain(`workspace="\${${workspaceVar}:-}"`);
    // The identity's object id is an output of main.bicep, which azd stores in the environment.
    expect(main).toMatch(/^output TOKENWATCH_IDENTITY_PRINCIPAL_ID string = platform\.outputs\.identityPrincipalId$/m);
    expect(hook).toContain('principal="${TOKENWATCH_IDENTITY_PRINCIPAL_ID:-}"');
  });

  it("requires an azd whose `azd down` deletes only the resource groups it created; at least 40 instances", () => {
    expect(azureYaml).toMatch(/^requiredVersions:\n {2}azd: ">= 1\.24\.1"$/m);
    const max = /@minValue\((\d+)\)\n@maxValue\((\d+)\)\n@description\([^\n]*\)\nparam maximumInstanceCount int = (\d+)/.exec(main);
    expect(max?.slice(1).map(Number)).toEqual([40, 1000, 40]);
  });

  it("azure.yaml deploys the bundle directory to the function tagged with its service name", () => {
    const service = /^services:\n {2}(\w+):/m.exec(azureYaml)?.[1];
    expect(service).toBeDefined();
    expect(main).toContain(`'azd-service-name': '${service}'`);
    expect(azureYaml).toMatch(/host: function/);
    expect(azureYaml).toMatch(/dist: dist\/bundle\n/);
    expect(azureYaml).toMatch(/remoteBuild: false/);
  });

  it("main.parameters.json fills exactly main.bicep's parameters, every one without a default", () => {
    const declared = params(main);
    const given = Object.keys((JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, unknown> }).parameters);
    expect(given.filter((p) => !declared.has(p)).map((p) => `${p} is in main.parameters.json but not a parameter of main.bicep`)).toEqual([]);
    const required = [...declared].filter(([, d]) => !d.hasDefault).map(([p]) => p);
    expect(required.filter((p) => !given.includes(p)).map((p) => `${p} has no default and no value in main.parameters.json`)).toEqual([]);
  });

  it("every module's parameters without a default are passed by main.bicep", () => {
    const modules = [...main.matchAll(/^module\s+\w+\s+'([^']+)'\s*=\s*\{([\s\S]*?)^\}/gm)];
    expect(modules.length).toBe(2);
    const problems: string[] = [];
    for (const [, path, body] of modules) {
      const declared = params(read(`infra/${path}`));
      const passed = new Set([...body!.matchAll(/^ {4}(\w+):/gm)].map((m) => m[1]!));
      for (const [p, d] of declared) if (!d.hasDefault && !passed.has(p)) problems.push(`${path}: ${p} is not passed`);
      for (const p of passed) if (!declared.has(p)) problems.push(`${path}: ${p} is passed but not a parameter`);
    }
    expect(problems).toEqual([]);
  });
});
