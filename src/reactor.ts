/**
 * `Reactor`: a Ring plus completion dispatch. Each in-flight operation's user_data is a token that
 * names a registered target; reaping calls `target.complete(res, flags)` without allocating. Buffer
 * pools register a flush hook so buffers released since the last turn reach the kernel before the
 * next submit.
 */
import { ClosedError } from "./errors.ts";
import { Ring, type RingOptions } from "./ring.ts";

/** Receives the completions of the operations submitted with its token as user_data. */
export interface CompletionTarget {
  complete(res: number, flags: number): void;
}

/** Runs before every submit (e.g. publish re-provided buffers). */
export interface SubmitHook {
  flush(): void;
}

/** Slots for registered targets; a token is slot + generation * SLOTS, so a reused slot gets a new token. */
const SLOTS = 1 << 20;

export class Reactor {
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
  #groupIds = 0;

  constructor(ring: Ring | RingOptions = {}) {
    this.ring = ring instanceof Ring ? ring : new Ring(ring);
  }

  /** A token to use as user_data for `target`'s operations, until unregister(). */
  register(target: CompletionTarget): number {
    if (this.ring.closed) throw new ClosedError("Reactor");
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

  addHook(hook: SubmitHook): void {
    this.#hooks.push(hook);
  }

  removeHook(hook: SubmitHook): void {
    const i = this.#hooks.indexOf(hook);
    if (i >= 0) this.#hooks.splice(i, 1);
  }

  /** A buffer group id not yet handed out by this reactor (kernel-mmap'able ids first). */
  nextGroupId(): number {
    if (this.#groupIds > 65535) throw new RangeError("all 65536 buffer group ids of this ring are in use");
    return this.#groupIds++;
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
    return this.ring.reap(this.#dispatch, max);
  }

  /**
   * One turn: flush, submit, wait up to `timeoutMs` (0 = do not block) for a completion, dispatch at
   * most `budget` completions (so one turn cannot hold the JS thread for long). Returns the number dispatched.
   */
  runOnce(timeoutMs = 0, budget = 0xffffffff): number {
    this.#flushHooks();
    let n = this.poll(budget);
    // A handler may have closed the ring (e.g. loop.close() in a close handler): stop touching it.
    if (this.ring.closed) return n;
    if (n === 0) {
      if (timeoutMs > 0) this.ring.submitAndWait(1, timeoutMs);
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

  close(): void {
    this.ring.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
