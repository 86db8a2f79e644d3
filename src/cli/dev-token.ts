// `tokenwatch dev-token [--role R ...] [--user U] [--hours N]`: prints a JWT signed by the
// local dev key, for `tokenwatch serve` (dev mode: loopback only, never in a hosted environment).
import { loadDevKey, signDevToken, type DevTokenOptions } from "../api/dev-auth.js";
import { ROLES } from "../api/router.js";
import { UsageError } from "./usage.js";

export const DEV_TOKEN_OPTIONS = {
  role: { type: "string", multiple: true },
  user: { type: "string" },
  hours: { type: "string" },
} as const;

export function parseDevTokenArgs(values: Record<string, unknown>): DevTokenOptions {
  const raw = values.role;
  const roles = raw === undefined ? [...ROLES] : (Array.isArray(raw) ? raw : [raw]).map(String);
  for (const role of roles)
    if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role ${role}: not a tokenwatch role (${ROLES.join(", ")})`);
  const user = values.user;
  if (user !== undefined && (typeof user !== "string" || !/^[^\s]{1,256}$/.test(user))) throw new UsageError("--user must be a name without spaces");
  const hours = values.hours;
  let lifetime: number | undefined;
  if (hours !== undefined) {
    const n = Number(hours);
    if (typeof hours !== "string" || !/^\d+$/.test(hours) || n < 1 || n > 24 * 30) throw new UsageError("--hours must be a whole number from 1 to 720");
    lifetime = n * 3600;
  }
  return { roles, ...(typeof user === "string" ? { user } : {}), ...(lifetime ? { lifetime } : {}) };
}

export async function devToken(options: DevTokenOptions): Promise<string> {
  return signDevToken(await loadDevKey(), options);
}
