/**
 * `SendBacklog`: the loop's connections whose queued copies hold a large chunk or more of its send
 * arena (their peers are behind). When bytes copied for sending would take the loop past its
 * `maxQueuedBytes`, the one holding the most is failed first — of those behind since an earlier turn,
 * when there are any: bytes written in this very turn say nothing yet of whether their peer reads —
 * and what it queued is dropped at once: peers that do not read must not get a healthy one failed in
 * their place. What a failed one's send in flight holds cannot be dropped until the kernel lets go of
 * it (its send is cancelled): it counts as freed meanwhile, or a second write in the same turn would
 * fail a healthy connection for it.
 */

/** A connection as the backlog sees it. */
export interface Backlogged {
  /** Bytes of the loop's send arena its queued copies hold. */
  readonly queued: number;
  /** Fails it for holding the loop's queued sends, dropping at once what no send in flight covers. */
  shed(): void;
}

export class SendBacklog {
  /** Each one with the turn in which it came to hold a large chunk. */
  readonly #behind = new Map<Backlogged, number>();
  /** Failed by makeRoom() and still holding bytes (a send in flight): those bytes are on their way out. */
  readonly #leaving = new Set<Backlogged>();
  readonly #turn: () => number;

  /** @param turn The loop's turn counter. */
  constructor(turn: () => number) {
    this.#turn = turn;
  }

  /** Its queued copies came to hold a large chunk or more. */
  add(connection: Backlogged): void {
    this.#behind.set(connection, this.#turn());
  }

  /** Its queue went down, or it closed. */
  delete(connection: Backlogged): void {
    this.#behind.delete(connection);
    this.#leaving.delete(connection);
  }

  /**
   * Sheds connections while `memory.bytesInUse` + `need`, less what connections shed before still
   * hold, passes `limit`: the one holding the most of those behind since an earlier turn first, then
   * of the others; never `writer`, nor one of this turn holding no more than the writer (the writer is
   * then the one to refuse). Returns whether `need` now fits; a `need` over `limit` never does, and
   * costs nobody else their connection.
   */
  makeRoom(memory: { readonly bytesInUse: number }, need: number, limit: number, writer: Backlogged): boolean {
    if (need > limit) return false;
    const turn = this.#turn();
    while (memory.bytesInUse - this.#leavingBytes() + need > limit) {
      let longest: Backlogged | undefined;
      let older = false;
      for (const [c, since] of this.#behind) {
        const old = since < turn;
        if (longest === undefined || (old && !older) || (old === older && c.queued > longest.queued)) {
          longest = c;
          older = old;
        }
      }
      if (longest === undefined || longest === writer || (!older && longest.queued <= writer.queued)) return false;
      this.#behind.delete(longest);
      longest.shed();
      if (longest.queued > 0) this.#leaving.add(longest);
    }
    return true;
  }

  /** What the connections shed still hold; those that hold nothing any more are forgotten. */
  #leavingBytes(): number {
    let bytes = 0;
    for (const c of this.#leaving) {
      if (c.queued === 0) this.#leaving.delete(c);
      else bytes += c.queued;
    }
    return bytes;
  }
}
