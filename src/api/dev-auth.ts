// The local dev key: an RS256 key pair kept in ~/.tokenwatch (or $TOKENWATCH_HOME), used by
// `tokenwatch dev-token` to sign tokens and by `tokenwatch serve` to accept them. Whoever can
// write that file can mint admin tokens for a dev-mode host, so it is trusted only in a
// directory the user owns that nobody else can write to, and only as a regular file of the
// user's with mode 0600; anything else is refused, never worked around (there is no
// fallback to a shared temporary directory). Never used in Azure: dev mode is refused there.
import { constants } from "node:fs";
import { lstat, mkdir, open } from "node:fs/promises";
import { homedir } from "node:os";
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

/** Where the key lives: $TOKENWATCH_HOME, else ~/.tokenwatch. */
export function devKeyDir(env: Record<string, string | undefined> = process.env): string {
  return env.TOKENWATCH_HOME || join(homedir(), ".tokenwatch");
}

export class UnsafeDevKey extends Error {
  override readonly name = "UnsafeDevKey";
}

/** POSIX ownership and mode checks; Windows has neither uid nor meaningful mode bits. */
const uid = process.getuid?.();

function checkOwned(what: string, path: string, stat: { uid: number; mode: number }, forbiddenBits: number): void {
  if (uid === undefined) return;
  if (stat.uid !== uid) throw new UnsafeDevKey(`${what} ${path} belongs to uid ${stat.uid}, not to this user (${uid}): refusing the dev key`);
  if ((stat.mode & forbiddenBits) !== 0)
    throw new UnsafeDevKey(`${what} ${path} has mode ${(stat.mode & 0o777).toString(8)}: other users could ${forbiddenBits === 0o022 ? "replace the key" : "read or replace the key"}; refusing it (chmod ${forbiddenBits === 0o022 ? "700" : "600"} it or delete it)`);
}

/** The persisted dev key, created on first use (directory 0700, file 0600, both the user's). */
export async function loadDevKey(env: Record<string, string | undefined> = process.env): Promise<DevKey> {
  const dir = devKeyDir(env);
  const file = join(dir, FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dirStat = await lstat(dir);
  if (!dirStat.isDirectory()) throw new UnsafeDevKey(`${dir} is not a directory (a symbolic link?): refusing the dev key`);
  checkOwned("directory", dir, dirStat, 0o022);
  const existing = await readOwnedFile(file);
  if (existing !== undefined) return parseKey(existing);
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const key: DevKey = { privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "RS256" }, publicJwk: { ...publicJwk, kid, alg: "RS256", use: "sig" } };
  try {
    // O_EXCL: never through an existing file or symbolic link.
    const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.writeFile(JSON.stringify(key));
    } finally {
      await handle.close();
    }
    return key;
  } catch (error) {
    // Another process created it first: use theirs, under the same checks.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const theirs = await readOwnedFile(file);
    if (theirs === undefined) throw error;
    return parseKey(theirs);
  }
}

/** The key file's text, or undefined when there is none; refuses a link, another user's file, or one others can read or write. */
async function readOwnedFile(file: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw new UnsafeDevKey(`${file} is a symbolic link: refusing the dev key`);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new UnsafeDevKey(`${file} is not a regular file: refusing the dev key`);
    checkOwned("file", file, stat, 0o077);
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
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
