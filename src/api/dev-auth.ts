// The local dev key: an RS256 key pair kept under ~/.tokenwatch (or the OS temp dir when the
// home directory is not writable), used by `tokenwatch dev-token` to sign tokens and by a
// dev-mode host to accept them. Never used in Azure: config refuses dev mode there.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import type { Trust } from "./auth.js";
import { ROLES } from "./router.js";

export const DEV_ISSUER = "https://tokenwatch.local/dev";
export const DEV_AUDIENCE = "api://tokenwatch-dev";
const FILE = "dev-key.json";

export interface DevKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

function candidateDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.TOKENWATCH_HOME) dirs.push(process.env.TOKENWATCH_HOME);
  try {
    dirs.push(join(homedir(), ".tokenwatch"));
  } catch {
    // no home directory: the temp dir below
  }
  let user = "user";
  try {
    user = userInfo().username.replace(/[^A-Za-z0-9_-]/g, "") || user;
  } catch {
    // keep "user"
  }
  dirs.push(join(tmpdir(), `tokenwatch-${user}`));
  return dirs;
}

/** The persisted dev key, created on first use (file mode 0600). */
export async function loadDevKey(): Promise<DevKey> {
  let lastError: unknown;
  for (const dir of candidateDirs()) {
    const file = join(dir, FILE);
    try {
      return parseKey(await readFile(file, "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        lastError = error;
        continue;
      }
    }
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
      const publicJwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      const key: DevKey = { privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "RS256" }, publicJwk: { ...publicJwk, kid, alg: "RS256", use: "sig" } };
      try {
        await writeFile(file, JSON.stringify(key), { mode: 0o600, flag: "wx" });
        return key;
      } catch (error) {
        // Another process created it first: use theirs.
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return parseKey(await readFile(file, "utf8"));
        throw error;
      }
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`no writable place for the dev key (${candidateDirs().join(", ")}): ${String(lastError)}`);
}

function parseKey(text: string): DevKey {
  const key = JSON.parse(text) as DevKey;
  if (!key.privateJwk?.d || !key.publicJwk?.n) throw new Error("dev key file is damaged");
  return key;
}

export const devJwks = (key: DevKey) => ({ keys: [key.publicJwk] });

export function devTrust(key: DevKey): Trust {
  return { name: "dev", issuers: [DEV_ISSUER], audiences: [DEV_AUDIENCE], keys: createLocalJWKSet(devJwks(key)) };
}

export interface DevTokenOptions {
  roles?: readonly string[];
  user?: string;
  /** Lifetime in seconds (default 8 hours). */
  lifetime?: number;
}

/** A token shaped like an Entra ID access token, signed by the dev key. */
export async function signDevToken(key: DevKey, options: DevTokenOptions = {}): Promise<string> {
  const user = options.user ?? "dev@tokenwatch.local";
  const roles = options.roles ?? ROLES;
  return new SignJWT({ roles: [...roles], preferred_username: user, name: user, oid: `dev-${user}`, ver: "2.0" })
    .setProtectedHeader({ alg: "RS256", kid: key.privateJwk.kid!, typ: "JWT" })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject(`dev-${user}`)
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime(`${options.lifetime ?? 8 * 3600}s`)
    .sign(await importJWK(key.privateJwk, "RS256"));
}
