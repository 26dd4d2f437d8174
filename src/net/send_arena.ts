/**
 * Native memory for sends: 16 KiB chunks for bytes copied from JS (the kernel must be able to read them
 * while the send is in flight), and msghdr + iovec blocks for SENDMSG. Both are fixed-size blocks from
 * one allocator.
 */
import { NativeMemory } from "../memory.ts";

export const SEND_CHUNK_SIZE = 16 * 1024;
const SLAB_SIZE = 1024 * 1024;

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
    return this.#free.pop()!;
  }

  give(block: number): void {
    this.#inUse--;
    this.#free.push(block);
  }

  /** Bytes in blocks handed out and not given back. */
  get bytesInUse(): number {
    return this.#inUse * this.#blockSize;
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

/** Chunks for outgoing bytes that came from JS, which must be copied where the kernel can read them. */
export class SendArena extends BlockAllocator<Uint8Array> {
  constructor() {
    super(SEND_CHUNK_SIZE, SLAB_SIZE, (buffer, at, n) => new Uint8Array(buffer, at, n));
  }

  bytes(chunk: number): Uint8Array {
    return this.view(chunk);
  }
}

/**
 * A msghdr plus iovecs (and room for a destination sockaddr) for one SENDMSG, taken only while the
 * send is in flight. Layout: msghdr at 0 (56 bytes), iovecs at 64, sockaddr at IOV_BLOCK_NAME.
 */
export const IOV_BLOCK_SIZE = 1024;
export const IOV_PER_BLOCK = 56;
export const IOV_BLOCK_NAME = 64 + IOV_PER_BLOCK * 16;
const IOV_SLAB = 64 * 1024;

export class IovBlocks extends BlockAllocator<Uint32Array> {
  constructor() {
    super(IOV_BLOCK_SIZE, IOV_SLAB, (buffer, at, n) => new Uint32Array(buffer, at, n / 4));
  }

  /** address(block) is that of the block's struct msghdr. */
  /**
   * Writes a msghdr for `count` iovecs (filled with setIov) into the block, no control data, and a
   * destination of `nameLength` bytes (written at IOV_BLOCK_NAME by the caller) or none.
   */
  setHeader(block: number, count: number, nameLength = 0): void {
    const w = this.view(block);
    const iov = this.address(block) + 64;
    w.fill(0, 0, 14);
    if (nameLength > 0) {
      const name = this.address(block) + IOV_BLOCK_NAME;
      w[0] = name >>> 0; // msg_name
      w[1] = Math.floor(name / 4294967296);
      w[2] = nameLength; // msg_namelen
    }
    w[4] = iov >>> 0; // msg_iov
    w[5] = Math.floor(iov / 4294967296);
    w[6] = count; // msg_iovlen (size_t; high half stays 0)
  }

  /** A DataView over the block's sockaddr area (for encodeSockaddr at offset 0). */
  nameView(block: number): DataView {
    const w = this.view(block);
    return new DataView(w.buffer, w.byteOffset + IOV_BLOCK_NAME, IOV_BLOCK_SIZE - IOV_BLOCK_NAME);
  }

  /** struct iovec { void *iov_base; size_t iov_len; } number `i`. */
  setIov(block: number, i: number, address: number, length: number): void {
    const w = this.view(block);
    const at = 16 + i * 4;
    w[at] = address >>> 0;
    w[at + 1] = Math.floor(address / 4294967296);
    w[at + 2] = length;
    w[at + 3] = 0;
  }
}
