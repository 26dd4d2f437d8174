/**
 * `ProvidedBufferGroup`: the original provided-buffer mechanism (IORING_OP_PROVIDE_BUFFERS /
 * IORING_OP_REMOVE_BUFFERS, 5.7): buffers are handed to the kernel by SQEs, one SQE per run of
 * contiguous buffers with consecutive ids. The completions (res 0 or -errno) carry the user_data given.
 */
import { prepProvideBuffers, prepRemoveBuffers } from "../prep.ts";
import { Ring } from "../ring.ts";
import { ClosedError } from "../errors.ts";
import { kGroupIds } from "../internal.ts";
import { describe, numberError } from "../options.ts";

/**
 * A provided-buffer group of the original mechanism (IORING_OP_PROVIDE_BUFFERS /
 * IORING_OP_REMOVE_BUFFERS, Linux 5.7): buffers are handed to the kernel by SQEs, one per run of
 * contiguous buffers with consecutive ids; each completion (res 0, or -errno; for a removal the
 * count removed) carries the user_data given. The raw mechanism under a BufferPool's legacy backend.
 *
 * @example
 * ```ts
 * import { NativeMemory, ProvidedBufferGroup, Ring } from "uring-buffers/ring";
 *
 * using ring = new Ring();
 * const memory = new NativeMemory(16 * 4096);
 * const group = new ProvidedBufferGroup(ring, 3);
 * group.provide(memory.address, 4096, 16, 0); // ids 0..15
 * ring.submitAndWait(1);
 * ring.reap((_userData, res) => console.log("provided:", res)); // 0
 * group.close(); // takes back what the kernel still holds
 * ```
 */
export class ProvidedBufferGroup {
  /** The buffer group id receives name (`sqe->buf_group`). */
  readonly groupId: number;
  readonly #ring: Ring;
  #closed = false;

  /**
   * Takes group `groupId` on `ring` (until close()); nothing is submitted until provide().
   *
   * @throws {RangeError} for a groupId outside [0, 65535].
   * @throws {ClosedError} for a closed ring.
   * @throws {UringError} `EEXIST` when another group of this ring (a ProvidedBufferGroup, a
   *   BufferRing, a BufferPool's) holds `groupId`: the kernel would let both provide buffers to one
   *   group, and each one's receives would take the other's buffers.
   */
  constructor(ring: Ring, groupId: number) {
    if (!(ring instanceof Ring)) throw new TypeError(`ring must be a Ring (reactor.ring), got ${describe(ring)}`);
    if (!Number.isInteger(groupId) || groupId < 0 || groupId > 65535) {
      throw numberError(groupId, `groupId must be an integer in [0, 65535], got ${describe(groupId)}`);
    }
    if (ring.closed) throw new ClosedError("Ring");
    ring[kGroupIds].take(groupId, "IORING_OP_PROVIDE_BUFFERS");
    this.#ring = ring;
    this.groupId = groupId;
  }

  /**
   * Queues one PROVIDE_BUFFERS SQE: `count` buffers of `size` bytes laid out back to back from
   * `addr`, with ids firstId..firstId+count-1. Submitted with the ring's next submit.
   *
   * @throws {RangeError} for an addr, size, count or id range out of bounds.
   * @throws {ClosedError} once closed.
   */
  provide(addr: number, size: number, count: number, firstId: number, userData = 0): void {
    if (this.#closed) throw new ClosedError("ProvidedBufferGroup");
    if (!(typeof addr === "number" && addr > 0 && Number.isSafeInteger(addr))) {
      throw numberError(addr, `addr must be a native address (an integer > 0), got ${describe(addr)}`);
    }
    if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
      throw numberError(size, `size must be an integer in [1, 2^31-1], got ${describe(size)}`);
    }
    if (!Number.isInteger(count) || count < 1 || count > 65536) {
      throw numberError(count, `count must be an integer in [1, 65536], got ${describe(count)}`);
    }
    if (!Number.isInteger(firstId) || firstId < 0) {
      throw numberError(firstId, `firstId must be an integer >= 0, got ${describe(firstId)}`);
    }
    if (firstId + count > 65536) {
      throw new RangeError(`buffer ids ${firstId}..${firstId + count - 1} do not fit in [0, 65535]`);
    }
    const slot = this.#ring.getSqe();
    prepProvideBuffers(this.#ring.sqes, slot, addr, size, count, this.groupId, firstId);
    this.#ring.sqes.setUserData(slot, userData);
  }

  /**
   * Queues one REMOVE_BUFFERS SQE taking up to `count` unused buffers back; res = how many.
   *
   * @throws {RangeError} for a count outside [1, 65536].
   * @throws {ClosedError} once closed.
   */
  remove(count: number, userData = 0): void {
    if (this.#closed) throw new ClosedError("ProvidedBufferGroup");
    if (!Number.isInteger(count) || count < 1 || count > 65536) {
      throw numberError(count, `count must be an integer in [1, 65536], got ${describe(count)}`);
    }
    const slot = this.#ring.getSqe();
    prepRemoveBuffers(this.#ring.sqes, slot, count, this.groupId);
    this.#ring.sqes.setUserData(slot, userData);
  }

  /** close() has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes back every buffer the kernel still holds in the group (REMOVE_BUFFERS, submitted now with
   * whatever else is queued on the ring; its completion carries user_data 0 and the count removed,
   * or -ENOENT for none), then frees the group id on the ring for another group; idempotent. After
   * it the kernel holds no address of the group's memory (buffers a receive selected before are
   * still written and returned in its completion), and a new group under the id starts empty.
   */
  close(): void {
    if (this.#closed) return;
    if (!this.#ring.closed) {
      this.remove(65536, 0);
      this.#ring.submitAndWait(0); // REMOVE_BUFFERS acts inline at submit: done when this returns
    }
    this.#closed = true;
    this.#ring[kGroupIds].release(this.groupId);
  }

  /** `using group = new ProvidedBufferGroup(...)`: closes it at the end of the block. */
  [Symbol.dispose](): void {
    this.close();
  }
}
