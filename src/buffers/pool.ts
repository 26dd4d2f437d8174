/**
 * `BufferPool`: the buffer-pool manager. It owns the buffer memory (page-aligned mmaps), one premade
 * view per buffer id, and a provided-buffer group in the kernel: ring-mapped where the kernel has it,
 * the IORING_OP_PROVIDE_BUFFERS op otherwise (or when asked). A completion that carries
 * IORING_CQE_F_BUFFER becomes a Lease; releasing the lease re-provides the buffer (batched: one tail
 * store or one PROVIDE_BUFFERS SQE per run of ids, at the reactor's next submit). Receives that hit
 * -ENOBUFS wait here in FIFO order and are re-armed one per returned buffer.
 */
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { ClosedError, UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { probeFeatures } from "../probe.ts";
import type { Reactor } from "../reactor.ts";
import { BufferRing } from "./buffer_ring.ts";
import { Lease, type LeaseOwner } from "./lease.ts";
import { ProvidedBufferGroup } from "./provided_group.ts";

export type PoolBackend = "ring" | "ring-mmap" | "legacy";

export interface BufferPoolOptions {
  /** Bytes per buffer, 1..1 GiB. Default 4096. */
  bufferSize?: number;
  /** Buffers to start with, 1..65536 (ring backends: ..32768). Default 1024. */
  count?: number;
  /** Grow up to this many buffers when receives run out (ENOBUFS). Default: `count` (no growth). */
  maxCount?: number;
  /** Kernel mechanism. "auto" (default): ring where the kernel has it, else legacy. */
  backend?: "auto" | PoolBackend;
  /**
   * Ring backends: how many buffers sit in the kernel's ring at first (default 256); the rest wait in
   * a LIFO spare stack and refill the ring as the kernel consumes it. Each -ENOBUFS while spares
   * remain doubles it (up to all buffers). A small window keeps the set of buffers in rotation, and
   * so the pages a quiet server touches, small.
   */
  ringWindow?: number;
  /** Incremental consumption (IOU_PBUF_RING_INC, 6.12+): one big buffer serves many small reads. Falls back when absent. */
  incremental?: boolean;
  /** Buffer group id; default: the reactor's next free id. */
  groupId?: number;
  /**
   * Detach a lease's bytes on release so a use after release reads nothing. Default true. Costs about
   * 0.35 us per release on Deno and 0.3-0.7 us on Bun (growing with bufferSize there): servers that
   * never touch bytes after release turn it off (see bench/pool_bench.ts).
   */
  detachOnRelease?: boolean;
  /** Leak net for dropped leases: "warn" (default), "debug" (also records where each lease was made), "off". */
  leakTracking?: "off" | "warn" | "debug";
}

/** Something that stopped receiving for lack of buffers and wants to be re-armed. */
export interface BufferWaiter {
  rearm(): void;
}

export interface PoolStats {
  backend: PoolBackend;
  incremental: boolean;
  groupId: number;
  bufferSize: number;
  buffersTotal: number;
  /** With the kernel (or queued to go back to it). */
  buffersFree: number;
  /** Held by user code through leases. */
  buffersLeased: number;
  leasesActive: number;
  leasesMade: number;
  bytesReceived: number;
  /** Receives that found the group empty (-ENOBUFS). */
  enobufs: number;
  /** Receives re-armed after buffers came back. */
  rearms: number;
  /** Receives waiting for buffers right now. */
  waiting: number;
  growthEvents: number;
  leaksReclaimed: number;
  provideErrors: number;
  /** Completions that filled more than one buffer (IORING_RECVSEND_BUNDLE). */
  bundleCompletions: number;
  /** Ring backends: buffers allowed in the kernel's ring now (see BufferPoolOptions.ringWindow). */
  ringWindow: number;
}

const KERNEL = 0; // provided (or queued to be)
const USER = 1; // leased out / not yet back with the kernel
const MAX_BUFFER_SIZE = 1 << 30;

/** What the leak net keeps per lease: bid + generation packed in a number (no allocation), or with the origin in debug mode. */
type LeakRecord = number | { packed: number; origin: string | undefined };

export class BufferPool implements LeaseOwner {
  readonly reactor: Reactor;
  readonly groupId: number;
  readonly bufferSize: number;
  readonly backend: PoolBackend;
  readonly incremental: boolean;
  readonly maxCount: number;
  readonly detachOnRelease: boolean;

  readonly #chunks: NativeMemory[] = [];
  readonly #addr: number[] = []; // address of each buffer id
  readonly #views: ArrayBuffer[] = []; // one per buffer id, made once (renewed after a detach)
  readonly #livePieces = new Set<ArrayBuffer>(); // incremental + detachOnRelease: each leased piece's own buffer
  readonly #state: Uint8Array;
  readonly #generation: Uint32Array;
  readonly #refs: Uint32Array; // incremental: leases outstanding per buffer
  readonly #offset: Uint32Array; // incremental: bytes of the buffer already handed out
  readonly #kernelDone: Uint8Array; // incremental: kernel finished with the buffer (no F_BUF_MORE)
  readonly #bidSlot: Uint16Array; // ring slot each buffer id was last written to (bundles)
  readonly #ring: BufferRing | undefined;
  readonly #group: ProvidedBufferGroup | undefined;
  readonly #token: number;
  readonly #pendingBids: Uint16Array; // legacy: ids to re-provide at the next flush
  #pendingCount = 0;
  #pendingAdds = 0; // ring: entries written, not yet published
  #inRing = 0; // ring: buffers the kernel's ring holds (or will at the next publish)
  #window: number; // ring: most buffers allowed in the ring
  readonly #spare: Uint16Array; // ring: buffers beyond the window, most recently returned on top
  #spareCount = 0;
  readonly #waiters: BufferWaiter[] = [];
  #waitHead = 0;
  readonly #waiting = new Set<BufferWaiter>();
  readonly #leaks: FinalizationRegistry<LeakRecord> | undefined;
  readonly #leakDebug: boolean;
  #leakWarned = false;
  #count = 0;
  #closed = false;
  #leased = 0;
  #leasesActive = 0;
  #stats = {
    leasesMade: 0,
    bytesReceived: 0,
    enobufs: 0,
    rearms: 0,
    growthEvents: 0,
    leaksReclaimed: 0,
    provideErrors: 0,
    bundleCompletions: 0,
  };

  constructor(reactor: Reactor, options: BufferPoolOptions = {}) {
    const bufferSize = options.bufferSize ?? 4096;
    const count = options.count ?? 1024;
    const maxCount = options.maxCount ?? count;
    if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > MAX_BUFFER_SIZE) {
      throw new RangeError(`bufferSize must be an integer in [1, ${MAX_BUFFER_SIZE}], got ${bufferSize}`);
    }
    if (!Number.isInteger(count) || count < 1 || count > 65536) {
      throw new RangeError(`count must be an integer in [1, 65536] (buffer ids are 16-bit), got ${count}`);
    }
    if (!Number.isInteger(maxCount) || maxCount < count || maxCount > 65536) {
      throw new RangeError(`maxCount must be an integer in [count=${count}, 65536], got ${maxCount}`);
    }
    const features = probeFeatures();
    const wanted = options.backend ?? "auto";
    if (!["auto", "ring", "ring-mmap", "legacy"].includes(wanted)) {
      throw new TypeError(`backend must be "auto", "ring", "ring-mmap" or "legacy", got ${JSON.stringify(wanted)}`);
    }
    const backend: PoolBackend = wanted === "auto" ? (features.bufferRing ? "ring" : "legacy") : wanted;
    if (backend !== "legacy" && !features.bufferRing) {
      throw new UringError(
        "IORING_REGISTER_PBUF_RING",
        22,
        'this kernel has no ring-mapped buffers; use backend "legacy"',
      );
    }
    if (backend === "ring-mmap" && !features.bufferRingMmap) {
      throw new UringError("IOU_PBUF_RING_MMAP", 22, 'this kernel cannot allocate buffer rings; use backend "ring"');
    }
    if (backend === "legacy" && !features.provideBuffers) {
      throw new UringError("IORING_OP_PROVIDE_BUFFERS", 22, "this kernel has no provided buffers");
    }
    if (backend !== "legacy" && maxCount > abi.BUF_RING_MAX_ENTRIES) {
      throw new RangeError(`maxCount must be <= ${abi.BUF_RING_MAX_ENTRIES} for a ring backend, got ${maxCount}`);
    }
    const incremental = (options.incremental ?? false) && backend !== "legacy" && features.incremental;
    if (options.incremental && backend === "legacy") {
      throw new TypeError(`incremental consumption needs a ring backend, not "legacy"`);
    }
    const leakTracking = options.leakTracking ?? "warn";
    if (!["off", "warn", "debug"].includes(leakTracking)) {
      throw new TypeError(`leakTracking must be "off", "warn" or "debug", got ${JSON.stringify(leakTracking)}`);
    }
    const ringWindow = options.ringWindow ?? 256;
    if (!Number.isInteger(ringWindow) || ringWindow < 1) {
      throw new RangeError(`ringWindow must be a positive integer, got ${ringWindow}`);
    }
    const groupId = options.groupId ?? reactor.nextGroupId();

    this.reactor = reactor;
    this.groupId = groupId;
    this.bufferSize = bufferSize;
    this.maxCount = maxCount;
    this.incremental = incremental;
    this.detachOnRelease = options.detachOnRelease ?? true;
    this.#state = new Uint8Array(maxCount);
    this.#generation = new Uint32Array(maxCount);
    this.#refs = new Uint32Array(incremental ? maxCount : 0);
    this.#offset = new Uint32Array(incremental ? maxCount : 0);
    this.#kernelDone = new Uint8Array(incremental ? maxCount : 0);
    this.#bidSlot = new Uint16Array(maxCount);
    this.#pendingBids = new Uint16Array(backend === "legacy" ? maxCount : 0);
    this.#spare = new Uint16Array(backend === "legacy" ? 0 : maxCount);
    this.#window = Math.min(ringWindow, count);
    this.#leakDebug = leakTracking === "debug";
    this.#leaks = leakTracking === "off" ? undefined : new FinalizationRegistry((r) => this.#reclaimLeak(r));

    if (backend === "legacy") {
      this.#group = new ProvidedBufferGroup(reactor.ring, groupId);
    } else {
      let entries = 1;
      while (entries < maxCount) entries *= 2;
      this.#ring = new BufferRing(reactor.ring, {
        groupId,
        entries,
        kernelMemory: backend === "ring-mmap",
        incremental,
      });
    }
    this.backend = backend;
    this.#token = reactor.register(this);
    try {
      this.#grow(count);
      this.flush();
      if (backend === "legacy") reactor.submit(); // the group must exist before the first receive
    } catch (e) {
      this.#ring?.close();
      for (const c of this.#chunks) c.free();
      reactor.unregister(this.#token);
      throw e;
    }
    reactor.addHook(this);
  }

  /** Adds `n` buffers (one new mapping), queued to the kernel at the next flush. */
  #grow(n: number): void {
    const mem = new NativeMemory(n * this.bufferSize);
    this.#chunks.push(mem);
    const first = this.#count;
    for (let i = 0; i < n; i++) {
      const bid = first + i;
      this.#addr[bid] = mem.address + i * this.bufferSize;
      this.#views[bid] = native.view(mem.pointerAt(i * this.bufferSize), this.bufferSize);
      this.#state[bid] = KERNEL;
      this.#queueProvide(bid);
    }
    this.#count += n;
  }

  #queueProvide(bid: number): void {
    // Released outside a turn (a timer, the leak net): the buffer reaches the kernel at the next flush.
    this.reactor.workQueued();
    if (this.#ring) {
      if (this.#inRing < this.#window) this.#addToRing(bid);
      else this.#spare[this.#spareCount++] = bid;
    } else {
      this.#pendingBids[this.#pendingCount++] = bid;
    }
  }

  #addToRing(bid: number): void {
    const ring = this.#ring!;
    this.#bidSlot[bid] = ring.slotAt(this.#pendingAdds);
    ring.add(this.#addr[bid], this.bufferSize, bid, this.#pendingAdds++);
    this.#inRing++;
  }

  /** The kernel took a buffer out of the ring: top the ring up from the spares, newest first. */
  #consumedFromRing(): void {
    this.#inRing--;
    this.#refill();
  }

  #refill(): void {
    while (this.#inRing < this.#window && this.#spareCount > 0) this.#addToRing(this.#spare[--this.#spareCount]);
  }

  /** Hands buffers returned since the last flush to the kernel. The reactor calls it before each submit. */
  flush(): void {
    if (this.#closed) return;
    if (this.#ring) {
      if (this.#pendingAdds > 0) {
        this.#ring.publish(this.#pendingAdds);
        this.#pendingAdds = 0;
      }
      return;
    }
    const n = this.#pendingCount;
    if (n === 0) return;
    // A typed array sorts numerically without a comparator (and without garbage).
    const bids = this.#pendingBids.subarray(0, n).sort();
    // One PROVIDE_BUFFERS per run of consecutive ids whose memory is contiguous.
    let start = 0;
    for (let i = 1; i <= n; i++) {
      const contiguous = i < n && bids[i] === bids[i - 1] + 1 &&
        this.#addr[bids[i]] === this.#addr[bids[i - 1]] + this.bufferSize;
      if (contiguous) continue;
      this.#group!.provide(this.#addr[bids[start]], this.bufferSize, i - start, bids[start], this.#token);
      start = i;
    }
    this.#pendingCount = 0;
  }

  /** Completions of our own PROVIDE_BUFFERS SQEs: 0 on success. */
  complete(res: number): void {
    if (res < 0) this.#stats.provideErrors++;
  }

  /** The buffer group receives must name (sqe->buf_group). */
  get bufferGroup(): number {
    return this.groupId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Turns a completion with IORING_CQE_F_BUFFER into a Lease of `res` bytes. For incremental rings
   * the lease covers the next `res` bytes of the buffer.
   */
  take(res: number, flags: number): Lease {
    if (this.#closed) throw new ClosedError("BufferPool");
    if (!(flags & abi.IORING_CQE_F_BUFFER)) {
      throw new TypeError("completion carries no buffer (IORING_CQE_F_BUFFER not set)");
    }
    const bid = flags >>> abi.IORING_CQE_BUFFER_SHIFT;
    if (bid >= this.#count) throw new RangeError(`buffer id ${bid} is not in this pool (${this.#count} buffers)`);
    if (res < 0 || res > this.bufferSize) throw new RangeError(`length ${res} outside [0, ${this.bufferSize}]`);
    let bytes: Uint8Array;
    let offset = 0;
    if (this.incremental) {
      offset = this.#offset[bid];
      if (offset + res > this.bufferSize) {
        throw new RangeError(`incremental piece ${offset}+${res} overruns buffer ${bid}`);
      }
      if (this.detachOnRelease) {
        const piece = native.view(native.pointer(this.#addr[bid] + offset)!, res);
        this.#livePieces.add(piece);
        bytes = new Uint8Array(piece);
      } else {
        bytes = new Uint8Array(this.#views[bid], offset, res);
      }
      this.#offset[bid] = offset + res;
      if (this.#refs[bid]++ === 0) {
        this.#state[bid] = USER;
        this.#leased++;
      }
      if (!(flags & abi.IORING_CQE_F_BUF_MORE)) {
        this.#kernelDone[bid] = 1;
        this.#consumedFromRing();
      }
    } else {
      if (this.#state[bid] !== KERNEL) {
        throw new Error(`kernel returned buffer ${bid}, which is leased out: pool state is corrupt`);
      }
      this.#state[bid] = USER;
      this.#leased++;
      if (this.#ring) this.#consumedFromRing();
      bytes = new Uint8Array(this.#views[bid], 0, res);
    }
    const generation = ++this.#generation[bid];
    const origin = this.#leakDebug ? new Error("lease made here").stack : undefined;
    const lease = new Lease(this, bid, bytes, generation, offset, origin);
    this.#leasesActive++;
    this.#stats.leasesMade++;
    this.#stats.bytesReceived += res;
    if (this.#leaks) {
      const packed = generation * 65536 + bid;
      this.#leaks.register(lease, origin === undefined ? packed : { packed, origin }, lease);
    }
    return lease;
  }

  /**
   * A completion handed back a buffer with nothing for the user (0 bytes at EOF): re-provide it
   * without making a lease.
   */
  recycle(flags: number): void {
    if (this.#closed) return;
    const bid = flags >>> abi.IORING_CQE_BUFFER_SHIFT;
    if (!(flags & abi.IORING_CQE_F_BUFFER) || bid >= this.#count) {
      throw new RangeError(`no buffer of this pool in flags 0x${flags.toString(16)}`);
    }
    if (this.incremental) {
      if (flags & abi.IORING_CQE_F_BUF_MORE) return; // the kernel keeps it
      this.#kernelDone[bid] = 1;
      this.#consumedFromRing();
      if (this.#refs[bid] > 0) return; // the last release gives it back
      this.#offset[bid] = 0;
      this.#kernelDone[bid] = 0;
    } else if (this.#ring) {
      this.#consumedFromRing();
    }
    this.#queueProvide(bid);
    if (this.#waitHead < this.#waiters.length) {
      this.flush();
      this.#rearmNext();
    }
  }

  /**
   * A bundle completion (IORING_RECVSEND_BUNDLE): `res` bytes over consecutive ring slots starting at
   * the buffer in `flags`. Appends one lease per buffer to `out`, in order.
   */
  takeBundle(res: number, flags: number, out: Lease[]): void {
    if (!this.#ring || this.incremental || res <= this.bufferSize) {
      out.push(this.take(res, flags));
      return;
    }
    this.#stats.bundleCompletions++;
    const first = flags >>> abi.IORING_CQE_BUFFER_SHIFT;
    const slot = this.#bidSlot[first];
    const mask = this.#ring.entries - 1;
    let left = res;
    for (let k = 0; left > 0; k++) {
      const bid = k === 0 ? first : this.#ring.bidAt((slot + k) & mask);
      const n = Math.min(left, this.bufferSize);
      out.push(this.take(n, (bid << abi.IORING_CQE_BUFFER_SHIFT) | abi.IORING_CQE_F_BUFFER));
      left -= n;
    }
  }

  bufferAddress(bufferId: number): number {
    return this.#addr[bufferId];
  }

  /** Lease.release() lands here. */
  releaseLease(lease: Lease): void {
    if (!lease.isFrom(this)) throw new TypeError(`lease of buffer ${lease.bufferId} belongs to another pool`);
    if (lease.released) throw new TypeError(`lease of buffer ${lease.bufferId} was already released`);
    const bid = lease.bufferId;
    if (!this.incremental && this.#generation[bid] !== lease.generation) {
      throw new TypeError(`lease of buffer ${bid} is stale (already released)`);
    }
    this.#leaks?.unregister(lease);
    if (this.#closed) {
      // close() detached everything already; the buffer has nowhere to go back to.
      lease.markReleased();
      this.#leasesActive--;
      return;
    }
    this.#detach(bid, lease);
    lease.markReleased();
    this.#leasesActive--;
    this.#giveBack(bid);
  }

  #detach(bid: number, lease: Lease | undefined): void {
    if (!this.detachOnRelease) return;
    if (this.incremental) {
      // Each incremental piece has its own ArrayBuffer: detach that one.
      if (lease) {
        const piece = lease.bytes.buffer as ArrayBuffer;
        this.#livePieces.delete(piece);
        piece.transfer(0);
      }
      return;
    }
    // transfer() detaches every view of the old ArrayBuffer; the new one aliases the same memory.
    this.#views[bid] = this.#views[bid].transfer();
  }

  #giveBack(bid: number): void {
    if (this.incremental) {
      if (--this.#refs[bid] > 0) return;
      this.#state[bid] = KERNEL;
      this.#leased--;
      // The kernel still holds the rest of this buffer (its last piece had F_BUF_MORE): nothing to re-add.
      if (!this.#kernelDone[bid]) return;
      this.#offset[bid] = 0;
      this.#kernelDone[bid] = 0;
    } else {
      this.#state[bid] = KERNEL;
      this.#leased--;
    }
    this.#queueProvide(bid);
    if (this.#waitHead < this.#waiters.length) {
      // Paced: one parked receive per returned buffer, oldest first.
      this.flush();
      this.#rearmNext();
    }
  }

  #rearmNext(): void {
    while (this.#waitHead < this.#waiters.length) {
      const w = this.#waiters[this.#waitHead++];
      if (this.#waitHead === this.#waiters.length) {
        this.#waiters.length = 0;
        this.#waitHead = 0;
      }
      if (!this.#waiting.delete(w)) continue; // cancelled meanwhile
      this.#stats.rearms++;
      w.rearm();
      return;
    }
  }

  /**
   * A receive got -ENOBUFS: count the stall and park `waiter` until a buffer comes back (or the pool
   * grows). Re-arms at once if returned buffers are only waiting for a flush.
   */
  waitForBuffers(waiter: BufferWaiter): void {
    if (this.#closed) throw new ClosedError("BufferPool");
    this.#stats.enobufs++;
    if (this.#waiting.has(waiter)) return;
    this.#waiting.add(waiter);
    this.#waiters.push(waiter);
    if (this.#spareCount > 0) {
      // The ring ran dry while spares were left: the window is too small for this load.
      this.#window = Math.min(this.#window * 2, this.#count);
      this.#refill();
    } else if (this.#withKernel() === 0 && this.#count < this.maxCount) {
      const n = Math.min(this.#chunks[0].length / this.bufferSize | 0, this.maxCount - this.#count);
      this.#window += n;
      this.#grow(n);
      this.#stats.growthEvents++;
    }
    // Buffers may be with the kernel already (returned and published before this stale -ENOBUFS was
    // reaped, or just added): re-arm as many waiters as there are such buffers instead of parking.
    this.flush();
    for (let n = this.#withKernel(); n > 0 && this.#waitHead < this.#waiters.length; n--) this.#rearmNext();
  }

  /** Buffers the kernel can pick from now (or at the next flush), as far as reaped completions tell. */
  #withKernel(): number {
    return this.#ring ? this.#inRing : this.#count - this.#leased;
  }

  /** Forget a parked waiter (its connection closed). */
  cancelWait(waiter: BufferWaiter): void {
    this.#waiting.delete(waiter);
  }

  #reclaimLeak(r: LeakRecord): void {
    const packed = typeof r === "number" ? r : r.packed;
    const origin = typeof r === "number" ? undefined : r.origin;
    const bid = packed % 65536;
    const generation = Math.floor(packed / 65536);
    if (this.#closed || this.#generation[bid] !== generation || this.#state[bid] !== USER) return;
    this.#stats.leaksReclaimed++;
    this.#leasesActive--;
    if (!this.#leakWarned) {
      this.#leakWarned = true;
      console.warn(
        `uring-buffers: a lease of buffer ${bid} (pool group ${this.groupId}) was garbage-collected without release(); ` +
          `the buffer was reclaimed. ` +
          (origin
            ? `It was made at:\n${origin}`
            : `Create the pool with leakTracking: "debug" to see where leases are made.`),
      );
    }
    this.#detach(bid, undefined);
    this.#giveBack(bid);
  }

  stats(): PoolStats {
    return {
      backend: this.backend,
      incremental: this.incremental,
      groupId: this.groupId,
      bufferSize: this.bufferSize,
      buffersTotal: this.#count,
      buffersFree: this.#count - this.#leased,
      buffersLeased: this.#leased,
      leasesActive: this.#leasesActive,
      waiting: this.#waiting.size,
      ringWindow: this.#ring ? this.#window : 0,
      ...this.#stats,
    };
  }

  /**
   * Takes the buffers back from the kernel and unmaps them. Stop the receives using this pool first.
   * Outstanding leases are detached (their bytes read as empty); later release() calls are no-ops. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reactor.removeHook(this);
    this.#waiting.clear();
    this.#waiters.length = 0;
    // Detach every view user code may still hold before the memory is unmapped: a read through one
    // would otherwise fault the process. (Views of pieces share their buffer's ArrayBuffer unless
    // detachOnRelease gave each piece its own.)
    for (let bid = 0; bid < this.#count; bid++) {
      if (this.#state[bid] === USER || (this.incremental && this.#refs[bid] > 0)) this.#views[bid].transfer();
    }
    for (const piece of this.#livePieces) piece.transfer();
    this.#livePieces.clear();
    const ring = this.reactor.ring;
    if (this.#ring) {
      this.#ring.close();
    } else if (!ring.closed) {
      // REMOVE_BUFFERS before unmapping, so the kernel holds no address into freed memory.
      this.#group!.remove(65536, 0);
      ring.submitAndWait(0);
    }
    this.reactor.unregister(this.#token);
    for (const c of this.#chunks) c.free();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
