/**
 * `BufferRing`: a ring-mapped provided-buffer group (IORING_REGISTER_PBUF_RING, 5.19). The ring's
 * entries are either in memory we mmap and register, or kernel-allocated (IOU_PBUF_RING_MMAP, 6.4)
 * and mmap'd from the ring fd. Buffers are added with `add()` and made visible to the kernel with one
 * tail store in `publish()`.
 */
import * as abi from "../abi.ts";
import { ClosedError, Errno, UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { Ring } from "../ring.ts";
import { writeU64 } from "../sqe.ts";
import { checkBoolean, checkOptionKeys, describe, numberError } from "../options.ts";
import { kGroupIds } from "../internal.ts";

/** Options of `new BufferRing(ring, options)`. */
export interface BufferRingOptions {
  /** Buffer group id (sqe->buf_group): 0..65535, or 0..2047 with `kernelMemory`. */
  groupId: number;
  /** Ring slots, a power of two in [1, 32768]. */
  entries: number;
  /** IOU_PBUF_RING_MMAP: let the kernel allocate the ring (6.4+). Default false. */
  kernelMemory?: boolean;
  /** IOU_PBUF_RING_INC: a buffer may be consumed in pieces (6.12+). Default false. */
  incremental?: boolean;
}

const BUFFER_RING_OPTION_KEYS = ["groupId", "entries", "kernelMemory", "incremental"];

// struct io_uring_buf fields as indices into the ring's u32 / u16 views; entry n starts at word n << 2.
const BUF_ADDR_WORD = abi.BUF_ADDR >> 2;
const BUF_LEN_WORD = abi.BUF_LEN >> 2;
const BUF_BID_HALF = abi.BUF_BID >> 1;

/**
 * A ring-mapped provided-buffer group (IORING_REGISTER_PBUF_RING, Linux 5.19): a ring of
 * `{ addr, len, bid }` entries the kernel picks buffers from. `add()` writes entries and `publish()`
 * makes them visible with one tail store. The raw mechanism under a BufferPool's ring backends:
 * it tracks no buffers, leases or ENOBUFS (a BufferPool does).
 *
 * @example
 * ```ts
 * import { BufferRing, NativeMemory, Ring } from "uring-buffers/ring";
 *
 * using ring = new Ring();
 * const memory = new NativeMemory(8 * 4096);
 * const group = new BufferRing(ring, { groupId: 1, entries: 8 });
 * for (let bid = 0; bid < 8; bid++) group.add(memory.address + bid * 4096, 4096, bid, bid);
 * group.publish(8); // receives with setBufferSelect(sqes, slot, 1) now take these buffers
 * // ...
 * group.close();
 * memory.free();
 * ```
 */
export class BufferRing {
  /** The buffer group id receives name (`sqe->buf_group`). */
  readonly groupId: number;
  /** Ring slots (a power of two). */
  readonly entries: number;
  /** The kernel allocated the ring (IOU_PBUF_RING_MMAP). */
  readonly kernelMemory: boolean;
  /** Buffers may be consumed in pieces (IOU_PBUF_RING_INC). */
  readonly incremental: boolean;
  readonly #ring: Ring;
  readonly #mem: NativeMemory;
  #u32: Uint32Array;
  #u16: Uint16Array;
  readonly #mask: number;
  #tail = 0; // next slot to write (u16 arithmetic, like the kernel's)
  #closed = false;

  /**
   * Maps the ring (or lets the kernel allocate it) and registers it as group `groupId` on `ring`.
   *
   * @throws {RangeError} for a groupId or entries out of range.
   * @throws {TypeError} for an unknown option key, or a kernelMemory / incremental that is not a boolean.
   * @throws {UringError} `EEXIST` when another group of this ring (a BufferRing, a ProvidedBufferGroup,
   *   a BufferPool's) holds `groupId`; what the kernel refuses (`EINVAL` for flags it lacks).
   */
  constructor(ring: Ring, options: BufferRingOptions) {
    if (!(ring instanceof Ring)) throw new TypeError(`ring must be a Ring (reactor.ring), got ${describe(ring)}`);
    checkOptionKeys("BufferRing", options, BUFFER_RING_OPTION_KEYS);
    const { groupId, entries } = options;
    const kernelMemory = options.kernelMemory ?? false;
    const incremental = options.incremental ?? false;
    checkBoolean("kernelMemory", kernelMemory);
    checkBoolean("incremental", incremental);
    const maxGroup = kernelMemory ? 2047 : 65535;
    if (!Number.isInteger(groupId) || groupId < 0 || groupId > maxGroup) {
      throw numberError(
        groupId,
        `groupId must be an integer in [0, ${maxGroup}]${kernelMemory ? " for kernel-allocated rings" : ""}, got ${
          describe(groupId)
        }`,
      );
    }
    if (
      !Number.isInteger(entries) || entries < 1 || entries > abi.BUF_RING_MAX_ENTRIES || (entries & (entries - 1)) !== 0
    ) {
      throw numberError(
        entries,
        `entries must be a power of two in [1, ${abi.BUF_RING_MAX_ENTRIES}], got ${describe(entries)}`,
      );
    }
    this.#ring = ring;
    this.groupId = groupId;
    this.entries = entries;
    this.kernelMemory = kernelMemory;
    this.incremental = incremental;
    this.#mask = entries - 1;
    const flags = (kernelMemory ? abi.IOU_PBUF_RING_MMAP : 0) | (incremental ? abi.IOU_PBUF_RING_INC : 0);
    const bytes = entries * abi.BUF_SIZE;
    if (ring.closed) throw new ClosedError("Ring");
    ring[kGroupIds].take(groupId, "IORING_REGISTER_PBUF_RING");
    const own = kernelMemory ? undefined : new NativeMemory(bytes);
    const ret = ring.registerBufRing(groupId, entries, flags, own?.address ?? 0);
    if (ret < 0) {
      own?.free();
      ring[kGroupIds].release(groupId);
      const why = ret === -Errno.EEXIST
        ? `group ${groupId} is already registered on this ring`
        : `entries=${entries} flags=${flags}`;
      throw new UringError("IORING_REGISTER_PBUF_RING", -ret, why);
    }
    try {
      this.#mem = own ?? ring.mapBufRing(groupId, entries);
    } catch (e) {
      ring.unregisterBufRing(groupId);
      ring[kGroupIds].release(groupId);
      throw e;
    }
    this.#u32 = new Uint32Array(this.#mem.buffer, 0, bytes / 4);
    this.#u16 = new Uint16Array(this.#mem.buffer, 0, bytes / 2);
  }

  /**
   * Mirrors io_uring_buf_ring_add: writes buffer `bid` (addr, len) into the slot `offset` past the
   * tail. Nothing is visible to the kernel until publish(). Never touches the tail field of slot 0.
   *
   * @throws {RangeError} for an addr, len (0 included), bid or offset (`>= entries`) out of range.
   * @throws {TypeError} for one that is not a number (`addr` is a {@link NativeMemory}'s `address`, not a pointer object).
   * @throws {ClosedError} once closed.
   */
  add(addr: number, len: number, bid: number, offset = 0): void {
    if (this.#closed) throw new ClosedError("BufferRing");
    // Integer checks without calls (typeof first: a pointer object cannot be compared): the pool adds
    // every buffer it recycles through here.
    if (typeof addr !== "number" || !(addr > 0 && addr <= Number.MAX_SAFE_INTEGER && addr === Math.floor(addr))) {
      throw numberError(addr, `addr must be a native address (an integer > 0), got ${describe(addr)}`);
    }
    if (typeof len !== "number" || (len >>> 0) !== len || len === 0) {
      throw numberError(len, `len must be an integer in [1, 2^32 - 1], got ${describe(len)}`);
    }
    if (typeof bid !== "number" || (bid & 0xffff) !== bid) {
      throw numberError(bid, `bid must be an integer in [0, 65535], got ${describe(bid)}`);
    }
    if (typeof offset !== "number" || (offset >>> 0) !== offset || offset >= this.entries) {
      throw numberError(offset, `offset must be an integer in [0, ${this.entries - 1}], got ${describe(offset)}`);
    }
    const w = ((this.#tail + offset) & this.#mask) << 2;
    writeU64(this.#u32, w + BUF_ADDR_WORD, addr);
    this.#u32[w + BUF_LEN_WORD] = len;
    this.#u16[(w << 1) + BUF_BID_HALF] = bid;
  }

  /**
   * Mirrors io_uring_buf_ring_advance: makes `count` added buffers visible with one tail store.
   *
   * @throws {RangeError} for a count that is not an integer in [0, entries] ({TypeError} if not a number).
   * @throws {ClosedError} once closed.
   */
  publish(count: number): void {
    if (this.#closed) throw new ClosedError("BufferRing");
    if (typeof count !== "number" || (count >>> 0) !== count || count > this.entries) {
      throw numberError(count, `count must be an integer in [0, ${this.entries}], got ${describe(count)}`);
    }
    this.#tail = (this.#tail + count) & 0xffff;
    // Release: the entries written by add() must be visible before the kernel sees the new tail.
    Atomics.store(this.#u16, abi.BUF_RING_TAIL >> 1, this.#tail);
  }

  /** The slot index (0..entries-1) that add(.., offset) writes next; used to map bundles to bids. */
  slotAt(offset: number): number {
    return (this.#tail + offset) & this.#mask;
  }

  /**
   * The buffer id written in a slot.
   *
   * @throws {ClosedError} once closed (the ring is unmapped).
   */
  bidAt(slot: number): number {
    const bid = this.#u16[(slot << 3) + BUF_BID_HALF];
    if (bid === undefined && this.#closed) throw new ClosedError("BufferRing");
    return bid;
  }

  /** close() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Unregisters the group, unmaps the ring and frees its id on the ring; idempotent. Outstanding
   * receives fail with ENOBUFS (a bundle receive with ENOENT, the kernel's answer for a group it
   * does not have).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ring.closed) this.#ring.unregisterBufRing(this.groupId);
    this.#ring[kGroupIds].release(this.groupId);
    // Views of unmapped memory would fault the process: later reads see an empty ring instead.
    this.#u32 = new Uint32Array(0);
    this.#u16 = new Uint16Array(0);
    this.#mem.free();
  }

  /** `using buffers = new BufferRing(...)`: closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
