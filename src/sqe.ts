/**
 * Typed views over an array of `struct io_uring_sqe`, addressed by slot index. The prep functions
 * write through these; a Ring's SQE array is one of them, over the kernel-shared SQE memory.
 */
import { SQE_FLAGS, SQE_SIZE, SQE_USER_DATA } from "./abi.ts";

const TWO_32 = 4294967296;

export class SqeArray {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly count: number;

  constructor(buffer: ArrayBuffer, byteOffset = 0, count = Math.floor((buffer.byteLength - byteOffset) / SQE_SIZE)) {
    this.count = count;
    this.u8 = new Uint8Array(buffer, byteOffset, count * SQE_SIZE);
    this.u16 = new Uint16Array(buffer, byteOffset, count * (SQE_SIZE / 2));
    this.u32 = new Uint32Array(buffer, byteOffset, count * (SQE_SIZE / 4));
    this.i32 = new Int32Array(buffer, byteOffset, count * (SQE_SIZE / 4));
  }

  /** Writes a u64 field as two u32 halves (no BigInt); `value` is any safe integer, negatives wrap. */
  setU64(slot: number, field: number, value: number): void {
    const i = (slot << 4) + (field >> 2);
    this.u32[i] = value >>> 0;
    this.u32[i + 1] = Math.floor(value / TWO_32) >>> 0;
  }

  getU64(slot: number, field: number): number {
    const i = (slot << 4) + (field >> 2);
    return this.u32[i + 1] * TWO_32 + this.u32[i];
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
    this.setU64(slot, SQE_USER_DATA, value);
  }

  getUserData(slot: number): number {
    return this.getU64(slot, SQE_USER_DATA);
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
