/** A lease: the bytes of one received buffer (or piece of one), on loan from a BufferPool until release. */
import {
  kAddress,
  kBufferAddress,
  kBufferView,
  kBytes,
  kCopyToQueue,
  kDatagrams,
  kGiveBack,
  kHolderHeavy,
  kMarkReleased,
  kReleased,
  kReleaseLease,
  kScarce,
  kTakeOver,
} from "../internal.ts";

/**
 * @internal What a Lease needs from its pool: members keyed by module-private symbols (see
 * ../internal.ts), so that BufferPool can be one without showing them to programs.
 */
export interface LeaseOwner {
  /**
   * Lease.release() lands here, with the lease's generation stamp and holder id (passed, not read
   * from the lease, so that they stay private fields: no keyed loads on the release path).
   */
  [kReleaseLease](lease: Lease, generation: number, holder: number): void;
  /** Native address of a buffer. */
  [kBufferAddress](bufferId: number): number;
  /** A view of `length` bytes at `offset` in a buffer. */
  [kBufferView](bufferId: number, offset: number, length: number): Uint8Array<ArrayBuffer>;
  /** Short of buffers (see BufferPool.scarce). */
  readonly scarce: boolean;
  /** Holder `holder` holds at least half its share (see kCopyToQueue). */
  [kHolderHeavy](holder: number): boolean;
  /** Closed: its leases' bytes are gone (see BufferPool.close). */
  readonly closed: boolean;
  /** Its buffers hold received datagrams, headers first (see kDatagrams). */
  readonly [kDatagrams]?: boolean;
}

/** What a released lease holds instead of its view. */
const RELEASED = new Uint8Array(0);

/**
 * The bytes of one receive, on loan from a {@link BufferPool}: `bytes` is a view of the pool's
 * buffer (no copy) holding exactly what the kernel received. Release it as soon as you are done
 * with the bytes — `release()`, `using`, or by writing it to a connection or UDP socket, which
 * releases it once sent — so the buffer goes back to the kernel. After release `bytes` throws, and
 * (with the pool's `detachOnRelease`, the default) every view taken from it reads as empty. A lease
 * that is dropped without release is reclaimed by the pool's leak net when garbage-collected (with
 * a warning), unless the pool's `leakTracking` is `"off"`.
 *
 * Leases are made by a pool (`BufferPool.take`, receivers, connections); programs do not construct them.
 *
 * @example Release with `using`
 * ```ts
 * import { listen } from "uring-buffers";
 *
 * listen({
 *   port: 9000,
 *   handlers: {
 *     data(conn, lease) {
 *       using l = lease; // released at the end of the block, even on a throw
 *       console.log(conn.fd, "received", l.length, "bytes:", new TextDecoder().decode(l.bytes));
 *     },
 *   },
 * });
 * ```
 */
export class Lease {
  /** The buffer id the kernel picked (`cqe->flags >> 16`); -1 for a copy made while its pool ran short. */
  readonly bufferId: number;
  /** Received length in bytes (`bytes.length`, also after release). */
  readonly length: number;
  readonly #owner: LeaseOwner;
  /** The owner's generation stamp for this buffer, to catch a stale release. */
  readonly #generation: number;
  /** The pool's holder id this lease counts against (BufferPool.addHolder); 0 for none. */
  readonly #holder: number;
  /** Byte offset of this piece inside its buffer (incremental rings). */
  readonly #offset: number;
  // The view, made on first read (a write or an echo never reads it); RELEASED once released.
  #bytes: Uint8Array<ArrayBuffer> | undefined;
  // A write or send has taken it over: a second one would send a buffer the first one's release gave back.
  #taken = false;

  /** @ignore Leases are made by their pool (see BufferPool.take); `bytes` is given for heap copies. */
  constructor(
    owner: LeaseOwner,
    bufferId: number,
    length: number,
    generation: number,
    offset: number,
    holder: number,
    bytes?: Uint8Array<ArrayBuffer>,
  ) {
    this.#owner = owner;
    this.bufferId = bufferId;
    this.#bytes = bytes;
    this.length = length;
    this.#generation = generation;
    this.#offset = offset;
    this.#holder = holder;
  }

  /**
   * The received bytes: a view of the pool's memory (no copy), `length` bytes long.
   *
   * @throws {TypeError} after `release()`, and once a write or send took the lease over: its buffer
   *   goes back to the pool once sent, or at once when the write copies it, so the bytes are no longer
   *   the program's whatever the pool's state (read them before the write).
   */
  get bytes(): Uint8Array<ArrayBuffer> {
    if (this.#taken && this.#bytes !== RELEASED) {
      throw new TypeError(
        `lease of buffer ${this.bufferId} was written: the write took it over and gives its buffer back once ` +
          `sent, so its bytes are no longer yours. Read them before the write, or write lease.bytes (a copy) instead`,
      );
    }
    return this[kBytes];
  }

  /** @ignore The bytes, also once a write took the lease over (see kBytes). */
  get [kBytes](): Uint8Array<ArrayBuffer> {
    const bytes = this.#bytes;
    if (bytes === undefined) return this.#bytes = this.#owner[kBufferView](this.bufferId, this.#offset, this.length);
    if (bytes === RELEASED) {
      throw new TypeError(`lease of buffer ${this.bufferId} was released; its bytes are gone`);
    }
    return bytes;
  }

  /**
   * Native address of the bytes, for handing them to the kernel without a copy (e.g. in an iovec).
   * Computed on each read, so a lease stays small. Valid until release.
   *
   * @throws {TypeError} for a lease that is a copy on the JS heap (one over 64 KiB copied while its pool
   *   ran short: it has no native memory), one already released (the kernel may be filling its
   *   buffer again), or one a write or send took over.
   */
  get address(): number {
    if (this.#taken && this.#bytes !== RELEASED) {
      throw new TypeError(`lease of buffer ${this.bufferId} was written: its address is no longer yours`);
    }
    return this[kAddress];
  }

  /** @ignore The address, also once a write took the lease over (see kAddress). */
  get [kAddress](): number {
    if (this.#bytes === RELEASED) {
      throw new TypeError(`lease of buffer ${this.bufferId} was released; its address is the pool's again`);
    }
    return this.#owner[kBufferAddress](this.bufferId) + this.#offset;
  }

  /** @ignore Its pool is short of buffers: whoever would hold it for long should copy it and release it. */
  get [kScarce](): boolean {
    return this.#owner.scarce;
  }

  /**
   * @ignore A write of it to a connection of `pool` counted as `holder` should queue a copy and
   * release it: its pool is short, or it counts against another holder that holds half its share
   * already. A lease waiting in another connection's queue holds its own connection back at its
   * share; written to a peer that never reads, it stopped a publisher and every subscriber of it.
   */
  [kCopyToQueue](pool: object, holder: number): boolean {
    const owner = this.#owner;
    if (owner.scarce) return true;
    const own = this.#holder;
    return own !== 0 && (own !== holder || owner !== pool) && owner[kHolderHeavy](own);
  }

  /** @ignore Its bytes are a received datagram, the kernel's recvmsg header first. */
  get [kDatagrams](): boolean {
    return this.#owner[kDatagrams] === true;
  }

  /**
   * Whether `release()` has run (explicitly, or through `using`), or a write or send took the lease
   * over (which gives the buffer back once sent): the lease is no longer the program's either way.
   */
  get released(): boolean {
    return this.#taken || this.#bytes === RELEASED;
  }

  /** @ignore Its buffer went back to its owner (a written lease's, once sent). */
  get [kReleased](): boolean {
    return this.#bytes === RELEASED;
  }

  /** @ignore A write or send takes the lease over; it may do so once, before release. */
  [kTakeOver](verb: string): void {
    if (this.#taken) {
      throw new TypeError(
        `cannot ${verb} a lease twice: the first ${verb} took it over (and releases it once sent, or at once if ` +
          `it was dropped). ` +
          `To send its bytes to several sockets, write lease.bytes (or a datagram's payload) to each (a copy), then release it`,
      );
    }
    if (this.#bytes === RELEASED) throw new TypeError(`cannot ${verb} a released lease`);
    if (this.#owner.closed) {
      // A write or send that throws has released the lease it was given, this one too; a release()
      // after it does nothing, as after any write that took the lease over.
      this.#owner[kReleaseLease](this, this.#generation, this.#holder);
      this.#taken = true;
      throw new TypeError(
        `cannot ${verb} a lease of a closed pool (its server or socket stopped): its bytes are gone. ` +
          `Copy what you keep (lease.bytes.slice()) before the pool closes`,
      );
    }
    this.#taken = true;
  }

  /** @ignore Called by the owner once it has taken the buffer back. */
  [kMarkReleased](): void {
    this.#bytes = RELEASED;
  }

  /**
   * Gives the buffer back: its pool re-provides it to the kernel (batched, at the next reactor
   * turn) and re-arms a receive that waited for buffers. A lease of a closed pool is only marked
   * released. Does nothing once a write or send has taken the lease over (it releases the lease
   * once sent), so `using` and a release after `conn.write(lease)` are harmless.
   *
   * @throws {TypeError} if the lease was already released.
   */
  release(): void {
    if (this.#taken) return;
    this.#owner[kReleaseLease](this, this.#generation, this.#holder);
  }

  /** @ignore The write or send that took the lease over gives it back (see kGiveBack). */
  [kGiveBack](): void {
    if (this.#bytes !== RELEASED) this.#owner[kReleaseLease](this, this.#generation, this.#holder);
  }

  /** `using lease = ...`: releases the lease at the end of the block unless it was released already. */
  [Symbol.dispose](): void {
    if (!this[kReleased]) this.release();
  }
}

/** Owns copied leases: their bytes live on the JS heap, so release only ends them. */
const HEAP_OWNER: LeaseOwner = {
  [kReleaseLease](lease: Lease): void {
    if (lease[kReleased]) throw new TypeError(`lease of buffer ${lease.bufferId} was already released`);
    lease[kMarkReleased]();
  },
  [kBufferAddress](): number {
    throw new TypeError("a copied lease has no native address");
  },
  [kBufferView](): Uint8Array<ArrayBuffer> {
    throw new Error("a copied lease is made with its bytes");
  },
  scarce: true, // a write copies its bytes (it has no native memory to send from)
  closed: false,
  [kHolderHeavy]: () => false,
};

/**
 * @internal A lease over a JS copy of `lease`'s bytes; `lease` is released, so its buffer goes back
 * to the pool. For leases that must wait (a paused connection) while their pool runs short.
 */
export function copyLease(lease: Lease): Lease {
  const bytes = lease[kBytes].slice();
  const copy = new Lease(HEAP_OWNER, -1, bytes.length, 0, 0, 0, bytes); // -1: its buffer is the pool's again
  lease[kGiveBack]();
  return copy;
}

/**
 * @internal Where a lease was made and where code last read its bytes (leakTracking "debug"). The leak
 * net keeps it apart from the lease, which is gone by the time a leak is reported.
 */
export interface LeaseTrace {
  /** Made by the library in a turn: its frames (pool, receiver, reactor) hold no lease. Formatted if reported. */
  readonly made: Error;
  /** Text: an Error would keep its frames' functions alive, such as a closure that holds this very lease. */
  touched: string | undefined;
}

/** Frames kept of a read: the getter, its caller (usually the program), and a few more. */
const READ_FRAMES = 8;

/**
 * @internal A lease that records each read of `bytes`: a lease is made by the library, so only a read
 * tells where user code has it. A subclass, so that leases outside debug mode pay nothing for it.
 */
export class TracedLease extends Lease {
  readonly #trace: LeaseTrace;

  constructor(
    owner: LeaseOwner,
    bufferId: number,
    length: number,
    generation: number,
    offset: number,
    holder: number,
    trace: LeaseTrace,
  ) {
    super(owner, bufferId, length, generation, offset, holder);
    this.#trace = trace;
  }

  override get bytes(): Uint8Array<ArrayBuffer> {
    const bytes = super.bytes;
    // Formatting dominates the cost (tens of us in V8), so only the frames a report shows are taken.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = READ_FRAMES;
    try {
      this.#trace.touched = new Error("lease read here").stack;
    } finally {
      Error.stackTraceLimit = limit;
    }
    return bytes;
  }
}
