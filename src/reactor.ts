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

export class Reactor {
  readonly ring: Ring;
  readonly #targets: (CompletionTarget | undefined)[] = [undefined]; // token 0 = "ignore"
  readonly #freeTokens: number[] = [];
  readonly #hooks: SubmitHook[] = [];
  readonly #dispatch = (userData: number, res: number, flags: number): void => {
    const target = this.#targets[userData];
    if (target !== undefined) target.complete(res, flags);
  };
  #groupIds = 0;

  constructor(ring: Ring | RingOptions = {}) {
    this.ring = ring instanceof Ring ? ring : new Ring(ring);
  }

  /** A token to use as user_data for `target`'s operations, until unregister(). */
  register(target: CompletionTarget): number {
    if (this.ring.closed) throw new ClosedError("Reactor");
    const token = this.#freeTokens.pop() ?? this.#targets.length;
    this.#targets[token] = target;
    return token;
  }

  /** Later completions carrying `token` are dropped. */
  unregister(token: number): void {
    if (token <= 0 || this.#targets[token] === undefined) return;
    this.#targets[token] = undefined;
    this.#freeTokens.push(token);
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
    if (n === 0) {
      if (timeoutMs > 0) this.ring.submitAndWait(1, timeoutMs);
      else if (this.ring.pending > 0) this.ring.submit();
    } else if (this.ring.pending > 0) {
      this.ring.submit();
    }
    if (n < budget) n += this.poll(budget - n);
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
