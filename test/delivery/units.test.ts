import type { TransactionAction } from "@azure/data-tables";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { targetPolicy } from "../../src/delivery/index.js";
import { packTransactions } from "../../src/store/outbox.js";
import { BACKOFF_CEILINGS_MS, backoff, MAX_ATTEMPTS, MAX_RETRY_AFTER_MS, parseRetryAfter, RETRY_WINDOW_MS } from "../../src/delivery/schedule.js";
import { WEBHOOK_EVENT_JSON_SCHEMA } from "../../src/delivery/schema.js";
import { generateSecret, signHeaders } from "../../src/delivery/signing.js";
import { checkUrl, isBlockedAddress, resolveTarget, TargetRefused, type TargetPolicy } from "../../src/delivery/targets.js";

const STRICT: TargetPolicy = { allowHttp: false, allowPrivate: false };

describe("target safety", () => {
  it.each([
    "127.0.0.1",
    "127.5.6.7",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",
    "169.254.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",
    "ff02::1",
  ])("blocks %s", (ip) => expect(isBlockedAddress(ip)).toBe(true));

  it.each(["8.8.8.8", "1.1.1.1", "20.190.128.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])("allows %s", (ip) =>
    expect(isBlockedAddress(ip)).toBe(false),
  );

  it("accepts only https unless http is allowed, and no credentials in the URL", () => {
    expect(() => checkUrl("http://hooks.example.com/x", STRICT)).toThrow(TargetRefused);
    expect(checkUrl("http://hooks.example.com/x", { allowHttp: true, allowPrivate: false }).host).toBe("hooks.example.com");
    expect(() => checkUrl("ftp://hooks.example.com/x", { allowHttp: true, allowPrivate: true })).toThrow(/only http and https/);
    expect(() => checkUrl("https://user:pw@hooks.example.com/", STRICT)).toThrow(/credentials/);
    expect(() => checkUrl("https://169.254.169.254/latest/meta-data", STRICT)).toThrow(/metadata/);
    expect(() => checkUrl("https://[fd00:ec2::254]/", STRICT)).toThrow(TargetRefused);
    expect(checkUrl("https://[fd00:ec2::254]/", { allowHttp: false, allowPrivate: true }).protocol).toBe("https:");
  });

  it("checks every resolved address, not the name", async () => {
    const resolver = (answers: string[]) => async () => answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    await expect(resolveTarget("https://rebind.example.com/", STRICT, resolver(["10.0.0.5"]))).rejects.toThrow(/resolves to 10.0.0.5/);
    await expect(resolveTarget("https://mixed.example.com/", STRICT, resolver(["20.190.128.1", "169.254.169.254"]))).rejects.toThrow(/169.254.169.254/);
    await expect(resolveTarget("https://v6.example.com/", STRICT, resolver(["fd00:ec2::254"]))).rejects.toThrow(TargetRefused);
    const ok = await resolveTarget("https://hooks.example.com/", STRICT, resolver(["20.190.128.1", "2606:4700:4700::1111"]));
    expect(ok).toMatchObject({ address: "20.190.128.1", family: 4 });
    // The real resolver: "localhost" is loopback.
    await expect(resolveTarget("https://localhost/", STRICT)).rejects.toThrow(/loopback/);
  });

  it("reads the operator's allow flags from the config", () => {
    expect(targetPolicy(loadConfig({}))).toEqual({ allowHttp: false, allowPrivate: false });
    expect(targetPolicy(loadConfig({ TOKENWATCH_WEBHOOK_ALLOW_HTTP: "true", TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: "true" }))).toEqual({ allowHttp: true, allowPrivate: true });
    expect(() => loadConfig({ TOKENWATCH_WEBHOOK_ALLOW_HTTP: "yes" })).toThrow(/TOKENWATCH_WEBHOOK_ALLOW_HTTP/);
  });
});

describe("retry schedule", () => {
  it("backs off with full jitter under growing ceilings that add up to about a day", () => {
    const total = BACKOFF_CEILINGS_MS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(22 * 3_600_000);
    expect(total).toBeLessThan(24 * 3_600_000);
    for (let i = 1; i < BACKOFF_CEILINGS_MS.length; i++) expect(BACKOFF_CEILINGS_MS[i]!).toBeGreaterThanOrEqual(BACKOFF_CEILINGS_MS[i - 1]!);
    const t0 = Date.parse("2026-11-22T00:00:00Z");
    expect(backoff(1, t0, t0, () => 0.999999)).toBeLessThanOrEqual(30_000);
    expect(backoff(3, t0, t0, () => 0.5)).toBe(300_000);
    expect(backoff(1, t0, t0, () => 0)).toBe(1_000);
    expect(backoff(MAX_ATTEMPTS - 1, t0, t0 + 2 * RETRY_WINDOW_MS, () => 0.5)).not.toBeNull();
    expect(backoff(MAX_ATTEMPTS, t0, t0 + RETRY_WINDOW_MS, () => 0.5)).toBeNull();
    // Jitter made the series short: it goes on, with the last ceiling, until a day has passed.
    expect(backoff(MAX_ATTEMPTS, t0, t0 + 3_600_000, () => 0.5)).toBe(BACKOFF_CEILINGS_MS.at(-1)! / 2);
    expect(backoff(MAX_ATTEMPTS + 3, t0, t0 + RETRY_WINDOW_MS - 1, () => 0.5)).not.toBeNull();
  });

  it("parses Retry-After as seconds or an HTTP date, capped", () => {
    const now = Date.parse("2026-11-22T10:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("Sun, 22 Nov 2026 10:05:00 GMT", now)).toBe(300_000);
    expect(parseRetryAfter("Sun, 22 Nov 2026 09:05:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("999999", now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter("-5", now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});

describe("signing", () => {
  it("makes Standard Webhooks secrets and signatures, one per active secret", () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), "base64")).toHaveLength(32);
    const at = new Date();
    const headers = signHeaders([b, a], "msg_1", at, '{"x":1}');
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(new Webhook(a).verify('{"x":1}', { ...headers })).toEqual({ x: 1 });
    expect(new Webhook(b).verify('{"x":1}', { ...headers })).toEqual({ x: 1 });
    expect(() => new Webhook(generateSecret()).verify('{"x":1}', { ...headers })).toThrow();
  });
});

describe("outbox packing", () => {
  const action = (n: number): TransactionAction => ["upsert", { partitionKey: "p", rowKey: String(n) }];
  it("puts everything in one transaction when it fits", () => {
    const txs = packTransactions([action(1), action(2)], [[action(3), action(4)]]);
    expect(txs).toHaveLength(1);
  });
  it("never splits an incident from its outbox row, and keeps alerts first", () => {
    const alerts = Array.from({ length: 99 }, (_, i) => action(i));
    const groups = Array.from({ length: 60 }, (_, i) => [action(1000 + i), action(2000 + i)]);
    const txs = packTransactions(alerts, groups);
    for (const tx of txs) expect(tx.length).toBeLessThanOrEqual(100);
    const where = (key: string) => txs.findIndex((tx) => tx.some((a) => (a[1] as { rowKey: string }).rowKey === key));
    for (let i = 0; i < 60; i++) expect(where(String(1000 + i))).toBe(where(String(2000 + i)));
    expect(txs.flat()).toHaveLength(99 + 120);
    expect(txs[0]!.slice(0, 99)).toEqual(alerts);
  });
});

describe("payload schema", () => {
  it("exports a JSON Schema of the CloudEvents payload", () => {
    const schema = WEBHOOK_EVENT_JSON_SCHEMA as { properties: Record<string, { const?: string }>; required: string[] };
    expect(schema.required).toEqual(expect.arrayContaining(["specversion", "id", "source", "type", "time", "datacontenttype", "data"]));
    expect(schema.properties.specversion!.const).toBe("1.0");
  });
});
