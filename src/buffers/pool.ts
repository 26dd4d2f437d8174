/**
 * `BufferPool`: the buffer-pool manager. It owns the buffer memory (page-aligned mmaps), one premade
 * view per buffer id, and a provided-buffer group in the kernel: ring-mapped where the kernel has it,
 * the IORING_OP_PROVIDE_BUFFERS op otherwise (or when asked). A completion that carries
 * IORING_CQE_F_BUFFER becomes a Lease; releasing the lease re-provides the buffer (batched: one tail
 * store or one PROVIDE_BUFFERS SQE per run of ids, at the reactor's next submit). Receives that hit
 * -ENOBUFS wait here in FIFO order and are re-armed one per returned buffer. Leases can count
 * against holders (connections) so that one holder cannot pin the pool (see `fairShare`), and a
 * watchdog warns when receives have waited for buffers that never come back (see `watchdogMs`).
 */
import { checkOptionKeys } from "../options.ts";
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { ClosedError, UnsupportedError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { probeFeatures } from "../probe.ts";
import type { Reactor } from "../reactor.ts";
import { BufferRing } from "./buffer_ring.ts";
import { kBufferAddress, kMarkReleased, kReleaseLease } from "../internal.ts";
import { Lease, type LeaseTrace, TracedLease } from "./lease.ts";
import { ProvidedBufferGroup } from "./provided_group.ts";

/**
 * The kernel mechanism under a pool: `"ring"` (a ring-mapped buffer ring in memory of ours,
 * IORING_REGISTER_PBUF_RING, Linux 5.19), `"ring-mmap"` (a buffer ring the kernel allocates,
 * IOU_PBUF_RING_MMAP, 6.4; group ids below 2048), or `"legacy"` (IORING_OP_PROVIDE_BUFFERS, 5.7).
 */
export type PoolBackend = "ring" | "ring-mmap" | "legacy";

/** Options of `new BufferPool(reactor, options)`; every one is optional. */
export interface BufferPoolOptions {
  /** Bytes per buffer, 1..1 GiB. Default 4096. */
  bufferSize?: number;
  /** Buffers to start with, 1..65536 (ring backends: ..32768). Default 1024. */
  count?: number;
  /**
   * Grow up to this many buffers, `count` at a time, when receives run out (-ENOBUFS with nothing
   * left for the kernel, or as many -ENOBUFS as buffers since the last growth). Default: `count`
   * (no growth).
   */
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
  /**
   * Leak net for dropped leases: "warn" (default), "debug", "off". "debug" also records where each
   * lease was made and where code last read its `bytes`, and the warning shows the first frames
   * outside this library (yours); it costs a stack capture per lease and per read.
   */
  leakTracking?: "off" | "warn" | "debug";
  /**
   * Warn once (console.warn) when receives have waited this many ms for buffers while the kernel had
   * none, i.e. every buffer was leased all along: the usual cause is leases that are never released.
   * Default 5000; 0 turns it off. The timer never keeps the process alive.
   */
  watchdogMs?: number;
  /**
   * How many leases one holder (see addHolder: a connection) may have out before overQuota() tells it
   * to stop receiving; it hears underQuota() once it is back to half of that. A lease counts from
   * take() until release(), so leases queued for sending count too.
   * - "auto" (default): max(8, floor(maxCount / (2 * H))) while less than half of the pool's buffers
   *   are leased, H being the holders with leases out; 8 once half or more are. The first rule shares
   *   half the pool among the holders using it (a lone transfer may take half); the second keeps
   *   holders that come later, while earlier ones still pin theirs (clients that send and never
   *   read), from taking the other half. Nobody is held back below 8 leases, so a holder that must
   *   keep more than 8 leases before it can release any should copy instead.
   * - a number: a fixed cap per holder. 0 or false: no cap (leases are still counted).
   * In incremental pools each piece is a lease.
   */
  fairShare?: "auto" | number | false;
}

/**
 * A receive that got `-ENOBUFS` and waits in a pool (`BufferPool.waitForBuffers`) to be re-armed
 * once a buffer comes back. StreamReceiver and DatagramReceiver are ones; implement it for a
 * receiver of your own.
 */
export interface BufferWaiter {
  /** A buffer is back: submit the receive again (once; waiting again takes another waitForBuffers()). */
  rearm(): void;
}

/**
 * Something that holds leases (a connection) and stops receiving while over its share of the pool;
 * register it with `BufferPool.addHolder` and pass its id to `take`.
 */
export interface LeaseHolder {
  /** The holder fell back under its share after overQuota() said true: resume receiving. */
  underQuota(): void;
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
}

const KERNEL = 0; // provided (or queued to be)
const USER = 1; // leased out / not yet back with the kernel
const MAX_BUFFER_SIZE = 1 << 30;
const POOL_OPTION_KEYS = [
  "bufferSize",
  "count",
  "maxCount",
  "backend",
  "ringWindow",
  "incremental",
  "groupId",
  "detachOnRelease",
  "leakTracking",
  "watchdogMs",
  "fairShare",
];

// Holder slots: free (reusable), live, or removed while some of its leases are still out.
const HOLDER_FREE = 0;
const HOLDER_LIVE = 1;
const HOLDER_GONE = 2;
/** "auto" fair share never goes below this many leases. */
const MIN_SHARE = 8;
const FAIR_SHARE_AUTO = -1;

/**
 * The leak net's record of a lease: bid, generation and holder packed in one number, so the common
 * case allocates nothing (a small integer while holder is 0). Only 14 bits of generation fit: they
 * are a consistency check, since a released lease is unregistered and never reported.
 */
const GENERATION_MOD = 16384;
const MAX_HOLDER = 2 ** 23 - 1; // 16 + 14 + 23 bits: an exact integer
/**
 * A receive's cap in an incremental pool that ran dry or is scarce (see BufferPool.receiveCap): a
 * 64 KiB buffer then serves four receives. Measured, 1,000 clients that never read against a pool of
 * 128 x 64 KiB: a prober's round trip took up to 0.6 s uncapped, at most about 0.2 s with 16 KiB; a
 * 4 KiB cap (0.03 s) cost a third of the 1,000-connection 4 KiB echo's throughput, 32 KiB helped less.
 */
const CAPPED_RECEIVE_BYTES = 16 * 1024;
/** Flushes (about two per reactor turn) that receives stay capped after an -ENOBUFS. */
const DRY_FLUSHES = 8;

/** Debug mode, or an incremental piece with its own ArrayBuffer to detach: the record is an object. */
interface LeakDetail {
  packed: number;
  trace: LeaseTrace | undefined;
  piece: ArrayBuffer | undefined;
}
type LeakRecord = number | LeakDetail;

/** Frames of this library (src/, ffi/): a leak report shows the frames around them, the user's. */
const LIBRARY_DIRS = ["../", "../../ffi/"].flatMap((dir) => {
  const url = new URL(dir, import.meta.url);
  return url.protocol === "file:" ? [url.href, decodeURIComponent(url.pathname)] : [url.href];
});
const FRAMES_SHOWN = 4;

/** The first frames of a stack that are the program's own: not this library's nor the runtime's. */
function userFrames(stack: string | undefined): string | undefined {
  const frames = stack?.split("\n").filter((line) =>
    /^\s+at /.test(line) && /(?:file|https?):\/\/|[( ]\//.test(line) &&
    !LIBRARY_DIRS.some((dir) => line.includes(dir))
  );
  return frames?.length ? frames.slice(0, FRAMES_SHOWN).join("\n") : undefined;
}

/**
 * The buffer-pool manager: buffers of `bufferSize` bytes in page-aligned mappings, handed to the
 * kernel as one provided-buffer group, so that a receive submitted without a buffer is given one
 * only when data arrives. Each completion that carries a buffer becomes a {@link Lease}; releasing
 * the lease re-provides the buffer (batched: one tail store, or one PROVIDE_BUFFERS SQE per run of
 * ids, before the reactor's next submit). Receives that find no buffer (`-ENOBUFS`) wait in FIFO
 * order and are re-armed one per returned buffer; with `maxCount > count` the pool grows instead.
 *
 * Servers, clients and UDP sockets make a pool of their own unless given one: pass a pool as their
 * `pool` option to share it (it must be on their loop's reactor). Receivers of your own
 * (`uring-buffers/ring`) use `take`, `takeBundle`, `recycle`, `waitForBuffers` / `cancelWait` and
 * the holder methods, as StreamReceiver does.
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
  #stallsSinceGrowth = 0;
  #dryFlushes = 0; // flushes left before receives go uncapped again after an -ENOBUFS (receiveCap)
  readonly #waiting = new Set<BufferWaiter>();
  readonly #leaks: FinalizationRegistry<LeakRecord> | undefined;
  readonly #leakDebug: boolean;
  readonly #leakDetail: boolean; // records are LeakDetail objects (debug mode, incremental pieces)
  #leakWarned = false;
  // Holders (see addHolder): per-slot typed arrays indexed by holder id, grown by doubling.
  readonly #fairShare: number; // FAIR_SHARE_AUTO, 0 (off) or a fixed cap
  readonly #holders: (LeaseHolder | undefined)[] = [undefined]; // id 0 is "no holder"
  #holderState = new Uint8Array(64);
  #held = new Uint32Array(64); // leases out per holder
  #over = new Uint8Array(64); // overQuota() said true; underQuota() not yet called
  readonly #freeHolders: number[] = [];
  #holding = 0; // holders with at least one lease out
  // Watchdog: at most one timer, started when receives begin to wait with no buffer with the kernel.
  readonly #watchdogMs: number;
  #watchdog: unknown; // the timer, while one runs
  #stalledSince = 0;
  #rearmsAtStall = 0;
  #watchdogWarned = false;
  readonly #onWatchdog = () => this.#checkStall();
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

  /**
   * Maps `count` buffers and registers them with `reactor`'s ring as one buffer group.
   *
   * @param reactor The reactor whose ring receives from this pool run on (for sockets: their
   *   IoLoop's `reactor`).
   * @param options Sizes, backend and policies; see {@link BufferPoolOptions}.
   * @throws {RangeError} for a size, count, window, id or timeout out of range.
   * @throws {TypeError} for an unknown backend or leakTracking, or `incremental` with `"legacy"`.
   * @throws {UnsupportedError} when the kernel lacks the backend asked for.
   * @throws {UringError} when the kernel refuses the group (`EEXIST`: groupId in use) or memory.
   */
  constructor(reactor: Reactor, options: BufferPoolOptions = {}) {
    checkOptionKeys("BufferPool", options, POOL_OPTION_KEYS);
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
      throw new UnsupportedError("IORING_REGISTER_PBUF_RING", "5.19", 'use backend "legacy"');
    }
    if (backend === "ring-mmap" && !features.bufferRingMmap) {
      throw new UnsupportedError("IOU_PBUF_RING_MMAP", "6.4", 'use backend "ring"');
    }
    if (backend === "legacy" && !features.provideBuffers) {
      throw new UnsupportedError("IORING_OP_PROVIDE_BUFFERS", "5.7");
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
    const watchdogMs = options.watchdogMs ?? 5000;
    if (typeof watchdogMs !== "number" || !(watchdogMs >= 0 && watchdogMs <= 2 ** 31 - 1)) {
      throw new RangeError(`watchdogMs must be a number of ms in [0, ${2 ** 31 - 1}] (0: off), got ${watchdogMs}`);
    }
    const fairShare = options.fairShare ?? "auto";
    if (fairShare !== "auto" && fairShare !== false && typeof fairShare !== "number") {
      throw new TypeError(`fairShare must be "auto", a number or false, got ${JSON.stringify(fairShare)}`);
    }
    if (typeof fairShare === "number" && !(Number.isInteger(fairShare) && fairShare >= 0)) {
      throw new RangeError(`fairShare must be an integer >= 0 (0: off), got ${fairShare}`);
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
    this.#leakDetail = this.#leakDebug || (incremental && this.detachOnRelease);
    this.#leaks = leakTracking === "off" ? undefined : new FinalizationRegistry((r) => this.#reclaimLeak(r));
    this.#watchdogMs = watchdogMs;
    this.#fairShare = fairShare === "auto" ? FAIR_SHARE_AUTO : fairShare === false ? 0 : fairShare;

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
    // The completions of our PROVIDE_BUFFERS SQEs (legacy): 0, or -errno counted as provideErrors.
    this.#token = reactor.register({
      complete: (res: number): void => {
        if (res < 0) this.#stats.provideErrors++;
      },
    });
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

  /**
   * Hands buffers released since the last flush to the kernel: one tail store (ring backends), or
   * one PROVIDE_BUFFERS SQE per run of contiguous ids, submitted with the ring's next submit
   * (legacy). The pool is a SubmitHook of its reactor, which calls this before every submit; call it
   * yourself only when you submit on the ring without the reactor. A no-op once closed.
   */
  flush(): void {
    if (this.#closed) return;
    if (this.#dryFlushes > 0) this.#dryFlushes--;
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

  /** The buffer group receives must name (`sqe->buf_group`): the same as `groupId`. */
  get bufferGroup(): number {
    return this.groupId;
  }

  /** close() has run. */
  get closed(): boolean {
    return this.#closed;
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
   * Most bytes one receive should take now: 0 for no cap, or CAPPED_RECEIVE_BYTES (16 KiB) in an
   * incremental pool that ran dry lately (an -ENOBUFS within the last few flushes) or is scarce. A big
   * buffer then serves several connections' receives instead of one connection's whole backlog, so
   * a quiet connection among floods still gets its turn soon. Receivers arm capped receives as
   * single-shot ones.
   */
  get receiveCap(): number {
    return this.incremental && (this.#dryFlushes > 0 || this.#leased * 2 >= this.#count) ? CAPPED_RECEIVE_BYTES : 0;
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
   * @throws {TypeError} without IORING_CQE_F_BUFFER, or for a holder id that is not live.
   * @throws {RangeError} for a buffer id or length that does not fit this pool.
   */
  take(res: number, flags: number, holder = 0): Lease {
    if (this.#closed) throw new ClosedError("BufferPool");
    if (!(flags & abi.IORING_CQE_F_BUFFER)) {
      throw new TypeError("completion carries no buffer (IORING_CQE_F_BUFFER not set)");
    }
    const bid = flags >>> abi.IORING_CQE_BUFFER_SHIFT;
    if (bid >= this.#count) throw new RangeError(`buffer id ${bid} is not in this pool (${this.#count} buffers)`);
    if (res < 0 || res > this.bufferSize) throw new RangeError(`length ${res} outside [0, ${this.bufferSize}]`);
    if (holder !== 0 && this.#holderState[holder] !== HOLDER_LIVE) {
      throw new TypeError(`holder ${holder} is not a holder of this pool (addHolder), or was removed`);
    }
    let bytes: Uint8Array;
    let offset = 0;
    let piece: ArrayBuffer | undefined;
    if (this.incremental) {
      offset = this.#offset[bid];
      if (offset + res > this.bufferSize) {
        throw new RangeError(`incremental piece ${offset}+${res} overruns buffer ${bid}`);
      }
      if (this.detachOnRelease) {
        piece = native.view(native.pointer(this.#addr[bid] + offset)!, res);
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
    const trace: LeaseTrace | undefined = this.#leakDebug
      ? { made: new Error("lease made here"), touched: undefined }
      : undefined;
    const lease = trace
      ? new TracedLease(this, bid, bytes, generation, offset, holder, trace)
      : new Lease(this, bid, bytes, generation, offset, holder);
    this.#leasesActive++;
    this.#stats.leasesMade++;
    this.#stats.bytesReceived += res;
    if (holder !== 0 && this.#held[holder]++ === 0) this.#holding++;
    if (this.#leaks) {
      const packed = bid + 65536 * ((generation & (GENERATION_MOD - 1)) + GENERATION_MOD * holder);
      this.#leaks.register(lease, this.#leakDetail ? { packed, trace, piece } : packed, lease);
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
    if (this.#hasWaiters()) {
      this.flush();
      this.#rearmNext();
    }
  }

  /**
   * A bundle completion (IORING_RECVSEND_BUNDLE): `res` bytes over consecutive ring slots starting at
   * the buffer in `flags`. Appends one lease per buffer to `out`, in order, each counted against `holder`.
   */
  takeBundle(res: number, flags: number, out: Lease[], holder = 0): void {
    if (!this.#ring || this.incremental || res <= this.bufferSize) {
      out.push(this.take(res, flags, holder));
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
      out.push(this.take(n, (bid << abi.IORING_CQE_BUFFER_SHIFT) | abi.IORING_CQE_F_BUFFER, holder));
      left -= n;
    }
  }

  /** @ignore Native address of a buffer (Lease.address). */
  [kBufferAddress](bufferId: number): number {
    return this.#addr[bufferId];
  }

  /**
   * @ignore Lease.release() lands here, from the lease's own pool only (its private owner), so a
   * lease can never be handed to another pool.
   */
  [kReleaseLease](lease: Lease, generation: number, holder: number): void {
    if (lease.released) throw new TypeError(`lease of buffer ${lease.bufferId} was already released`);
    const bid = lease.bufferId;
    if (!this.incremental && this.#generation[bid] !== generation) {
      throw new TypeError(`lease of buffer ${bid} is stale (already released)`);
    }
    this.#leaks?.unregister(lease);
    if (this.#closed) {
      // close() detached everything already; the buffer has nowhere to go back to.
      lease[kMarkReleased]();
      this.#leasesActive--;
      if (holder !== 0) this.#unhold(holder);
      return;
    }
    this.#detach(bid, lease);
    lease[kMarkReleased]();
    this.#leasesActive--;
    this.#giveBack(bid);
    if (holder !== 0) this.#unhold(holder);
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
    if (this.#hasWaiters()) {
      // Paced: one parked receive per returned buffer (per receiveCap's worth of it), oldest first.
      this.flush();
      for (let n = this.#receivesPerBuffer(); n > 0 && this.#hasWaiters(); n--) this.#rearmNext();
    }
  }

  /** Receives one buffer in the kernel's hands serves: one, or several while receives are capped. */
  #receivesPerBuffer(): number {
    const cap = this.receiveCap;
    return cap === 0 ? 1 : Math.max(1, this.bufferSize / cap | 0);
  }

  #hasWaiters(): boolean {
    return this.#waitHead < this.#waiters.length;
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
    this.#dryFlushes = DRY_FLUSHES;
    if (this.#waiting.has(waiter)) return;
    this.#waiting.add(waiter);
    this.#waiters.push(waiter);
    if (this.#spareCount > 0) {
      // The ring ran dry while spares were left: the window is too small for this load.
      this.#window = Math.min(this.#window * 2, this.#count);
      this.#refill();
    } else if (this.#count < this.maxCount && (this.#withKernel() === 0 || ++this.#stallsSinceGrowth >= this.#count)) {
      // Nothing left for the kernel, or a storm: as many stalls as buffers since the last growth, while
      // released buffers kept trickling back (they never let the first condition hold under load).
      this.#stallsSinceGrowth = 0;
      const n = Math.min(this.#chunks[0].length / this.bufferSize | 0, this.maxCount - this.#count);
      this.#window += n;
      this.#grow(n);
      this.#stats.growthEvents++;
    }
    // Buffers may be with the kernel already (returned and published before this stale -ENOBUFS was
    // reaped, or just added): re-arm as many waiters as there are such buffers instead of parking.
    this.flush();
    for (let n = this.#withKernel() * this.#receivesPerBuffer(); n > 0 && this.#hasWaiters(); n--) {
      this.#rearmNext();
    }
    if (this.#watchdog === undefined && this.#watchdogMs > 0 && !this.#watchdogWarned && this.#stalled()) {
      this.#stalledSince = performance.now();
      this.#rearmsAtStall = this.#stats.rearms;
      this.#startWatchdog(this.#watchdogMs);
    }
  }

  /** Receives wait and the kernel has no buffer to give them: only a release (or a reclaim) helps. */
  #stalled(): boolean {
    return this.#waiting.size > 0 && this.#withKernel() === 0;
  }

  #startWatchdog(ms: number): void {
    this.#watchdog = setTimeout(this.#onWatchdog, ms);
    native.unrefTimer(this.#watchdog);
  }

  /**
   * The watchdog's timer: warns if the pool has stalled since the stall it was started for, with no
   * re-arm in between; a stall that began later gets its own full period. No timer runs after that.
   */
  #checkStall(): void {
    this.#watchdog = undefined;
    if (this.#closed || !this.#stalled()) return;
    const now = performance.now();
    if (this.#stats.rearms !== this.#rearmsAtStall) {
      this.#stalledSince = now;
      this.#rearmsAtStall = this.#stats.rearms;
    }
    const waited = now - this.#stalledSince;
    if (waited < this.#watchdogMs) {
      this.#startWatchdog(this.#watchdogMs - waited);
      return;
    }
    this.#watchdogWarned = true;
    const waiting = this.#waiting.size;
    const s = this.#stats;
    console.warn(
      `uring-buffers: pool group ${this.groupId}: ${this.#leased}/${this.#count} buffers leased, ` +
        `${waiting} receive${waiting === 1 ? "" : "s"} waiting: are leases released? ` +
        `None came back for ${(waited / 1000).toFixed(1)} s. Release each lease (release(), \`using\`, or a ` +
        `write that takes it over) once its bytes are used; ` +
        (this.#leaks
          ? `a dropped one comes back only when the garbage collector finds it (${s.leaksReclaimed} so far; ` +
            `leakTracking: "debug" says where your code last read each).`
          : `with leakTracking: "off" a dropped one never comes back.`) +
        this.#largestHolder(),
    );
  }

  /** For the watchdog's warning: whether one holder (connection) has most of them, if holders are used. */
  #largestHolder(): string {
    let most = 0;
    for (let id = 1; id < this.#holders.length; id++) most = Math.max(most, this.#held[id]);
    return most === 0 ? "" : ` The most one holder (a connection) has out: ${most}.`;
  }

  /** Buffers the kernel can pick from now (or at the next flush), as far as reaped completions tell. */
  #withKernel(): number {
    return this.#ring ? this.#inRing : this.#count - this.#leased;
  }

  /** Forget a parked waiter (its connection closed). */
  cancelWait(waiter: BufferWaiter): void {
    this.#waiting.delete(waiter);
  }

  /** The leak net found a lease that was never released: take its buffer back as a release would. */
  #reclaimLeak(r: LeakRecord): void {
    const packed = typeof r === "number" ? r : r.packed;
    const bid = packed % 65536;
    const rest = Math.floor(packed / 65536);
    const holder = Math.floor(rest / GENERATION_MOD);
    if (this.#closed) return;
    // An incremental buffer has a lease per piece, each of a different generation: its refs tell.
    const live = this.incremental
      ? this.#refs[bid] > 0
      : this.#generation[bid] % GENERATION_MOD === rest % GENERATION_MOD && this.#state[bid] === USER;
    if (!live) return;
    this.#stats.leaksReclaimed++;
    this.#leasesActive--;
    if (!this.#leakWarned) {
      this.#leakWarned = true;
      console.warn(this.#leakWarning(bid, typeof r === "number" ? undefined : r.trace));
    }
    const piece = typeof r === "number" ? undefined : r.piece;
    if (piece) {
      // Views of the piece that outlived the lease must not read the buffer once it is reused.
      this.#livePieces.delete(piece);
      piece.transfer(0);
    } else {
      this.#detach(bid, undefined);
    }
    this.#giveBack(bid);
    if (holder !== 0) this.#unhold(holder);
  }

  #leakWarning(bid: number, trace: LeaseTrace | undefined): string {
    const head = `uring-buffers: a lease of buffer ${bid} (pool group ${this.groupId}) was garbage-collected ` +
      `without release(); the buffer was reclaimed.`;
    if (!trace) return `${head} Create the pool with leakTracking: "debug" to see where your code had it.`;
    // The library makes every lease, in a turn a Driver runs from the event loop (no frame of the
    // program's on that stack): the program's own frames come from its last read of the bytes, else
    // from its call that ran the turn (Reactor.runUntil...), if any.
    const read = userFrames(trace.touched);
    const handed = read ? undefined : userFrames(trace.made.stack);
    const yours = read
      ? `Your code last read its bytes at:\n${read}`
      : handed
      ? `Your code never read its bytes; it was handed over in a turn run from:\n${handed}`
      : `Your code never read its bytes.`;
    const made = (trace.made.stack ?? "").split("\n").slice(0, 1 + FRAMES_SHOWN).join("\n");
    return `${head} ${yours}\nIt was made at:\n${made}`;
  }

  /**
   * Registers something that holds leases (a connection); returns its id (>= 1; ids of removed
   * holders are reused) to pass to take(). Its leases count against its share (see
   * BufferPoolOptions.fairShare) until released or reclaimed.
   */
  addHolder(holder: LeaseHolder): number {
    if (typeof holder?.underQuota !== "function") throw new TypeError("holder must have an underQuota() method");
    if (this.#closed) throw new ClosedError("BufferPool");
    let id = this.#freeHolders.pop();
    if (id === undefined) {
      id = this.#holders.length;
      if (id > MAX_HOLDER) throw new RangeError(`more than ${MAX_HOLDER} holders on one pool`);
      if (id === this.#held.length) this.#growHolders();
      this.#holders.push(undefined);
    }
    this.#holders[id] = holder;
    this.#holderState[id] = HOLDER_LIVE;
    this.#over[id] = 0;
    return id;
  }

  #growHolders(): void {
    const n = this.#held.length * 2;
    const state = new Uint8Array(n), held = new Uint32Array(n), over = new Uint8Array(n);
    state.set(this.#holderState);
    held.set(this.#held);
    over.set(this.#over);
    this.#holderState = state;
    this.#held = held;
    this.#over = over;
  }

  /**
   * Forgets a holder (call once, e.g. when its connection closes): its outstanding leases stay valid
   * and still count in held(), but their release no longer notifies it. Its id is reused once they are all back.
   */
  removeHolder(id: number): void {
    if (id === 0 || this.#holderState[id] !== HOLDER_LIVE) return;
    this.#holders[id] = undefined;
    this.#over[id] = 0;
    if (this.#held[id] === 0) this.#freeHolder(id);
    else this.#holderState[id] = HOLDER_GONE;
  }

  #freeHolder(id: number): void {
    this.#holderState[id] = HOLDER_FREE;
    this.#freeHolders.push(id);
  }

  /** Leases of holder `id` not yet released (0 for id 0, "no holder"). */
  held(id: number): number {
    this.#checkHolderId(id);
    return id === 0 ? 0 : this.#held[id];
  }

  /**
   * True when holder `id` holds more leases than its share (see BufferPoolOptions.fairShare): it
   * should stop receiving. Its underQuota() is then called once it holds at most half its share.
   */
  overQuota(id: number): boolean {
    this.#checkHolderId(id);
    if (id === 0 || this.#holderState[id] !== HOLDER_LIVE || this.#held[id] <= this.#share()) return false;
    this.#over[id] = 1;
    return true;
  }

  #checkHolderId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.#holders.length) {
      throw new RangeError(`holder id must be 0 or an id from addHolder (< ${this.#holders.length}), got ${id}`);
    }
  }

  /** One lease of holder `h` came back (released or reclaimed). */
  #unhold(h: number): void {
    const n = --this.#held[h];
    if (n === 0) {
      this.#holding--;
      if (this.#holderState[h] === HOLDER_GONE) this.#freeHolder(h);
    }
    // Hysteresis: resume at half the share, so a holder at its limit does not pause and resume per lease.
    if (this.#over[h] !== 0 && n <= this.#share() / 2) {
      this.#over[h] = 0;
      if (!this.#closed) this.#holders[h]!.underQuota();
    }
  }

  /** A holder's share of leases now (see BufferPoolOptions.fairShare). */
  #share(): number {
    const fixed = this.#fairShare;
    if (fixed !== FAIR_SHARE_AUTO) return fixed === 0 ? Infinity : fixed;
    if (this.#leased * 2 >= this.maxCount) return MIN_SHARE;
    return Math.max(MIN_SHARE, Math.floor(this.maxCount / (2 * Math.max(1, this.#holding))));
  }

  /** A snapshot of the pool's state and counters (a new object each call). */
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
   * Outstanding leases are detached (their bytes read as empty); releasing them later only marks
   * them released. Idempotent. A pool that a server, client or UDP socket made for itself is closed
   * with it; close a pool you made yourself after the sockets that use it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog !== undefined) {
      clearTimeout(this.#watchdog as number);
      this.#watchdog = undefined;
    }
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

  /** `using pool = new BufferPool(...)`: closes the pool at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
