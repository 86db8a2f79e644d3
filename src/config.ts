// Every setting tokenwatch reads, validated once at start-up. Names are app settings in
// Azure (infra/main.bicep) and local.settings.json values locally.
import { z } from "zod";

const optionalText = z.string().trim().min(1).optional().or(z.literal("").transform(() => undefined));

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
  })
  .refine((c) => !(c.TOKENWATCH_STORAGE_CONNECTION_STRING && c.TOKENWATCH_STORAGE_TABLE_ENDPOINT), {
    message: "set either TOKENWATCH_STORAGE_CONNECTION_STRING or TOKENWATCH_STORAGE_TABLE_ENDPOINT, not both",
    path: ["TOKENWATCH_STORAGE_TABLE_ENDPOINT"],
  });
export type Config = z.infer<typeof ConfigSchema>;

/** Reads the config from an environment; the error names every offending setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  return result.data;
}
