/**
 * Native memory for sends: chunks for bytes copied from JS (the kernel must be able to read them while
 * the send is in flight), 2 KiB for a small write and 16 KiB otherwise, and msghdr + iovec blocks for
 * SENDMSG. All are fixed-size blocks from one kind of allocator.
 */
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { discardPages, NativeMemory } from "../memory.ts";
import { writeU64 } from "../sqe.ts";

export const SEND_CHUNK_SIZE = 16 * 1024;
/**
 * A small write's chunk: a 100-byte broadcast to 10,000 connections takes 20 MiB of chunks, not 160,
 * and counts as much against the loop's maxQueuedBytes.
 */
export const SMALL_CHUNK_SIZE = 2 * 1024;
const SLAB_SIZE = 1024 * 1024;
// A small chunk's id has this bit set; the large ones' ids stay below it.
const SMALL = 1 << 30;
/** How long the send chunks stay all free before the pages of a burst's slabs go back to the system. */
const TRIM_AFTER_MS = 1000;

/**
 * Fixed-size blocks of native memory carved from slabs that are mapped on demand and kept (bounded by
 * the peak in use), reused through a free list; one typed view per block, made with its slab.
 */
class BlockAllocator<V> {
  readonly #blockSize: number;
  readonly #slabSize: number;
  readonly #makeView: (buffer: ArrayBuffer, byteOffset: number, byteLength: number) => V;
  readonly #slabs: NativeMemory[] = [];
  readonly #free: number[] = []; // block ids
  readonly #addr: number[] = [];
  readonly #views: V[] = [];
  /** A block beyond the first slab was taken since the last discardSlabs(1). */
  #touchedBeyondFirst = false;

  constructor(
    blockSize: number,
    slabSize: number,
    makeView: (buffer: ArrayBuffer, byteOffset: number, byteLength: number) => V,
  ) {
    this.#blockSize = blockSize;
    this.#slabSize = slabSize;
    this.#makeView = makeView;
  }

  #inUse = 0;

  /** A free block id. */
  take(): number {
    if (this.#free.length === 0) this.#addSlab();
    this.#inUse++;
    const block = this.#free.pop()!;
    if (block * this.#blockSize >= this.#slabSize) this.#touchedBeyondFirst = true;
    return block;
  }

  /** Pages past the first slab were touched since they were last given back. */
  get touchedBeyondFirst(): boolean {
    return this.#touchedBeyondFirst;
  }

  give(block: number): void {
    this.#inUse--;
    this.#free.push(block);
  }

  /** Bytes in blocks handed out and not given back. */
  get bytesInUse(): number {
    return this.#inUse * this.#blockSize;
  }

  /**
   * Gives the pages of every slab but the first `keep` back to the system (they stay mapped, and read
   * as zeros when next used). Call with no block in use. Returns the bytes given back.
   */
  discardSlabs(keep: number): number {
    if (keep <= 1) this.#touchedBeyondFirst = false;
    let bytes = 0;
    for (let i = keep; i < this.#slabs.length; i++) bytes += discardPages(this.#slabs[i].address, this.#slabSize);
    return bytes;
  }

  address(block: number): number {
    return this.#addr[block];
  }

  protected view(block: number): V {
    return this.#views[block];
  }

  #addSlab(): void {
    const slab = new NativeMemory(this.#slabSize);
    this.#slabs.push(slab);
    const first = this.#addr.length;
    for (let at = 0; at + this.#blockSize <= this.#slabSize; at += this.#blockSize) {
      this.#addr.push(slab.address + at);
      this.#views.push(this.#makeView(slab.buffer, at, this.#blockSize));
    }
    for (let id = this.#addr.length - 1; id >= first; id--) this.#free.push(id);
  }

  free(): void {
    for (const s of this.#slabs) s.free();
    this.#slabs.length = 0;
  }
}

/** Blocks of bytes, one Uint8Array view each. */
export class ByteBlocks extends BlockAllocator<Uint8Array> {
  constructor(blockSize: number) {
    super(blockSize, SLAB_SIZE, (buffer, at, n) => new Uint8Array(buffer, at, n));
  }

  bytes(block: number): Uint8Array {
    return this.view(block);
  }
}

/**
 * Chunks for outgoing bytes that came from JS, which must be copied where the kernel can read them:
 * small ones (SMALL_CHUNK_SIZE) for a write that fits one, large ones (SEND_CHUNK_SIZE) otherwise.
 */
export class SendArena {
  readonly #large = new ByteBlocks(SEND_CHUNK_SIZE);
  readonly #small = new ByteBlocks(SMALL_CHUNK_SIZE);
  #trimTimer: unknown;
  #bytesTrimmed = 0;

  /** A free chunk: a small one when `small`, else a large one. */
  take(small: boolean): number {
    return small ? this.#small.take() | SMALL : this.#large.take();
  }

  give(chunk: number): void {
    if (chunk & SMALL) this.#small.give(chunk & ~SMALL);
    else this.#large.give(chunk);
    if (
      this.#trimTimer === undefined && this.bytesInUse === 0 &&
      (this.#large.touchedBeyondFirst || this.#small.touchedBeyondFirst)
    ) {
      // A burst grew the arena and everything has gone out: its pages go back to the system unless
      // chunks are in use again by then (a steady stream keeps them). At most once per period.
      this.#trimTimer = setTimeout(() => this.#trim(), TRIM_AFTER_MS);
      native.unrefTimer(this.#trimTimer);
    }
  }

  #trim(): void {
    this.#trimTimer = undefined;
    if (this.bytesInUse > 0) return; // the next time the arena empties schedules it again
    this.#bytesTrimmed += this.#large.discardSlabs(1) + this.#small.discardSlabs(1);
  }

  /** Nothing holds the loop: a trim that was waiting for its period runs now. */
  trimIdle(): void {
    if (this.#trimTimer === undefined) return;
    clearTimeout(this.#trimTimer as number);
    this.#trim();
  }

  /** Bytes of pages given back to the system (after bursts, see give()). */
  get bytesTrimmed(): number {
    return this.#bytesTrimmed;
  }

  /** Bytes in chunks handed out and not given back (what maxQueuedBytes bounds). */
  get bytesInUse(): number {
    return this.#large.bytesInUse + this.#small.bytesInUse;
  }

  /** A chunk's size. */
  capacity(chunk: number): number {
    return chunk & SMALL ? SMALL_CHUNK_SIZE : SEND_CHUNK_SIZE;
  }

  address(chunk: number): number {
    return chunk & SMALL ? this.#small.address(chunk & ~SMALL) : this.#large.address(chunk);
  }

  bytes(chunk: number): Uint8Array {
    return chunk & SMALL ? this.#small.bytes(chunk & ~SMALL) : this.#large.bytes(chunk);
  }

  free(): void {
    if (this.#trimTimer !== undefined) clearTimeout(this.#trimTimer as number);
    this.#trimTimer = undefined;
    this.#large.free();
    this.#small.free();
  }
}

/**
 * A msghdr plus iovecs (and room for a destination sockaddr) for one SENDMSG, taken only while the
 * send is in flight. Layout: msghdr at 0 (56 bytes), iovecs at IOV_AT, sockaddr at IOV_BLOCK_NAME.
 * address(block) is that of the block's struct msghdr.
 */
export const IOV_BLOCK_SIZE = 1024;
export const IOV_PER_BLOCK = 56;
const IOV_AT = 64;
export const IOV_BLOCK_NAME = IOV_AT + IOV_PER_BLOCK * abi.IOVEC_SIZE;
const IOV_SLAB = 64 * 1024;

// msghdr and iovec fields as indices into a block's u32 view.
const NAME_WORD = abi.MSGHDR_NAME >> 2;
const NAMELEN_WORD = abi.MSGHDR_NAMELEN >> 2;
const IOV_WORD = abi.MSGHDR_IOV >> 2;
const IOVLEN_WORD = abi.MSGHDR_IOVLEN >> 2;
const IOV_BASE_WORD = (IOV_AT + abi.IOVEC_BASE) >> 2;
const IOV_LEN_WORD = (IOV_AT + abi.IOVEC_LEN) >> 2;
const IOVEC_WORDS = abi.IOVEC_SIZE >> 2;

export class IovBlocks extends BlockAllocator<Uint32Array> {
  constructor() {
    super(IOV_BLOCK_SIZE, IOV_SLAB, (buffer, at, n) => new Uint32Array(buffer, at, n / 4));
  }

  /**
   * Writes a msghdr for `count` iovecs (filled with setIov) into the block, no control data, and a
   * destination of `nameLength` bytes (written at IOV_BLOCK_NAME by the caller) or none.
   */
  setHeader(block: number, count: number, nameLength = 0): void {
    const w = this.view(block);
    w.fill(0, 0, abi.MSGHDR_SIZE >> 2);
    if (nameLength > 0) {
      writeU64(w, NAME_WORD, this.address(block) + IOV_BLOCK_NAME);
      w[NAMELEN_WORD] = nameLength;
    }
    writeU64(w, IOV_WORD, this.address(block) + IOV_AT);
    writeU64(w, IOVLEN_WORD, count);
  }

  /** A DataView over the block's sockaddr area (for encodeSockaddr at offset 0). */
  nameView(block: number): DataView {
    const w = this.view(block);
    return new DataView(w.buffer, w.byteOffset + IOV_BLOCK_NAME, IOV_BLOCK_SIZE - IOV_BLOCK_NAME);
  }

  /** struct iovec { void *iov_base; size_t iov_len; } number `i`. */
  setIov(block: number, i: number, address: number, length: number): void {
    const w = this.view(block);
    const at = i * IOVEC_WORDS;
    writeU64(w, at + IOV_BASE_WORD, address);
    writeU64(w, at + IOV_LEN_WORD, length);
  }
}
