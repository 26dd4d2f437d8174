/**
 * `GroupIds`: the buffer group ids in use on one ring. The kernel refuses a second ring-mapped group
 * under one id (EEXIST) but not a second PROVIDE_BUFFERS group, whose receives would then take each
 * other's buffers; and a default id must not land on one a program chose. So every group object
 * takes its id here for its lifetime, and default ids are the lowest free one.
 */
import { Errno, UringError } from "./errors.ts";

export class GroupIds {
  readonly #taken = new Set<number>();

  /**
   * Takes `id` until release(); `what` names the taker in the error.
   *
   * @throws {UringError} EEXIST when a group of this ring holds `id`.
   */
  take(id: number, what: string): void {
    if (this.#taken.has(id)) {
      throw new UringError(
        what,
        Errno.EEXIST,
        `buffer group ${id} is in use on this ring (give each group its own id)`,
      );
    }
    this.#taken.add(id);
  }

  /** `id` is free again (its group was closed: a ring group unregistered, a legacy one's buffers removed). */
  release(id: number): void {
    this.#taken.delete(id);
  }

  /**
   * The lowest id no group of the ring holds (not taken: its group takes it). Ids of closed groups
   * are handed out again, so a process may make and close pools for ever, and kernel-allocated rings
   * (ids below 2048) find one while fewer than 2048 groups are open.
   *
   * @throws {RangeError} while all 65536 are in use.
   */
  next(): number {
    for (let id = 0; id <= 65535; id++) if (!this.#taken.has(id)) return id;
    throw new RangeError("all 65536 buffer group ids of this ring are in use");
  }
}
