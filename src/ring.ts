/**
 * `Ring`: one io_uring set up by liburing (`io_uring_queue_init_params`), driven from JS through typed
 * views over the kernel-shared SQ/CQ memory. SQEs are written in place; one FFI call submits a batch;
 * CQEs are reaped in place without allocation.
 *
 * Memory order: x86-64 is TSO, and `Atomics.load/store` are sequentially consistent in both runtimes,
 * which is at least as strong as liburing's acquire/release (`io_uring_smp_load_acquire`,
 * `io_uring_smp_store_release`). On weaker architectures the same seq_cst atomics are used, so the
 * ordering still holds; only plain (non-Atomics) accesses are limited to SQE/CQE bodies, which are
 * published/consumed by the atomic tail/head accesses.
 */
import { type FdWatch, native, type Ptr } from "../ffi/mod.ts";
import * as abi from "./abi.ts";
import { check, ClosedError, Errno, SubmissionQueueFullError, UringError } from "./errors.ts";
import { NativeMemory } from "./memory.ts";
import * as sqe from "./sqe.ts";
import { SqeArray, writeU64 } from "./sqe.ts";
import { prepNop } from "./prep.ts";
import { checkOptionKeys, describe, numberError } from "./options.ts";
import { GroupIds } from "./group_ids.ts";
import { kGroupIds, kTearDown, kWhenExited } from "./internal.ts";

/** Options of `new Ring(options)` (and of a Reactor that makes its ring); every one is optional. */
export interface RingOptions {
  /** SQ entries, a power of two in [1, 32768]. Default 256. */
  entries?: number;
  /** CQ entries (IORING_SETUP_CQSIZE), a power of two >= entries and <= 65536. Default 4 x entries, at most 65536. */
  cqEntries?: number;
  /** IORING_SETUP_* flags. Default COOP_TASKRUN | TASKRUN_FLAG when the kernel allows them. */
  flags?: number;
}

/** Called once per completion: user_data as a number (53 bits), res (negative errno on failure), flags. */
export type CompletionHandler = (userData: number, res: number, flags: number) => void;

// A module-local binding, because JSC checks an import binding on every call through it (measured:
// about 0.3 ns per CQE reaped on Bun); this one it folds away.
const readU64 = sqe.readU64;

const MAX_ENTRIES = 32768;
const MAX_CQ_ENTRIES = 65536;

// Scratch page layout: struct io_uring at 0, io_uring_params after it, then a timespec, a cqe* slot
// and the struct io_uring_buf_reg of a buffer-ring registration.
const PARAMS_AT = 256;
const TIMESPEC_AT = 512;
const CQE_PTR_AT = 528;
const BUF_REG_AT = 544;

// CQE fields as indices into the CQ's u32 view; a CQE is 4 words, so CQE n starts at word n << 2.
const CQE_USER_DATA_WORD = abi.CQE_USER_DATA >> 2;
const CQE_RES_WORD = abi.CQE_RES >> 2;
const CQE_FLAGS_WORD = abi.CQE_FLAGS >> 2;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

// A wait longer than this (about 31,000 years) waits without a timeout, as Infinity does.
const FOREVER_MS = 1e15;

/** What io_uring_setup's refusals mean, where the errno alone would not say. */
/** RingOptions's keys: what Ring and Reactor take. */
export const RING_OPTION_KEYS: readonly string[] = ["entries", "cqEntries", "flags"];

const SETUP_HINTS: Record<number, string> = {
  [Errno.ENOSYS]: "; this kernel has no io_uring (built without CONFIG_IO_URING)",
  [Errno.EPERM]: "; io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked, as by the default " +
    "seccomp profile of Docker and other container runtimes",
};

/**
 * One io_uring, set up by liburing (`io_uring_queue_init_params`) and driven from JS through typed
 * views over the memory it shares with the kernel: SQEs are written in place (`getSqe()` and a prep
 * function), one FFI call submits a batch, and `reap()` consumes ready CQEs in place without an
 * allocation per completion. Mirrors liburing's API; the liburing struct layout is checked at setup.
 *
 * @example A NOP round trip
 * ```ts
 * import { prepNop, Ring } from "uring-buffers/ring";
 *
 * using ring = new Ring({ entries: 256 }); // COOP_TASKRUN | TASKRUN_FLAG by default
 * const slot = ring.getSqe(); // a free SQE; submits and retries once when full
 * prepNop(ring.sqes, slot);
 * ring.sqes.setUserData(slot, 42); // 53-bit user_data, no BigInt
 * ring.submitAndWait(1, 1000); // one io_uring_enter; timeout in ms
 * ring.reap((userData, res, flags) => console.log(userData, res, flags)); // 42 0 0
 * ```
 */
export class Ring {
  /** Typed views over this ring's SQE array; pass them with a slot from getSqe() to a prep function. */
  readonly sqes: SqeArray;
  /** SQ entries (as the kernel set them up). */
  readonly entries: number;
  /** CQ entries (as the kernel set them up). */
  readonly cqEntries: number;
  /** IORING_SETUP_* flags in effect. */
  readonly setupFlags: number;
  /** IORING_FEAT_* bits the kernel reported. */
  readonly features: number;
  /** The ring's file descriptor. */
  readonly fd: number;
  /** The ring fd is registered (IORING_REGISTER_RING_FDS) for this thread's liburing calls. */
  readonly ringFdRegistered: boolean = false;
  /** @ignore The buffer group ids in use on this ring. */
  readonly [kGroupIds]: GroupIds = new GroupIds();

  readonly #mem: NativeMemory;
  readonly #ring: Ptr;
  readonly #scratchU32: Uint32Array; // over the scratch page: struct io_uring's sqe_tail, timespec, buf_reg
  readonly #sqRing: Uint32Array;
  readonly #cqRing: Uint32Array;
  readonly #sqHeadIdx: number;
  readonly #sqTailIdx: number;
  readonly #sqFlagsIdx: number;
  readonly #cqFlagsIdx: number;
  // A parked wait on the runtime's own event loop (see waitSignaled): the eventfd and its watch.
  #eventfd = -1;
  #eventfdWatch: FdWatch | undefined;
  readonly #cqHeadIdx: number;
  readonly #cqTailIdx: number;
  readonly #cqeU32: Uint32Array;
  readonly #cqeI32: Int32Array;
  readonly #cqMask: number;
  readonly #sqMask: number;
  #sqeTail = 0;
  #sqHeadSeen = 0;
  #cqHead = 0;
  #closed = false;
  #offThreadWaits = 0; // waitOffThread() calls in flight: the ring's fd must stay open until they return
  #exitPending = false; // close() ran while waits were in flight: the last one to return tears the ring down
  readonly #deferTaskrun: boolean;

  /**
   * Sets the ring up. Without explicit `flags`, a kernel that refuses COOP_TASKRUN | TASKRUN_FLAG
   * (before 5.19) gets a ring without them.
   *
   * @throws {RangeError} for entries or cqEntries that are not powers of two in range.
   * @throws {TypeError} for flags that are not a number ({RangeError} for one outside [0, 2^32) or not an integer).
   * @throws {UringError} if the kernel refuses the ring (`ENOMEM` under a low memlock limit, `EINVAL`
   *   for flags it does not know, ...).
   * @throws {Error} if the loaded liburing's `struct io_uring` layout is not the one this module reads.
   */
  constructor(options: RingOptions = {}) {
    checkOptionKeys("Ring", options, RING_OPTION_KEYS);
    const entries = options.entries ?? 256;
    if (!isPow2(entries) || entries > MAX_ENTRIES) {
      throw numberError(entries, `entries must be a power of two in [1, ${MAX_ENTRIES}], got ${describe(entries)}`);
    }
    const cqEntries = options.cqEntries ?? Math.min(entries * 4, MAX_CQ_ENTRIES);
    if (!isPow2(cqEntries) || cqEntries < entries || cqEntries > MAX_CQ_ENTRIES) {
      throw numberError(
        cqEntries,
        `cqEntries must be a power of two in [entries=${entries}, ${MAX_CQ_ENTRIES}], got ${describe(cqEntries)}`,
      );
    }
    const explicitFlags = options.flags !== undefined;
    let flags = options.flags ?? abi.IORING_SETUP_COOP_TASKRUN | abi.IORING_SETUP_TASKRUN_FLAG;
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
      throw numberError(flags, `flags must be IORING_SETUP_* bits (a 32-bit unsigned integer), got ${describe(flags)}`);
    }
    flags = (flags | abi.IORING_SETUP_CQSIZE) >>> 0; // unsigned: bit 31 must not make it negative

    const mem = new NativeMemory(4096);
    const params = mem.view;
    const init = (f: number) => {
      mem.bytes.fill(0);
      params.setUint32(PARAMS_AT + abi.PARAMS_CQ_ENTRIES, cqEntries, true);
      params.setUint32(PARAMS_AT + abi.PARAMS_FLAGS, f, true);
      return native.uring.io_uring_queue_init_params(entries, mem.ptr, mem.pointerAt(PARAMS_AT));
    };
    let ret = init(flags);
    if (ret === -Errno.EINVAL && !explicitFlags) {
      flags = abi.IORING_SETUP_CQSIZE; // kernels before 5.19 lack COOP_TASKRUN/TASKRUN_FLAG
      ret = init(flags);
    }
    if (ret < 0) {
      mem.free();
      throw new UringError(
        "io_uring_queue_init_params",
        -ret,
        `entries=${entries} cqEntries=${cqEntries} flags=0x${flags.toString(16)}${SETUP_HINTS[-ret] ?? ""}`,
      );
    }
    this.#mem = mem;
    this.#ring = mem.ptr;
    const dv = mem.view;
    this.#scratchU32 = new Uint32Array(mem.buffer);
    const u64 = (off: number) => readU64(this.#scratchU32, off >> 2);

    try {
      const sqEntries = dv.getUint32(PARAMS_AT + abi.PARAMS_SQ_ENTRIES, true);
      const cqActual = dv.getUint32(PARAMS_AT + abi.PARAMS_CQ_ENTRIES, true);
      this.fd = dv.getInt32(abi.RING_RING_FD, true);
      this.features = dv.getUint32(PARAMS_AT + abi.PARAMS_FEATURES, true);
      this.setupFlags = dv.getUint32(PARAMS_AT + abi.PARAMS_FLAGS, true);
      const sqRingPtr = u64(abi.RING_SQ_RING_PTR);
      const sqRingSz = u64(abi.RING_SQ_RING_SZ);
      const cqRingPtr = u64(abi.RING_CQ_RING_PTR);
      const cqRingSz = u64(abi.RING_CQ_RING_SZ);
      const sqes = u64(abi.RING_SQ_SQES);
      const cqes = u64(abi.RING_CQ_CQES);
      const inSq = (p: number) => p >= sqRingPtr && p + 4 <= sqRingPtr + sqRingSz;
      const inCq = (p: number) => p >= cqRingPtr && p + 4 <= cqRingPtr + cqRingSz;
      // Check the struct io_uring layout (liburing 2.3+) before trusting any offset.
      const layoutOk = this.fd >= 0 &&
        dv.getUint32(abi.RING_SQ_RING_ENTRIES, true) === sqEntries &&
        dv.getUint32(abi.RING_SQ_RING_MASK, true) === sqEntries - 1 &&
        dv.getUint32(abi.RING_CQ_RING_ENTRIES, true) === cqActual &&
        dv.getUint32(abi.RING_CQ_RING_MASK, true) === cqActual - 1 &&
        dv.getUint32(abi.RING_FLAGS, true) === this.setupFlags &&
        dv.getUint32(abi.RING_FEATURES, true) === this.features &&
        [abi.RING_SQ_KHEAD, abi.RING_SQ_KTAIL, abi.RING_SQ_KFLAGS, abi.RING_SQ_KRING_ENTRIES].every((o) =>
          inSq(u64(o))
        ) &&
        [abi.RING_CQ_KHEAD, abi.RING_CQ_KTAIL, abi.RING_CQ_KRING_ENTRIES, abi.RING_CQ_KFLAGS].every((o) =>
          inCq(u64(o))
        ) &&
        sqes !== 0 && cqes >= cqRingPtr && cqes + cqActual * abi.CQE_SIZE <= cqRingPtr + cqRingSz;
      if (!layoutOk) {
        throw new Error(
          `uring-buffers: struct io_uring layout of ${native.uringPath} does not match liburing 2.3+ ` +
            `(the layout this module reads); install liburing2 2.3 or later, or report this`,
        );
      }
      this.#sqRing = new Uint32Array(native.view(native.pointer(sqRingPtr)!, sqRingSz));
      this.#cqRing = cqRingPtr === sqRingPtr
        ? this.#sqRing
        : new Uint32Array(native.view(native.pointer(cqRingPtr)!, cqRingSz));
      const sqIdx = (o: number) => (u64(o) - sqRingPtr) >> 2;
      const cqIdx = (o: number) => (u64(o) - cqRingPtr) >> 2;
      this.#sqHeadIdx = sqIdx(abi.RING_SQ_KHEAD);
      this.#sqTailIdx = sqIdx(abi.RING_SQ_KTAIL);
      this.#sqFlagsIdx = sqIdx(abi.RING_SQ_KFLAGS);
      this.#cqHeadIdx = cqIdx(abi.RING_CQ_KHEAD);
      this.#cqTailIdx = cqIdx(abi.RING_CQ_KTAIL);
      this.#cqFlagsIdx = cqIdx(abi.RING_CQ_KFLAGS);
      if (this.#sqRing[sqIdx(abi.RING_SQ_KRING_ENTRIES)] !== sqEntries) {
        throw new Error(`uring-buffers: *sq.kring_entries disagrees with io_uring_params.sq_entries`);
      }
      const cqeBuf = native.view(native.pointer(cqes)!, cqActual * abi.CQE_SIZE);
      this.#cqeU32 = new Uint32Array(cqeBuf);
      this.#cqeI32 = new Int32Array(cqeBuf);
      this.sqes = new SqeArray(native.view(native.pointer(sqes)!, sqEntries * abi.SQE_SIZE), 0, sqEntries);
      this.#sqMask = sqEntries - 1;
      this.#cqMask = cqActual - 1;
      this.entries = sqEntries;
      this.cqEntries = cqActual;
      this.#sqeTail = this.#scratchU32[abi.RING_SQ_SQE_TAIL >> 2];
      this.#sqHeadSeen = Atomics.load(this.#sqRing, this.#sqHeadIdx) | 0;
      this.#cqHead = Atomics.load(this.#cqRing, this.#cqHeadIdx);
      this.#deferTaskrun = (this.setupFlags & abi.IORING_SETUP_DEFER_TASKRUN) !== 0;
      // liburing's submit and wait calls on this thread then skip the fd-table lookup of every
      // io_uring_enter. The off-thread waiter enters with the plain fd, which stays valid. A kernel
      // before 5.18 refuses it: the plain fd it is.
      this.ringFdRegistered = native.uring.io_uring_register_ring_fd(mem.ptr) === 1;
    } catch (e) {
      native.uring.io_uring_queue_exit(mem.ptr);
      mem.free();
      throw e;
    }
  }

  /** The `struct io_uring *` for liburing calls made by other modules (buffer rings, probe). */
  get unsafePointer(): Ptr {
    this.#assertOpen();
    return this.#ring;
  }

  /** close() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** SQEs written but not yet submitted. */
  get pending(): number {
    if (this.#closed) return 0;
    return (this.#sqeTail - this.#scratchU32[abi.RING_SQ_SQE_HEAD >> 2]) >>> 0;
  }

  /**
   * Mirrors io_uring_get_sqe: the slot of a free SQE in `sqes`. When the SQ is full it submits what
   * is queued and retries once; if there is still no room, SubmissionQueueFullError.
   */
  getSqe(): number {
    if (this.#closed) throw new ClosedError("Ring");
    // The kernel's head only moves forward, so a stale copy can only under-report free slots: re-read
    // it (an Atomics.load costs ~18 ns on Deno) only when the queue looks full.
    if (((this.#sqeTail - this.#sqHeadSeen) >>> 0) >= this.entries) this.#makeRoom();
    const slot = this.#sqeTail & this.#sqMask;
    this.#sqeTail = (this.#sqeTail + 1) >>> 0;
    return slot;
  }

  /**
   * getSqe's slow path, out of line so the inlined fast path stays small: re-reads the kernel's head,
   * then submits once; SubmissionQueueFullError if the queue is still full.
   */
  #makeRoom(): void {
    // Acquire: the kernel has consumed SQEs up to khead. `| 0`: JSC types a Uint32Array Atomics.load
    // as a double, which would deoptimize getSqe's int32 arithmetic; the head is compared mod 2^32.
    this.#sqHeadSeen = Atomics.load(this.#sqRing, this.#sqHeadIdx) | 0;
    if (((this.#sqeTail - this.#sqHeadSeen) >>> 0) < this.entries) return;
    // A chain still open (the last SQE links to the next) must not be submitted without its rest: the
    // kernel would run the next SQE unlinked, as if the chain had held (liburing returns NULL here).
    const last = ((this.#sqeTail - 1) >>> 0) & this.#sqMask;
    if (this.sqes.getU8(last, abi.SQE_FLAGS) & (abi.IOSQE_IO_LINK | abi.IOSQE_IO_HARDLINK)) {
      throw new SubmissionQueueFullError(this.entries, true);
    }
    this.submit();
    this.#sqHeadSeen = Atomics.load(this.#sqRing, this.#sqHeadIdx) | 0;
    if (((this.#sqeTail - this.#sqHeadSeen) >>> 0) >= this.entries) throw new SubmissionQueueFullError(this.entries);
  }

  /** Free SQE slots right now. */
  get sqSpace(): number {
    if (this.#closed) return 0;
    return this.entries - ((this.#sqeTail - Atomics.load(this.#sqRing, this.#sqHeadIdx)) >>> 0);
  }

  /** Mirrors io_uring_submit: one io_uring_enter for every SQE queued since the last submit. */
  submit(): number {
    if (this.#closed) throw new ClosedError("Ring");
    this.#scratchU32[abi.RING_SQ_SQE_TAIL >> 2] = this.#sqeTail;
    return check("io_uring_submit", native.uring.io_uring_submit(this.#ring));
  }

  /**
   * Submits and waits until at least `minComplete` completions are ready or `timeoutMs` passes
   * (io_uring_submit_and_wait[_timeout]). Returns the number of completions ready; a timeout or a
   * signal is not an error. Without `timeoutMs` (or with `Infinity`, or anything past 10^15 ms) it
   * waits without a timeout.
   *
   * @throws {RangeError} for a `minComplete` that is not an integer >= 0, or a `timeoutMs` that is
   *   not a number >= 0.
   */
  submitAndWait(minComplete = 1, timeoutMs?: number): number {
    if (this.#closed) throw new ClosedError("Ring");
    if (!Number.isInteger(minComplete) || minComplete < 0 || minComplete > 0xffffffff) {
      throw numberError(minComplete, `minComplete must be an integer in [0, 2^32 - 1], got ${describe(minComplete)}`);
    }
    if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && timeoutMs >= 0)) {
      throw numberError(timeoutMs, `timeoutMs must be a number >= 0, got ${describe(timeoutMs)}`);
    }
    this.#scratchU32[abi.RING_SQ_SQE_TAIL >> 2] = this.#sqeTail;
    let ret: number;
    if (timeoutMs === undefined || timeoutMs > FOREVER_MS) {
      ret = native.uring.io_uring_submit_and_wait(this.#ring, minComplete);
    } else {
      const ns = Math.round(timeoutMs * 1e6);
      // struct __kernel_timespec { s64 tv_sec; s64 tv_nsec; }
      writeU64(this.#scratchU32, (TIMESPEC_AT + abi.TIMESPEC_SEC) >> 2, Math.floor(ns / 1e9));
      writeU64(this.#scratchU32, (TIMESPEC_AT + abi.TIMESPEC_NSEC) >> 2, ns % 1e9);
      ret = native.uring.io_uring_submit_and_wait_timeout(
        this.#ring,
        this.#mem.pointerAt(CQE_PTR_AT),
        minComplete,
        this.#mem.pointerAt(TIMESPEC_AT),
        null,
      );
    }
    if (ret < 0 && ret !== -Errno.ETIME && ret !== -Errno.EINTR && ret !== -Errno.EAGAIN && ret !== -Errno.EBUSY) {
      throw new UringError("io_uring_submit_and_wait", -ret);
    }
    if (this.#deferTaskrun || this.cqReady === 0) this.#flushEvents();
    return this.cqReady;
  }

  /** Completions waiting in the CQ. */
  get cqReady(): number {
    if (this.#closed) return 0;
    return (Atomics.load(this.#cqRing, this.#cqTailIdx) - this.#cqHead) >>> 0;
  }

  /**
   * Calls `handler` for up to `max` ready completions, then hands their slots back to the kernel with
   * one head store. No allocation per CQE. Returns how many were handled. If `handler` throws, the
   * CQEs before it and the one it threw on are consumed, and the error propagates.
   */
  reap(handler: CompletionHandler, max = 0xffffffff): number {
    if (this.#closed) throw new ClosedError("Ring");
    // Acquire: CQE bodies up to ktail are written before the kernel published the tail.
    let tail = Atomics.load(this.#cqRing, this.#cqTailIdx);
    if (tail === this.#cqHead && this.#needsFlush()) {
      this.#flushEvents();
      tail = Atomics.load(this.#cqRing, this.#cqTailIdx);
    }
    const u32 = this.#cqeU32;
    let n = 0;
    try {
      // Re-read #cqHead each round: a handler may reap re-entrantly.
      while (n < max && ((tail - this.#cqHead) | 0) > 0) {
        const head = this.#cqHead;
        const i = (head & this.#cqMask) << 2;
        this.#cqHead = (head + 1) >>> 0;
        n++;
        handler(readU64(u32, i + CQE_USER_DATA_WORD), this.#cqeI32[i + CQE_RES_WORD], u32[i + CQE_FLAGS_WORD]);
        if (this.#closed) break;
      }
    } finally {
      // Release: the kernel may reuse the slots only after we have read them.
      if (!this.#closed) Atomics.store(this.#cqRing, this.#cqHeadIdx, this.#cqHead);
    }
    return n;
  }

  /** Runs deferred task work / flushes an overflowed CQ into the ring (io_uring_get_events). */
  #flushEvents(): void {
    const ret = native.uring.io_uring_get_events(this.#ring);
    if (ret < 0 && ret !== -Errno.EINTR && ret !== -Errno.EAGAIN && ret !== -Errno.EBUSY) {
      throw new UringError("io_uring_get_events", -ret);
    }
  }

  #needsFlush(): boolean {
    return this.#deferTaskrun ||
      (Atomics.load(this.#sqRing, this.#sqFlagsIdx) & (abi.IORING_SQ_CQ_OVERFLOW | abi.IORING_SQ_TASKRUN)) !== 0;
  }

  /**
   * Waits off the JS thread (a parked waiter) until at least one completion is ready; the event loop
   * keeps running meanwhile. Only waits: it never submits, so it must not be used with SINGLE_ISSUER.
   */
  async waitOffThread(): Promise<void> {
    if (this.#closed) throw new ClosedError("Ring");
    this.#offThreadWaits++;
    let ret: number;
    try {
      ret = await native.waitOffThread(this.fd, 1, abi.IORING_ENTER_GETEVENTS);
    } finally {
      if (--this.#offThreadWaits === 0 && this.#exitPending) this.#exit();
    }
    if (ret < 0 && ret !== -Errno.EINTR && ret !== -Errno.ETIME) throw new UringError("io_uring_enter", -ret);
  }

  /**
   * Mirrors io_uring_register_buf_ring: registers a provided-buffer ring of `entries` slots as group
   * `groupId`. `ringAddress` is page-aligned memory of ours, or 0 with IOU_PBUF_RING_MMAP in `flags`
   * (IOU_PBUF_RING_*) for a ring the kernel allocates (map it with mapBufRing). Returns 0 or -errno.
   */
  registerBufRing(groupId: number, entries: number, flags: number, ringAddress: number): number {
    this.#assertOpen();
    const dv = this.#mem.view;
    this.#mem.bytes.fill(0, BUF_REG_AT, BUF_REG_AT + abi.BUF_REG_SIZE);
    writeU64(this.#scratchU32, (BUF_REG_AT + abi.BUF_REG_RING_ADDR) >> 2, ringAddress);
    dv.setUint32(BUF_REG_AT + abi.BUF_REG_RING_ENTRIES, entries, true);
    dv.setUint16(BUF_REG_AT + abi.BUF_REG_BGID, groupId, true);
    dv.setUint16(BUF_REG_AT + abi.BUF_REG_FLAGS, flags, true);
    // liburing 2.3 ignores its `flags` argument; reg->flags is what the kernel reads.
    return native.uring.io_uring_register_buf_ring(this.#ring, this.#mem.pointerAt(BUF_REG_AT), 0);
  }

  /** Mirrors io_uring_unregister_buf_ring. Returns 0 or -errno. */
  unregisterBufRing(groupId: number): number {
    this.#assertOpen();
    return native.uring.io_uring_unregister_buf_ring(this.#ring, groupId);
  }

  /** Maps the `entries` slots of the kernel-allocated buffer ring of group `groupId` (IOU_PBUF_RING_MMAP). */
  mapBufRing(groupId: number, entries: number): NativeMemory {
    this.#assertOpen();
    const offset = abi.IORING_OFF_PBUF_RING + groupId * (1 << abi.IORING_OFF_PBUF_SHIFT);
    return new NativeMemory(entries * abi.BUF_SIZE, { fd: this.fd, offset });
  }

  /** Mirrors io_uring_queue_exit; idempotent. Every later call throws ClosedError. */
  close(): void {
    if (this.#closed) return;
    if (this.#offThreadWaits > 0) {
      // A waiter enters the kernel by fd number, maybe only now: closed, that number could be another
      // ring's by then, and the waiter would wait there for ever. A NOP ends its wait, and the ring is
      // torn down once every waiter has returned.
      try {
        this.wakeWaiters();
      } catch {
        // A ring the kernel refuses to submit to has nothing the waiter could wait for either.
      }
      this.#exitPending = true;
    }
    this.#closed = true;
    this.releaseSignal();
    if (!this.#exitPending) this.#exit();
  }

  /**
   * Posts a NOP with user_data 0 (which a Reactor drops) and submits it, with whatever else is queued:
   * a wait for a completion (waitOffThread(), waitSignaled()) then returns.
   *
   * @throws {ClosedError} once the ring is closed.
   */
  wakeWaiters(): void {
    const slot = this.getSqe();
    prepNop(this.sqes, slot);
    this.sqes.setUserData(slot, 0);
    this.submit();
  }

  #exit(): void {
    // Once only: a waiter returning after kTearDown must not exit the ring a second time.
    if (this.#exited) return;
    // io_uring_queue_exit unmaps the rings: a view of them kept past close (ring.sqes, with a slot taken
    // before) must find them detached (writes dropped, reads undefined), not fault the process.
    const views = new Set([this.sqes.u8.buffer, this.#sqRing.buffer, this.#cqRing.buffer, this.#cqeU32.buffer]);
    for (const buffer of views) (buffer as ArrayBuffer).transfer(0);
    native.uring.io_uring_queue_exit(this.#ring);
    if (this.#eventfd >= 0) native.libc.close(this.#eventfd);
    this.#mem.free();
    this.#exited = true;
    for (const resolve of this.#exitWaiters?.splice(0) ?? []) resolve();
  }

  #exited = false;
  #exitWaiters: (() => void)[] | undefined;

  /**
   * @ignore Closes the ring and tears it down now, even with off-thread waits out (close() leaves that
   * to the last of them): at unload, whose JavaScript will never see them return. The NOP close()
   * posts wakes a waiter in the kernel, whose return then drops the kernel's last hold on the ring.
   */
  [kTearDown](): void {
    this.close();
    this.#exit();
  }

  /** @ignore Settles once the ring is torn down: at close(), or once the off-thread waits have returned. */
  [kWhenExited](): Promise<void> {
    if (this.#exited) return Promise.resolve();
    return new Promise((resolve) => (this.#exitWaiters ??= []).push(resolve));
  }

  /**
   * Where the runtime can watch an fd in its own event loop (Bun): resolves once a completion is
   * posted, waited for by that loop on this thread through an eventfd the kernel signals, so a park
   * costs no thread hand-off. The eventfd is signaled only during such waits
   * (IORING_CQ_EVENTFD_DISABLED otherwise). Undefined where the runtime cannot (use waitOffThread),
   * or with DEFER_TASKRUN (completions are posted only when this thread enters the kernel).
   */
  waitSignaled(): Promise<void> | undefined {
    if (this.#closed || this.#deferTaskrun || native.watchReadable === undefined) return undefined;
    if (this.#eventfd < 0 && !this.#setUpEventfd()) return undefined;
    this.#eventfdWatch ??= native.watchReadable(this.#eventfd);
    Atomics.and(this.#cqRing, this.#cqFlagsIdx, ~abi.IORING_CQ_EVENTFD_DISABLED);
    // A completion posted before the signal was on would not signal: look once more.
    if (this.cqReady > 0) {
      Atomics.or(this.#cqRing, this.#cqFlagsIdx, abi.IORING_CQ_EVENTFD_DISABLED);
      return Promise.resolve();
    }
    return this.#eventfdWatch.next().then(() => {
      if (!this.#closed) Atomics.or(this.#cqRing, this.#cqFlagsIdx, abi.IORING_CQ_EVENTFD_DISABLED);
    });
  }

  /**
   * Stops watching the eventfd of waitSignaled() (the runtime's watch would keep the process alive);
   * the next waitSignaled() watches it again. For a driver that has nothing left to wait for.
   */
  releaseSignal(): void {
    this.#eventfdWatch?.close();
    this.#eventfdWatch = undefined;
  }

  #setUpEventfd(): boolean {
    const fd = native.libc.eventfd(0, abi.EFD_NONBLOCK | abi.EFD_CLOEXEC);
    if (fd < 0) return false;
    Atomics.or(this.#cqRing, this.#cqFlagsIdx, abi.IORING_CQ_EVENTFD_DISABLED);
    if (native.uring.io_uring_register_eventfd(this.#ring, fd) < 0) {
      native.libc.close(fd);
      return false;
    }
    this.#eventfd = fd;
    return true;
  }

  /** `using ring = new Ring()`: closes the ring at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError("Ring");
  }
}
