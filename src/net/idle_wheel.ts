/**
 * `IdleWheel`: idle timeouts for every connection of a loop on one coarse timer (no timer per
 * connection). Activity costs one store: a watched connection writes `wheel.now` (refreshed once per
 * reactor turn) into its own last-activity field. The wheel keeps each connection in one of 64 slots
 * of TICK_MS by the deadline it had when filed; when a slot comes due, each entry is asked for its
 * current deadline and either expires or is filed again further on. So an active connection costs
 * nothing between checks, and 10,000 idle ones cost one look each per timeout. A watch is a small
 * record whose entry is cleared when the connection closes, so a closed connection is not kept until
 * its slot comes due.
 */
import { native } from "../../ffi/mod.ts";
import type { Reactor, SubmitHook } from "../reactor.ts";

/**
 * How often the wheel checks: a connection expires at the first check after its deadline, at most
 * this late (plus the timer's own lateness; the promise is 0.25 s).
 */
export const TICK_MS = 200;
const SLOTS = 64;

/** What the wheel watches (a Connection). */
export interface IdleWatched {
  /** When it becomes idle (ms, the wheel's clock), or -1 to stop watching it. */
  idleDeadline(): number;
  /** The deadline passed with no activity. */
  idleExpired(): void;
}

/** One watch: cleared (entry undefined) to stop it at once. */
export interface IdleWatch {
  entry: IdleWatched | undefined;
  /** The tick it was last filed for (reschedule() compares a new deadline's with it). */
  tick: number;
}

export class IdleWheel implements SubmitHook {
  #now = performance.now();
  readonly #reactor: Reactor;
  readonly #slots: IdleWatch[][] = Array.from({ length: SLOTS }, () => []);
  #count = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  readonly #sweep = () => this.#tick();

  constructor(reactor: Reactor) {
    this.#reactor = reactor;
  }

  /** Watched entries. */
  get size(): number {
    return this.#count;
  }

  /**
   * Coarse clock: what watched connections stamp activity with. performance.now() of the last turn
   * while the wheel runs (one call per turn, not per completion), a fresh reading while it is idle.
   */
  get now(): number {
    return this.#timer === undefined ? performance.now() : this.#now;
  }

  /** Starts watching `entry` until idleDeadline() returns -1 or the watch is cleared. */
  watch(entry: IdleWatched): IdleWatch {
    const watch: IdleWatch = { entry, tick: 0 };
    if (this.#timer === undefined) this.#start();
    const deadline = entry.idleDeadline();
    if (deadline < 0) return watch;
    this.#count++;
    this.#file(watch, deadline);
    return watch;
  }

  /**
   * The watched deadline may have moved earlier (a shorter timeout was set): if so, the entry is
   * filed again under a new watch (returned; the old one is cleared, so its record in the later slot
   * is dropped when that slot comes due). A later deadline needs nothing: the check at the old one
   * files it further on.
   */
  reschedule(watch: IdleWatch): IdleWatch {
    const entry = watch.entry;
    const deadline = entry?.idleDeadline() ?? -1;
    if (entry === undefined || deadline < 0 || this.#tickOf(deadline) >= watch.tick) return watch;
    watch.entry = undefined;
    const fresh: IdleWatch = { entry, tick: 0 };
    this.#file(fresh, deadline);
    return fresh;
  }

  /** Stops a watch at once (the connection closed): the wheel keeps no reference to it. */
  unwatch(watch: IdleWatch): void {
    if (watch.entry === undefined) return;
    watch.entry = undefined;
    if (--this.#count === 0) this.#stop();
  }

  /** SubmitHook: refresh the clock once per turn. */
  flush(): void {
    this.#now = performance.now();
  }

  /** The clock read afresh: for activity stamped outside a turn (a timer's), which `now` may lag by a tick. */
  freshNow(): number {
    return this.#now = performance.now();
  }

  #file(watch: IdleWatch, deadline: number): void {
    const tick = this.#tickOf(deadline);
    watch.tick = tick;
    this.#slots[tick % SLOTS].push(watch);
  }

  /**
   * The tick a deadline is checked at: the one it falls in, whose check expires it or files it again
   * for the next (rounding up instead would add a tick to the check's own lag); never a slot already
   * swept in this round: at the earliest, the next tick.
   */
  #tickOf(deadline: number): number {
    return Math.max(Math.floor(deadline / TICK_MS), this.#lastTick + 1);
  }

  #start(): void {
    this.#now = performance.now();
    this.#lastTick = Math.floor(this.#now / TICK_MS);
    this.#reactor.addHook(this);
    this.#timer = setInterval(this.#sweep, TICK_MS);
    // Watched connections keep the process alive themselves; the sweep of closed ones must not.
    native.unrefTimer(this.#timer);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#reactor.removeHook(this);
    for (const slot of this.#slots) slot.length = 0; // nothing is watched: only cleared records are left
  }

  #tick(): void {
    this.#now = performance.now();
    // What completed while the event loop was held up (a long synchronous job) is activity, stamped
    // with this clock: it is reaped before anything expires (Bun runs this timer first).
    const ring = this.#reactor.ring;
    if (!ring.closed && ring.cqReady > 0) {
      this.#reactor.poll();
      if (this.#timer === undefined) return; // every watched connection closed meanwhile
    }
    const current = Math.floor(this.#now / TICK_MS);
    // A late timer (busy loop) sweeps every slot it missed, at most one round.
    const from = Math.max(this.#lastTick + 1, current - SLOTS + 1);
    for (let t = from; t <= current; t++) {
      this.#lastTick = t;
      const slot = this.#slots[t % SLOTS];
      if (slot.length === 0) continue;
      const due = slot.splice(0);
      for (const watch of due) {
        const entry = watch.entry;
        if (entry === undefined) continue; // unwatched, or filed again under a new watch
        const deadline = entry.idleDeadline();
        if (deadline < 0) {
          watch.entry = undefined;
          this.#count--;
        } else if (deadline <= this.#now) {
          this.#count--;
          watch.entry = undefined;
          entry!.idleExpired(); // may watch() it again
        } else {
          this.#file(watch, deadline);
        }
      }
    }
    this.#lastTick = current;
    if (this.#count === 0) this.#stop();
  }

  /** Stops the timer (the loop is closing). */
  close(): void {
    if (this.#timer !== undefined) this.#stop();
    this.#count = 0;
  }
}
