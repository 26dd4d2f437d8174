/**
 * Native copies of leases that must wait (a paused connection's queue, a `for await` loop behind)
 * while their pool runs short: the copy frees the pool's buffer at once, and, being native memory, it
 * keeps an `address` a program may hand to the kernel (a ring write of what it received, say).
 */
import { native } from "../../ffi/mod.ts";
import { copyLease, Lease, type LeaseOwner } from "../buffers/lease.ts";
import {
  kBufferAddress,
  kBufferView,
  kBytes,
  kGiveBack,
  kHolderHeavy,
  kMarkReleased,
  kReleased,
  kReleaseLease,
} from "../internal.ts";
import { ByteBlocks } from "./send_arena.ts";

// Size classes: a small receive takes a small block; the largest is the default pool's buffer.
const CLASS_SIZES = [2 * 1024, 16 * 1024, 64 * 1024];
const CLASS_SHIFT = 28; // a block's class in the bits above its id within the class

/**
 * Owns the copies: blocks of native memory by size class, mapped for the life of the process (bounded
 * by the peak in use) so that a copy outliving its loop never points at unmapped memory; their pages go
 * back to the system whenever every copy of a class has been released. A copy's
 * `generation` carries its block and its `offset` its address (its `bufferId` is -1: it has none).
 */
class LeaseCopies implements LeaseOwner {
  readonly #classes = CLASS_SIZES.map((size) => new ByteBlocks(size));
  // A copy dropped without release gives its block back once collected, as the pool's leak net does:
  // once its memory's ArrayBuffer is, so that a view of it kept without the lease keeps the block too.
  readonly #dropped = new FinalizationRegistry<number>((block) => this.#give(block));
  readonly scarce = false; // a write sends from the copy: its memory is not the pool's
  readonly closed = false;
  /** A copy counts against no holder (its copies are made with holder 0). */
  [kHolderHeavy](): boolean {
    return false;
  }

  /** A native copy of `lease`, which is released; a copy on the JS heap if it is larger than a block. */
  copy(lease: Lease): Lease {
    const length = lease.length;
    let cls = 0;
    while (cls < CLASS_SIZES.length && length > CLASS_SIZES[cls]) cls++;
    if (cls === CLASS_SIZES.length) return copyLease(lease);
    const blocks = this.#classes[cls];
    const id = blocks.take();
    const address = blocks.address(id);
    // A view of its own, detached at release (as a pool's leases are), so a view kept past it reads as empty.
    const bytes = new Uint8Array(native.view(native.pointer(address)!, Math.max(length, 1)), 0, length);
    bytes.set(lease[kBytes]);
    lease[kGiveBack]();
    const block = (cls << CLASS_SHIFT) | id;
    const copy = new Lease(this, -1, length, block, address, 0, bytes);
    this.#dropped.register(bytes.buffer, block, copy);
    return copy;
  }

  [kReleaseLease](lease: Lease, block: number): void {
    if (lease[kReleased]) throw new TypeError("lease (a copy) was already released");
    (lease[kBytes].buffer as ArrayBuffer).transfer(); // also for a copy a write took over
    lease[kMarkReleased]();
    this.#dropped.unregister(lease);
    this.#give(block);
  }

  #give(block: number): void {
    const blocks = this.#classes[block >>> CLASS_SHIFT];
    blocks.give(block & ((1 << CLASS_SHIFT) - 1));
    // Once a burst of copies is all released, its memory leaves the resident set (the first slab stays
    // warm; slabs untouched since their last discard need none); the slabs stay mapped, so a stray view
    // of a copy never faults.
    if (blocks.bytesInUse === 0 && blocks.touchedBeyondFirst) blocks.discardSlabs(1);
  }

  /** The address is the copy's offset. */
  [kBufferAddress](): number {
    return 0;
  }

  [kBufferView](): Uint8Array<ArrayBuffer> {
    throw new Error("a copied lease is made with its bytes");
  }
}

/** The process's copies (one owner: a copy may outlive the loop and the pool it came from). */
export const leaseCopies: LeaseCopies = new LeaseCopies();
