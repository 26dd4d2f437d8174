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
