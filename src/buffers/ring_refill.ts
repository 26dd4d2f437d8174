/**
 * `RingRefill`: the Refill of a pool's ring backends. A window of buffers sits in the kernel's buffer
 * ring; the rest wait in a LIFO spare stack and top the ring up as the kernel consumes it, so that a
 * quiet server keeps few buffers (and the pages they touch) in rotation. An -ENOBUFS while spares
 * wait doubles the window; once the kernel has taken no more than half of a widened window between
 * two reactor flushes for a second (and the pool is not short), it halves again, down to where it
 * started. The kernel writes each receive into the buffer at the ring's head: a window that fits the
 * CPU's cache keeps those writes in it. Buffers written to the ring are published with one tail store
 * per flush. Spares that sit unused for TRIM_AFTER_MS give their pages back to the system, so that the
 * memory a burst touched is returned once it is over.
 */
import { native } from "../../ffi/mod.ts";
import { discardPages } from "../memory.ts";
import type { Ring } from "../ring.ts";
import { BufferRing } from "./buffer_ring.ts";
import type { Refill } from "./refill.ts";

/** How long a widened window must go underused before it halves, in ms. */
const SHRINK_AFTER_MS = 1000;

/** How often the spares that went untouched since the last check give their pages back, in ms. */
const TRIM_AFTER_MS = 2000;

/** Options of `new RingRefill(ring, addr, bufferSize, options)`. */
export interface RingRefillOptions {
  /** Buffer group id. */
  groupId: number;
  /** The most buffers the pool grows to: the ring has room for all of them. */
  maxCount: number;
  /** Buffers allowed in the ring at first, and the least a widened window shrinks back to. */
  window: number;
  /** IOU_PBUF_RING_MMAP: the kernel allocates the ring. */
  kernelMemory: boolean;
  /** IOU_PBUF_RING_INC: buffers are consumed in pieces. */
  incremental: boolean;
}

/** Gives a pool's buffers to the kernel through a buffer ring (IORING_REGISTER_PBUF_RING). */
export class RingRefill implements Refill {
  readonly errors = 0;
  readonly #ring: BufferRing;
  readonly #addr: readonly number[]; // the pool's: address of each buffer id
  readonly #bufferSize: number;
  readonly #bidSlot: Uint16Array; // ring slot each buffer id was last written to (bundles)
  readonly #spare: Uint16Array; // buffers beyond the window, most recently returned on top
  #spareCount = 0;
  // The spare stack is LIFO: the `#spareLow` at its bottom were not touched since the last trim check,
  // and the `#clean` at its bottom have no resident pages (never used, or given back).
  #spareLow = 0;
  #clean = 0;
  #trimTimer: ReturnType<typeof setInterval> | undefined;
  #bytesTrimmed = 0;
  #pendingAdds = 0; // entries written, not yet published
  #inRing = 0; // buffers the kernel's ring holds (or will at the next publish)
  #window: number;
  readonly #baseWindow: number;
  #taken = 0; // buffers the kernel took since the last settle()
  #peakTaken = 0; // the most it took between two settle() calls since #periodStart
  #periodStart = 0; // performance.now() when the window last changed or was last checked

  /**
   * Registers the ring as group `options.groupId` on `ring`. `addr` is the pool's table of buffer
   * addresses, read when a buffer is written to the ring.
   *
   * @throws {UringError} if the kernel refuses the ring (`EEXIST`: the group is in use).
   */
  constructor(ring: Ring, addr: readonly number[], bufferSize: number, options: RingRefillOptions) {
    let entries = 1;
    while (entries < options.maxCount) entries *= 2;
    this.#ring = new BufferRing(ring, {
      groupId: options.groupId,
      entries,
      kernelMemory: options.kernelMemory,
      incremental: options.incremental,
    });
    this.#addr = addr;
    this.#bufferSize = bufferSize;
    this.#bidSlot = new Uint16Array(options.maxCount);
    this.#spare = new Uint16Array(options.maxCount);
    this.#window = this.#baseWindow = options.window;
  }

  queue(bid: number): void {
    if (this.#inRing < this.#window) this.#add(bid);
    else {
      this.#spare[this.#spareCount++] = bid;
      if (this.#trimTimer === undefined) this.#startTrimming();
    }
  }

  #startTrimming(): void {
    this.#spareLow = this.#spareCount - 1;
    this.#trimTimer = setInterval(this.#trim, TRIM_AFTER_MS);
    native.unrefTimer(this.#trimTimer);
  }

  // Gives back the pages of the spares that sat at the stack's bottom since the last check.
  readonly #trim = (): void => {
    for (let i = this.#clean; i < this.#spareLow; i++) {
      this.#bytesTrimmed += discardPages(this.#addr[this.#spare[i]], this.#bufferSize);
    }
    this.#clean = this.#spareLow;
    this.#spareLow = this.#spareCount;
    if (this.#clean === this.#spareCount) this.#stopTrimming();
  };

  trimIdle(): void {
    if (this.#trimTimer === undefined) return;
    this.#spareLow = this.#spareCount;
    this.#trim();
  }

  #stopTrimming(): void {
    clearInterval(this.#trimTimer);
    this.#trimTimer = undefined;
  }

  /** Bytes of spare buffers' pages given back to the system so far. */
  get bytesTrimmed(): number {
    return this.#bytesTrimmed;
  }

  #add(bid: number): void {
    this.#bidSlot[bid] = this.#ring.slotAt(this.#pendingAdds);
    this.#ring.add(this.#addr[bid], this.#bufferSize, bid, this.#pendingAdds++);
    this.#inRing++;
  }

  flush(): void {
    if (this.#pendingAdds > 0) {
      this.#ring.publish(this.#pendingAdds);
      this.#pendingAdds = 0;
    }
  }

  /**
   * A widened window that the kernel no longer needs goes back toward the start: once, for a whole
   * SHRINK_AFTER_MS, it took at most half of the window between two reactor flushes. Buffers above
   * the new window stay in the ring until the kernel takes them; released, they wait with the spares.
   */
  settle(mayShrink: boolean): void {
    const taken = this.#taken;
    this.#taken = 0;
    if (this.#window <= this.#baseWindow) return;
    if (taken > this.#peakTaken) this.#peakTaken = taken;
    const now = performance.now();
    if (now - this.#periodStart < SHRINK_AFTER_MS) return;
    if (mayShrink && this.#peakTaken * 2 <= this.#window) {
      this.#window = Math.max(this.#baseWindow, this.#window >> 1);
    }
    this.#startPeriod(now);
  }

  #startPeriod(now: number): void {
    this.#periodStart = now;
    this.#peakTaken = 0;
  }

  start(): void {
    // The spares of a new pool were never touched: nothing to give back until one comes back used.
    this.#clean = this.#spareCount;
    this.#stopTrimming();
    this.flush();
  }

  /** The kernel took a buffer out of the ring: top the ring up from the spares, newest first. */
  consumed(): void {
    this.#inRing--;
    this.#taken++;
    this.#topUp();
  }

  #topUp(): void {
    while (this.#inRing < this.#window && this.#spareCount > 0) {
      const n = --this.#spareCount;
      if (n < this.#spareLow) {
        this.#spareLow = n;
        if (n < this.#clean) this.#clean = n;
      }
      this.#add(this.#spare[n]);
    }
  }

  available(): number {
    return this.#inRing;
  }

  widen(total: number): boolean {
    if (this.#spareCount === 0) return false;
    // The ring ran dry while spares were left: the window is too small for this load.
    this.#window = Math.min(this.#window * 2, total);
    this.#startPeriod(performance.now());
    this.#topUp();
    return true;
  }

  grow(n: number): void {
    this.#window += n;
    this.#startPeriod(performance.now());
  }

  get window(): number {
    return this.#window;
  }

  /**
   * The `k`-th buffer of a bundle that starts with buffer `first`: a bundle fills consecutive ring
   * slots, so it is the buffer written `k` slots after `first`.
   */
  bundleBid(first: number, k: number): number {
    return k === 0 ? first : this.#ring.bidAt((this.#bidSlot[first] + k) & (this.#ring.entries - 1));
  }

  close(): void {
    this.#stopTrimming();
    this.#ring.close();
  }
}
