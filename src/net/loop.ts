/**
 * `IoLoop`: what sockets on one thread share: a Reactor on a ring set up for the parked driver, the
 * Driver that feeds completions to JS, a send arena, and a default buffer pool for client sockets.
 */
import { checkOptionKeys, describe, isPlainObject, numberError } from "../options.ts";
import { ClosedError, UnsupportedError } from "../errors.ts";
import { BufferPool, type BufferPoolOptions } from "../buffers/pool.ts";
import { IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER } from "../abi.ts";
import { Driver } from "../driver.ts";
import { probeFeatures } from "../probe.ts";
import {
  kArena,
  kBacklog,
  kIdle,
  kIovBlocks,
  kOnIdle,
  kTearDown,
  kTrimIdle,
  kTurn,
  kWhenClosed,
  kWhenExited,
  kWhenUnreferenced,
} from "../internal.ts";
import { Reactor } from "../reactor.ts";
import { IdleWheel } from "./idle_wheel.ts";
import { IovBlocks, SendArena } from "./send_arena.ts";
import { closeLoopAtUnload, forgetLoopAtUnload } from "./unload.ts";
import { SendBacklog } from "./send_backlog.ts";

/** Options of `new IoLoop(options)`; every one is optional. */
export interface IoLoopOptions {
  /** SQ entries (power of two). Default 1024; the CQ gets 8x (at most 65536), so bursts of completions are not lost. */
  entries?: number;
  /**
   * "shared" (default): the loop lives beside other work; when idle it parks on another thread.
   * "dedicated": for a worker that only serves sockets: SINGLE_ISSUER | DEFER_TASKRUN ring (Linux 6.1+),
   * and when idle the thread waits in the kernel itself for up to `blockMs` per turn.
   */
  mode?: "shared" | "dedicated";
  /**
   * Dedicated mode: longest wait per idle turn, in ms, > 0 (timers are late by at most this). Default
   * 10. Checked but not used in shared mode.
   */
  blockMs?: number;
  /**
   * Most bytes copied from JS that the loop's connections may have queued for sending, together
   * (default 256 MiB). A write past it fails its connection, as one past `maxBuffered` does: with
   * the pools' `maxCount * bufferSize` this bounds the memory a server can be made to hold.
   */
  maxQueuedBytes?: number;
}

/**
 * What the sockets of one thread share: a {@link Reactor} (an io_uring and the dispatch of its
 * completions), the {@link Driver} that runs it from the event loop without blocking, native memory
 * for queued sends, the idle-timeout wheel, and a default pool for client connections. Servers,
 * clients and UDP sockets use {@link getDefaultLoop} unless given a `loop`; make one of your own to
 * choose its size or `"dedicated"` mode (a worker's, say).
 *
 * @example A worker's own loop in dedicated mode
 * ```ts
 * import { IoLoop, listen } from "uring-buffers";
 *
 * const loop = new IoLoop({ mode: "dedicated", entries: 4096 });
 * const server = listen({ loop, port: 9000, reusePort: true, handlers: { data: (conn, lease) => void conn.write(lease) } });
 * // ...
 * await server.stop();
 * loop.close();
 * ```
 */
export class IoLoop {
  /** The ring and the dispatch of its completions (make a BufferPool on it to share one between sockets). */
  readonly reactor: Reactor;
  /** Runs the reactor from the event loop; its references keep the process alive while sockets are open. */
  readonly driver: Driver;
  /** @ignore Native chunks for bytes copied from JS to send. */
  readonly [kArena]: SendArena = new SendArena();
  /** @ignore Native msghdr + iovec blocks for SENDMSG. */
  readonly [kIovBlocks]: IovBlocks = new IovBlocks();
  /** @ignore Its connections whose peers are behind: the first to fail when maxQueuedBytes is reached. */
  readonly [kBacklog]: SendBacklog;
  /** @ignore Idle timeouts of this loop's connections. */
  readonly [kIdle]: IdleWheel;
  /** Most bytes copied from JS that the loop's connections may have queued for sending (see IoLoopOptions). */
  readonly maxQueuedBytes: number;
  #clientPool: BufferPool | undefined;
  #closing = false; // close() has run
  #closed = false; // ... and the ring is closed (once no socket is open)

  /**
   * Sets up the ring (SQ `entries`, CQ 8 x entries) and its driver.
   *
   * @throws {TypeError} for an unknown mode.
   * @throws {UnsupportedError} for mode "dedicated" on a kernel without DEFER_TASKRUN (before 6.1).
   * @throws {RangeError} for entries, blockMs or maxQueuedBytes out of range.
   * @throws {UringError} if the kernel refuses the ring (e.g. `ENOMEM` under a low memlock limit).
   */
  constructor(options: IoLoopOptions = {}) {
    checkOptionKeys("IoLoop", options, ["entries", "mode", "blockMs", "maxQueuedBytes"]);
    const entries = options.entries ?? 1024;
    const mode = options.mode ?? "shared";
    if (mode !== "shared" && mode !== "dedicated") {
      throw new TypeError(`mode must be "shared" or "dedicated", got ${describe(mode)}`);
    }
    const dedicated = mode === "dedicated";
    const maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024 * 1024;
    if (!Number.isInteger(maxQueuedBytes) || maxQueuedBytes < 0) {
      throw numberError(maxQueuedBytes, `maxQueuedBytes must be an integer >= 0, got ${describe(maxQueuedBytes)}`);
    }
    this.maxQueuedBytes = maxQueuedBytes;
    // Checked in shared mode too (where it is not used), and before the ring exists: a Driver that
    // refused it after the ring was made left the ring open.
    const blockMs = options.blockMs ?? 10;
    if (typeof blockMs !== "number" || !(blockMs > 0)) {
      throw numberError(blockMs, `blockMs must be a number > 0, got ${describe(blockMs)}`);
    }
    if (dedicated && !probeFeatures().deferTaskrun) {
      throw new UnsupportedError("IORING_SETUP_DEFER_TASKRUN", "6.1", 'mode "shared" runs on this kernel');
    }
    this.reactor = new Reactor({
      entries,
      cqEntries: Math.min(entries * 8, 65536),
      // Shared: the Ring's default, which is Driver.ringFlags where the kernel takes them (5.19+) and no
      // flags before (completions then interrupt the JS thread, which is slower).
      flags: dedicated ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : undefined,
    });
    const rethrow = (e: unknown) =>
      queueMicrotask(() => {
        throw e;
      });
    this.driver = new Driver(this.reactor, rethrow, dedicated ? blockMs : 0);
    const driver = this.driver;
    this[kBacklog] = new SendBacklog(() => driver[kTurn]);
    this[kIdle] = new IdleWheel(this.reactor);
    // With no socket left, a burst's memory goes back at once: a timer would outlive the program's
    // sockets (Deno's test sanitizers report it, as the end of a test).
    driver[kOnIdle](() => {
      this[kArena].trimIdle();
      this.#clientPool?.[kTrimIdle]();
    });
    closeLoopAtUnload(this.#unloading);
  }

  /** At unload (`deno run --watch`): the ring torn down now, so that its sockets' peers are told. */
  readonly #unloading = {
    unload: () => {
      this.#close();
      this.reactor.ring[kTearDown]();
    },
  };

  /**
   * The pool that `connect()` uses when given none, made on first use (with `options` over the
   * defaults, on that first call only) and closed with the loop: 64 buffers of 64 KiB consumed
   * incrementally where the kernel has it (6.12), else 256 buffers of 16 KiB. One the program closed
   * (ending the connections on it) is replaced by a new one at the next call.
   *
   * @throws {ClosedError} after close(), when no open client pool was made before it.
   */
  clientPool(options?: BufferPoolOptions): BufferPool {
    if (this.#clientPool?.closed && !this.#closing) this.#clientPool = undefined;
    if (!this.#clientPool && this.#closing) throw new ClosedError("IoLoop");
    this.#clientPool ??= resolveStreamPool(this, options, CLIENT_POOL).pool;
    return this.#clientPool;
  }

  /**
   * Bytes copied from JS that the loop's connections have queued for sending now: what
   * `maxQueuedBytes` bounds (writes sent in place, leases and `{ copy: false }` bytes, are not counted).
   */
  get queuedBytes(): number {
    return this[kArena].bytesInUse;
  }

  /** close() has run (the ring itself may wait for the loop's open sockets: see close()). */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Closes the client pool, the ring and the send memory, and stops the driver; idempotent. New
   * sockets on it are refused from now on. It does not stop the loop's servers or close its
   * connections and UDP sockets: while any is open, the ring stays open for them (closed under them,
   * they could neither be served nor closed), and closes once the last one has closed. The promise
   * resolves then, once the ring is torn down and no wait of the loop's is left running (a test that
   * awaits it leaves nothing behind); there is no need to await it otherwise.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      if (defaultLoop === this) defaultLoop = undefined;
      this.driver[kWhenUnreferenced](() => this.#close());
    }
    return this[kWhenClosed]();
  }

  /**
   * `await using loop = new IoLoop()`, declared before the sockets made on it (which are disposed of
   * first): close() at the end of the block, waited for.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `using loop = new IoLoop()`: the same close, not waited for. */
  [Symbol.dispose](): void {
    void this.close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    if (defaultLoop === this) defaultLoop = undefined;
    forgetLoopAtUnload(this.#unloading);
    this.#clientPool?.close();
    this[kIdle].close();
    this.driver.close();
    this[kArena].free();
    this[kIovBlocks].free();
    for (const resolve of this.#closeWaiters?.splice(0) ?? []) resolve();
  }

  #closeWaiters: (() => void)[] | undefined;

  /**
   * @ignore Settles once close() has closed the ring (after the loop's last socket) and the ring is
   * torn down: a worker posts "stopped" only then, since its thread may be ended right after.
   */
  async [kWhenClosed](): Promise<void> {
    if (!this.#closed) await new Promise<void>((resolve) => (this.#closeWaiters ??= []).push(resolve));
    await this.reactor.ring[kWhenExited]();
  }
}

let defaultLoop: IoLoop | undefined;

/** Defaults of a stream socket's own pool: see {@link resolveStreamPool}. */
export interface StreamPoolDefaults {
  /** 64 KiB buffers consumed incrementally, where the kernel has it and the options size nothing. */
  incrementalCount: number;
  /** Otherwise: buffers of this size... */
  bufferSize: number;
  /** ...and this many. */
  count: number;
}

export const SERVER_POOL: StreamPoolDefaults = { incrementalCount: 128, bufferSize: 4096, count: 1024 };
export const CLIENT_POOL: StreamPoolDefaults = { incrementalCount: 64, bufferSize: 16 * 1024, count: 256 };

/**
 * The pool a socket receives into: `option` itself when it is a pool (`owned: false`), else a new
 * pool on `loop` from `defaults` overridden by `option`, which the socket owns and closes.
 */
export function resolvePool(
  loop: IoLoop,
  option: BufferPool | BufferPoolOptions | undefined,
  defaults: BufferPoolOptions,
): { pool: BufferPool; owned: boolean } {
  if (option instanceof BufferPool) return { pool: checkGivenPool(loop, option), owned: false };
  if (option !== undefined && !isPlainObject(option)) {
    // A Map, an array or any other class's instance has no options of its own to give: refused by name.
    throw new TypeError(`pool must be a BufferPool or pool options, got ${describe(option)}`);
  }
  const merged: Record<string, unknown> = { ...defaults };
  // An option present but undefined or null means "the default", as for the number options.
  for (const [key, value] of Object.entries(option ?? {})) if (value != null) merged[key] = value;
  return { pool: new BufferPool(loop.reactor, merged as BufferPoolOptions), owned: true };
}

/** Checks an optional `loop` option: a TypeError naming what it got unless it is an IoLoop. */
export function checkLoop(loop: unknown): void {
  if (loop !== undefined && !(loop instanceof IoLoop)) {
    throw new TypeError(`loop must be an IoLoop, got ${describe(loop)}`);
  }
  if (loop?.closed) throw new ClosedError("IoLoop");
}

/** A pool given to a socket: open, and on the loop's ring (its buffer group exists only there). */
function checkGivenPool(loop: IoLoop, pool: BufferPool): BufferPool {
  if (pool.closed) throw new ClosedError("BufferPool");
  if (pool.reactor !== loop.reactor) {
    throw new TypeError("pool belongs to another loop's ring: make it with that loop's reactor (loop.reactor)");
  }
  return pool;
}

/**
 * {@link resolvePool} for a stream socket. Where the kernel has incremental consumption (6.12) and
 * `option` sizes nothing (no bufferSize, count or incremental, no "legacy" backend), the defaults are
 * `incrementalCount` buffers of 64 KiB consumed incrementally: one buffer carries many small
 * receives, and one read takes a whole burst (4 KiB echo at 64 connections: about half the server
 * CPU of 4 KiB buffers, whose rotation through the pool also misses the cache on both copies).
 * Otherwise `count` buffers of `bufferSize`.
 */
export function resolveStreamPool(
  loop: IoLoop,
  option: BufferPool | BufferPoolOptions | undefined,
  defaults: StreamPoolDefaults,
): { pool: BufferPool; owned: boolean } {
  if (option instanceof BufferPool) return { pool: checkGivenPool(loop, option), owned: false };
  return resolvePool(loop, option, streamPoolDefaults(option, defaults));
}

function streamPoolDefaults(option: BufferPoolOptions | undefined, defaults: StreamPoolDefaults): BufferPoolOptions {
  // Anything but an object (null too) is left for resolvePool() to refuse by name.
  const sized = typeof option === "object" && option !== null &&
    (option.bufferSize != null || option.count != null || option.incremental != null ||
      option.backend === "legacy");
  if (!sized && probeFeatures().incremental) {
    return { bufferSize: 64 * 1024, count: defaults.incrementalCount, incremental: true };
  }
  return { bufferSize: defaults.bufferSize, count: defaults.count };
}

/**
 * The thread's shared loop: made on first use, and again after it was closed. Every socket made
 * without a `loop` option runs on it.
 */
export function getDefaultLoop(): IoLoop {
  if (!defaultLoop || defaultLoop.closed) defaultLoop = new IoLoop();
  return defaultLoop;
}
