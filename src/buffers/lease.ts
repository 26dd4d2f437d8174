/** A lease: the bytes of one received buffer (or piece of one), on loan from a BufferPool until release. */

/** What a Lease needs from its pool (kept narrow so lease.ts has no import cycle). */
export interface LeaseOwner {
  releaseLease(lease: Lease): void;
  /** Native address of a buffer. */
  bufferAddress(bufferId: number): number;
  /** Short of buffers (see BufferPool.scarce). */
  readonly scarce: boolean;
}

export class Lease {
  /** The buffer id the kernel picked (cqe->flags >> 16). */
  readonly bufferId: number;
  /** Received length in bytes. */
  readonly length: number;
  /** @internal the owner's generation stamp for this buffer, to catch double release. */
  readonly generation: number;
  /** @internal byte offset of this piece inside its buffer (incremental rings). */
  readonly offset: number;
  /** @internal the pool's holder id this lease counts against (BufferPool.addHolder); 0 for none. */
  readonly holder: number;
  readonly #owner: LeaseOwner;
  #bytes: Uint8Array | undefined;

  constructor(
    owner: LeaseOwner,
    bufferId: number,
    bytes: Uint8Array,
    generation: number,
    offset: number,
    holder: number,
  ) {
    this.#owner = owner;
    this.bufferId = bufferId;
    this.#bytes = bytes;
    this.length = bytes.length;
    this.generation = generation;
    this.offset = offset;
    this.holder = holder;
  }

  /** The received bytes, a view of the pool's memory (no copy). Throws after release(). */
  get bytes(): Uint8Array {
    if (this.#bytes === undefined) {
      throw new TypeError(`lease of buffer ${this.bufferId} was released; its bytes are gone`);
    }
    return this.#bytes;
  }

  /** Native address of the bytes (for sending them on without a copy); computed, so a lease stays small. */
  get address(): number {
    return this.#owner.bufferAddress(this.bufferId) + this.offset;
  }

  /** @internal its pool is short of buffers: whoever would hold it for long should copy it and release it. */
  get scarce(): boolean {
    return this.#owner.scarce;
  }

  get released(): boolean {
    return this.#bytes === undefined;
  }

  /** @internal the pool this lease belongs to. */
  isFrom(owner: LeaseOwner): boolean {
    return this.#owner === owner;
  }

  /** @internal called by the pool once it has taken the buffer back. */
  markReleased(): void {
    this.#bytes = undefined;
  }

  /** Gives the buffer back; the pool re-provides it to the kernel. A second call throws. */
  release(): void {
    this.#owner.releaseLease(this);
  }

  [Symbol.dispose](): void {
    if (!this.released) this.release();
  }
}

/** Owns copied leases: their bytes live on the JS heap, so release only ends them. */
const HEAP_OWNER: LeaseOwner = {
  releaseLease(lease: Lease): void {
    if (lease.released) throw new TypeError(`lease of buffer ${lease.bufferId} was already released`);
    lease.markReleased();
  },
  bufferAddress(): number {
    throw new TypeError("a copied lease has no native address");
  },
  scarce: true, // a write copies its bytes (it has no native memory to send from)
};

/**
 * @internal A lease over a JS copy of `lease`'s bytes; `lease` is released, so its buffer goes back
 * to the pool. For leases that must wait (a paused connection) while their pool runs short.
 */
export function copyLease(lease: Lease): Lease {
  const copy = new Lease(HEAP_OWNER, lease.bufferId, lease.bytes.slice(), 0, 0, 0);
  lease.release();
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
    bytes: Uint8Array,
    generation: number,
    offset: number,
    holder: number,
    trace: LeaseTrace,
  ) {
    super(owner, bufferId, bytes, generation, offset, holder);
    this.#trace = trace;
  }

  override get bytes(): Uint8Array {
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
