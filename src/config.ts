// Every setting tokenwatch reads, validated once at start-up. Names are app settings in
// Azure (infra/main.bicep) and local.settings.json values locally.
import { z } from "zod";
import { isLoopbackHost } from "./net/ip.js";
import { rules } from "./rules/index.js";

const optionalText = z.string().trim().min(1).optional().or(z.literal("").transform(() => undefined));
/** A whole number setting; unset or empty takes the default. */
const wholeNumber = (min: number, max: number, fallback: number) =>
  z.preprocess((v) => (v === "" ? undefined : v), z.coerce.number().int().min(min).max(max).default(fallback));

/**
 * The `aud` values the API accepts, from a comma-separated setting. Entra ID v1 access tokens
 * carry the Application ID URI the client asked for, v2 tokens the API's application (client)
 * id, so `api://<client-id>` and `<client-id>` each bring the other. Without a client id among
 * them every v2 token would be refused, so such a setting stops the app with that reason.
 */
const audiences = z.preprocess(
  (v) => (v === "" ? undefined : v),
  z
    .string()
    .transform((setting, ctx) => {
      const listed = setting.split(",").map((a) => a.trim()).filter(Boolean);
      const clientIds = listed.map((a) => a.replace(/^api:\/\//, "").toLowerCase()).filter((a) => z.guid().safeParse(a).success);
      if (clientIds.length === 0) {
        ctx.addIssue({
          code: "custom",
          message: `"${setting}" names no application (client) id, which v2 access tokens carry as aud: set api://<client-id> or <client-id> (a custom Application ID URI goes beside it, comma-separated)`,
        });
        return z.NEVER;
      }
      return [...new Set([...listed, ...clientIds.flatMap((id) => [id, `api://${id}`])])];
    })
    .optional(),
);

export const ConfigSchema = z
  .object({
    /** Table Storage by connection string (Azurite, or a key-based account for local use). */
    TOKENWATCH_STORAGE_CONNECTION_STRING: optionalText,
    /** Table Storage by endpoint with the app's managed identity: https://<account>.table.core.windows.net */
    TOKENWATCH_STORAGE_TABLE_ENDPOINT: z.url({ protocol: /^https$/ }).optional().or(z.literal("").transform(() => undefined)),
    /**
     * The shard queue by endpoint with the app's managed identity: https://<account>.queue.core.windows.net.
     * The shard function is triggered from the Functions host's storage (AzureWebJobsStorage), so
     * this is that account's queue endpoint. With a connection string, its queue endpoint is used.
     */
    TOKENWATCH_STORAGE_QUEUE_ENDPOINT: z.url({ protocol: /^https$/ }).optional().or(z.literal("").transform(() => undefined)),
    /**
     * The per-account rules' window expected to read more rows than this (the most any of them
     * read in the previous window) is split by account hash into slices, each processed by its
     * own invocation from the shard queue, all three rules over one read. Default 10,000: the
     * bench measured a slice of the three holding about 12 KB per row read on top of ~110 MB
     * (319 MB for 17,300 rows at M, 193–198 MB for 8,600), so a slice stays near 200 MB,
     * under the 256 MB an invocation should hold. A per-event rule's (STS, Solorigate) window
     * expected to read more is read and evaluated in parts of about this many rows, one after
     * another, by its timer.
     */
    TOKENWATCH_SHARD_ROWS: wholeNumber(1_000, 100_000_000, 10_000),
    /** Prefix for tokenwatch's table names, to share an account between deployments. */
    TOKENWATCH_TABLE_PREFIX: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{0,29}$/, "letters and digits, starting with a letter")
      .optional()
      .or(z.literal("").transform(() => undefined)),
    /** Webhooks: accept http:// targets, and private/loopback/link-local ones (local host and tests only; never in Azure). */
    TOKENWATCH_WEBHOOK_ALLOW_HTTP: z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1"),
    TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1"),
    /** The web console's base URL, for incident links in Teams and Slack messages (default: https://WEBSITE_HOSTNAME, the app itself). */
    TOKENWATCH_CONSOLE_URL: z.url({ protocol: /^https?$/ }).optional().or(z.literal("").transform(() => undefined)),
    /** Log Analytics workspace (customer) id the timers query; required by the scheduled detections. */
    TOKENWATCH_WORKSPACE_ID: z.guid("a workspace id (GUID)").optional().or(z.literal("").transform(() => undefined)),
    /** Windows end this long before now, so late-ingested rows are in (Sentinel uses 5 minutes). */
    TOKENWATCH_INGESTION_DELAY_MINUTES: wholeNumber(0, 1440, 5),
    /**
     * How late a row may arrive after its TimeGenerated and still be evaluated (hours, default 7 days).
     * Each window's query reaches this far back on TimeGenerated; replay applies the same bound.
     */
    TOKENWATCH_MAX_LATENESS_HOURS: wholeNumber(1, 90 * 24, 7 * 24),
    /**
     * How long a sign-in session can live (days, default 14): the forked-session rule remembers where
     * each session was used for this long after its last use, then forgets it.
     */
    TOKENWATCH_SESSION_LIFETIME_DAYS: wholeNumber(1, 90, 14),
    /** Account correlation: alerts of different rules for one account this close in event time (hours) make one correlated incident. */
    TOKENWATCH_CORRELATION_WINDOW_HOURS: wholeNumber(1, 30 * 24, 24),
    /** Account correlation: alerts of different rules sharing a SessionId or UniqueTokenIdentifier this close (days: how long a session lives) correlate. */
    TOKENWATCH_CORRELATION_LINK_DAYS: wholeNumber(1, 90, 14),
    /** At most this many windows per timer invocation; a longer backlog resumes in the next. */
    TOKENWATCH_MAX_WINDOWS_PER_RUN: wholeNumber(1, 1000, 24),
    /**
     * Retention (days; 0 keeps forever): closed incidents with their alerts and history, by
     * their last change; delivered and dead-lettered webhook deliveries, by their last
     * attempt; allowlist audit rows. Open incidents and pending deliveries are never deleted.
     */
    TOKENWATCH_RETENTION_CLOSED_INCIDENT_DAYS: wholeNumber(0, 36500, 365),
    TOKENWATCH_RETENTION_DELIVERY_DAYS: wholeNumber(0, 36500, 30),
    TOKENWATCH_RETENTION_AUDIT_DAYS: wholeNumber(0, 36500, 730),
    /** At most this many rows deleted per delivery-worker run (every minute); a larger backlog goes in later runs. */
    TOKENWATCH_RETENTION_MAX_DELETES_PER_RUN: wholeNumber(1, 100_000, 500),
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
    /** HTTP API auth: the Entra ID tenant whose access tokens are accepted, and their audiences (see `audiences`). */
    TOKENWATCH_AUTH_TENANT_ID: optionalText,
    TOKENWATCH_AUTH_AUDIENCE: audiences,
    /** Overrides of the tenant's token issuer and JWKS URL (default: Entra ID v2.0 and v1 issuers, the tenant's discovery keys). */
    TOKENWATCH_AUTH_ISSUER: optionalText,
    TOKENWATCH_AUTH_JWKS_URL: z
      .url({ protocol: /^https?$/ })
      .refine((u) => !URL.canParse(u) || u.startsWith("https:") || isLoopbackHost(new URL(u).hostname), "the signing keys must come over https (plain http only from a loopback address)")
      .optional()
      .or(z.literal("").transform(() => undefined)),
    /**
     * Accept tokens from `tokenwatch dev-token`: only `tokenwatch serve` on a loopback address,
     * and never where a hosting platform's marker is set (see HOSTED_MARKERS).
     */
    TOKENWATCH_DEV_MODE: z.enum(["true", "false", "1", "0", ""]).optional().transform((v) => v === "true" || v === "1"),
    /** Set by App Service: the app's default host name, where the console is served (also a hosted marker). */
    WEBSITE_HOSTNAME: optionalText,
  })
  .refine((c) => !(c.TOKENWATCH_STORAGE_CONNECTION_STRING && c.TOKENWATCH_STORAGE_TABLE_ENDPOINT), {
    message: "set either TOKENWATCH_STORAGE_CONNECTION_STRING or TOKENWATCH_STORAGE_TABLE_ENDPOINT, not both",
    path: ["TOKENWATCH_STORAGE_TABLE_ENDPOINT"],
  });
export type Config = z.infer<typeof ConfigSchema>;
/** Every setting name the schema reads; test/infra/settings.test.ts holds the sample settings and infra/main.bicep to it. */
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as (keyof typeof ConfigSchema.shape)[];

/**
 * The Node flags the deployment starts its Functions worker with: infra/main.bicep sets them as
 * the host's `languageWorkers__node__arguments`, and `tokenwatch bench` runs its measured
 * invocations with them (BENCHMARKS.md measures each). `--no-opt` leaves out V8's optimizing
 * compiler (TurboFan): an hourly invocation lives a few seconds in a fresh instance, and
 * compiling its hot functions cost more CPU than the optimized code gave back.
 * `--v8-pool-size=1` gives V8 one background thread instead of four: its garbage collector
 * split each collection across them, and the threads' coordination cost more CPU than the
 * split saved. A long-lived process (`tokenwatch serve`, the CLI) keeps V8's defaults.
 */
export const WORKER_NODE_ARGUMENTS = "--no-opt --v8-pool-size=1";

/**
 * Variables a hosting platform sets on every instance: App Service / Functions, Container
 * Apps, Kubernetes, a managed identity endpoint (App Service, Container Apps, Arc, Service
 * Fabric, Cloud Shell), and other clouds' serverless and container runtimes. Any one of
 * them means "hosted": dev mode, which trusts a key on this machine, is refused.
 */
export const HOSTED_MARKERS = [
  "WEBSITE_INSTANCE_ID",
  "WEBSITE_SITE_NAME",
  "WEBSITE_HOSTNAME",
  "CONTAINER_APP_NAME",
  "CONTAINER_APP_REVISION",
  "KUBERNETES_SERVICE_HOST",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "MSI_ENDPOINT",
  "IMDS_ENDPOINT",
  "AZUREPS_HOST_ENVIRONMENT",
  "ACC_CLOUD",
  "AWS_EXECUTION_ENV",
  "ECS_CONTAINER_METADATA_URI_V4",
  "K_SERVICE",
  "FUNCTION_TARGET",
] as const;

/** The hosted-environment markers present in an environment (empty: a developer's machine). */
export function hostedMarkers(env: Record<string, string | undefined>): string[] {
  return HOSTED_MARKERS.filter((name) => (env[name] ?? "").trim() !== "");
}

/** Reads the config from an environment; the error names every offending setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  const markers = hostedMarkers(env);
  if (result.data.TOKENWATCH_DEV_MODE && markers.length > 0)
    throw new Error(
      `invalid configuration: TOKENWATCH_DEV_MODE: dev mode accepts locally signed tokens and is refused in a hosted environment (${markers.join(", ")} set): unset TOKENWATCH_DEV_MODE`,
    );
  return result.data;
}
