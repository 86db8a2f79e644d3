// The three descriptions of tokenwatch's settings must agree: the zod schema that reads
// them (src/config.ts), the local sample (local.settings.sample.json) and the app settings
// the deployment sets (infra/main.bicep). A setting in one and not the others fails here,
// with its name.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, ConfigSchema, HOSTED_MARKERS, WORKER_NODE_ARGUMENTS } from "../../src/config.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

/** Read by the Functions host, App Service or the Azure SDK, not by src/config.ts. */
const HOST_SETTINGS: Record<string, string> = {
  FUNCTIONS_WORKER_RUNTIME: "the local Functions host's language (Flex sets it from functionAppConfig.runtime)",
  AzureWebJobsStorage: "the local Functions host's storage (Azurite)",
  AzureWebJobsStorage__accountName: "the Functions host's storage account, reached with the managed identity",
  AzureWebJobsStorage__credential: "identity-based host storage",
  AzureWebJobsStorage__clientId: "which identity the host uses for its storage",
  APPLICATIONINSIGHTS_CONNECTION_STRING: "where the host sends telemetry",
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "Entra ID ingestion into Application Insights",
  AZURE_CLIENT_ID: "DefaultAzureCredential's user-assigned identity",
  languageWorkers__node__arguments: "the Node flags the Functions host starts the worker with (WORKER_NODE_ARGUMENTS)",
};

/** Set by a hosting platform on every instance: config.ts reads them (dev mode refuses), nobody configures them. */
const PLATFORM_SET: Record<string, string> = Object.fromEntries(HOSTED_MARKERS.map((k) => [k, "set by the hosting platform"]));

/** What ARM gives the non-literal values in main.bicep, to parse the settings as Azure will see them. */
const EXPRESSION_EXAMPLES: Record<string, string> = {
  "platform.outputs.tableEndpoint": "https://sttwexample.table.core.windows.net/",
  "platform.outputs.queueEndpoint": "https://sttwexample.queue.core.windows.net/",
  "platform.outputs.storageAccountName": "sttwexample",
  "platform.outputs.identityClientId": "00000000-0000-0000-0000-000000000001",
  "platform.outputs.appInsightsConnectionString": "InstrumentationKey=00000000-0000-0000-0000-000000000002;IngestionEndpoint=https://example.in.applicationinsights.azure.com/",
  "'ClientId=${platform.outputs.identityClientId};Authorization=AAD'": "ClientId=00000000-0000-0000-0000-000000000001;Authorization=AAD",
  "tenantWorkspace.properties.customerId": "00000000-0000-0000-0000-000000000003",
  "tenant().tenantId": "00000000-0000-0000-0000-000000000004",
  apiAudience: "api://00000000-0000-0000-0000-000000000005",
  tablePrefix: "",
};

interface BicepSetting {
  name: string;
  /** The value's Bicep text. */
  value: string;
  /** The value when it is a plain string literal (no interpolation). */
  literal: string | null;
}

/** The text of the array after `appSettings:`, comments removed, strings intact. */
function appSettingsArray(bicep: string): string {
  const start = bicep.search(/\bappSettings:\s*\[/);
  if (start < 0) throw new Error("infra/main.bicep has no `appSettings: [` list");
  let i = bicep.indexOf("[", start);
  let depth = 0;
  let out = "";
  while (i < bicep.length) {
    const c = bicep[i]!;
    if (c === "'") {
      // Bicep string: '' is not an escape, \' is; ${...} inside does not open a block.
      let j = i + 1;
      while (j < bicep.length && bicep[j] !== "'") j += bicep[j] === "\\" ? 2 : 1;
      out += bicep.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "/" && bicep[i + 1] === "/") {
      i = bicep.indexOf("\n", i);
      if (i < 0) break;
      continue;
    }
    if (c === "/" && bicep[i + 1] === "*") {
      i = bicep.indexOf("*/", i) + 2;
      continue;
    }
    if (c === "[" || c === "{") depth++;
    if (c === "]" || c === "}") depth--;
    out += c;
    i++;
    if (depth === 0) return out;
  }
  throw new Error("unterminated appSettings list in infra/main.bicep");
}

function bicepSettings(bicep: string): BicepSetting[] {
  const array = appSettingsArray(bicep);
  const items = [...array.matchAll(/\{([^{}]*(?:'[^']*'[^{}]*)*)\}/g)].map((m) => m[1]!);
  return items.map((item) => {
    const name = /^\s*name:\s*'([^']+)'\s*$/m.exec(item)?.[1];
    const value = /^\s*value:\s*(.+?)\s*$/m.exec(item)?.[1];
    if (!name || value === undefined) throw new Error(`app setting without a literal name or a value in infra/main.bicep: {${item.trim()}}`);
    const literal = /^'([^'$\\]*)'$/.exec(value)?.[1] ?? null;
    return { name, value, literal };
  });
}

const schemaKeys = new Set<string>(CONFIG_KEYS);
const sampleValues = (JSON.parse(read("local.settings.sample.json")) as { Values: Record<string, string> }).Values;
const bicepText = read("infra/main.bicep");
const bicep = bicepSettings(bicepText);

const configured = (keys: Iterable<string>) => [...keys].filter((k) => !(k in HOST_SETTINGS));
const sampleKeys = new Set(configured(Object.keys(sampleValues)));
const bicepKeys = new Set(configured(bicep.map((s) => s.name)));
const wanted = [...schemaKeys].filter((k) => !(k in PLATFORM_SET));

describe("settings: src/config.ts, local.settings.sample.json and infra/main.bicep agree", () => {
  it("reads the app settings list from main.bicep", () => {
    expect(bicep.length).toBeGreaterThan(Object.keys(HOST_SETTINGS).length - 2);
    const seen = new Set<string>();
    const duplicates = bicep.map((s) => s.name).filter((n) => (seen.has(n) ? true : (seen.add(n), false)));
    expect(duplicates, "app settings set twice in infra/main.bicep").toEqual([]);
  });

  it("every schema setting is in the sample and in the bicep", () => {
    const problems = [
      ...wanted.filter((k) => !sampleKeys.has(k)).map((k) => `${k} is read by src/config.ts but missing from local.settings.sample.json`),
      ...wanted.filter((k) => !bicepKeys.has(k)).map((k) => `${k} is read by src/config.ts but missing from the appSettings in infra/main.bicep`),
    ];
    expect(problems).toEqual([]);
  });

  it("every sample and bicep setting is read by the schema (or is a Functions host / SDK setting)", () => {
    const problems = [
      ...[...sampleKeys].filter((k) => !schemaKeys.has(k)).map((k) => `${k} is in local.settings.sample.json but src/config.ts does not read it`),
      ...[...bicepKeys].filter((k) => !schemaKeys.has(k)).map((k) => `${k} is in infra/main.bicep but src/config.ts does not read it`),
    ];
    expect(problems).toEqual([]);
  });

  it("platform-set settings stay out of the sample and the bicep", () => {
    const problems = Object.keys(PLATFORM_SET).flatMap((k) => [
      ...(k in sampleValues ? [`${k} is set by the hosting platform; local.settings.sample.json must not set it`] : []),
      ...(bicep.some((s) => s.name === k) ? [`${k} is set by the hosting platform; infra/main.bicep must not set it`] : []),
    ]);
    expect(problems).toEqual([]);
  });

  it("the worker starts with the Node flags the bench measures with", () => {
    expect(bicep.find((s) => s.name === "languageWorkers__node__arguments")?.literal).toBe(WORKER_NODE_ARGUMENTS);
  });

  it("the host reaches storage by identity and no setting carries a key", () => {
    const names = new Set(bicep.map((s) => s.name));
    for (const n of ["AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID"]) expect(names, n).toContain(n);
    expect(names.has("AzureWebJobsStorage"), "AzureWebJobsStorage is a connection string: use the identity-based __accountName form").toBe(false);
    expect(bicep.find((s) => s.name === "AzureWebJobsStorage__credential")?.literal).toBe("managedidentity");
    expect(bicep.find((s) => s.name === "TOKENWATCH_STORAGE_CONNECTION_STRING")?.literal, "Azure uses the table endpoint and the identity").toBe("");
    const infra = ["infra/main.bicep", "infra/app/platform.bicep", "infra/app/function.bicep"].map(read).join("\n");
    expect(infra).not.toMatch(/listKeys\(|AccountKey=|InstrumentationKey=/);
  });

  it("the bicep values parse under the schema as Azure will see them", () => {
    const env: Record<string, string> = { WEBSITE_INSTANCE_ID: "0123456789abcdef", WEBSITE_SITE_NAME: "func-tokenwatch-example" };
    const unknown: string[] = [];
    for (const s of bicep) {
      const value = s.literal ?? EXPRESSION_EXAMPLES[s.value];
      if (value === undefined) unknown.push(`${s.name}: add an example of what ARM makes of ${s.value} to EXPRESSION_EXAMPLES`);
      else env[s.name] = value;
    }
    expect(unknown).toEqual([]);
    const result = ConfigSchema.safeParse(env);
    expect(result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([]);
  });

  it("the sample values parse under the schema", () => {
    const result = ConfigSchema.safeParse(sampleValues);
    expect(result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([]);
  });
});
