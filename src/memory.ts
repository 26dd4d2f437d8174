/** Page-aligned native memory from mmap, with typed views made once. */
import { native, type Ptr } from "../ffi/mod.ts";
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_SIZE,
  PROT_READ,
  PROT_WRITE,
} from "./abi.ts";
import { ClosedError, UringError } from "./errors.ts";
import { checkOptionKeys, describe, numberError } from "./options.ts";

const MEMORY_OPTION_KEYS = ["fd", "offset", "populate"] as const;

export function roundUpToPage(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/**
 * Gives the whole pages inside `[address, address + length)` of private anonymous memory back to
 * the system (madvise MADV_DONTNEED): they leave the resident set, and read as zeros when touched
 * again. Partial pages at either end are kept, since they may hold a neighbour's bytes. Returns the
 * bytes given back (0 if madvise refused).
 */
export function discardPages(address: number, length: number): number {
  const start = roundUpToPage(address);
  const end = Math.floor((address + length) / PAGE_SIZE) * PAGE_SIZE;
  if (end <= start) return 0;
  return native.libc.madvise(native.pointer(start), end - start, MADV_DONTNEED) === 0 ? end - start : 0;
}

/** mmap that throws a UringError instead of returning MAP_FAILED. */
export function mapMemory(length: number, fd = -1, offset = 0, populate = false): Ptr {
  const flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
  const p = native.libc.mmap(null, length, PROT_READ | PROT_WRITE, flags | (populate ? MAP_POPULATE : 0), fd, offset);
  const addr = native.address(p);
  // MAP_FAILED is (void *)-1: some runtimes hand it back as 2^64-1, which is not a safe integer.
  if (p === null || addr === -1 || addr >= 2 ** 64 - 4096 || !Number.isSafeInteger(addr)) {
    throw new UringError("mmap", native.errno(), `${length} bytes`);
  }
  return p;
}

/**
 * One page-aligned mmap: anonymous and private, or a shared mapping of `fd` at `offset`. `buffer`,
 * `bytes` and `view` cover all of it (made once); `address` is what SQE fields take. Not garbage
 * collected: free() it (which detaches those views).
 *
 * @example A sockaddr or an iovec for an SQE
 * ```ts
 * import { NativeMemory } from "uring-buffers/ring";
 *
 * const mem = new NativeMemory(64); // rounded up to a page, zeroed
 * mem.view.setUint32(0, 42, true);
 * console.log(mem.address.toString(16), mem.length); // ... 4096
 * mem.free();
 * ```
 */
export class NativeMemory {
  /** The mapping as a native pointer (for FFI calls). */
  readonly ptr: Ptr;
  /** The mapping's address, as SQE fields take it (user-space addresses fit in 2^53). */
  readonly address: number;
  /** Bytes mapped: the length asked for, rounded up to whole pages. */
  readonly length: number;
  /** An ArrayBuffer over the whole mapping (not owned by the JS heap). */
  readonly buffer: ArrayBuffer;
  /** Bytes of the whole mapping. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** A DataView of the whole mapping. */
  readonly view: DataView;
  #open = true;

  /**
   * Maps `length` bytes (rounded up to a page).
   *
   * @param length Bytes wanted, a positive integer.
   * @param opts `fd` and `offset` map a file or device shared (default: anonymous private memory);
   *   `populate` pre-faults the pages (MAP_POPULATE).
   * @throws {RangeError} for a length that is not a positive integer, or one the runtime cannot view
   *   as one ArrayBuffer (Bun: more than 4 GiB).
   * @throws {UringError} when mmap fails (`ENOMEM`, ...).
   */
  constructor(length: number, opts: { fd?: number; offset?: number; populate?: boolean } = {}) {
    if (!Number.isInteger(length) || length <= 0) {
      throw numberError(length, `length must be a positive integer, got ${describe(length)}`);
    }
    checkOptionKeys("NativeMemory", opts, MEMORY_OPTION_KEYS);
    this.length = roundUpToPage(length);
    this.ptr = mapMemory(this.length, opts.fd ?? -1, opts.offset ?? 0, opts.populate ?? false);
    this.address = native.address(this.ptr);
    try {
      this.buffer = native.view(this.ptr, this.length);
    } catch (e) {
      // The mapping worked and the runtime cannot view it (Bun: "Out of memory" past 4 GiB): give it back.
      native.libc.munmap(this.ptr, this.length);
      throw new RangeError(
        `cannot view ${this.length} bytes of native memory as one ArrayBuffer on this runtime ` +
          `(${e instanceof Error ? e.message : e})` +
          (this.length > 2 ** 32 ? "; Bun views at most 4 GiB as one (a pool: count x bufferSize)" : ""),
      );
    }
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
  }

  /** Not yet freed. */
  get open(): boolean {
    return this.#open;
  }

  /** A pointer `offset` bytes in. */
  pointerAt(offset: number): Ptr {
    if (!this.#open) throw new ClosedError("NativeMemory");
    if (!Number.isInteger(offset) || offset < 0 || offset > this.length) {
      throw numberError(offset, `offset must be an integer in [0, ${this.length}], got ${describe(offset)}`);
    }
    return native.pointer(this.address + offset) as Ptr;
  }

  /**
   * Unmaps; idempotent. Every view of `buffer` (`bytes`, `view`, and views made from them) is
   * detached first, so a read through one finds nothing (a DataView throws a TypeError) instead of
   * faulting the process. Views made from `address` or `ptr` by other means are not: touch none.
   */
  free(): void {
    if (!this.#open) return;
    this.#open = false;
    this.buffer.transfer(0);
    native.libc.munmap(this.ptr, this.length);
  }

  /** `using memory = new NativeMemory(...)`: frees it at the end of the block. */
  [Symbol.dispose](): void {
    this.free();
  }

  /**
   * Throws unless the memory is still mapped.
   *
   * @throws {ClosedError} naming `what` once freed.
   */
  assertOpen(what: string): void {
    if (!this.#open) throw new ClosedError(what);
  }
}
