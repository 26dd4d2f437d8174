/**
 * `IoLoop`: what sockets on one thread share: a Reactor on a ring set up for the parked driver, the
 * Driver that feeds completions to JS, a send arena, and a default buffer pool for client sockets.
 */
import { BufferPool, type BufferPoolOptions } from "../buffers/pool.ts";
import { Driver } from "../driver.ts";
import { Reactor } from "../reactor.ts";
import { IovBlocks, SendArena } from "./send_arena.ts";

export interface IoLoopOptions {
  /** SQ entries (power of two). Default 1024; the CQ gets 8x, so bursts of completions are not lost. */
  entries?: number;
  /** io_uring setup flags. Default Driver.ringFlags (no COOP/DEFER_TASKRUN: the driver parks on another thread). */
  flags?: number;
}

export class IoLoop {
  readonly reactor: Reactor;
  readonly driver: Driver;
  readonly arena = new SendArena();
  readonly iovBlocks = new IovBlocks();
  #clientPool: BufferPool | undefined;
  #closed = false;

  constructor(options: IoLoopOptions = {}) {
    const entries = options.entries ?? 1024;
    this.reactor = new Reactor({
      entries,
      cqEntries: Math.min(entries * 8, 65536),
      flags: options.flags ?? Driver.ringFlags,
    });
    this.driver = new Driver(this.reactor, (e) => queueMicrotask(() => { throw e; }));
  }

  /** The pool client connections use unless given one (created on first use). */
  clientPool(options?: BufferPoolOptions): BufferPool {
    this.#clientPool ??= new BufferPool(this.reactor, { bufferSize: 16 * 1024, count: 256, ...options });
    return this.#clientPool;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the ring and frees the arena. Close servers and connections first. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clientPool?.close();
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
