// Bearer-token authentication with jose: Entra ID access tokens checked against the
// tenant's JWKS (signature), issuer, audience and expiry; roles from the `roles` claim
// (app roles assigned to the user or the calling app). A second trust, the local dev key,
// exists only in dev mode (`tokenwatch serve` on loopback, never in a hosted environment).
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Config } from "../config.js";
import { HttpError, type Principal, type Role } from "./router.js";

export interface Trust {
  /** Accepted `iss` values. */
  issuers: string[];
  /** Accepted `aud` values. */
  audiences: string[];
  keys: JWTVerifyGetKey;
  /** Label for logs: "entra" or "dev". */
  name: string;
}

/** Allowed clock skew between Entra ID and this host. */
const CLOCK_TOLERANCE_S = 60;
/** Entra ID signs access tokens with RS256. */
const ALGORITHMS = ["RS256"];

const bearerChallenge = (error?: string, description?: string) =>
  error ? `Bearer realm="tokenwatch", error="${error}", error_description="${description?.replaceAll('"', "'") ?? ""}"` : `Bearer realm="tokenwatch"`;

export const unauthorized = (detail: string, error?: string) =>
  new HttpError(401, detail, undefined, { "www-authenticate": bearerChallenge(error, detail) });

/** The Entra ID trust for a tenant: v2.0 and v1 issuers unless overridden, the tenant's JWKS unless overridden. */
export function entraTrust(config: Config): Trust | null {
  const tenant = config.TOKENWATCH_AUTH_TENANT_ID;
  const audiences = config.TOKENWATCH_AUTH_AUDIENCE;
  if (!tenant || !audiences) return null;
  const issuers = config.TOKENWATCH_AUTH_ISSUER
    ? [config.TOKENWATCH_AUTH_ISSUER]
    : [`https://login.microsoftonline.com/${tenant}/v2.0`, `https://sts.windows.net/${tenant}/`];
  const jwks = config.TOKENWATCH_AUTH_JWKS_URL ?? `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`;
  return { name: "entra", issuers, audiences, keys: createRemoteJWKSet(new URL(jwks)) };
}

export class Authenticator {
  constructor(private readonly trusts: readonly Trust[]) {}

  get configured(): boolean {
    return this.trusts.length > 0;
  }

  /** The caller of an `Authorization: Bearer …` header; throws a 401 HttpError otherwise. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw unauthorized("a bearer token is required");
    const match = /^Bearer[ ]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i.exec(authorization.trim());
    if (!match) throw unauthorized("the Authorization header is not a bearer JWT", "invalid_request");
    const token = match[1]!;
    let iss: string | undefined;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw unauthorized("the token is not a JWT", "invalid_token");
    }
    const trust = this.trusts.find((t) => iss !== undefined && t.issuers.includes(iss));
    if (!trust) throw unauthorized("the token's issuer is not trusted", "invalid_token");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, trust.keys, {
        issuer: trust.issuers,
        audience: trust.audiences,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp"],
      }));
    } catch (error) {
      throw unauthorized(reason(error), "invalid_token");
    }
    return principalOf(payload);
  }
}

function reason(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "the token has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not accepted`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature is invalid";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "the token was not signed by a trusted key";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not accepted";
  if (error instanceof joseErrors.JWKSTimeout) return "the signing keys could not be fetched in time";
  return "the token is not valid";
}

function principalOf(payload: JWTPayload): Principal {
  const text = (name: string) => (typeof payload[name] === "string" && payload[name] !== "" ? (payload[name] as string) : undefined);
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
  const id = text("oid") ?? text("sub") ?? "unknown";
  const name = text("upn") ?? text("preferred_username") ?? text("unique_name") ?? text("name") ?? text("azp") ?? text("appid") ?? id;
  return { id: id.slice(0, 256), name: name.slice(0, 256), tenantId: text("tid")?.slice(0, 64) ?? null, roles };
}

/** 403 unless the principal holds one of the roles. */
export function authorize(principal: Principal, roles: readonly Role[]): void {
  if (!roles.some((r) => principal.roles.includes(r)))
    throw new HttpError(403, `this operation needs the app role ${roles.length === 1 ? roles[0] : `${roles.slice(0, -1).join(", ")} or ${roles.at(-1)}`}`);
}
