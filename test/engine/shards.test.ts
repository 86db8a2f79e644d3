// Sharded windows end to end: the timer (runScheduled) splits a large window of a per-account
// rule into shards on Azurite's queue service, the shard function's path (consumeShards ->
// runShard) processes them through the real LogsQueryClient against the local query API, and
// state lives in Azurite's tables. A crashed shard is delivered again; alerts come out as in an
// unsharded run, each exactly once; the checkpoint waits for every shard; poison is reported.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { consumeShards, startShardWorker, type ShardHandler } from "../../src/cli/serve.js";
import type { Repositories } from "../../src/store/repositories.js";
import { runScheduled } from "../../src/engine/scheduled.js";
import type { ShardPort } from "../../src/engine/ports.js";
import { WINDOW_EVENT, type WindowRecord } from "../../src/engine/telemetry.js";
import { runShard, ShardMessage, SHARD_MAX_DEQUEUE, SHARD_RESEND_MS, shardCount, type ShardDeps, type Sharding, type ShardOutcome } from "../../src/engine/shards.js";
import { interactiveToNonInteractivePivot } from "../../src/rules/interactive-to-noninteractive-pivot.js";
import { intuneTokenReuse } from "../../src/rules/intune-token-reuse.js";
import { forkedSession } from "../../src/rules/forked-session.js";
import type { Rule } from "../../src/rules/rule.js";
import { rules } from "../../src/rules/index.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { createStores } from "../../src/store/index.js";
import { StorageQueue } from "../../src/store/queue.js";
import { ShardRepository } from "../../src/store/shards.js";
import { TableStore } from "../../src/store/tables.js";
import { DELAY, fakeSource, scheduledDeps } from "../support/detection-harness.js";
import { FakeLogAnalytics } from "../support/fake-log-analytics.js";
import { at, DAY, HOUR, interactiveSignIn, nonInteractiveSignIn } from "../support/replay-fixtures.js";
import { incidentPlanner } from "../../src/engine/planner.js";

const T = at("2026-11-16T10:00:00Z");
const MIN = 60_000;
const USERS = 32;
/** Small enough that the 32-user hour goes out as shards: 4 of them (4 × 10 ≥ 32 rows). */
const ROWS_PER_SHARD = 10;

let azurite: AzuriteTables;
let fake: FakeLogAnalytics;
beforeAll(async () => {
  azurite = await startAzurite({ queue: true });
});
afterAll(async () => azurite?.stop());
beforeEach(async () => {
  fake = await FakeLogAnalytics.start();
  fake.add("AADNonInteractiveUserSignInLogs", tenantNonInteractive());
  fake.add("SigninLogs", tenantInteractive());
});
afterEach(async () => fake.close());

const upn = (i: number) => `user${i}@contoso.com`;

/**
 * Each user: a baseline sighting two days back, a sign-in from a known network in the hour
 * 9-10, and in the hour 10-11 an Intune token from a new IP and ASN (the Intune rule alerts) in
 * another country 15 minutes after a single-factor interactive sign-in (the pivot alerts), in
 * the session of the 9-10 sign-in from another device and client (the forked-session rule alerts).
 */
function tenantNonInteractive() {
  const onLaptop = { DeviceDetail: JSON.stringify({ deviceId: "laptop", operatingSystem: "Windows10" }), UserAgent: "Windows-AzureAD-Authentication-Provider/1.0" };
  const elsewhere = { DeviceDetail: JSON.stringify({ deviceId: "", operatingSystem: "Linux" }), UserAgent: "python-requests/2.31" };
  return Array.from({ length: USERS }, (_, i) => [
    nonInteractiveSignIn({ time: T - 2 * DAY, upn: upn(i), ip: `10.0.0.${i + 1}`, asn: "100", resource: "Microsoft Intune", id: `hist-${i}` }),
    { ...nonInteractiveSignIn({ time: T - 30 * MIN, upn: upn(i), ip: `10.0.0.${i + 1}`, asn: "100", resource: "Microsoft Intune", id: `known-${i}` }), SessionId: `session-${i}`, ...onLaptop },
    { ...nonInteractiveSignIn({ time: T + 20 * MIN, upn: upn(i), ip: `198.51.100.${i + 1}`, asn: "64500", country: "FR", resource: "Microsoft Intune", id: `new-${i}` }), SessionId: `session-${i}`, ...elsewhere },
  ]).flat();
}
function tenantInteractive() {
  return Array.from({ length: USERS }, (_, i) => interactiveSignIn({ time: T + 5 * MIN, upn: upn(i), ip: `203.0.113.${i + 1}`, country: "US", id: `si-${i}` }));
}

interface World {
  stores: Repositories;
  store: TableStore;
  clock: { now: number };
  deps: ReturnType<typeof scheduledDeps>;
  queue: StorageQueue;
  shards: ShardRepository;
}

/**
 * Fresh tables and a fresh queue; sharded when `sharding` is given. Only `rule` is switched on
 * (or the rules given): the per-account rules share their reads and run together
 * (src/engine/shared-reads.ts), and most tests count one rule's shards.
 */
function world(rule: Rule | Rule[], options: { sharded: boolean; shardStore?: (repo: ShardRepository) => ShardPort }): World {
  const enabled = [rule].flat();
  const id = randomBytes(4).toString("hex");
  const store = new TableStore({ connectionString: azurite.connectionString, tablePrefix: `sh${id}` });
  const stores = createStores(store, incidentPlanner);
  const clock = { now: T + DELAY };
  const queue = new StorageQueue({ connectionString: azurite.connectionString, queueName: `shards-${id}` });
  const shards = new ShardRepository(store);
  const sharding: Sharding = { queue, shards: options.shardStore?.(shards) ?? shards, rowsPerShard: ROWS_PER_SHARD };
  const disabledRules = new Set(rules.filter((other) => !enabled.includes(other)).map((other) => other.meta.id));
  const deps = { ...scheduledDeps(fakeSource(fake), stores, clock), disabledRules, ...(options.sharded ? { sharding } : {}) };
  return { stores, store, clock, deps, queue, shards };
}

const shardDeps = (w: World): ShardDeps => ({ ...w.deps, sharding: w.deps.sharding! });
/** What the queue trigger calls, over the test's own stores. */
const handler = (w: World) => (message: unknown, dequeueCount: number) => runShard(message, dequeueCount, shardDeps(w));

async function alertIds(stores: Repositories, rule: Rule): Promise<string[]> {
  return (await stores.incidents.listAlerts()).filter((a) => a.ruleId === rule.meta.id).map((a) => a.id).sort();
}
async function incidentsOf(stores: Repositories, rule: Rule) {
  return (await stores.incidents.listIncidents())
    .filter((i) => i.ruleId === rule.meta.id)
    .map((i) => ({ account: i.account, alerts: [...i.alertIds].sort() }))
    .sort((a, b) => (a.account < b.account ? -1 : 1));
}
const checkpoint = async (w: World, rule: Rule) => (await w.stores.ruleState.get(rule.meta.id))?.windowEnd;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Consumes until three polls in a row find nothing (a failed delivery reappears after a second). */
async function drain(w: World, handle: ShardHandler = handler(w)) {
  const outcomes: string[] = [];
  for (let idle = 0; idle < 3; ) {
    const received = await consumeShards(w.queue, handle, { visibilityTimeoutSeconds: 1, onOutcome: (o) => outcomes.push(o.status) });
    if (received > 0) idle = 0;
    else if (++idle < 3) await sleep(600);
  }
  return outcomes;
}

/** Processes exactly one message (polling briefly: Azurite makes a new message visible within a second). */
async function consumeOne(w: World) {
  for (let attempt = 0; attempt < 20; attempt++) {
    let failure: unknown;
    let outcome: ShardOutcome | undefined;
    const received = await consumeShards(w.queue, handler(w), { onError: (error) => (failure = error), onOutcome: (o) => (outcome = o) });
    if (failure) throw failure;
    if (received === 1) return outcome;
    await sleep(250);
  }
  throw new Error("no shard message arrived");
}

/** A Shards table whose first commit of a matching shard dies after the shard's alerts were stored (the process was killed). */
function crashingCommit(matches: (ruleId: string, index: number) => boolean) {
  const crash = {
    /** Commits that died: one, once a matching shard committed. */
    crashed: 0,
    store: (repo: ShardRepository): ShardPort => {
      const store: ShardPort = Object.create(repo) as ShardPort;
      store.change = async (ruleId, windowEnd, index, change) =>
        repo.change(ruleId, windowEnd, index, (current) => {
          const next = change(current);
          if (next?.status === "committed" && matches(ruleId, index) && crash.crashed === 0) {
            crash.crashed++;
            throw new Error("process died before the commit");
          }
          return next;
        });
      return store;
    },
  };
  return crash;
}

/** A world whose rule read 32 rows in the window 9-10 and whose timer then sent the window 10-11 out as 4 shards. */
async function shardedWindow(rule: Rule): Promise<World> {
  const w = world(rule, { sharded: true });
  await runScheduled(rule.meta.id, w.deps);
  w.clock.now = T + HOUR + DELAY;
  expect((await runScheduled(rule.meta.id, w.deps)).status).toBe("sharded");
  return w;
}

/** The unsharded reference: the same two timer runs without a queue. */
async function unsharded(rule: Rule) {
  const w = world(rule, { sharded: false });
  await runScheduled(rule.meta.id, w.deps);
  w.clock.now = T + HOUR + DELAY;
  const outcome = await runScheduled(rule.meta.id, w.deps);
  expect(outcome.status).toBe("ok");
  return { alerts: await alertIds(w.stores, rule), incidents: await incidentsOf(w.stores, rule) };
}

describe("sharded windows on Azure Storage Queues (Azurite)", () => {
  it("splits by the previous window's rows: a power of two, capped", () => {
    expect(shardCount(0, 10)).toBe(1);
    expect(shardCount(10, 10)).toBe(1);
    expect(shardCount(11, 10)).toBe(2);
    expect(shardCount(32, 10)).toBe(4);
    expect(shardCount(1e9, 10)).toBe(512);
  });

  it("a plan of more than 100 shards cut short between its transactions is completed by the next timer run; the checkpoint waits", async () => {
    // The Shards table as a process that died after the plan's first transaction of 100 shards.
    let cut = false;
    const w = world(intuneTokenReuse, {
      sharded: true,
      shardStore: (repo) => {
        const store: ShardPort = Object.create(repo) as ShardPort;
        store.plan = async (shards) => {
          if (cut || shards.length <= 100) return repo.plan(shards);
          cut = true;
          await repo.plan(shards.slice(0, 100));
          throw new Error("process died between the plan's transactions");
        };
        return store;
      },
    });
    expect((await runScheduled(intuneTokenReuse.meta.id, w.deps)).status).toBe("ok"); // 9-10, unsharded
    await w.shards.recordLoad(intuneTokenReuse.meta.id, T, 256 * ROWS_PER_SHARD); // as if 9-10 had read 2,560 rows
    w.clock.now = T + HOUR + DELAY;
    await expect(runScheduled(intuneTokenReuse.meta.id, w.deps)).rejects.toThrow(/between the plan's transactions/);
    expect(await w.shards.window(intuneTokenReuse.meta.id, T)).toHaveLength(100);
    expect(await w.queue.depth()).toBe(0); // recorded before sent: nothing went out

    const outcome = await runScheduled(intuneTokenReuse.meta.id, w.deps);
    expect(outcome).toMatchObject({ status: "sharded", step: { window: { start: T, end: T + HOUR } } });
    const plan = await w.shards.window(intuneTokenReuse.meta.id, T);
    expect(plan.map((s) => s.index)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(new Set(plan.map((s) => s.count))).toEqual(new Set([256]));
    // The 156 shards the cut plan lacked went out; the first 100 wait for SHARD_RESEND_MS, as any shard whose message is lost.
    const sent: number[] = [];
    while ((await w.queue.consume(async ({ body }) => void sent.push(ShardMessage.parse(body).index), { max: 32 })) > 0);
    expect(sent.sort((a, b) => a - b)).toEqual(Array.from({ length: 156 }, (_, i) => 100 + i));
    expect(await checkpoint(w, intuneTokenReuse)).toBe(T);
  });

  it("a message names the rules of its slice; one of the previous release (one ruleId) reads as naming that rule", () => {
    const slice = { windowStart: T, windowEnd: T + HOUR, count: 4, index: 1 };
    expect(ShardMessage.parse({ ruleId: "a", ...slice })).toEqual({ ruleIds: ["a"], ...slice });
    expect(ShardMessage.safeParse({ ruleIds: ["a", "a"], ...slice }).success).toBe(false);
    expect(ShardMessage.safeParse({ ruleIds: [], ...slice }).success).toBe(false);
    expect(ShardMessage.safeParse({ ruleIds: ["a"], ...slice, index: 4 }).success).toBe(false);
  });

  it("host.json hands the shard function one message at a time and poisons after SHARD_MAX_DEQUEUE deliveries", () => {
    const host = JSON.parse(readFileSync(new URL("../../host.json", import.meta.url), "utf8")) as { extensions?: { queues?: Record<string, unknown> } };
    expect(host.extensions?.queues).toMatchObject({ batchSize: 1, newBatchThreshold: 0, maxDequeueCount: SHARD_MAX_DEQUEUE });
  });

  for (const rule of [intuneTokenReuse, interactiveToNonInteractivePivot, forkedSession]) {
    it(`${rule.meta.name}: a shard that crashes after storing its alerts is delivered again; the alerts are an unsharded run's, each once`, async () => {
      const reference = await unsharded(rule);
      expect(reference.alerts).toHaveLength(USERS);

      // Shard 3's first commit dies after its alerts were stored (the process was killed).
      const crash = crashingCommit((_ruleId, index) => index === 2);
      const w = world(rule, { sharded: true, shardStore: crash.store });
      const first = await runScheduled(rule.meta.id, w.deps); // window 9-10: 32 rows, unsharded, its load recorded
      expect(first.status).toBe("ok");
      w.clock.now = T + HOUR + DELAY;
      const second = await runScheduled(rule.meta.id, w.deps);
      if (second.status !== "sharded") throw new Error(`expected a sharded window, got ${second.status}`);
      expect(second.step.shards.map((s) => [s.index, s.count])).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
      expect(await checkpoint(w, rule)).toBe(T);

      const outcomes = await drain(w);
      expect(outcomes.filter((o) => o === "committed")).toHaveLength(4);
      expect(crash.crashed).toBe(1); // it crashed once, then committed
      expect(await checkpoint(w, rule)).toBe(T + HOUR);
      const alerts = await alertIds(w.stores, rule);
      expect(alerts).toEqual(reference.alerts);
      expect(new Set(alerts).size).toBe(alerts.length);
      expect(await incidentsOf(w.stores, rule)).toEqual(reference.incidents);
      // Each query of a shard named its slice, and no row was read twice by the shards' first stage.
      const shardQueries = fake.requests.filter((r) => r.query?.shard && r.query.arrived.from === T);
      expect(new Set(shardQueries.map((r) => r.query!.shard!.index))).toEqual(new Set([0, 1, 2, 3]));
      // A redelivery of a committed shard changes nothing.
      await w.queue.send([{ ruleIds: [rule.meta.id], windowStart: T, windowEnd: T + HOUR, count: 4, index: 0 }]);
      expect(await drain(w)).toEqual(["skipped"]);
      expect(await alertIds(w.stores, rule)).toEqual(reference.alerts);
    });
  }

  it("the rules that share reads shard a window alike: one message per slice runs all three over one read; a slice that fails for one rule is redone for it alone", async () => {
    const group = [intuneTokenReuse, interactiveToNonInteractivePivot, forkedSession];
    const references = await Promise.all(group.map((rule) => unsharded(rule)));
    fake.requests.length = 0;
    // The forked-session rule's commit of slice 3 dies once; the others' commits of it stand.
    const crash = crashingCommit((ruleId, index) => ruleId === forkedSession.meta.id && index === 2);
    const w = world(group, { sharded: true, shardStore: crash.store });
    expect((await runScheduled(intuneTokenReuse.meta.id, w.deps)).status).toBe("ok"); // 9-10: the group, unsharded
    w.clock.now = T + HOUR + DELAY;
    const outcome = await runScheduled(intuneTokenReuse.meta.id, w.deps);
    if (outcome.status !== "sharded") throw new Error(`expected a sharded window, got ${outcome.status}`);
    // The group's rules planned the same four slices; their messages went out as one per slice.
    for (const rule of group) expect((await w.shards.window(rule.meta.id, T)).map((s) => [s.index, s.count])).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
    expect(await w.queue.depth()).toBe(4);

    const delivered: string[][] = [];
    const recording = (message: unknown, dequeueCount: number) => {
      expect((message as { ruleIds: string[] }).ruleIds).toHaveLength(3);
      return runShard(message, dequeueCount, shardDeps(w)).then((o) => (delivered.push(o.status === "skipped" ? [] : o.reports.map((r) => r.ruleId)), o));
    };
    await drain(w, recording);
    expect(crash.crashed).toBe(1);
    // Four deliveries ran all three rules; the redelivered slice ran only the rule whose commit died.
    expect(delivered.filter((ids) => ids.length === 3)).toHaveLength(3);
    expect(delivered.filter((ids) => ids.length === 1)).toEqual([[forkedSession.meta.id]]);
    for (const [i, rule] of group.entries()) {
      expect(await checkpoint(w, rule)).toBe(T + HOUR);
      expect(await alertIds(w.stores, rule)).toEqual(references[i]!.alerts);
      expect(await incidentsOf(w.stores, rule)).toEqual(references[i]!.incidents);
    }
    // Each slice's first stage read each sign-in table once for the three rules (twice for the slice delivered again).
    const firstStage = fake.requests.filter((r) => r.query?.shard && r.query.arrived.from === T && !r.query.accounts);
    for (const table of ["AADNonInteractiveUserSignInLogs", "SigninLogs"])
      for (const index of [0, 1, 2, 3]) expect(firstStage.filter((r) => r.query!.table === table && r.query!.shard!.index === index)).toHaveLength(index === 2 ? 2 : 1);
    // The last slice to commit finished each rule's window, and its health counts the window.
    const finished = new Map<string, number>();
    for (const rule of group) {
      const health = await w.stores.ruleState.health(rule.meta.id);
      expect(health).toMatchObject({ lastSuccessfulWindowEnd: T + HOUR, windowsProcessed: 1, failing: false });
      expect(health?.rowsRead).toBe((await w.shards.lastLoad(rule.meta.id))?.rows);
      finished.set(rule.meta.id, health!.rowsRead);
    }
    // The next timer run only plans the next window's slices: the health still tells of the window last finished.
    w.clock.now = T + 2 * HOUR + DELAY;
    const next = await runScheduled(intuneTokenReuse.meta.id, w.deps);
    expect(next.status).toBe("sharded");
    for (const rule of group) {
      const health = await w.stores.ruleState.health(rule.meta.id);
      expect(health).toMatchObject({ lastSuccessfulWindowEnd: T + HOUR, windowsProcessed: 1, rowsRead: finished.get(rule.meta.id), failing: false });
      expect(health?.rowsRead).toBeGreaterThan(0);
    }
  });

  it("the slices of a window run at once, as instances scaled out run them: each commits on its first delivery, with an unsharded run's alerts", async () => {
    const group = [intuneTokenReuse, interactiveToNonInteractivePivot, forkedSession];
    const references = await Promise.all(group.map((rule) => unsharded(rule)));
    const w = world(group, { sharded: true });
    expect((await runScheduled(intuneTokenReuse.meta.id, w.deps)).status).toBe("ok"); // 9-10: the group, unsharded
    w.clock.now = T + HOUR + DELAY;
    expect((await runScheduled(intuneTokenReuse.meta.id, w.deps)).status).toBe("sharded");
    const messages: unknown[] = [];
    while ((await w.queue.consume(async ({ body }) => void messages.push(body), { max: 32 })) > 0);
    expect(messages).toHaveLength(4);
    const outcomes = await Promise.allSettled(messages.map((message) => runShard(message, 1, shardDeps(w))));
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value.status : String(o.reason)))).toEqual(["committed", "committed", "committed", "committed"]);
    for (const [i, rule] of group.entries()) {
      expect(await checkpoint(w, rule)).toBe(T + HOUR);
      expect(await alertIds(w.stores, rule)).toEqual(references[i]!.alerts);
      expect(await incidentsOf(w.stores, rule)).toEqual(references[i]!.incidents);
    }
  });

  it("expired sessions are reclaimed once per sharded window, by whoever finishes it, not by each slice", async () => {
    const w = await shardedWindow(forkedSession);
    const purged: number[] = [];
    const sessions = w.stores.sessions;
    const purge = sessions.purge.bind(sessions);
    sessions.purge = async (bucket, since) => (purged.push(bucket), purge(bucket, since));
    await drain(w);
    expect(await checkpoint(w, forkedSession)).toBe(T + HOUR);
    expect(purged).toEqual([(T + HOUR) / HOUR]);
  });

  it("the checkpoint stays until every shard has committed, whoever runs meanwhile", async () => {
    const rule = intuneTokenReuse;
    const w = await shardedWindow(rule);
    for (let committed = 1; committed <= 3; committed++) {
      expect((await consumeOne(w))?.status).toBe("committed");
      expect(await checkpoint(w, rule)).toBe(T);
      // The timer's run meanwhile neither moves the checkpoint nor runs the window itself.
      const outcome = await runScheduled(rule.meta.id, w.deps);
      if (outcome.status !== "sharded") throw new Error(outcome.status);
      expect(outcome.step.shards.filter((s) => s.status === "committed")).toHaveLength(committed);
      expect(outcome.step.sent).toBe(0);
      expect(outcome.health.lastSuccessfulWindowEnd).toBe(T);
    }
    await consumeOne(w);
    expect(await checkpoint(w, rule)).toBe(T + HOUR);
    expect(await w.shards.window(rule.meta.id, T)).toEqual([]);
    expect((await w.shards.lastLoad(rule.meta.id))?.rows).toBe(USERS);
  });

  it("serve's shard worker (the queue trigger's stand-in) works the shards off until the checkpoint moves", async () => {
    const rule = interactiveToNonInteractivePivot;
    const w = await shardedWindow(rule);
    const lines: string[] = [];
    const worker = startShardWorker(w.queue, handler(w), (line) => lines.push(line), 200);
    try {
      for (let i = 0; i < 100 && (await checkpoint(w, rule)) !== T + HOUR; i++) await sleep(200);
    } finally {
      await worker.stop();
    }
    expect(await checkpoint(w, rule)).toBe(T + HOUR);
    expect(lines.filter((l) => l.startsWith(`shard of ${rule.meta.id}`))).toHaveLength(4);
    expect(await alertIds(w.stores, rule)).toHaveLength(USERS);
  });

  it("each shard delivery writes its window record, as an unsharded window does: its rows, alerts, held-back events, duration and slice", async () => {
    const rule = intuneTokenReuse;
    const w = await shardedWindow(rule);
    // Shard 3's first delivery fails at its query (a 400 is not retried), the second commits.
    fake.inject({ kind: "status", status: 400 }, { times: 1, match: (q) => q.shard?.index === 2 });
    const lines: { level: string; record: WindowRecord }[] = [];
    const logger = { info: (m: string) => lines.push({ level: "info", record: JSON.parse(m) as WindowRecord }), error: (m: string) => lines.push({ level: "error", record: JSON.parse(m) as WindowRecord }) };
    const logged = (message: unknown, dequeueCount: number) => runShard(message, dequeueCount, { ...shardDeps(w), logger });
    // Until the last shard moves the checkpoint (the failed delivery reappears after a second).
    for (let i = 0; i < 100 && (await checkpoint(w, rule)) !== T + HOUR; i++) {
      if ((await consumeShards(w.queue, logged, { visibilityTimeoutSeconds: 1 })) === 0) await sleep(250);
    }
    expect(await checkpoint(w, rule)).toBe(T + HOUR);

    const failed = lines.filter((l) => l.level === "error").map((l) => l.record);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ event: WINDOW_EVENT, ruleId: rule.meta.id, outcome: "error", shard: { count: 4, index: 2 }, windowStart: new Date(T).toISOString() });
    const ok = lines.filter((l) => l.level === "info").map((l) => l.record);
    expect(ok.map((r) => r.shard?.index).sort()).toEqual([0, 1, 2, 3]);
    for (const r of ok) {
      expect(r).toMatchObject({ event: WINDOW_EVENT, ruleId: rule.meta.id, rule: rule.meta.name, outcome: "ok", error: null, windowStart: new Date(T).toISOString(), windowEnd: new Date(T + HOUR).toISOString() });
      expect(r.shard?.count).toBe(4);
      expect(r.durationMs).toBeGreaterThan(0);
      expect(r.rowsRead).toBeGreaterThan(0);
    }
    // Together the shards' records account for the window: every row and every alert (one per user), as the window's load records them.
    const sum = (f: (r: WindowRecord) => number) => ok.reduce((n, r) => n + f(r), 0);
    expect(sum((r) => r.alerts)).toBe(USERS);
    expect(sum((r) => r.rowsRead)).toBe(USERS);
    expect(sum((r) => r.eventsHeldBack)).toBe(0);
    expect((await w.shards.lastLoad(rule.meta.id))?.rows).toBe(sum((r) => r.rowsRead));
  });

  it("shards whose messages were lost are sent again by the timer once SHARD_RESEND_MS has passed", async () => {
    const rule = intuneTokenReuse;
    const w = world(rule, { sharded: true });
    await runScheduled(rule.meta.id, w.deps);
    w.clock.now = T + HOUR + DELAY;
    // The plan is recorded, then the process dies before its messages reach the queue.
    const lost = { ...w.deps, sharding: { ...w.deps.sharding!, queue: { send: async () => {} } } };
    expect((await runScheduled(rule.meta.id, lost)).status).toBe("sharded");
    expect(await drain(w)).toEqual([]);
    const early = await runScheduled(rule.meta.id, w.deps);
    expect(early.status === "sharded" && early.step.sent).toBe(0); // not yet: the messages may be on their way
    w.clock.now = T + HOUR + DELAY + SHARD_RESEND_MS;
    const late = await runScheduled(rule.meta.id, w.deps);
    expect(late.status === "sharded" && late.step.sent).toBe(4);
    expect(await drain(w)).toEqual(["committed", "committed", "committed", "committed"]);
    expect(await checkpoint(w, rule)).toBe(T + HOUR);
  });

  it("a shard that fails every delivery is poisoned, reported in the rule's health, and sent again by the next timer run", async () => {
    const rule = intuneTokenReuse;
    const w = await shardedWindow(rule);
    // Shard 2's query is refused on every delivery (a 400 is not retried).
    fake.inject({ kind: "status", status: 400 }, { times: SHARD_MAX_DEQUEUE, match: (q) => q.shard?.index === 1 });
    const outcomes = await drain(w);
    expect(outcomes.filter((o) => o === "committed")).toHaveLength(3);
    expect(outcomes.filter((o) => o === "poisoned")).toHaveLength(1);
    expect(await checkpoint(w, rule)).toBe(T);
    const health = await w.stores.ruleState.health(rule.meta.id);
    expect(health?.failing).toBe(true);
    expect(health?.lastError).toMatch(/shard 2 of 4 of window 2026-11-16T10:00:00.000Z\.\.2026-11-16T11:00:00.000Z poisoned after 5 deliveries/);

    const next = await runScheduled(rule.meta.id, w.deps);
    if (next.status !== "sharded") throw new Error(next.status);
    expect(next.health.failing).toBe(true);
    expect(next.health.lastError).toMatch(/1 of 4 shards .* poisoned/);
    expect(next.step.sent).toBe(1);
    expect(await drain(w)).toEqual(["committed"]);
    expect(await checkpoint(w, rule)).toBe(T + HOUR);
    const reference = await unsharded(rule);
    expect(await alertIds(w.stores, rule)).toEqual(reference.alerts);
    const healed = await runScheduled(rule.meta.id, { ...w.deps, now: () => T + HOUR + DELAY });
    expect(healed.status === "ok" && healed.health.failing).toBe(false);
  });
});
