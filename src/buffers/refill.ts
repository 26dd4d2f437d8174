/**
 * `Refill`: how a BufferPool gives buffers to the kernel, one implementation per mechanism
 * (RingRefill: a buffer ring; ProvideRefill: IORING_OP_PROVIDE_BUFFERS). The pool decides when a
 * buffer is free; its refill decides how and when the kernel gets it.
 */

/** The kernel side of a pool's buffer group, as the pool drives it. */
export interface Refill {
  /** Buffer `bid` is free: it goes back to the kernel at the next flush(). */
  queue(bid: number): void;
  /** Hands what queue() gathered to the kernel. Called before every submit: cheap when nothing waits. */
  flush(): void;
  /** The first flush(), which must reach the kernel before any receive looks for a buffer. */
  start(): void;
  /** A completion carried a buffer out of the group: the kernel has one buffer less to pick from. */
  consumed(): void;
  /** Buffers the kernel can pick from now, or at the next flush, as far as reaped completions tell. */
  available(): number;
  /**
   * Receives found the group empty: let buffers held back reach the kernel, up to `total` in its
   * reach. False when none were held back, so that only a release or growth can help.
   */
  widen(total: number): boolean;
  /** The pool grew: the `n` buffers it queues next all go to the kernel. */
  grow(n: number): void;
  /**
   * Once per reactor flush (the pool's SubmitHook): a ring notes what the kernel took since the last
   * call, and halves a widened window the kernel no longer needs, if `mayShrink` (false while the
   * pool is short: receives capped or waiting).
   */
  settle(mayShrink: boolean): void;
  /** The most buffers the kernel may hold at once (PoolStats.ringWindow); 0 where no window applies. */
  readonly window: number;
  /** Nothing holds the loop: idle buffers give their pages back now rather than after their period. */
  trimIdle(): void;
  /** Bytes of idle buffers' pages given back to the system (PoolStats.bytesTrimmed). */
  readonly bytesTrimmed: number;
  /** Hand-overs the kernel failed (PoolStats.provideErrors); a ring's tail store cannot fail. */
  readonly errors: number;
  /** Takes the group back from the kernel (before the pool unmaps its memory). */
  close(): void;
}
