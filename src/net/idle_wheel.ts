/**
 * `IdleWheel`: idle timeouts for every connection of a loop on one coarse timer (no timer per
 * connection). Activity costs one store: a watched connection writes `wheel.now` (refreshed once per
 * reactor turn) into its own last-activity field. The wheel keeps each connection in one of 64 slots
 * of TICK_MS by the deadline it had when filed; when a slot comes due, each entry is asked for its
 * current deadline and either expires or is filed again further on. So an active connection costs
 * nothing between checks, and 10,000 idle ones cost one look each per timeout.
 */
import { native } from "../../ffi/mod.ts";
import type { Reactor, SubmitHook } from "../reactor.ts";

/** Resolution of idle timeouts: a connection expires at most this late. */
export const TICK_MS = 250;
const SLOTS = 64;

/** What the wheel watches (a Connection). */
export interface IdleWatched {
  /** When it becomes idle (ms, the wheel's clock), or -1 to stop watching it. */
  idleDeadline(): number;
  /** The deadline passed with no activity. */
  idleExpired(): void;
}

export class IdleWheel implements SubmitHook {
  /** Coarse clock (performance.now() at the last turn): what watched connections stamp activity with. */
  now = performance.now();
  readonly #reactor: Reactor;
  readonly #slots: IdleWatched[][] = Array.from({ length: SLOTS }, () => []);
  #count = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  readonly #sweep = () => this.#tick();

  constructor(reactor: Reactor) {
    this.#reactor = reactor;
  }

  /** Watched entries, including ones whose watch ended but whose slot has not come due yet. */
  get size(): number {
    return this.#count;
  }

  /** Starts watching `entry` (call once; it stays watched until idleDeadline() returns -1). */
  watch(entry: IdleWatched): void {
    const deadline = entry.idleDeadline();
    if (deadline < 0) return;
    if (this.#count++ === 0) this.#start();
    this.#file(entry, deadline);
  }

  /** SubmitHook: refresh the clock once per turn. */
  flush(): void {
    this.now = performance.now();
  }

  #file(entry: IdleWatched, deadline: number): void {
    // Never into a slot already swept in this round: at the earliest, the next tick.
    const tick = Math.max(Math.ceil(deadline / TICK_MS), this.#lastTick + 1);
    this.#slots[tick % SLOTS].push(entry);
  }

  #start(): void {
    this.now = performance.now();
    this.#lastTick = Math.floor(this.now / TICK_MS);
    this.#reactor.addHook(this);
    this.#timer = setInterval(this.#sweep, TICK_MS);
    // Watched connections keep the process alive themselves; the sweep of closed ones must not.
    native.unrefTimer(this.#timer);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#reactor.removeHook(this);
  }

  #tick(): void {
    this.now = performance.now();
    const current = Math.floor(this.now / TICK_MS);
    // A late timer (busy loop) sweeps every slot it missed, at most one round.
    const from = Math.max(this.#lastTick + 1, current - SLOTS + 1);
    for (let t = from; t <= current; t++) {
      this.#lastTick = t;
      const slot = this.#slots[t % SLOTS];
      if (slot.length === 0) continue;
      const due = slot.splice(0);
      for (const entry of due) {
        const deadline = entry.idleDeadline();
        if (deadline < 0) {
          this.#count--;
        } else if (deadline <= this.now) {
          this.#count--;
          entry.idleExpired(); // may watch() it again
        } else {
          this.#file(entry, deadline);
        }
      }
    }
    this.#lastTick = current;
    if (this.#count === 0) this.#stop();
  }

  /** Stops the timer (the loop is closing). */
  close(): void {
    if (this.#timer !== undefined) this.#stop();
    for (const slot of this.#slots) slot.length = 0;
    this.#count = 0;
  }
}
