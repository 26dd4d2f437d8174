/**
 * `BufferPool`: the buffer-pool manager. It owns the buffer memory (page-aligned mmaps), one premade
 * view per buffer id, and a provided-buffer group in the kernel: ring-mapped where the kernel has it,
 * the IORING_OP_PROVIDE_BUFFERS op otherwise (or when asked). A completion that carries
 * IORING_CQE_F_BUFFER becomes a Lease; releasing the lease re-provides the buffer (batched: one tail
 * store or one PROVIDE_BUFFERS SQE per run of ids, at the reactor's next submit). Receives that hit
 * -ENOBUFS wait here in FIFO order and are re-armed one per returned buffer; while an incremental
 * pool is short, capped receives are rationed by what the ring can serve (admitsReceive). Leases can
 * count against holders (connections) so that one holder cannot pin the pool (see `fairShare`), and a
 * watchdog warns when receives have waited for buffers that never come back (see `watchdogMs`).
 *
 * How the kernel gets free buffers is a Refill's business (ring_refill.ts, provide_refill.ts); leases
 * dropped without release are the leak net's (leak_net.ts); the holders and their shares are a
 * HolderTable's (holders.ts); the waiting receives and the reservations of armed ones are kept in
 * wait_queue.ts; the stall warning is the StallWatchdog's (stall_watchdog.ts).
 */
import { describe } from "../options.ts";
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { ClosedError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { probeFeatures } from "../probe.ts";
import { Reactor } from "../reactor.ts";
import {
  kBufferAddress,
  kBufferView,
  kDatagrams,
  kHolderHeavy,
  kMarkReleased,
  kReleased,
  kReleaseLease,
  kTrimIdle,
} from "../internal.ts";
import { HolderTable, type LeaseHolder, MIN_PIECE_WEIGHT, WEIGHT_UNITS } from "./holders.ts";
import { GENERATION_MOD, LeakNet } from "./leak_net.ts";
import { Lease, type LeaseTrace, TracedLease } from "./lease.ts";
import { ProvideRefill } from "./provide_refill.ts";
import type { Refill } from "./refill.ts";
import { RingRefill } from "./ring_refill.ts";
import { StallWatchdog } from "./stall_watchdog.ts";
import { ReceiveReservations, WaitQueue } from "./wait_queue.ts";
import { type BufferPoolOptions, checkPoolOptions, type PoolBackend } from "./pool_options.ts";

export type { BufferPoolOptions, LeaseHolder, PoolBackend };

/**
 * A receive that got `-ENOBUFS` and waits in a pool (`BufferPool.waitForBuffers`), or was held back
 * while receives are rationed (`BufferPool.holdReceive`), to be re-armed in turn. StreamReceiver and
 * DatagramReceiver are ones; implement it for a receiver of your own.
 */
export interface BufferWaiter {
  /** A buffer is back: submit the receive again (once; waiting again takes another waitForBuffers()). */
  rearm(): void;
}

/** `BufferPool.stats()`: a snapshot of the pool's state and counters since it was made. */
export interface PoolStats {
  /** The kernel mechanism in use. */
  backend: PoolBackend;
  /** Incremental consumption is in effect (asked for, and the kernel has it). */
  incremental: boolean;
  /** The buffer group id. */
  groupId: number;
  /** Bytes per buffer. */
  bufferSize: number;
  /** Buffers the pool has now (grows up to maxCount). */
  buffersTotal: number;
  /** With the kernel (or queued to go back to it). */
  buffersFree: number;
  /** Held by user code through leases. */
  buffersLeased: number;
  /** Leases not yet released (in incremental pools several may share a buffer). */
  leasesActive: number;
  /** Leases made since the pool was created. */
  leasesMade: number;
  /** Bytes received into the pool's buffers (the total length of every lease made). */
  bytesReceived: number;
  /** Receives that found the group empty (-ENOBUFS). */
  enobufs: number;
  /** Receives re-armed after buffers came back. */
  rearms: number;
  /**
   * Receives queued instead of armed while receives are capped (receiveCap): others were waiting
   * before them, or the kernel's ring held too few bytes for them beside the receives armed lately,
   * so they waited their turn in the FIFO rather than race for buffers and fail with -ENOBUFS.
   */
  holds: number;
  /** Receives waiting for buffers right now. */
  waiting: number;
  /** Times the pool grew (by `count` buffers, up to maxCount) because receives ran out. */
  growthEvents: number;
  /** Leases garbage-collected without release, whose buffers the leak net took back. */
  leaksReclaimed: number;
  /** PROVIDE_BUFFERS operations the kernel failed (legacy backend). */
  provideErrors: number;
  /** Completions that filled more than one buffer (IORING_RECVSEND_BUNDLE). */
  bundleCompletions: number;
  /** Ring backends: buffers allowed in the kernel's ring now (see BufferPoolOptions.ringWindow). */
  ringWindow: number;
  /**
   * Ring backends: bytes of free buffers beyond the window whose pages were given back to the system
   * (madvise MADV_DONTNEED) after they sat unused for a whole 2 s check period; pages a buffer never
   * touched count too, so at most this much left the resident set. See BufferPoolOptions.ringWindow.
   */
  bytesTrimmed: number;
}

const KERNEL = 0; // provided (or queued to be)
const USER = 1; // leased out / not yet back with the kernel
/**
 * A receive's cap in an incremental pool that ran dry or is scarce (see BufferPool.receiveCap): a
 * 64 KiB buffer then serves at least two receives, armed single-shot and re-armed in turn. Measured
 * with 1,000 clients that never read against a pool of 128 x 64 KiB: multishot uncapped receives let
 * a prober's round trip take up to 0.6 s; single-shot ones capped at 32 KiB, at most 1 ms (16 KiB:
 * up to 130 ms, as re-arming four waiters per buffer churns); and the 4 KiB echo at 1,000
 * connections costs 2.8-3.4 us per message with 32 KiB against 3.6-4.6 with 16 KiB.
 */
const CAPPED_RECEIVE_BYTES = 32 * 1024;
/** Flushes (about two per reactor turn) that receives stay capped after an -ENOBUFS. */
const DRY_FLUSHES = 8;
/** A multishot receive's byte limit is at least this fraction of the pool (see reserveBurst). */
const BURST_FLOOR_PARTS = 32;

function freeChunks(chunks: NativeMemory[]): void {
  for (const c of chunks) c.free();
  chunks.length = 0;
}

/**
 * Where a lease was made, for `leakTracking: "debug"`: deep enough to reach the program's frames below
 * this library's (a receive's completion path alone fills the default ten).
 */
function tracedError(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  try {
    return new Error("lease made here");
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The memory of closed pools collected while leases were still out (see BufferPool.close()). */
const closedPoolMemory = new FinalizationRegistry<NativeMemory[]>(freeChunks);

/**
 * The buffer-pool manager: buffers of `bufferSize` bytes in page-aligned mappings, handed to the
 * kernel as one provided-buffer group, so that a receive submitted without a buffer is given one
 * only when data arrives. Each completion that carries a buffer becomes a {@link Lease}; releasing
 * the lease re-provides the buffer (batched: one tail store, or one PROVIDE_BUFFERS SQE per run of
 * ids, before the reactor's next submit). Receives that find no buffer (`-ENOBUFS`) wait in FIFO
 * order and are re-armed one per returned buffer (in an incremental pool whose receives are capped,
 * as many as the ring can serve: see receiveCap and admitsReceive); with `maxCount > count` the pool
 * grows instead.
 *
 * Servers, clients and UDP sockets make a pool of their own unless given one: pass a pool as their
 * `pool` option to share it (it must be on their loop's reactor). Receivers of your own
 * (`uring-buffers/ring`) use `take`, `takeBundle`, `recycle`, `waitForBuffers` / `cancelWait`, the
 * rationing of capped receives (`admitsReceive` / `holdReceive`, `armCapped` / `cappedDone`) and the
 * holder methods, as StreamReceiver does.
 *
 * @example One pool shared by every connection of a server
 * ```ts
 * import { BufferPool, getDefaultLoop, listen } from "uring-buffers";
 *
 * const loop = getDefaultLoop();
 * const pool = new BufferPool(loop.reactor, { count: 4096, bufferSize: 4096, maxCount: 16384 });
 * const server = listen({ port: 9000, loop, pool, handlers: { data: (conn, lease) => void conn.write(lease) } });
 * // ...
 * await server.stop();
 * pool.close(); // a pool you made is yours to close (after the sockets that use it)
 * ```
 */
export class BufferPool {
  /** @ignore A DatagramReceiver receives into it: its leases start with the recvmsg header. */
  [kDatagrams] = false;
  /** The reactor whose ring the group is registered on; receives from this pool must run on it. */
  readonly reactor: Reactor;
  /** The buffer group id (`sqe->buf_group`): what a receive names with `setBufferSelect`. */
  readonly groupId: number;
  /** Bytes per buffer. */
  readonly bufferSize: number;
  /** The kernel mechanism in use (`"auto"` resolved). */
  readonly backend: PoolBackend;
  /** Incremental consumption is in effect (asked for, on a ring backend, and the kernel has it). */
  readonly incremental: boolean;
  /** The most buffers the pool grows to (see BufferPoolOptions.maxCount). */
  readonly maxCount: number;
  /** Released leases' views are detached (see BufferPoolOptions.detachOnRelease). */
  readonly detachOnRelease: boolean;

  readonly #chunks: NativeMemory[] = [];
  readonly #growStep: number; // buffers added per growth: the count the pool started with
  readonly #addr: number[] = []; // address of each buffer id (the refill reads it too)
  readonly #views: ArrayBuffer[] = []; // one per buffer id, made once (renewed after a detach)
  readonly #state: Uint8Array;
  readonly #generation: Uint32Array;
  readonly #refs: Uint32Array; // incremental: leases outstanding per buffer
  readonly #offset: Uint32Array; // incremental: bytes of the buffer already handed out
  readonly #kernelDone: Uint8Array; // incremental: kernel finished with the buffer (no F_BUF_MORE)
  readonly #refill: Refill; // gives free buffers to the kernel
  readonly #ringRefill: RingRefill | undefined; // #refill on ring backends: bundles read its slot order
  readonly #waiting = new WaitQueue<BufferWaiter>(); // receives waiting for buffers, FIFO
  #stallsSinceGrowth = 0;
  #dryFlushes = 0; // flushes left before receives go uncapped again after an -ENOBUFS (receiveCap)
  readonly #deferredReads: BufferWaiter[] = []; // reads that completed, armed at the next flush (deferRead)
  readonly #deferredQueued = new Set<BufferWaiter>(); // of those, queued in #waiting: their re-arm is no `rearms`
  // While receives are capped, each one armed may take up to receiveCap bytes of the kernel's ring
  // before its completion is reaped: such reservations and what the ring holds are counted, so that
  // no more receives are armed than it can serve.
  readonly #reserved: ReceiveReservations;
  #headUsed = 0; // incremental: bytes already taken from buffers still in the kernel's ring
  readonly #leaks: LeakNet | undefined;
  readonly #traceLeases: boolean; // leakTracking "debug"
  readonly #holders: HolderTable; // who holds the leases (addHolder), and each one's share
  readonly #limitsMultishot: boolean; // reserveBurst() limits multishot receives (6.17+)
  #burstReserved = 0; // buffers that limited multishot receives armed now may still take
  readonly #burstFloor: number; // the smallest reservation: maxCount / BURST_FLOOR_PARTS, at least 1
  readonly #watchdog: StallWatchdog;
  #count = 0;
  #closed = false;
  #leased = 0;
  #leasesActive = 0;
  #stats = {
    leasesMade: 0,
    bytesReceived: 0,
    enobufs: 0,
    rearms: 0,
    holds: 0,
    growthEvents: 0,
    bundleCompletions: 0,
  };

  /**
   * Maps `count` buffers and registers them with `reactor`'s ring as one buffer group.
   *
   * @param reactor The reactor whose ring receives from this pool run on (for sockets: their
   *   IoLoop's `reactor`).
   * @param options Sizes, backend and policies; see {@link BufferPoolOptions}.
   * @throws {RangeError} for a size, count, window, id or timeout out of range.
   * @throws {TypeError} for an unknown backend or leakTracking, or `incremental` with `"legacy"`.
   * @throws {UnsupportedError} when the kernel lacks the backend asked for.
   * @throws {UringError} `EEXIST` when another group of the reactor's ring holds `groupId`; when the
   *   kernel refuses the group or memory.
   */
  constructor(reactor: Reactor, options: BufferPoolOptions = {}) {
    if (!(reactor instanceof Reactor)) throw new TypeError(`reactor must be a Reactor, got ${describe(reactor)}`);
    const settings = checkPoolOptions(options);
    const { bufferSize, count, maxCount, backend, incremental } = settings;
    const groupId = settings.groupId ?? reactor.nextGroupId();
    this.reactor = reactor;
    this.groupId = groupId;
    this.bufferSize = bufferSize;
    this.backend = backend;
    this.maxCount = maxCount;
    this.incremental = incremental;
    this.detachOnRelease = settings.detachOnRelease;
    this.#state = new Uint8Array(maxCount);
    this.#generation = new Uint32Array(maxCount);
    this.#refs = new Uint32Array(incremental ? maxCount : 0);
    this.#offset = new Uint32Array(incremental ? maxCount : 0);
    this.#kernelDone = new Uint8Array(incremental ? maxCount : 0);
    this.#traceLeases = settings.leakTracking === "debug";
    this.#leaks = settings.leakTracking === "off" ? undefined : new LeakNet({
      groupId,
      leaseOut: (bid, tag) => this.#leaseOut(bid, tag),
      reclaim: (bid, holder, tag) => this.#reclaim(bid, holder, tag),
      closed: () => this.#closed,
    }, this.#traceLeases);
    this.#watchdog = new StallWatchdog(settings.watchdogMs, {
      stalled: () => !this.#closed && this.#waiting.size > 0 && this.#refill.available() === 0,
      rearms: () => this.#stats.rearms,
      describe: (waited) => this.#stallWarning(waited),
    });
    this.#holders = new HolderTable(settings.fairShare, incremental && settings.fairShare !== 0);
    this.#limitsMultishot = settings.fairShare !== 0 && probeFeatures().multishotLimit;
    this.#burstFloor = Math.max(1, Math.floor(maxCount / BURST_FLOOR_PARTS));
    this.#reserved = new ReceiveReservations(reactor);

    this.#growStep = count;
    this.#ringRefill = backend === "legacy" ? undefined : new RingRefill(reactor.ring, this.#addr, bufferSize, {
      groupId,
      maxCount,
      window: Math.min(settings.ringWindow, count),
      kernelMemory: backend === "ring-mmap",
      incremental,
    });
    this.#refill = this.#ringRefill ?? new ProvideRefill(reactor, this.#addr, bufferSize, groupId, maxCount);
    try {
      this.#grow(count, new NativeMemory(count * bufferSize));
      this.#refill.start();
    } catch (e) {
      this.#refill.close();
      freeChunks(this.#chunks);
      throw e;
    }
    reactor.addHook(this);
  }

  /** Adds `n` buffers in `mem`, a new mapping of `n` buffers, queued to the kernel at the next flush. */
  #grow(n: number, mem: NativeMemory): void {
    this.#chunks.push(mem);
    const first = this.#count;
    for (let i = 0; i < n; i++) {
      const bid = first + i;
      this.#addr[bid] = mem.address + i * this.bufferSize;
      this.#views[bid] = native.view(mem.pointerAt(i * this.bufferSize), this.bufferSize);
      this.#state[bid] = KERNEL;
      this.#refill.queue(bid);
    }
    this.#count += n;
    this.reactor.workQueued();
  }

  /**
   * Hands buffers released since the last flush to the kernel: one tail store (ring backends), or
   * one PROVIDE_BUFFERS SQE per run of contiguous ids, submitted with the ring's next submit
   * (legacy). The pool is a SubmitHook of its reactor, which calls this before every submit; call it
   * yourself only when you submit on the ring without the reactor. A no-op once closed.
   */
  flush(): void {
    if (this.#closed || this.reactor.ring.closed) return;
    if (this.#dryFlushes > 0) this.#dryFlushes--;
    this.#refill.flush();
    if (this.#deferredReads.length > 0) {
      for (const w of this.#deferredReads) {
        this.#waiting.push(w);
        this.#deferredQueued.add(w);
      }
      this.#deferredReads.length = 0;
      this.#rearmFor(this.#refill.available());
      this.#deferredQueued.clear(); // reads still waiting wait for buffers: their re-arm counts
      // Reads left waiting found nothing for the kernel, as a receive's -ENOBUFS says: widen, grow and
      // watch for leases not coming back as for one (they waited without either, for good).
      if (this.#waiting.size > 0 && this.#refill.available() === 0) this.#pressed(true);
    }
    this.#refill.settle(this.#waiting.size === 0 && this.receiveCap === 0);
    // Reservations lapse without an event: re-arm what they held back. If receives still wait while
    // the ring holds bytes, only reservations hold them, and those lapse within two polls: ask for
    // the turns that get there even if nothing completes (every such turn re-arms at least one).
    if (this.#waiting.size > 0 && this.receiveCap > 0) {
      this.#rearmFor(1);
      if (this.#waiting.size > 0 && this.#ringBytes() > 0) this.reactor.requestTurn();
    }
  }

  /** The buffer group receives must name (`sqe->buf_group`): the same as `groupId`. */
  get bufferGroup(): number {
    return this.groupId;
  }

  /** close() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @ignore See kTrimIdle: idle spare buffers give their pages back now. */
  [kTrimIdle](): void {
    if (!this.#closed) this.#refill.trimIdle();
  }

  /**
   * Half or more of the pool's buffers are leased. Receives then take one buffer per
   * operation instead of a multishot burst, so a connection's fair share is checked after every
   * buffer; and connections copy leases they would queue for sending and release them, so peers
   * that do not read pin native copies (bounded by maxBuffered and the loop's maxQueuedBytes), not
   * the pool.
   */
  get scarce(): boolean {
    return this.#leased * 2 >= this.#count;
  }

  /**
   * Most bytes one receive should take now: 0 for no cap, or CAPPED_RECEIVE_BYTES (32 KiB) in an
   * incremental pool that ran dry lately (an -ENOBUFS within the last few flushes) or is scarce. A big
   * buffer then serves several connections' receives instead of one connection's whole backlog, so
   * a quiet connection among floods still gets its turn soon. Receivers arm capped receives as
   * single-shot ones.
   */
  get receiveCap(): number {
    return this.incremental && (this.#dryFlushes > 0 || this.#waiting.size > 0 || this.scarce)
      ? CAPPED_RECEIVE_BYTES
      : 0;
  }

  /**
   * While receives are capped (receiveCap), whether one more may be armed now: none wait before it,
   * and the kernel's ring holds what it may take (its cap, at most one buffer) beside what the capped
   * receives armed lately may take, or holds anything while none is reserved. Otherwise (false) queue
   * it with holdReceive(), to be re-armed in turn. Always true uncapped.
   */
  admitsReceive(): boolean {
    const cap = this.receiveCap;
    return cap === 0 || (this.#waiting.size === 0 && this.#creditFor(cap));
  }

  /**
   * A single-shot read that completed, to be armed again at the next flush (before the submit it
   * would have gone with anyway), behind the receives that wait for buffers then: re-armed at once,
   * it went before those whose -ENOBUFS came later in the same batch, and they starved.
   */
  deferRead(waiter: BufferWaiter): void {
    if (this.#closed) throw new ClosedError("BufferPool");
    this.#deferredReads.push(waiter);
    this.reactor.workQueued();
  }

  /** Bytes the kernel's ring holds for receives (published or about to be). */
  #ringBytes(): number {
    return this.#refill.available() * this.bufferSize - this.#headUsed;
  }

  /** Most bytes one receive capped at `cap` takes: a single-shot receive fills at most one buffer. */
  #receiveBytes(cap: number): number {
    return Math.min(cap, this.bufferSize);
  }

  /**
   * The ring can serve one more receive capped at `cap` beside the reservations; or none is
   * reserved and it holds something.
   */
  #creditFor(cap: number): boolean {
    const reserved = this.#reserved.count();
    const bytes = this.#ringBytes();
    const each = this.#receiveBytes(cap);
    return bytes - reserved * each >= each || (reserved === 0 && bytes > 0);
  }

  /** #creditFor(cap), after widening the ring's window while that helps (spares wait beyond it). */
  #widenForCredit(cap: number): boolean {
    while (!this.#creditFor(cap)) {
      if (!this.#refill.widen(this.#count)) return false;
    }
    return true;
  }

  /**
   * A capped receive is being armed: it may take up to receiveCap bytes of the ring. Returns the
   * stamp to hand to cappedDone() when its completion comes.
   */
  armCapped(): number {
    return this.#reserved.add();
  }

  /** The receive armCapped() returned `stamp` for is over: what it did not take serves waiting receives. */
  cappedDone(stamp: number): void {
    this.#reserved.done(stamp);
    if (this.#waiting.size > 0 && !this.#closed) this.#rearmFor(1);
  }

  /**
   * Queues a receive that admitsReceive() turned away (no -ENOBUFS counted): it is re-armed in FIFO
   * order once the ring can serve it.
   */
  holdReceive(waiter: BufferWaiter): void {
    if (this.#closed) throw new ClosedError("BufferPool");
    this.#stats.holds++;
    // A ring short of credit while buffers wait beyond its window: the pool is short, let them in.
    this.#widenForCredit(this.receiveCap);
    // Only a ring short of bytes (not receives queued or armed before this one) is a stall that may
    // widen the ring's window or grow the pool.
    this.#park(waiter, this.#ringBytes() < this.#receiveBytes(this.receiveCap));
  }

  /**
   * Turns a completion with IORING_CQE_F_BUFFER into a Lease of `res` bytes. For incremental rings
   * the lease covers the next `res` bytes of the buffer. The lease counts against `holder` (an id from
   * addHolder; 0, the default, for none) until it is released.
   *
   * @param res The completion's result: bytes received (0..bufferSize).
   * @param flags The completion's flags: IORING_CQE_F_BUFFER and the buffer id in the upper 16 bits.
   * @param holder A holder id from addHolder, or 0.
   * @throws {ClosedError} once the pool is closed.
   * @throws {TypeError} without IORING_CQE_F_BUFFER.
   * @throws {RangeError} for a buffer id or length that does not fit this pool, or a holder id it
   *   never gave (a removed holder's leases count against no holder).
   */
  take(res: number, flags: number, holder = 0): Lease {
    if (this.#closed) throw new ClosedError("BufferPool");
    if (!(flags & abi.IORING_CQE_F_BUFFER)) {
      throw new TypeError("completion carries no buffer (IORING_CQE_F_BUFFER not set)");
    }
    const bid = flags >>> abi.IORING_CQE_BUFFER_SHIFT;
    if (bid >= this.#count) throw new RangeError(`buffer id ${bid} is not in this pool (${this.#count} buffers)`);
    if (res < 0 || res > this.bufferSize) throw new RangeError(`length ${res} outside [0, ${this.bufferSize}]`);
    if (holder !== 0 && !this.#holders.live(holder)) {
      this.#holders.held(holder); // a RangeError for an id this pool never gave
      holder = 0; // removed while its receive still runs: later leases count against no holder
    }
    let offset = 0;
    if (this.incremental) {
      offset = this.#offset[bid];
      if (offset + res > this.bufferSize) {
        throw new RangeError(`incremental piece ${offset}+${res} overruns buffer ${bid}`);
      }
      this.#offset[bid] = offset + res;
      if (this.#refs[bid]++ === 0) {
        this.#state[bid] = USER;
        this.#leased++;
      }
      if (flags & abi.IORING_CQE_F_BUF_MORE) this.#headUsed += res;
      else {
        this.#headUsed -= offset; // the buffer has left the ring: its earlier pieces no longer count
        this.#kernelDone[bid] = 1;
        this.#refill.consumed();
      }
    } else {
      if (this.#state[bid] !== KERNEL) {
        throw new Error(`kernel returned buffer ${bid}, which is leased out: pool state is corrupt`);
      }
      this.#state[bid] = USER;
      this.#leased++;
      this.#refill.consumed();
    }
    const generation = ++this.#generation[bid];
    const trace: LeaseTrace | undefined = this.#traceLeases ? { made: tracedError(), touched: undefined } : undefined;
    const lease = trace
      ? new TracedLease(this, bid, res, generation, offset, holder, trace)
      : new Lease(this, bid, res, generation, offset, holder);
    this.#leasesActive++;
    this.#stats.leasesMade++;
    this.#stats.bytesReceived += res;
    if (holder === 0) this.#leaks?.track(lease, bid, generation, 0, trace);
    else {
      const weight = this.#weigh(res);
      this.#holders.took(holder, weight, bid);
      // An incremental buffer's pieces need no generation check (their buffer's refs tell), and a
      // reclaimed piece must give its weight back.
      this.#leaks?.track(lease, bid, this.incremental ? weight : generation, holder, trace);
    }
    return lease;
  }

  /** What a lease of `length` bytes weighs against its holder's share (see HolderTable). */
  #weigh(length: number): number {
    if (!this.incremental) return WEIGHT_UNITS;
    return Math.max(MIN_PIECE_WEIGHT, Math.ceil(length * WEIGHT_UNITS / this.bufferSize));
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
      this.#headUsed -= this.#offset[bid];
      this.#kernelDone[bid] = 1;
      this.#refill.consumed();
      if (this.#refs[bid] > 0) return; // the last release gives it back
      this.#offset[bid] = 0;
      this.#kernelDone[bid] = 0;
    } else {
      this.#refill.consumed();
    }
    this.#giveBack(bid);
  }

  /**
   * A bundle completion (IORING_RECVSEND_BUNDLE): `res` bytes over consecutive ring slots starting at
   * the buffer in `flags`. Appends one lease per buffer to `out`, in order, each counted against `holder`.
   */
  takeBundle(res: number, flags: number, out: Lease[], holder = 0): void {
    const ring = this.#ringRefill;
    if (!ring || this.incremental || res <= this.bufferSize) {
      out.push(this.take(res, flags, holder));
      return;
    }
    this.#stats.bundleCompletions++;
    const first = flags >>> abi.IORING_CQE_BUFFER_SHIFT;
    let left = res;
    for (let k = 0; left > 0; k++) {
      const n = Math.min(left, this.bufferSize);
      out.push(
        this.take(n, (ring.bundleBid(first, k) << abi.IORING_CQE_BUFFER_SHIFT) | abi.IORING_CQE_F_BUFFER, holder),
      );
      left -= n;
    }
  }

  /** @ignore Native address of a buffer (Lease.address). */
  [kBufferAddress](bufferId: number): number {
    return this.#addr[bufferId];
  }

  /**
   * @ignore A leased piece's view (Lease.bytes, made on its first read): of the buffer's current
   * ArrayBuffer, which a detaching release replaces, so the view dies with the lease.
   */
  [kBufferView](bufferId: number, offset: number, length: number): Uint8Array<ArrayBuffer> {
    // Once closed the memory is unmapped: empty, as a view made before close() is once detached.
    if (this.#closed) return new Uint8Array(0);
    return new Uint8Array(this.#views[bufferId], offset, length);
  }

  /**
   * @ignore Lease.release() lands here, from the lease's own pool only (its private owner), so a
   * lease can never be handed to another pool.
   */
  [kReleaseLease](lease: Lease, generation: number, holder: number): void {
    if (lease[kReleased]) throw new TypeError(`lease of buffer ${lease.bufferId} was already released`);
    const bid = lease.bufferId;
    if (!this.incremental && this.#generation[bid] !== generation) {
      throw new TypeError(`lease of buffer ${bid} is stale (already released)`);
    }
    this.#leaks?.forget(lease);
    // Once closed, close() has detached everything already.
    if (!this.#closed) this.#detach(bid);
    lease[kMarkReleased]();
    this.#endLease(bid, holder, holder === 0 ? 0 : this.#weigh(lease.length));
  }

  /**
   * A lease of whole buffer `bid` ends: detach its views (detachOnRelease). transfer() detaches every
   * view of the old ArrayBuffer; the new one aliases the same memory. An incremental buffer's pieces
   * share it, so its views are detached once the whole buffer goes back instead (#giveBack).
   */
  #detach(bid: number): void {
    if (this.detachOnRelease && !this.incremental) this.#views[bid] = this.#views[bid].transfer();
  }

  /**
   * A lease of buffer `bid`, of `weight` against `holder`, is over (released or reclaimed): its buffer
   * goes back once nothing holds it.
   */
  #endLease(bid: number, holder: number, weight: number): void {
    if (--this.#leasesActive === 0 && this.#closed) this.#freeMemory();
    // A closed pool's buffers have nowhere to go back to, but its counts still follow the releases.
    if (this.#unleased(bid) && !this.#closed) this.#giveBack(bid);
    if (holder === 0 && !this.#holders.heldBack) return;
    const notify = !this.#closed && !this.reactor.ring.closed;
    if (holder !== 0) this.#holders.returned(holder, weight, bid, this.#leased, this.maxCount, notify);
    this.#holders.recheck(this.#leased, this.maxCount, notify);
  }

  /** Buffer `bid` lost a lease: true when no lease, nor the kernel (the rest of an incremental buffer), holds it. */
  #unleased(bid: number): boolean {
    if (this.incremental && --this.#refs[bid] > 0) return false;
    this.#state[bid] = KERNEL;
    this.#leased--;
    if (!this.incremental) return true;
    // The kernel still holds the rest of this buffer (its last piece had F_BUF_MORE): recycle() or
    // the take() of its last piece ends that.
    if (!this.#kernelDone[bid]) return false;
    this.#offset[bid] = 0;
    this.#kernelDone[bid] = 0;
    return true;
  }

  /**
   * The one way a free buffer goes back to the kernel: queued for the next flush, and the receives
   * that wait for buffers re-armed for it, oldest first: one per buffer (per receiveCap's worth of
   * it while receives are capped), so that they do not all race for it.
   */
  #giveBack(bid: number): void {
    // Views of an incremental buffer's pieces must not read what the kernel writes into it next.
    if (this.incremental && this.detachOnRelease) this.#views[bid] = this.#views[bid].transfer();
    // The reactor was closed before the pool: there is no kernel to give it to, and no receive to arm.
    if (this.reactor.ring.closed) return;
    // Freed outside a turn (a timer, the leak net): the buffer reaches the kernel at the next flush.
    this.reactor.workQueued();
    this.#refill.queue(bid);
    if (this.#waiting.size > 0) {
      this.#refill.flush();
      this.#rearmFor(1);
    }
  }

  /**
   * Re-arms the oldest waiters for `buffers` buffers in the kernel's hands: one receive per buffer, or
   * several while receives are capped (a buffer then serves bufferSize / receiveCap of them).
   */
  #rearmFor(buffers: number): void {
    const cap = this.receiveCap;
    if (cap > 0 && this.#ringRefill !== undefined) {
      // Capped receives count what they may take (armCapped): re-arm as many as the ring can serve.
      while (this.#waiting.size > 0 && this.#widenForCredit(cap)) this.#rearmNext();
      return;
    }
    let n = buffers * (cap === 0 ? 1 : Math.max(1, this.bufferSize / cap | 0));
    while (n-- > 0 && this.#waiting.size > 0) this.#rearmNext();
  }

  /** Re-arms the oldest waiter (the caller saw one waiting). */
  #rearmNext(): void {
    const w = this.#waiting.shift()!;
    // A read armed again at the flush after it completed is not one that waited for buffers.
    if (this.#deferredQueued.size === 0 || !this.#deferredQueued.delete(w)) this.#stats.rearms++;
    w.rearm();
  }

  /**
   * A receive got -ENOBUFS: count the stall and park `waiter` until a buffer comes back (or the pool
   * grows). Re-arms at once if returned buffers are only waiting for a flush.
   */
  waitForBuffers(waiter: BufferWaiter): void {
    if (this.#closed) throw new ClosedError("BufferPool");
    this.#stats.enobufs++;
    this.#dryFlushes = DRY_FLUSHES;
    this.#park(waiter, true);
  }

  /** Queues `waiter` (FIFO) until the ring can serve it; after a stall, widens or grows under pressure. */
  #park(waiter: BufferWaiter, stalled: boolean): void {
    if (this.#waiting.push(waiter)) this.#pressed(stalled);
  }

  /** Receives wait (one just parked, or reads found the pool empty): widen, grow, re-arm, watch. */
  #pressed(stalled: boolean): void {
    const refill = this.#refill;
    // Buffers the refill held back (a ring's spares) go to the kernel first. Else the pool grows if
    // nothing is left for the kernel, or in a storm: as many stalls as buffers since the last growth,
    // while released buffers kept trickling back (they never let the first condition hold under load).
    if (
      stalled && !refill.widen(this.#count) && this.#count < this.maxCount &&
      (refill.available() === 0 || ++this.#stallsSinceGrowth >= this.#count)
    ) {
      this.#stallsSinceGrowth = 0;
      const n = Math.min(this.#growStep, this.maxCount - this.#count);
      // Mapped before anything changes: a failure (ENOMEM) here runs in a flush or a completion, and must
      // not be thrown out of the loop's turn. The pool stays at its size and says so, once.
      const mem = this.#mapForGrowth(n);
      if (mem) {
        refill.grow(n);
        this.#grow(n, mem);
        this.#stats.growthEvents++;
      }
    }
    // Buffers may be with the kernel already (returned and published before this stale -ENOBUFS was
    // reaped, or just added): re-arm as many waiters as they can serve instead of parking.
    this.#refill.flush();
    this.#rearmFor(refill.available());
    this.#watchdog.waiting();
  }

  #growthFailed = false;

  /** A mapping for `n` more buffers, or undefined (once failed, the pool grows no more). */
  #mapForGrowth(n: number): NativeMemory | undefined {
    if (this.#growthFailed) return undefined;
    try {
      return new NativeMemory(n * this.bufferSize);
    } catch (e) {
      this.#growthFailed = true;
      console.warn(
        `uring-buffers: pool group ${this.groupId} could not grow past ${this.#count} buffers ` +
          `(maxCount ${this.maxCount}): ${e instanceof Error ? e.message : e}; it goes on at that size`,
      );
      return undefined;
    }
  }

  /** The stall watchdog's warning: the pool's numbers, and what to look for. */
  #stallWarning(waitedMs: number): string {
    const waiting = this.#waiting.size;
    const most = this.#holders.largest();
    return `uring-buffers: pool group ${this.groupId}: ${this.#leased}/${this.#count} buffers leased, ` +
      `${waiting} receive${waiting === 1 ? "" : "s"} waiting: are leases released? ` +
      `None came back for ${(waitedMs / 1000).toFixed(1)} s. Release each lease (release(), \`using\`, or a ` +
      `write that takes it over) once its bytes are used; ` +
      (this.#leaks
        ? `a dropped one comes back only when the garbage collector finds it (${this.#leaks.reclaimed} so far; ` +
          `leakTracking: "debug" says where your code last read each).`
        : `with leakTracking: "off" a dropped one never comes back.`) +
      (most === 0 ? "" : ` The most one holder (a connection) has out: ${most}.`);
  }

  /**
   * A receive's operation ended without taking a buffer (EOF, an error, a cancel). A re-arm given to
   * it (one per returned buffer) goes to the next waiter: the kernel selects a buffer before it reads,
   * so a receive parked at a peer's bare EOF got -ENOBUFS, and re-armed it ends with no buffer taken.
   */
  receiveEnded(): void {
    if (this.#closed || this.#waiting.size === 0) return;
    this.#rearmFor(Math.min(1, this.#refill.available()));
  }

  /** Forget a parked waiter (its connection closed). */
  cancelWait(waiter: BufferWaiter): void {
    this.#waiting.cancel(waiter);
    const at = this.#deferredReads.indexOf(waiter);
    if (at >= 0) this.#deferredReads.splice(at, 1);
  }

  /**
   * For the leak net (LeakOwner.leaseOut): the lease it recorded is still out. Its tag is the
   * lease's generation, or in an incremental pool the weight of a lease that has a holder (see take()).
   */
  #leaseOut(bid: number, tag: number): boolean {
    // Asked after close() too: a lease dropped then still holds the pool's memory mapped.
    // An incremental buffer has a lease per piece, each of a different generation: its refs tell.
    return this.incremental
      ? this.#refs[bid] > 0
      : this.#generation[bid] % GENERATION_MOD === tag && this.#state[bid] === USER;
  }

  /** The leak net found a lease that was never released: take its buffer back as a release would. */
  #reclaim(bid: number, holder: number, tag: number): void {
    if (!this.#closed) this.#detach(bid); // close() has detached everything already
    this.#endLease(bid, holder, holder === 0 ? 0 : this.incremental ? tag : WEIGHT_UNITS);
  }

  /**
   * Registers something that holds leases (a connection); returns its id (>= 1; ids of removed
   * holders are reused) to pass to take(). Its leases count against its share (see
   * BufferPoolOptions.fairShare) until released or reclaimed.
   */
  addHolder(holder: LeaseHolder): number {
    if (typeof holder?.underQuota !== "function") throw new TypeError("holder must have an underQuota() method");
    if (this.#closed) throw new ClosedError("BufferPool");
    return this.#holders.add(holder);
  }

  /**
   * Forgets a holder (call once, e.g. when its connection closes): its outstanding leases stay valid
   * and still count in held(), but their release no longer notifies it; leases taken for its id from
   * now on (a receive still running) count against no holder. Its id is reused once they are all back.
   */
  removeHolder(id: number): void {
    this.#holders.remove(id);
  }

  /** Leases of holder `id` not yet released (0 for id 0, "no holder"). */
  held(id: number): number {
    return this.#holders.held(id);
  }

  /**
   * What holder `id`'s leases weigh against its share, in buffers (0 for id 0): one per lease in a
   * whole-buffer pool; in an incremental pool each piece's length, at least a 32nd of a buffer (see
   * pinnedBuffers() for the buffers the pieces are in).
   */
  heldBuffers(id: number): number {
    return this.#holders.heldBuffers(id);
  }

  /**
   * In an incremental pool, the buffers holder `id`'s leases are in (0 for id 0, in a whole-buffer
   * pool, where heldBuffers() counts them, and with fairShare off): each piece keeps its whole buffer
   * from the kernel, so while half the pool or more is leased, a holder over twice its share in these
   * is held back as one over its share by weight.
   */
  pinnedBuffers(id: number): number {
    return this.#holders.pinnedBuffers(id);
  }

  /** @ignore See LeaseOwner[kHolderHeavy]: holder `id` holds at least half its share (never without a share). */
  [kHolderHeavy](id: number): boolean {
    return this.#holders.heldBuffers(id) * 2 >= this.#holders.share(this.#leased, this.maxCount);
  }

  /**
   * Buffers a multishot receive of holder `id` may take before it ends (its byte limit,
   * `sqe->optlen`, is that many buffers' worth), or 0 for no limit; reserved until endBurst(). Its
   * room (HolderTable.burstRoom), within what half the pool leaves beside leases and the bursts
   * reserved already: receives armed one after another, each alone in the count of holders, then
   * cannot together take more than half the pool before their completions are seen, as long as at
   * most BURST_FLOOR_PARTS of them start at once. At least a BURST_FLOOR_PARTS-th of the pool: a
   * receive that ends re-arms, and ending at every buffer cost 5-7% of the server's CPU at 64
   * connections x 4 KiB x 16 deep. 0 on kernels without the limit (before 6.17) and with fairShare off.
   */
  reserveBurst(id: number): number {
    if (!this.#limitsMultishot) return 0;
    const room = this.#holders.burstRoom(id, this.#leased, this.maxCount);
    if (room === Infinity) return 0;
    const headroom = (this.maxCount >> 1) - this.#leased - this.#burstReserved;
    const buffers = Math.max(this.#burstFloor, Math.min(room, headroom));
    this.#burstReserved += buffers;
    return buffers;
  }

  /** A multishot receive that reserveBurst() limited has ended: its reservation goes. */
  endBurst(buffers: number): void {
    this.#burstReserved -= buffers;
  }

  /**
   * True when holder `id` holds more than its share (heldBuffers() against share(), and while half
   * the pool or more is leased pinnedBuffers() against twice the share; see
   * BufferPoolOptions.fairShare): it should stop receiving. Its underQuota() is then called once it
   * holds at most half of each.
   */
  overQuota(id: number): boolean {
    return this.#holders.overQuota(id, this.#leased, this.maxCount);
  }

  /**
   * Holder `id`, held back at its share, may receive again now (its program waits for more and it
   * holds no more than its share): true, and no underQuota() follows.
   */
  resumeWithinShare(id: number): boolean {
    return this.#holders.resumeWithinShare(id, this.#leased, this.maxCount);
  }

  /**
   * The buffers' worth a holder may hold now (heldBuffers(); see BufferPoolOptions.fairShare; Infinity
   * when off).
   */
  share(): number {
    return this.#holders.share(this.#leased, this.maxCount);
  }

  /** A snapshot of the pool's state and counters (a new object each call). */
  stats(): PoolStats {
    const s = this.#stats;
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
      ringWindow: this.#refill.window,
      bytesTrimmed: this.#refill.bytesTrimmed,
      leasesMade: s.leasesMade,
      bytesReceived: s.bytesReceived,
      enobufs: s.enobufs,
      rearms: s.rearms,
      holds: s.holds,
      growthEvents: s.growthEvents,
      leaksReclaimed: this.#leaks?.reclaimed ?? 0,
      provideErrors: this.#refill.errors,
      bundleCompletions: s.bundleCompletions,
    };
  }

  /**
   * Takes the buffers back from the kernel and unmaps them. Stop the receives using this pool first.
   * Outstanding leases are detached (their bytes read as empty; they can no longer be written), and
   * the memory stays mapped until the last of them is released: one queued for a send on another
   * socket still goes out intact. Idempotent. A pool that a server, client or UDP socket made for itself is closed
   * with it; close a pool you made yourself after the sockets that use it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchdog.stop();
    this.reactor.removeHook(this);
    // Receives waiting for buffers are armed once more: with the group gone the kernel fails them, and
    // each ends (ECANCELED, its buffer pool was closed) instead of waiting for ever.
    for (const w of this.#deferredReads) this.#waiting.push(w);
    this.#deferredReads.length = 0;
    const ringOpen = !this.reactor.ring.closed;
    for (let w = this.#waiting.shift(); w !== undefined; w = this.#waiting.shift()) {
      if (ringOpen) w.rearm();
    }
    // So are the receives of holders held back at their share (paused, nothing armed).
    if (ringOpen) this.#holders.letGo();
    // Detach every view user code may still hold before the memory is unmapped: a read through one
    // would otherwise fault the process (views of released leases too, where nothing detached them).
    for (let bid = 0; bid < this.#count; bid++) this.#views[bid].transfer();
    this.#refill.close();
    // A lease still out may be queued for a send on some socket, which reads its buffer by address:
    // the memory stays mapped until the last lease is released (or reclaimed). Should the pool itself
    // be collected first (its dropped leases with it, their net never running), the memory goes then:
    // nothing can read it any more, the kernel's ring having let go of it above.
    if (this.#leasesActive === 0) this.#freeMemory();
    else closedPoolMemory.register(this, this.#chunks);
  }

  #freeMemory(): void {
    freeChunks(this.#chunks);
    closedPoolMemory.unregister(this);
  }

  /** `using pool = new BufferPool(...)`: closes the pool at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
