/**
 * `SendBacklog`: the loop's connections whose queued copies hold a large chunk or more of its send
 * arena (their peers are behind). When bytes copied for sending would take the loop past its
 * `maxQueuedBytes`, the one holding the most is failed first, and what it queued is dropped at once:
 * peers that do not read must not get a healthy one failed in their place.
 */

/** A connection as the backlog sees it. */
export interface Backlogged {
  /** Bytes of the loop's send arena its queued copies hold. */
  readonly queued: number;
  /** Fails it for holding the loop's queued sends, dropping at once what no send in flight covers. */
  shed(): void;
}

export class SendBacklog {
  readonly #behind = new Set<Backlogged>();

  /** Its queued copies came to hold a large chunk or more. */
  add(connection: Backlogged): void {
    this.#behind.add(connection);
  }

  /** Its queue went down, or it closed. */
  delete(connection: Backlogged): void {
    this.#behind.delete(connection);
  }

  /**
   * Sheds the connections furthest behind, the one holding the most first, while `memory.bytesInUse`
   * + `need` passes `limit`; never `writer` nor one holding no more than the writer (the writer is
   * then the one to refuse). Returns whether `need` now fits.
   */
  makeRoom(memory: { readonly bytesInUse: number }, need: number, limit: number, writer: Backlogged): boolean {
    while (memory.bytesInUse + need > limit) {
      let longest: Backlogged | undefined;
      for (const c of this.#behind) if (longest === undefined || c.queued > longest.queued) longest = c;
      if (longest === undefined || longest === writer || longest.queued <= writer.queued) return false;
      this.#behind.delete(longest);
      longest.shed();
    }
    return true;
  }
}
