/**
 * What a pool keeps about receives that cannot be armed now: `WaitQueue`, the receives waiting for
 * buffers (after -ENOBUFS, or held back by the rationing) in FIFO order, and `ReceiveReservations`,
 * what the receives armed lately may still take from the kernel's ring (see BufferPool.admitsReceive).
 */
import type { Reactor } from "../reactor.ts";

/**
 * Receives waiting for buffers, oldest first. A cancelled wait leaves its entry behind (skipped when
 * its turn comes, or used again if the same receive waits again before then); the entries go once no
 * receive waits.
 */
export class WaitQueue<T> {
  readonly #queue: T[] = [];
  #head = 0;
  readonly #waiting = new Set<T>();

  /** Receives waiting now. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Queues `waiter` at the back (or at its old place, if it cancelled a wait whose turn has not come
   * yet); false, and nothing changes, if it already waits.
   */
  push(waiter: T): boolean {
    if (this.#waiting.has(waiter)) return false;
    this.#waiting.add(waiter);
    this.#queue.push(waiter);
    return true;
  }

  /** Ends `waiter`'s wait (its turn is skipped). */
  cancel(waiter: T): void {
    // Once no receive waits, drop the entries: cancelled ones must not hold closed receivers.
    if (this.#waiting.delete(waiter) && this.#waiting.size === 0) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }

  /** The oldest receive still waiting, taken out of the queue; undefined if none waits. */
  shift(): T | undefined {
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head++];
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      if (this.#waiting.delete(waiter)) return waiter;
    }
    return undefined;
  }

  /** Forgets every waiter. */
  clear(): void {
    this.#waiting.clear();
    this.#queue.length = 0;
    this.#head = 0;
  }
}

/**
 * Capped receives armed lately, each of which may still take up to a cap's worth of the ring before
 * its completion is reaped. A reservation lasts until the reactor's polls (Reactor.polls) have moved
 * on by two: by then its completion was reaped if the receive found data waiting; one on an idle
 * socket stops counting, so idle sockets never hold the ring's bytes from receives that wait.
 */
export class ReceiveReservations {
  readonly #reactor: Reactor;
  readonly #slots = new Int32Array(2); // by the parity of the poll count they were made at
  #at = 0; // the poll count #slots is up to date with

  constructor(reactor: Reactor) {
    this.#reactor = reactor;
  }

  /** Reservations that still count, after dropping those two polls old. */
  count(): number {
    const polls = this.#reactor.polls;
    const slots = this.#slots;
    if (polls !== this.#at) {
      if (polls - this.#at >= 2) slots[0] = slots[1] = 0;
      else slots[polls & 1] = 0;
      this.#at = polls;
    }
    return slots[0] + slots[1];
  }

  /** Reserves for a receive being armed; returns the stamp to hand to done(). */
  add(): number {
    this.count();
    const polls = this.#reactor.polls;
    this.#slots[polls & 1]++;
    return polls;
  }

  /** The receive stamped `stamp` is over: its reservation ends, if it still counted. */
  done(stamp: number): void {
    this.count();
    if (this.#reactor.polls - stamp <= 1 && this.#slots[stamp & 1] > 0) this.#slots[stamp & 1]--;
  }
}
