/**
 * `IoLoop`: what sockets on one thread share: a Reactor on a ring set up for the parked driver, the
 * Driver that feeds completions to JS, a send arena, and a default buffer pool for client sockets.
 */
import { BufferPool, type BufferPoolOptions } from "../buffers/pool.ts";
import { IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER } from "../abi.ts";
import { Driver } from "../driver.ts";
import { Reactor } from "../reactor.ts";
import { IdleWheel } from "./idle_wheel.ts";
import { IovBlocks, SendArena } from "./send_arena.ts";

export interface IoLoopOptions {
  /** SQ entries (power of two). Default 1024; the CQ gets 8x, so bursts of completions are not lost. */
  entries?: number;
  /**
   * "shared" (default): the loop lives beside other work; when idle it parks on another thread.
   * "dedicated": for a worker that only serves sockets: SINGLE_ISSUER | DEFER_TASKRUN ring, and
   * when idle the thread waits in the kernel itself for up to `blockMs` per turn.
   */
  mode?: "shared" | "dedicated";
  /** Dedicated mode: longest wait per idle turn, in ms (timers are late by at most this). Default 10. */
  blockMs?: number;
  /**
   * Most bytes copied from JS that the loop's connections may have queued for sending, together
   * (default 256 MiB). A write past it fails its connection, as one past `maxBuffered` does: with
   * the pools' `maxCount * bufferSize` this bounds the memory a server can be made to hold.
   */
  maxQueuedBytes?: number;
}

export class IoLoop {
  readonly reactor: Reactor;
  readonly driver: Driver;
  readonly arena: SendArena = new SendArena();
  readonly iovBlocks: IovBlocks = new IovBlocks();
  /** Idle timeouts of this loop's connections. */
  readonly idle: IdleWheel;
  /** See IoLoopOptions.maxQueuedBytes. */
  readonly maxQueuedBytes: number;
  #clientPool: BufferPool | undefined;
  #closed = false;

  constructor(options: IoLoopOptions = {}) {
    const entries = options.entries ?? 1024;
    const mode = options.mode ?? "shared";
    if (mode !== "shared" && mode !== "dedicated") {
      throw new TypeError(`mode must be "shared" or "dedicated", got ${JSON.stringify(mode)}`);
    }
    const dedicated = mode === "dedicated";
    const maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024 * 1024;
    if (!Number.isInteger(maxQueuedBytes) || maxQueuedBytes < 0) {
      throw new RangeError(`maxQueuedBytes must be an integer >= 0, got ${maxQueuedBytes}`);
    }
    this.maxQueuedBytes = maxQueuedBytes;
    this.reactor = new Reactor({
      entries,
      cqEntries: Math.min(entries * 8, 65536),
      flags: dedicated ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : Driver.ringFlags,
    });
    const rethrow = (e: unknown) =>
      queueMicrotask(() => {
        throw e;
      });
    this.driver = new Driver(this.reactor, rethrow, dedicated ? options.blockMs ?? 10 : 0);
    this.idle = new IdleWheel(this.reactor);
  }

  /** The pool client connections use unless given one (created on first use). */
  clientPool(options?: BufferPoolOptions): BufferPool {
    this.#clientPool ??= new BufferPool(this.reactor, { bufferSize: 16 * 1024, count: 256, ...options });
    return this.#clientPool;
  }

  /**
   * The pool a socket receives into: `option` itself when it is a pool (`owned: false`), else a new
   * pool on this loop from `defaults` overridden by `option`, which the socket owns and closes.
   */
  resolvePool(
    option: BufferPool | BufferPoolOptions | undefined,
    defaults: BufferPoolOptions,
  ): { pool: BufferPool; owned: boolean } {
    if (option instanceof BufferPool) return { pool: option, owned: false };
    return { pool: new BufferPool(this.reactor, { ...defaults, ...option }), owned: true };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the ring and frees the arena. Close servers and connections first. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clientPool?.close();
    this.idle.close();
    this.driver.close();
    this.arena.free();
    this.iovBlocks.free();
    if (defaultLoop === this) defaultLoop = undefined;
  }
}

let defaultLoop: IoLoop | undefined;

/** The thread's shared loop (created on first use). */
export function getDefaultLoop(): IoLoop {
  if (!defaultLoop || defaultLoop.closed) defaultLoop = new IoLoop();
  return defaultLoop;
}
