/**
 * `SendBacklog`: the loop's connections whose send queues are past their high-water mark (their
 * peers are behind). When bytes copied for sending would take the loop past its `maxQueuedBytes`,
 * the connection furthest behind is failed first, and what it queued is dropped at once: one peer
 * that does not read must not get a healthy one failed in its place.
 */

/** A connection as the backlog sees it. */
export interface Backlogged {
  /** Bytes it has queued that the kernel has not taken yet. */
  readonly queued: number;
  /** Fails it for holding the loop's queued sends, dropping at once what no send in flight covers. */
  shed(): void;
}

export class SendBacklog {
  readonly #behind = new Set<Backlogged>();

  /** Its queue passed its high-water mark. */
  add(connection: Backlogged): void {
    this.#behind.add(connection);
  }

  /** Its queue drained, or it closed. */
  delete(connection: Backlogged): void {
    this.#behind.delete(connection);
  }

  /**
   * Sheds the connections furthest behind, longest queue first, while `inUse()` + `need` passes
   * `limit`; never `writer` nor one whose queue is no longer than the writer's (the writer is then
   * the one to refuse). Returns whether `need` now fits.
   */
  makeRoom(inUse: () => number, need: number, limit: number, writer: Backlogged): boolean {
    while (inUse() + need > limit) {
      let longest: Backlogged | undefined;
      for (const c of this.#behind) if (longest === undefined || c.queued > longest.queued) longest = c;
      if (longest === undefined || longest === writer || longest.queued <= writer.queued) return false;
      this.#behind.delete(longest);
      longest.shed();
    }
    return true;
  }
}
