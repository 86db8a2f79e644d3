// Dev mode's trust is a key file on this machine, so it is allowed only where that is the
// whole story: no hosting platform's marker in the environment, a loopback listener, and a
// key file nobody else can have written. And the Entra JWKS comes over https.
import { chmod, chown, lstat, mkdir, mkdtemp, stat, symlink, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { devKeyDir, loadDevKey, UnsafeDevKey } from "../../src/api/dev-auth.js";
import { startServe } from "../../src/cli/serve.js";
import { HOSTED_MARKERS, loadConfig } from "../../src/config.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fresh = () => mkdtemp(join(tmpdir(), "tw-devkey-"));

describe("dev mode is refused in a hosted environment", () => {
  it.each(HOSTED_MARKERS)("%s set: TOKENWATCH_DEV_MODE=true is refused, naming the marker", (marker) => {
    expect(() => loadConfig({ TOKENWATCH_DEV_MODE: "true", [marker]: "x" })).toThrow(new RegExp(`TOKENWATCH_DEV_MODE: .*hosted environment \\(${marker} set\\)`));
    expect(loadConfig({ [marker]: "x" }).TOKENWATCH_DEV_MODE).toBe(false);
  });

  it("covers App Service, Container Apps, Kubernetes and managed identity endpoints", () => {
    for (const m of ["WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "CONTAINER_APP_NAME", "KUBERNETES_SERVICE_HOST", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"]) expect(HOSTED_MARKERS).toContain(m);
    expect(loadConfig({ TOKENWATCH_DEV_MODE: "true", KUBERNETES_SERVICE_HOST: "" }).TOKENWATCH_DEV_MODE).toBe(true); // empty is unset
  });

  it("serve refuses to start on a hosted platform, or on a non-loopback address", async () => {
    process.env.TOKENWATCH_HOME = await fresh();
    const start = (host?: string) => startServe({ port: 0, stepMs: 60_000, users: 10, log: () => undefined, ...(host ? { host } : {}) });
    process.env.CONTAINER_APP_NAME = "tokenwatch";
    try {
      await expect(start()).rejects.toThrow(/CONTAINER_APP_NAME set/);
    } finally {
      delete process.env.CONTAINER_APP_NAME;
    }
    await expect(start("0.0.0.0")).rejects.toThrow(/loopback address, not 0\.0\.0\.0/);
  });
});

describe("the Functions host", () => {
  // The built app, loaded the way the Functions worker loads it (scripts/functions-host-harness.mjs).
  const load = (env: Record<string, string>) =>
    spawnSync(process.execPath, [join(root, "scripts", "functions-host-harness.mjs"), join(root, "dist", "bundle")], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });

  it("refuses dev mode (its listening address is not the app's to check), and starts without it", () => {
    const refused = load({ TOKENWATCH_DEV_MODE: "true" });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/TOKENWATCH_DEV_MODE: the Functions host does not accept dev tokens/);
    const hosted = load({ TOKENWATCH_DEV_MODE: "true", CONTAINER_APP_NAME: "tokenwatch" });
    expect(hosted.stderr).toMatch(/hosted environment \(CONTAINER_APP_NAME set\)/);
    const started = load({});
    expect(started.status, started.stderr).toBe(0);
  });
});

describe("the dev key file", () => {
  it("is created 0600 in a 0700 directory the user owns, and read back", async () => {
    const dir = join(await fresh(), "nested", "home");
    const key = await loadDevKey({ TOKENWATCH_HOME: dir });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "dev-key.json"))).mode & 0o777).toBe(0o600);
    expect((await loadDevKey({ TOKENWATCH_HOME: dir })).publicJwk.kid).toBe(key.publicJwk.kid);
  });

  it("lives under the home directory by default, never in a shared temporary directory", () => {
    expect(devKeyDir({})).toMatch(/\.tokenwatch$/);
    expect(devKeyDir({}).startsWith(tmpdir())).toBe(false);
  });

  it("is refused in a directory others can write to (a planted key), with no fallback", async () => {
    const dir = await fresh();
    await loadDevKey({ TOKENWATCH_HOME: dir });
    await chmod(dir, 0o1777); // like /tmp
    await expect(loadDevKey({ TOKENWATCH_HOME: dir })).rejects.toThrow(UnsafeDevKey);
    await chmod(dir, 0o770);
    await expect(loadDevKey({ TOKENWATCH_HOME: dir })).rejects.toThrow(/mode 770/);
  });

  it("is refused when others can read or write the file", async () => {
    const dir = await fresh();
    await loadDevKey({ TOKENWATCH_HOME: dir });
    await chmod(join(dir, "dev-key.json"), 0o644);
    await expect(loadDevKey({ TOKENWATCH_HOME: dir })).rejects.toThrow(/mode 644/);
  });

  it("is refused when it is a symbolic link, or the directory is one", async () => {
    const elsewhere = await fresh();
    const planted = join(elsewhere, "key.json");
    await writeFile(planted, "{}", { mode: 0o600 });
    const dir = await fresh();
    await symlink(planted, join(dir, "dev-key.json"));
    await expect(loadDevKey({ TOKENWATCH_HOME: dir })).rejects.toThrow(/symbolic link/);
    const linkedDir = join(await fresh(), "home");
    await symlink(elsewhere, linkedDir);
    await expect(loadDevKey({ TOKENWATCH_HOME: linkedDir })).rejects.toThrow(/not a directory/);
    expect((await lstat(linkedDir)).isSymbolicLink()).toBe(true);
  });

  it.skipIf(process.getuid?.() !== 0)("is refused when another user owns the file or the directory", async () => {
    const dir = await fresh();
    await loadDevKey({ TOKENWATCH_HOME: dir });
    await chown(join(dir, "dev-key.json"), 4242, 4242);
    await expect(loadDevKey({ TOKENWATCH_HOME: dir })).rejects.toThrow(/belongs to uid 4242/);
    const other = join(await fresh(), "theirs");
    await mkdir(other, { mode: 0o700 });
    await chown(other, 4242, 4242);
    await expect(loadDevKey({ TOKENWATCH_HOME: other })).rejects.toThrow(/belongs to uid 4242/);
  });
});

describe("the JWKS URL", () => {
  it("must be https, except from a loopback address", () => {
    const jwks = (url: string) => loadConfig({ TOKENWATCH_AUTH_JWKS_URL: url }).TOKENWATCH_AUTH_JWKS_URL;
    for (const url of ["http://keys.example.com/jwks", "http://10.0.0.4/keys", "http://169.254.169.254/keys", "http://localhost.example.com/keys"])
      expect(() => jwks(url), url).toThrow(/TOKENWATCH_AUTH_JWKS_URL: the signing keys must come over https/);
    for (const url of ["https://login.microsoftonline.com/t/discovery/v2.0/keys", "http://127.0.0.1:8080/keys", "http://[::1]:8080/keys", "http://localhost:9/keys"]) expect(jwks(url)).toBe(url);
  });
});
