/** A lease: the bytes of one received buffer (or piece of one), on loan from a BufferPool until release. */

/** What a Lease needs from its pool (kept narrow so lease.ts has no import cycle). */
export interface LeaseOwner {
  releaseLease(lease: Lease): void;
  /** Native address of a buffer. */
  bufferAddress(bufferId: number): number;
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
  /** @internal where the lease was made, in leak-debug mode. */
  readonly origin: string | undefined;
  readonly #owner: LeaseOwner;
  #bytes: Uint8Array | undefined;

  constructor(
    owner: LeaseOwner,
    bufferId: number,
    bytes: Uint8Array,
    generation: number,
    offset: number,
    origin: string | undefined,
  ) {
    this.#owner = owner;
    this.bufferId = bufferId;
    this.#bytes = bytes;
    this.length = bytes.length;
    this.generation = generation;
    this.offset = offset;
    this.origin = origin;
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
