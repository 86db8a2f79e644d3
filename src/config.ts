// Every setting tokenwatch reads, validated once at start-up. Names are app settings in
// Azure (infra/main.bicep) and local.settings.json values locally.
import { z } from "zod";
import { rules } from "./rules/index.js";

const optionalText = z.string().trim().min(1).optional().or(z.literal("").transform(() => undefined));
/** A whole number setting; unset or empty takes the default. */
const wholeNumber = (min: number, max: number, fallback: number) =>
  z.preprocess((v) => (v === "" ? undefined : v), z.coerce.number().int().min(min).max(max).default(fallback));

export const ConfigSchema = z
  .object({
    /** Table Storage by connection string (Azurite, or a key-based account for local use). */
    TOKENWATCH_STORAGE_CONNECTION_STRING: optionalText,
    /** Table Storage by endpoint with the app's managed identity: https://<account>.table.core.windows.net */
    TOKENWATCH_STORAGE_TABLE_ENDPOINT: z.url({ protocol: /^https$/ }).optional().or(z.literal("").transform(() => undefined)),
    /** Prefix for tokenwatch's table names, to share an account between deployments. */
    TOKENWATCH_TABLE_PREFIX: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{0,29}$/, "letters and digits, starting with a letter")
      .optional()
      .or(z.literal("").transform(() => undefined)),
    /** Webhooks: accept http:// targets, and private/loopback/link-local ones (local host and tests only; never in Azure). */
    TOKENWATCH_WEBHOOK_ALLOW_HTTP: z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1"),
    TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1"),
    /** Log Analytics workspace (customer) id the timers query; required by the scheduled detections. */
    TOKENWATCH_WORKSPACE_ID: z.guid("a workspace id (GUID)").optional().or(z.literal("").transform(() => undefined)),
    /** Windows end this long before now, so late-ingested rows are in (Sentinel uses 5 minutes). */
    TOKENWATCH_INGESTION_DELAY_MINUTES: wholeNumber(0, 1440, 5),
    /** At most this many windows per timer invocation; a longer backlog resumes in the next. */
    TOKENWATCH_MAX_WINDOWS_PER_RUN: wholeNumber(1, 1000, 24),
    /** Rule ids switched off (comma-separated), e.g. a rule whose table the workspace lacks; `tokenwatch rules` lists the ids. */
    TOKENWATCH_DISABLED_RULES: z
      .string()
      .optional()
      .transform((v, ctx) => {
        const ids = (v ?? "").split(",").map((id) => id.trim().toLowerCase()).filter((id) => id !== "");
        for (const id of ids) if (!rules.some((r) => r.meta.id === id)) ctx.addIssue({ code: "custom", message: `${id} is not a rule id (${rules.map((r) => r.meta.id).join(", ")})` });
        return new Set(ids) as ReadonlySet<string>;
      }),
    /** Query endpoint with version for sovereign clouds or tests, e.g. https://api.loganalytics.azure.cn/v1. */
    TOKENWATCH_LOG_ANALYTICS_ENDPOINT: z.url({ protocol: /^https$/ }).optional().or(z.literal("").transform(() => undefined)),
    /** HTTP API auth: the Entra ID tenant whose access tokens are accepted, and their audience (comma-separated for several). */
    TOKENWATCH_AUTH_TENANT_ID: optionalText,
    TOKENWATCH_AUTH_AUDIENCE: optionalText,
    /** Overrides of the tenant's token issuer and JWKS URL (default: Entra ID v2.0 and v1 issuers, the tenant's discovery keys). */
    TOKENWATCH_AUTH_ISSUER: optionalText,
    TOKENWATCH_AUTH_JWKS_URL: z.url({ protocol: /^https?$/ }).optional().or(z.literal("").transform(() => undefined)),
    /** Accept tokens from `tokenwatch dev-token` (local development only; refused in Azure). */
    TOKENWATCH_DEV_MODE: z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1"),
    /** Set by App Service / Functions in Azure: how dev mode knows it must refuse. */
    WEBSITE_INSTANCE_ID: optionalText,
    WEBSITE_SITE_NAME: optionalText,
  })
  .refine((c) => !(c.TOKENWATCH_DEV_MODE && (c.WEBSITE_INSTANCE_ID || c.WEBSITE_SITE_NAME)), {
    message: "dev mode accepts locally signed tokens and is refused when running in Azure (WEBSITE_INSTANCE_ID / WEBSITE_SITE_NAME is set): unset TOKENWATCH_DEV_MODE",
    path: ["TOKENWATCH_DEV_MODE"],
  })
  .refine((c) => !(c.TOKENWATCH_STORAGE_CONNECTION_STRING && c.TOKENWATCH_STORAGE_TABLE_ENDPOINT), {
    message: "set either TOKENWATCH_STORAGE_CONNECTION_STRING or TOKENWATCH_STORAGE_TABLE_ENDPOINT, not both",
    path: ["TOKENWATCH_STORAGE_TABLE_ENDPOINT"],
  });
export type Config = z.infer<typeof ConfigSchema>;
/** Every setting name the schema reads; test/infra/settings.test.ts holds the sample settings and infra/main.bicep to it. */
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as (keyof typeof ConfigSchema.shape)[];

/** Reads the config from an environment; the error names every offending setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  return result.data;
}
