/** IORING_REGISTER_PBUF_RING / UNREGISTER through liburing, with the struct io_uring_buf_reg we fill. */
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { NativeMemory } from "../memory.ts";
import type { Ring } from "../ring.ts";

let regMemory: NativeMemory | undefined;

/**
 * Registers a buffer ring of `entries` slots as group `bgid`. `ringAddress` is our page-aligned
 * memory, or 0 with IOU_PBUF_RING_MMAP in `flags` for a kernel-allocated ring. Returns 0 or -errno.
 */
export function registerBufRing(ring: Ring, bgid: number, entries: number, flags: number, ringAddress: number): number {
  regMemory ??= new NativeMemory(4096);
  const dv = regMemory.view;
  regMemory.bytes.fill(0, 0, abi.BUF_REG_SIZE);
  dv.setBigUint64(abi.BUF_REG_RING_ADDR, BigInt(ringAddress), true);
  dv.setUint32(abi.BUF_REG_RING_ENTRIES, entries, true);
  dv.setUint16(abi.BUF_REG_BGID, bgid, true);
  dv.setUint16(abi.BUF_REG_FLAGS, flags, true);
  // liburing 2.3 ignores its `flags` argument; reg->flags is what the kernel reads.
  return native.uring.io_uring_register_buf_ring(ring.unsafePointer, regMemory.ptr, 0);
}

/** Returns 0 or -errno. */
export function unregisterBufRing(ring: Ring, bgid: number): number {
  return native.uring.io_uring_unregister_buf_ring(ring.unsafePointer, bgid);
}

/** The mmap offset of the kernel-allocated ring of group `bgid`. */
export function pbufRingMmapOffset(bgid: number): number {
  return abi.IORING_OFF_PBUF_RING + bgid * (1 << abi.IORING_OFF_PBUF_SHIFT);
}
