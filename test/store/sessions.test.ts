// The Sessions table against Azurite, and the in-memory store a backfill uses, held to the
// same behaviour: a state reads back as written, values past the lifetime are forgotten on
// read, an expired session is absent, and the purge deletes one bucket's expired sessions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromMs } from "../../src/model/time.js";
import { remember } from "../../src/rules/sessions.js";
import type { SessionState } from "../../src/model/sessions.js";
import { startAzurite, type AzuriteTables } from "../../src/store/azurite.js";
import { MemorySessions } from "../../src/store/memory.js";
import { bucketOf, BUCKETS, SessionRepository } from "../../src/store/sessions.js";
import { TableStore } from "../../src/store/tables.js";
import { row } from "../support/rows.js";

let azurite: AzuriteTables;
let prefix = 0;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => azurite.stop());

const DAY = 86_400_000;
const NI = "AADNonInteractiveUserSignInLogs";
const T0 = Date.parse("2026-11-01T10:00:00Z");

/** `count` session ids in one hash bucket, some with characters keys must encode. */
function sessionsInOneBucket(count: number): string[] {
  const names = ["a/b?c#d", "o'brien|1", "plain-0"];
  const bucket = bucketOf(names[0]!);
  const out = names.filter((n) => bucketOf(n) === bucket);
  for (let i = 0; out.length < count; i++) if (bucketOf(`s-${i}`) === bucket) out.push(`s-${i}`);
  return out;
}

/** A session used from the office at `ms`, and from home a day later. */
function session(id: string, ms = T0): SessionState {
  const at = (t: number) => new Date(t).toISOString();
  const office = row(NI, { SessionId: id, TimeGenerated: at(ms), AutonomousSystemNumber: "8075", UserAgent: "Windows-AzureAD-Authentication-Provider/1.0" });
  const home = row(NI, { SessionId: id, TimeGenerated: at(ms + DAY), AutonomousSystemNumber: "7922", UserAgent: "Windows-AzureAD-Authentication-Provider/1.0" });
  return remember(remember(undefined, office), home);
}

const stores = {
  table: () => new SessionRepository(new TableStore({ connectionString: azurite.connectionString, tablePrefix: `s${++prefix}` })),
  memory: () => new MemorySessions(),
};

for (const [name, make] of Object.entries(stores)) {
  describe(`session state (${name})`, () => {
    it("reads back every session of a crowded bucket (more than one query's worth) as written", async () => {
      const store = make();
      const ids = sessionsInOneBucket(15);
      const states = ids.map((id) => session(id));
      await store.save(states);
      const loaded = await store.load([...ids, "never-seen"], T0 - DAY);
      expect([...loaded.keys()].sort()).toEqual([...ids].sort());
      for (const state of states) expect(loaded.get(state.sessionId)).toEqual(state);
    });

    it("forgets values last seen at or before the cutoff, and a session with none left", async () => {
      const store = make();
      await store.save([session("x")]);
      const partly = (await store.load(["x"], T0 + 1))!.get("x")!;
      expect([...partly.seen.asn.keys()]).toEqual(["7922"]);
      expect(partly.first.asn).toBe("8075");
      expect((await store.load(["x"], T0 + DAY)).size).toBe(0);
    });

    it("a save replaces the session's state", async () => {
      const store = make();
      const first = session("y");
      await store.save([first]);
      const more = remember(first, row(NI, { SessionId: "y", TimeGenerated: new Date(T0 + 2 * DAY).toISOString(), AutonomousSystemNumber: "21928" }));
      await store.save([more]);
      expect([...(await store.load(["y"], T0 - DAY)).get("y")!.seen.asn.keys()].sort()).toEqual(["21928", "7922", "8075"]);
    });

    it("purges the expired sessions of a bucket", async () => {
      const store = make();
      const [old, recent] = sessionsInOneBucket(2);
      await store.save([session(old!, T0 - 30 * DAY), session(recent!)]);
      const bucket = parseInt(bucketOf(old!).slice(1), 16);
      expect(await store.purge(bucket + BUCKETS, T0 - 14 * DAY)).toBe(1);
      expect([...(await store.load([old!, recent!], T0 - 60 * DAY)).keys()]).toEqual([recent]);
    });
  });
}

it("keeps exact 100-ns times through the table", async () => {
  const store = stores.table();
  const exact = remember(undefined, row(NI, { SessionId: "z", TimeGenerated: "2026-11-01T10:00:00.1234567Z" }));
  await store.save([exact]);
  expect((await store.load(["z"], T0 - DAY)).get("z")!.lastSeen).toBe(fromMs(T0) + 1_234_567n);
});
