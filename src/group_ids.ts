/**
 * `GroupIds`: the buffer group ids in use on one ring. The kernel refuses a second ring-mapped group
 * under one id (EEXIST) but not a second PROVIDE_BUFFERS group, whose receives would then take each
 * other's buffers; and a default id must not land on one a program chose. So every group object
 * takes its id here for its lifetime, and default ids skip the ones taken.
 */
import { Errno, UringError } from "./errors.ts";

export class GroupIds {
  readonly #taken = new Set<number>();
  #next = 0; // default ids are never handed out twice: a closed legacy group's REMOVE may be in flight

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

  /** `id` is free again (its group was closed). */
  release(id: number): void {
    this.#taken.delete(id);
  }

  /**
   * The lowest id above those handed out so far that no group holds (not taken: its group takes it).
   *
   * @throws {RangeError} once all 65536 have been handed out.
   */
  next(): number {
    while (this.#taken.has(this.#next)) this.#next++;
    if (this.#next > 65535) throw new RangeError("all 65536 buffer group ids of this ring are in use");
    return this.#next++;
  }
}
