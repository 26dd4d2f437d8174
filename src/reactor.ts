/**
 * `Reactor`: a Ring plus completion dispatch. Each in-flight operation's user_data is a token that
 * names a registered target; reaping calls `target.complete(res, flags)` without allocating. Buffer
 * pools register a flush hook so buffers released since the last turn reach the kernel before the
 * next submit.
 */
import { ClosedError } from "./errors.ts";
import { prepCancel64 } from "./prep.ts";
import { Ring, RING_OPTION_KEYS, type RingOptions } from "./ring.ts";
import { checkOptionKeys, describe } from "./options.ts";
import { kGroupIds } from "./internal.ts";

/** user_data of operations whose completion nobody needs (cancels, wake-up NOPs): the reactor drops it. */
export const NO_TARGET = 0;

/**
 * Receives the completions of the operations submitted with its token (from Reactor.register) as
 * user_data. One object per socket or receiver, not a closure per operation.
 */
export interface CompletionTarget {
  /**
   * One completion: `res` is the operation's result (a byte count, an fd, 0, or `-errno`), `flags`
   * the CQE's flags (IORING_CQE_F_MORE, IORING_CQE_F_BUFFER with the buffer id in the upper 16 bits, ...).
   */
  complete(res: number, flags: number): void;
}

/** Runs before every submit of its reactor (a BufferPool publishes the buffers released since the last one). */
export interface SubmitHook {
  /** Hands what was queued since the last call to the kernel (SQEs it prepares go out with this submit). */
  flush(): void;
}

/** Slots for registered targets; a token is slot + generation * SLOTS, so a reused slot gets a new token. */
const SLOTS = 1 << 20;

/**
 * A {@link Ring} plus the dispatch of its completions: each operation's user_data is a token that
 * names a registered {@link CompletionTarget}, and reaping calls `target.complete(res, flags)`
 * without allocating. A completion for a token unregistered meanwhile is dropped, even if its slot
 * was reused. Buffer pools hook in (SubmitHook) so that buffers released since the last turn reach
 * the kernel before the next submit.
 *
 * `runOnce` and `runUntil` block the JS thread while they wait; an IoLoop's {@link Driver} runs a
 * reactor from the event loop instead.
 *
 * @example A NOP through the reactor
 * ```ts
 * import { prepNop, Reactor } from "uring-buffers/ring";
 *
 * using reactor = new Reactor({ entries: 64 });
 * let result: number | undefined;
 * const token = reactor.register({ complete: (res) => (result = res) });
 * prepNop(reactor.ring.sqes, reactor.prepare(token));
 * reactor.runUntil(() => result !== undefined, 1000);
 * reactor.unregister(token);
 * console.log(result); // 0
 * ```
 */
export class Reactor {
  /** The ring it submits to and reaps from. */
  readonly ring: Ring;
  readonly #targets: (CompletionTarget | undefined)[] = [undefined]; // slot 0 = "ignore"
  readonly #tokens: number[] = [-1]; // the live token of each slot (-1 while free; slot 0 is never handed out)
  readonly #generations: number[] = [0]; // bumped when a slot is freed
  readonly #freeSlots: number[] = [];
  readonly #hooks: SubmitHook[] = [];
  readonly #dispatch = (userData: number, res: number, flags: number): void => {
    const slot = userData % SLOTS;
    // A completion of an unregistered target (e.g. posted before close, reaped after) finds its
    // slot reused under another token and is dropped instead of reaching the new owner.
    if (this.#tokens[slot] === userData) this.#targets[slot]!.complete(res, flags);
  };
  #onWork: (() => void) | undefined;
  #polls = 0;
  #turnWanted = false;

  /**
   * Runs `ring`, or a new ring made with `ring` as its options.
   *
   * @param ring A ring to run, or the options of a new one (see {@link RingOptions}); the reactor
   *   closes it on close().
   * @throws {RangeError} for ring options out of range (a new ring).
   * @throws {UringError} if the kernel refuses a new ring.
   */
  constructor(ring: Ring | RingOptions = {}) {
    if (!(ring instanceof Ring)) checkOptionKeys("Reactor", ring, RING_OPTION_KEYS);
    this.ring = ring instanceof Ring ? ring : new Ring(ring);
  }

  /**
   * Called whenever an SQE is prepared or buffers are queued for the kernel outside a turn, so the
   * one who runs turns (the Driver) schedules one. There is one listener; a later call replaces it.
   */
  onWork(listener: (() => void) | undefined): void {
    this.#onWork = listener;
  }

  /** Tells the turn runner that there is something to submit or flush. */
  workQueued(): void {
    this.#onWork?.();
  }

  /**
   * The one way to queue an operation: a free SQE slot with `token` already set as its user_data
   * (NO_TARGET for operations whose completion nobody needs). Fill it with a prep function; it is
   * submitted at the next turn, which this schedules.
   *
   * @throws {ClosedError} once the ring is closed.
   * @throws {SubmissionQueueFullError} if the SQ is still full after submitting what was queued.
   */
  prepare(token: number): number {
    const ring = this.ring;
    const slot = ring.getSqe();
    ring.sqes.setUserData(slot, token);
    this.#onWork?.();
    return slot;
  }

  /** Queues IORING_OP_ASYNC_CANCEL for the operations carrying `token`; its own completion is dropped. */
  cancel(token: number): void {
    const slot = this.prepare(NO_TARGET);
    prepCancel64(this.ring.sqes, slot, token, 0);
  }

  /**
   * A token to use as user_data for `target`'s operations, until unregister(). Tokens are positive
   * safe integers; a reused slot gets a new token.
   *
   * @throws {ClosedError} once the ring is closed.
   * @throws {TypeError} for a target without a `complete` method (it failed only at its first completion).
   * @throws {RangeError} beyond 2^20 - 1 targets registered at once.
   */
  register(target: CompletionTarget): number {
    if (this.ring.closed) throw new ClosedError("Reactor");
    if (typeof (target as Partial<CompletionTarget> | null)?.complete !== "function") {
      throw new TypeError(`register() takes an object with a complete(res, flags) method, got ${describe(target)}`);
    }
    let slot = this.#freeSlots.pop();
    if (slot === undefined) {
      slot = this.#targets.length;
      if (slot >= SLOTS) throw new RangeError(`more than ${SLOTS - 1} completion targets registered on one reactor`);
      this.#generations[slot] = 0;
    }
    this.#targets[slot] = target;
    this.#tokens[slot] = slot + this.#generations[slot] * SLOTS;
    return this.#tokens[slot];
  }

  /** Later completions carrying `token` are dropped. */
  unregister(token: number): void {
    const slot = token % SLOTS;
    if (token <= 0 || this.#tokens[slot] !== token || this.#targets[slot] === undefined) return;
    this.#targets[slot] = undefined;
    this.#tokens[slot] = -1; // matches no user_data until the slot is handed out again
    this.#generations[slot]++; // ... and then under a new token
    this.#freeSlots.push(slot);
  }

  /** Calls `hook.flush()` before every submit from now on, in the order hooks were added. */
  addHook(hook: SubmitHook): void {
    this.#hooks.push(hook);
  }

  /** Stops calling `hook` (a no-op if it was not added). */
  removeHook(hook: SubmitHook): void {
    const i = this.#hooks.indexOf(hook);
    if (i >= 0) this.#hooks.splice(i, 1);
  }

  /**
   * A buffer group id for a new group on this reactor's ring: the lowest one no group of the ring
   * holds (closed groups' ids are handed out again). It is not reserved: the group made with it
   * (BufferRing, ProvidedBufferGroup, BufferPool) takes it until closed.
   *
   * @throws {RangeError} once all 65536 have been handed out.
   */
  nextGroupId(): number {
    return this.ring[kGroupIds].next();
  }

  #flushHooks(): void {
    for (let i = 0; i < this.#hooks.length; i++) this.#hooks[i].flush();
  }

  /** Flushes hooks and submits queued SQEs (one io_uring_enter). */
  submit(): number {
    this.#flushHooks();
    return this.ring.pending > 0 ? this.ring.submit() : 0;
  }

  /** Dispatches up to `max` completions ready now; returns how many. */
  poll(max = 0xffffffff): number {
    const n = this.ring.reap(this.#dispatch, max);
    this.#polls++;
    return n;
  }

  /**
   * poll() calls so far: a clock for buffer pools. An operation prepared while it read P went out
   * with the next submit, and a poll that ended by P + 2 has reaped its completion if the operation
   * completed at that submit.
   */
  get polls(): number {
    return this.#polls;
  }

  /**
   * Asks for another turn even if nothing completes: a buffer pool whose waiting receives wait only
   * for its own bookkeeping to catch up, not for the kernel. The Driver reads it (takeTurnRequest);
   * runOnce() does not block in the kernel when it was asked during the call.
   */
  requestTurn(): void {
    this.#turnWanted = true;
  }

  /** Whether requestTurn() was called since the last call of this (which clears it). */
  takeTurnRequest(): boolean {
    const wanted = this.#turnWanted;
    this.#turnWanted = false;
    return wanted;
  }

  /**
   * One turn: flush, submit, wait up to `timeoutMs` (0 = do not block) for a completion, dispatch at
   * most `budget` completions (so one turn cannot hold the JS thread for long). Returns the number dispatched.
   */
  runOnce(timeoutMs = 0, budget = 0xffffffff): number {
    this.#turnWanted = false;
    this.#flushHooks();
    let n = this.poll(budget);
    // A handler may have closed the ring (e.g. loop.close() in a close handler): stop touching it.
    if (this.ring.closed) return n;
    if (n === 0) {
      // A pool asked for another turn: its waiting receives need no completion, only this loop.
      if (timeoutMs > 0 && !this.#turnWanted) this.ring.submitAndWait(1, timeoutMs);
      else if (this.ring.pending > 0) this.ring.submit();
    } else if (this.ring.pending > 0) {
      this.ring.submit();
    }
    if (n < budget) n += this.poll(budget - n);
    if (this.ring.closed) return n;
    // Completions may have queued new SQEs (re-arms, re-provides): send them now.
    this.#flushHooks();
    if (this.ring.pending > 0) this.ring.submit();
    return n;
  }

  /** Turns until `done()` is true or `timeoutMs` passes; returns done(). Blocks the JS thread. */
  runUntil(done: () => boolean, timeoutMs: number): boolean {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      this.runOnce(Math.min(left, 50));
    }
    return true;
  }

  /** Closes the ring (idempotent). Operations in flight are dropped with it; close their users first. */
  close(): void {
    this.ring.close();
  }

  /** `using reactor = new Reactor()`: closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
