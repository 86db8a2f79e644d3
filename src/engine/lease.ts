// The lease a live run holds on its rule: acquired through the rule-state port, renewed in
// the background, and the one way the run moves its checkpoint.
import { LeaseHeld, StateConflict, type Lease, type RuleState } from "../model/rule-state.js";
import type { RuleStatePort } from "./ports.js";

/**
 * How long a claim on a rule holds without renewal: a run that crashed (process killed,
 * host recycled) keeps the rule from the next invocation at most this long.
 */
export const LEASE_TTL_MS = 2 * 60_000;
/** How often a live run renews its claim: a quarter of the TTL, so a slow storage call or two cannot lose it. */
export const LEASE_RENEW_MS = 30_000;

/**
 * A lease held by a live run: renewed in the background every `renewMs` while the run works
 * on a window, and the one way the run writes the rule's state, so renewals and checkpoint
 * moves take turns on the entity's ETag instead of racing each other. A renewal that finds
 * the lease taken (it expired, say the event loop was blocked past the TTL) stops; the run's
 * next checkpoint move then fails with StateConflict, as it would without renewals.
 */
export class HeldLease {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private released = false;

  constructor(
    private readonly repository: LeaseStore,
    private readonly ruleId: string,
    private readonly owner: string,
    private readonly now: () => number,
    private readonly ttlMs: number,
    renewMs: number,
    /** The rule's state as last written by this lease (its ETag current). */
    public state: RuleState,
  ) {
    this.timer = setInterval(() => void this.renew(), renewMs);
    this.timer.unref();
  }

  /** Moves the checkpoint and renews the lease in one write; StateConflict when the lease was lost. */
  advance(update: Pick<RuleState, "windowEnd" | "dataSince">): Promise<RuleState> {
    return this.serially(async () => (this.state = await this.repository.put(this.ruleId, { ...this.state, ...update, lease: this.claim() })));
  }

  /** Stops renewing and gives the lease up (left to expire if that write fails). */
  release(): Promise<void> {
    this.released = true;
    clearInterval(this.timer);
    return this.serially(() => releaseLease(this.repository, this.ruleId, this.state)).catch(() => undefined);
  }

  private renew(): Promise<void> {
    return this.serially(async () => {
      if (this.released) return;
      this.state = await this.repository.put(this.ruleId, { ...this.state, lease: this.claim() });
    }).catch((error: unknown) => {
      if (error instanceof StateConflict) clearInterval(this.timer); // taken over: the next advance() reports it
      // Anything else (storage briefly unreachable): the next tick tries again.
    });
  }

  private claim(): Lease {
    return { owner: this.owner, until: this.now() + this.ttlMs };
  }

  private serially<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

type LeaseStore = Pick<RuleStatePort, "get" | "put">;

/** Acquires the rule's lease (LeaseHeld when another run has it) and keeps it renewed until released: what a run holds while it works. */
export async function holdLease(repository: LeaseStore, ruleId: string, owner: string, now: () => number, ttlMs = LEASE_TTL_MS, renewMs = LEASE_RENEW_MS): Promise<HeldLease> {
  return new HeldLease(repository, ruleId, owner, now, ttlMs, renewMs, await acquireLease(repository, ruleId, owner, now(), ttlMs));
}

/**
 * Claims the rule for `owner` until `now + ttlMs`: only when nobody else holds an
 * unexpired lease, and only if the entity is unchanged since it was read (If-Match), so
 * of two invocations racing for it exactly one wins. Built on the port's get() and put(),
 * so every implementation leases the same way. Throws LeaseHeld.
 */
export async function acquireLease(repository: LeaseStore, ruleId: string, owner: string, now: number, ttlMs: number): Promise<RuleState> {
  const state = await repository.get(ruleId);
  if (!state) throw new Error(`rule ${ruleId}: no checkpoint to lease`);
  if (state.lease && state.lease.owner !== owner && state.lease.until > now) throw new LeaseHeld(ruleId, state.lease);
  try {
    return await repository.put(ruleId, { ...state, lease: { owner, until: now + ttlMs } });
  } catch (error) {
    if (error instanceof StateConflict) throw new LeaseHeld(ruleId);
    throw error;
  }
}

/** Gives the lease up; a lease lost meanwhile (expired and taken) is left to its new owner. */
export async function releaseLease(repository: LeaseStore, ruleId: string, state: RuleState): Promise<void> {
  try {
    await repository.put(ruleId, { ...state, lease: undefined });
  } catch (error) {
    if (!(error instanceof StateConflict)) throw error;
  }
}
