/**
 * Native memory for outgoing bytes that came from JS (a Uint8Array must be copied somewhere the kernel
 * can read while the send is in flight). Fixed-size chunks carved from 1 MiB slabs, reused through a
 * free list; slabs are mapped on demand and kept (bounded by the peak of unsent data).
 */
import { NativeMemory } from "../memory.ts";

export const SEND_CHUNK_SIZE = 16 * 1024;
const SLAB_SIZE = 1024 * 1024;

export class SendArena {
  readonly #slabs: NativeMemory[] = [];
  readonly #free: number[] = []; // chunk ids
  readonly #addr: number[] = [];
  readonly #bytes: Uint8Array[] = [];

  /** A free chunk id; its memory is chunkBytes(id) at chunkAddress(id). */
  take(): number {
    if (this.#free.length === 0) this.#addSlab();
    return this.#free.pop()!;
  }

  give(chunk: number): void {
    this.#free.push(chunk);
  }

  address(chunk: number): number {
    return this.#addr[chunk];
  }

  bytes(chunk: number): Uint8Array {
    return this.#bytes[chunk];
  }

  get mappedBytes(): number {
    return this.#slabs.length * SLAB_SIZE;
  }

  #addSlab(): void {
    const slab = new NativeMemory(SLAB_SIZE);
    this.#slabs.push(slab);
    const first = this.#addr.length;
    for (let i = 0; i < SLAB_SIZE / SEND_CHUNK_SIZE; i++) {
      this.#addr.push(slab.address + i * SEND_CHUNK_SIZE);
      this.#bytes.push(slab.bytes.subarray(i * SEND_CHUNK_SIZE, (i + 1) * SEND_CHUNK_SIZE));
    }
    for (let id = this.#addr.length - 1; id >= first; id--) this.#free.push(id);
  }

  free(): void {
    for (const s of this.#slabs) s.free();
    this.#slabs.length = 0;
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

export class IovBlocks {
  readonly #slabs: NativeMemory[] = [];
  readonly #free: number[] = [];
  readonly #addr: number[] = [];
  readonly #u32: Uint32Array[] = [];

  take(): number {
    if (this.#free.length === 0) {
      const slab = new NativeMemory(IOV_SLAB);
      this.#slabs.push(slab);
      const first = this.#addr.length;
      for (let i = 0; i < IOV_SLAB / IOV_BLOCK_SIZE; i++) {
        this.#addr.push(slab.address + i * IOV_BLOCK_SIZE);
        this.#u32.push(new Uint32Array(slab.buffer, i * IOV_BLOCK_SIZE, IOV_BLOCK_SIZE / 4));
      }
      for (let id = this.#addr.length - 1; id >= first; id--) this.#free.push(id);
    }
    return this.#free.pop()!;
  }

  give(block: number): void {
    this.#free.push(block);
  }

  /** Address of the block's struct msghdr. */
  address(block: number): number {
    return this.#addr[block];
  }

  /**
   * Writes a msghdr for `count` iovecs (filled with setIov) into the block, no control data, and a
   * destination of `nameLength` bytes (written at IOV_BLOCK_NAME by the caller) or none.
   */
  setHeader(block: number, count: number, nameLength = 0): void {
    const w = this.#u32[block];
    const iov = this.#addr[block] + 64;
    w.fill(0, 0, 14);
    if (nameLength > 0) {
      const name = this.#addr[block] + IOV_BLOCK_NAME;
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
    const w = this.#u32[block];
    return new DataView(w.buffer, w.byteOffset + IOV_BLOCK_NAME, IOV_BLOCK_SIZE - IOV_BLOCK_NAME);
  }

  /** struct iovec { void *iov_base; size_t iov_len; } number `i`. */
  setIov(block: number, i: number, address: number, length: number): void {
    const w = this.#u32[block];
    const at = 16 + i * 4;
    w[at] = address >>> 0;
    w[at + 1] = Math.floor(address / 4294967296);
    w[at + 2] = length;
    w[at + 3] = 0;
  }

  free(): void {
    for (const s of this.#slabs) s.free();
    this.#slabs.length = 0;
  }
}
