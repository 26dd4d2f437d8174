/**
 * Typed views over an array of `struct io_uring_sqe`, addressed by slot index. The prep functions
 * write through these; a Ring's SQE array is one of them, over the kernel-shared SQE memory.
 * Also the one u64 codec every shared struct uses: two little-endian u32 words, no BigInt.
 */
import { SQE_FLAGS, SQE_SIZE, SQE_USER_DATA } from "./abi.ts";

const USER_DATA_WORD = SQE_USER_DATA >> 2;

/**
 * Writes `value` as the u64 at u32 index `index` (low word first, as on little-endian x86-64/aarch64).
 * `value` is any safe integer; negatives wrap to two's complement. `value - low` is a multiple of 2^32,
 * so the division is exact.
 */
export function writeU64(u32: Uint32Array, index: number, value: number): void {
  const low = value >>> 0;
  u32[index] = low;
  u32[index + 1] = ((value - low) / 4294967296) >>> 0;
}

/** Reads the u64 at u32 index `index`; exact below 2^53. */
export function readU64(u32: Uint32Array, index: number): number {
  return u32[index + 1] * 4294967296 + u32[index];
}

/**
 * Typed views over an array of 64-byte `struct io_uring_sqe`, addressed by slot: what prep
 * functions write through. `Ring.sqes` is one over the kernel-shared SQE array; make one over your
 * own ArrayBuffer to prepare SQEs elsewhere (tests compare them byte for byte). Field offsets are
 * the `abi.SQE_*` constants; u64 fields are exact up to 2^53.
 *
 * @example
 * ```ts
 * import { abi, prepNop, SqeArray } from "uring-buffers/ring";
 *
 * const sqes = new SqeArray(new ArrayBuffer(4 * abi.SQE_SIZE)); // 4 slots
 * prepNop(sqes, 2);
 * sqes.setUserData(2, 7);
 * console.log(sqes.getU8(2, abi.SQE_OPCODE), sqes.getUserData(2)); // 0 7
 * ```
 */
export class SqeArray {
  /** Bytes of every slot (slot n starts at n * 64). */
  readonly u8: Uint8Array<ArrayBuffer>;
  /** The same memory as u16 (slot n starts at n * 32). */
  readonly u16: Uint16Array;
  /** The same memory as u32 (slot n starts at n * 16). */
  readonly u32: Uint32Array;
  /** The same memory as i32 (for the signed fields: fd, ...). */
  readonly i32: Int32Array;
  /** Number of slots. */
  readonly count: number;

  /**
   * Views `count` SQEs of `buffer` from `byteOffset` (default: as many as fit).
   *
   * @throws {RangeError} if `byteOffset` is not a multiple of 4 or the SQEs do not fit in `buffer`.
   */
  constructor(
    buffer: ArrayBuffer,
    byteOffset = 0,
    count: number = Math.floor((buffer.byteLength - byteOffset) / SQE_SIZE),
  ) {
    this.count = count;
    this.u8 = new Uint8Array(buffer, byteOffset, count * SQE_SIZE);
    this.u16 = new Uint16Array(buffer, byteOffset, count * (SQE_SIZE / 2));
    this.u32 = new Uint32Array(buffer, byteOffset, count * (SQE_SIZE / 4));
    this.i32 = new Int32Array(buffer, byteOffset, count * (SQE_SIZE / 4));
  }

  /** Writes a u64 field (byte offset `field`) of a slot; see writeU64. */
  setU64(slot: number, field: number, value: number): void {
    writeU64(this.u32, (slot << 4) + (field >> 2), value);
  }

  /** Reads a u64 field (byte offset `field`) of a slot; exact below 2^53. */
  getU64(slot: number, field: number): number {
    return readU64(this.u32, (slot << 4) + (field >> 2));
  }

  /** Writes a u32 field (byte offset `field`, a multiple of 4) of a slot. */
  setU32(slot: number, field: number, value: number): void {
    this.u32[(slot << 4) + (field >> 2)] = value;
  }

  /** Writes a u16 field (byte offset `field`, even) of a slot. */
  setU16(slot: number, field: number, value: number): void {
    this.u16[(slot << 5) + (field >> 1)] = value;
  }

  /** Reads a u16 field (byte offset `field`, even) of a slot. */
  getU16(slot: number, field: number): number {
    return this.u16[(slot << 5) + (field >> 1)];
  }

  /** Writes a u8 field (byte offset `field`) of a slot. */
  setU8(slot: number, field: number, value: number): void {
    this.u8[(slot << 6) + field] = value;
  }

  /** Reads a u8 field (byte offset `field`) of a slot. */
  getU8(slot: number, field: number): number {
    return this.u8[(slot << 6) + field];
  }

  /**
   * io_uring_sqe_set_data64: user_data, echoed in the CQE. It must be a non-negative safe integer,
   * and is not checked (one store per operation on the hot path): anything else comes back changed.
   */
  setUserData(slot: number, value: number): void {
    writeU64(this.u32, (slot << 4) + USER_DATA_WORD, value);
  }

  /** The user_data of a slot (see setUserData). */
  getUserData(slot: number): number {
    return readU64(this.u32, (slot << 4) + USER_DATA_WORD);
  }

  /** io_uring_sqe_set_flags: replaces sqe->flags (IOSQE_*). */
  setFlags(slot: number, flags: number): void {
    this.u8[(slot << 6) + SQE_FLAGS] = flags;
  }

  /** The 64 bytes of one SQE (a copy), for tests and debugging. */
  bytesOf(slot: number): Uint8Array<ArrayBuffer> {
    return this.u8.slice(slot * SQE_SIZE, (slot + 1) * SQE_SIZE);
  }
}
