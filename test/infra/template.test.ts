// Invariants of the azd template that no Bicep compiler runs here: the Flex Consumption shape,
// keyless storage, the roles, and azure.yaml / main.parameters.json agreeing with main.bicep.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const main = read("infra/main.bicep");
const platform = read("infra/app/platform.bicep");
const fn = read("infra/app/function.bicep");
const reader = read("infra/app/workspace-reader.bicep");
const all = [main, platform, fn, reader].join("\n");
const azureYaml = read("azure.yaml");

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

  it("assigns the identity exactly the roles it needs", () => {
    const roleIds = {
      "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
      "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
      "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
      "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
      "Log Analytics Reader": "73c42c96-874c-492b-b04d-ab87d138a893",
    };
    for (const [role, id] of Object.entries(roleIds)) expect(all, role).toContain(id);
    expect(resources.filter((r) => r.startsWith("Microsoft.Authorization/roleAssignments")).length).toBe(Object.keys(roleIds).length);
    expect(all.match(/principalType: 'ServicePrincipal'/g)?.length).toBe(Object.keys(roleIds).length);
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
    expect(modules.length).toBe(3);
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
