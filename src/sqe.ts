/**
 * Typed views over an array of `struct io_uring_sqe`, addressed by slot index. The prep functions
 * write through these; a Ring's SQE array is one of them, over the kernel-shared SQE memory.
 * Also the one u64 codec every shared struct uses: two little-endian u32 words, no BigInt.
 */
import { SQE_FLAGS, SQE_SIZE, SQE_USER_DATA } from "./abi.ts";

const USER_DATA_WORD = SQE_USER_DATA >> 2;

/**
 * Writes `value` as the u64 at u32 index `index` (low word first, as on little-endian x86-64/aarch64).
 * `value` is any safe integer; negatives wrap to two's complement. `value - low` is an exact multiple
 * of 2^32, so the division is exact too. Kept this small so TurboFan inlines it cheaply (it counts
 * bytecode against one budget per optimized function).
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

export class SqeArray {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly count: number;

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

  getU64(slot: number, field: number): number {
    return readU64(this.u32, (slot << 4) + (field >> 2));
  }

  setU32(slot: number, field: number, value: number): void {
    this.u32[(slot << 4) + (field >> 2)] = value;
  }

  setU16(slot: number, field: number, value: number): void {
    this.u16[(slot << 5) + (field >> 1)] = value;
  }

  getU16(slot: number, field: number): number {
    return this.u16[(slot << 5) + (field >> 1)];
  }

  setU8(slot: number, field: number, value: number): void {
    this.u8[(slot << 6) + field] = value;
  }

  getU8(slot: number, field: number): number {
    return this.u8[(slot << 6) + field];
  }

  /** io_uring_sqe_set_data64: user_data, a non-negative safe integer echoed in the CQE. */
  setUserData(slot: number, value: number): void {
    writeU64(this.u32, (slot << 4) + USER_DATA_WORD, value);
  }

  getUserData(slot: number): number {
    return readU64(this.u32, (slot << 4) + USER_DATA_WORD);
  }

  /** io_uring_sqe_set_flags: replaces sqe->flags (IOSQE_*). */
  setFlags(slot: number, flags: number): void {
    this.u8[(slot << 6) + SQE_FLAGS] = flags;
  }

  /** The 64 bytes of one SQE (a copy), for tests and debugging. */
  bytesOf(slot: number): Uint8Array {
    return this.u8.slice(slot * SQE_SIZE, (slot + 1) * SQE_SIZE);
  }
}
