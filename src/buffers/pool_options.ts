/**
 * The options of a BufferPool: their types and documentation, and `checkPoolOptions()`, which checks
 * them against each other and the kernel's features and fills in the defaults (PoolSettings).
 */
import { checkBoolean, checkOptionKeys, describe, numberError } from "../options.ts";
import * as abi from "../abi.ts";
import { UnsupportedError } from "../errors.ts";
import { probeFeatures } from "../probe.ts";
import { FAIR_SHARE_AUTO } from "./holders.ts";

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
   * Ring backends: how many buffers sit in the kernel's ring at first (default: as many as hold
   * 256 KiB, at least 2); the rest wait in a LIFO spare stack and refill the ring as the kernel
   * consumes it. Each -ENOBUFS while spares remain doubles it (up to all buffers); once the kernel
   * has used at most half of it between flushes for a second, it halves again, down to where it
   * began; while the pool is short (receives capped or waiting) it lets every buffer in.
   * A small window keeps the buffers the kernel writes into in the CPU's cache (its copy into a cold
   * buffer measured 2.5-3x the CPU of one into a warm buffer), and the pages a quiet server touches few.
   * Spares that sit unused for a whole 2 s check period give their pages back to the system
   * (`stats().bytesTrimmed`); a buffer still in the kernel's ring keeps them.
   */
  ringWindow?: number;
  /** Incremental consumption (IOU_PBUF_RING_INC, 6.12+): one big buffer serves many small reads. Falls back when absent. */
  incremental?: boolean;
  /** Buffer group id; default: the reactor's next free id. */
  groupId?: number;
  /**
   * Detach a lease's bytes on release so a use after release reads nothing. Default true. Costs about
   * 0.2-0.3 us per release (bench/pool_bench.ts, 4 KiB buffers): servers that never touch bytes
   * after release turn it off. In an incremental pool the
   * views of a buffer's pieces are detached when the whole buffer goes back to the kernel, which
   * writes only past the pieces it handed out: until then an old view reads its own bytes.
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
   * How many buffers' worth of leases one holder (see addHolder: a connection) may have out before
   * overQuota() tells it to stop receiving; it hears underQuota() once it is back to half of that. A
   * lease counts from take() until release(), so leases queued for sending count too. In a
   * whole-buffer pool each lease is a buffer; in an incremental pool each piece weighs its length,
   * and at least a 32nd of a buffer (heldBuffers()), and while half the pool or more is leased the
   * buffers its pieces are in may be twice the share (pinnedBuffers()).
   * - "auto" (default): max(8, floor(maxCount / (2 * H))) while less than half of the pool's buffers
   *   are leased, H being the holders with leases out; 8 once half or more are. The first rule shares
   *   half the pool among the holders using it (a lone transfer may take half); the second keeps
   *   holders that come later, while earlier ones still pin theirs (clients that send and never
   *   read), from taking the other half. Nobody is held back below 8 buffers' worth, so a holder
   *   that must keep more than that before it can release any should copy instead.
   * - a number: a fixed cap per holder. 0 or false: no cap (leases are still counted).
   */
  fairShare?: "auto" | number | false;
}

const MAX_BUFFER_SIZE = 1 << 30;
// The default ring window's bytes: a fraction of a core's L2 (1-2 MiB on current x86 servers).
const RING_WINDOW_BYTES = 256 * 1024;
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

/** BufferPoolOptions checked, with the defaults filled in and `"auto"` resolved. */
export interface PoolSettings {
  bufferSize: number;
  count: number;
  maxCount: number;
  backend: PoolBackend;
  /** Asked for, on a ring backend, and the kernel has it. */
  incremental: boolean;
  /** Undefined: the reactor's next free id (taken only once every check has passed). */
  groupId: number | undefined;
  ringWindow: number;
  detachOnRelease: boolean;
  leakTracking: "off" | "warn" | "debug";
  watchdogMs: number;
  /** FAIR_SHARE_AUTO, 0 (off) or a fixed cap. */
  fairShare: number;
}

/** Validates BufferPoolOptions against each other and the kernel's features; fills in the defaults. */
export function checkPoolOptions(options: BufferPoolOptions): PoolSettings {
  checkOptionKeys("BufferPool", options, POOL_OPTION_KEYS);
  const bufferSize = options.bufferSize ?? 4096;
  const count = options.count ?? 1024;
  const maxCount = options.maxCount ?? count;
  if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > MAX_BUFFER_SIZE) {
    throw numberError(
      bufferSize,
      `bufferSize must be an integer in [1, ${MAX_BUFFER_SIZE}], got ${describe(bufferSize)}`,
    );
  }
  if (!Number.isInteger(count) || count < 1 || count > 65536) {
    throw numberError(count, `count must be an integer in [1, 65536] (buffer ids are 16-bit), got ${describe(count)}`);
  }
  if (!Number.isInteger(maxCount) || maxCount < count || maxCount > 65536) {
    throw numberError(maxCount, `maxCount must be an integer in [count=${count}, 65536], got ${describe(maxCount)}`);
  }
  const features = probeFeatures();
  const wanted = options.backend ?? "auto";
  if (!["auto", "ring", "ring-mmap", "legacy"].includes(wanted)) {
    throw new TypeError(`backend must be "auto", "ring", "ring-mmap" or "legacy", got ${JSON.stringify(wanted)}`);
  }
  // "auto": a ring where the kernel has one and the pool fits in it (32,768 entries), else the legacy op.
  const backend: PoolBackend = wanted !== "auto"
    ? wanted
    : features.bufferRing && maxCount <= abi.BUF_RING_MAX_ENTRIES
    ? "ring"
    : "legacy";
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
    const what = options.maxCount === undefined ? "count" : "maxCount";
    throw new RangeError(
      `${what} must be <= ${abi.BUF_RING_MAX_ENTRIES} for a ring backend (the kernel's ring size), got ${maxCount}; ` +
        `backend "legacy" takes up to 65536`,
    );
  }
  checkBoolean("incremental", options.incremental);
  checkBoolean("detachOnRelease", options.detachOnRelease);
  // Asked for with "auto" on a kernel without buffer rings, it falls back to whole buffers like a kernel
  // without IOU_PBUF_RING_INC does; only with "legacy" asked for by name is it a contradiction.
  const incremental = (options.incremental ?? false) && backend !== "legacy" && features.incremental;
  if (options.incremental && wanted === "legacy") {
    throw new TypeError(`incremental consumption needs a ring backend, not "legacy"`);
  }
  const leakTracking = options.leakTracking ?? "warn";
  if (!["off", "warn", "debug"].includes(leakTracking)) {
    throw new TypeError(`leakTracking must be "off", "warn" or "debug", got ${JSON.stringify(leakTracking)}`);
  }
  const ringWindow = options.ringWindow ?? Math.max(2, Math.ceil(RING_WINDOW_BYTES / bufferSize));
  if (!Number.isInteger(ringWindow) || ringWindow < 1) {
    throw numberError(ringWindow, `ringWindow must be a positive integer, got ${describe(ringWindow)}`);
  }
  const watchdogMs = options.watchdogMs ?? 5000;
  if (typeof watchdogMs !== "number" || !(watchdogMs >= 0 && watchdogMs <= 2 ** 31 - 1)) {
    throw numberError(
      watchdogMs,
      `watchdogMs must be a number of ms in [0, ${2 ** 31 - 1}] (0: off), got ${describe(watchdogMs)}`,
    );
  }
  const fairShare = options.fairShare ?? "auto";
  if (fairShare !== "auto" && fairShare !== false && typeof fairShare !== "number") {
    throw new TypeError(`fairShare must be "auto", a number or false, got ${describe(fairShare)}`);
  }
  if (typeof fairShare === "number" && !(Number.isInteger(fairShare) && fairShare >= 0)) {
    throw numberError(fairShare, `fairShare must be an integer >= 0 (0: off), got ${describe(fairShare)}`);
  }
  return {
    bufferSize,
    count,
    maxCount,
    backend,
    incremental,
    groupId: options.groupId,
    ringWindow,
    detachOnRelease: options.detachOnRelease ?? true,
    leakTracking,
    watchdogMs,
    fairShare: fairShare === "auto" ? FAIR_SHARE_AUTO : fairShare === false ? 0 : fairShare,
  };
}
