/**
 * `LeakNet`: a pool's net for leases dropped without release. A FinalizationRegistry holds a record
 * of each lease out; when the garbage collector finds a lease that was never released, the net asks
 * its pool to take the buffer back, counts it, and warns once per pool, saying where the program had
 * the lease when leakTracking is "debug".
 */
import type { Lease, LeaseTrace } from "./lease.ts";

/**
 * A record keeps bid, a 14-bit tag and holder packed in one number, so the common case allocates
 * nothing (a small integer while holder is 0). The tag is the lease's generation (modulo
 * GENERATION_MOD: a consistency check, since a released lease is unregistered and never reported),
 * or whatever else its pool asks to get back with a reclaim (see track()).
 */
export const GENERATION_MOD = 16384;
/** The largest holder id a record can keep. */
export const MAX_HOLDER = 2 ** 23 - 1; // 16 + 14 + 23 bits: an exact integer

/** Debug mode: the record is an object that keeps the lease's trace. */
interface LeakDetail {
  packed: number;
  trace: LeaseTrace | undefined;
}
type LeakRecord = number | LeakDetail;

/** Frames of this library (src/, ffi/): a leak report shows the frames around them, the user's. */
const LIBRARY_DIRS = ["../", "../../ffi/"].flatMap((dir) => {
  const url = new URL(dir, import.meta.url);
  return url.protocol === "file:" ? [url.href, decodeURIComponent(url.pathname)] : [url.href];
});
const FRAMES_SHOWN = 4;

/** The first frames of a stack that are the program's own: not this library's nor the runtime's. */
function userFrames(stack: string | undefined): string | undefined {
  const frames = stack?.split("\n").filter((line) =>
    /^\s+at /.test(line) && /(?:file|https?):\/\/|[( ]\//.test(line) &&
    !LIBRARY_DIRS.some((dir) => line.includes(dir))
  );
  return frames?.length ? frames.slice(0, FRAMES_SHOWN).join("\n") : undefined;
}

/** What the net needs of its pool. */
export interface LeakOwner {
  /** The pool's group id, for the warning. */
  readonly groupId: number;
  /**
   * Whether the lease recorded for buffer `bid` with `tag` (see track()) is still out: not released,
   * and its buffer not reused since (asked after the pool's close() too: the lease still holds the
   * pool's memory mapped).
   */
  leaseOut(bid: number, tag: number): boolean;
  /** Takes back the buffer of a dropped lease, as its release would. */
  reclaim(bid: number, holder: number, tag: number): void;
  /** The pool is closed: its leases read as empty, and one dropped is no leak to report. */
  closed(): boolean;
}

/** Watches a pool's leases and reclaims the ones garbage-collected without release. */
export class LeakNet {
  readonly #owner: LeakOwner;
  readonly #detail: boolean; // records are LeakDetail objects
  readonly #registry = new FinalizationRegistry<LeakRecord>((r) => this.#collected(r));
  #warned = false;
  #reclaimed = 0;

  /** `detail`: records keep traces (debug mode). */
  constructor(owner: LeakOwner, detail: boolean) {
    this.#owner = owner;
    this.#detail = detail;
  }

  /** Leases garbage-collected without release, whose buffers were taken back. */
  get reclaimed(): number {
    return this.#reclaimed;
  }

  /**
   * Watches `lease` until forget(lease). Allocates nothing while records are plain numbers and
   * `holder` is 0 (the packed record is then a small integer). `tag` (kept modulo GENERATION_MOD) is
   * handed to leaseOut() and reclaim(): the lease's generation, or another number of the pool's.
   */
  track(
    lease: Lease,
    bid: number,
    tag: number,
    holder: number,
    trace: LeaseTrace | undefined,
  ): void {
    const packed = bid + 65536 * ((tag & (GENERATION_MOD - 1)) + GENERATION_MOD * holder);
    this.#registry.register(lease, this.#detail ? { packed, trace } : packed, lease);
  }

  /** `lease` was released: it is no leak. */
  forget(lease: Lease): void {
    this.#registry.unregister(lease);
  }

  #collected(r: LeakRecord): void {
    const packed = typeof r === "number" ? r : r.packed;
    const bid = packed % 65536;
    const rest = Math.floor(packed / 65536);
    const tag = rest % GENERATION_MOD, holder = Math.floor(rest / GENERATION_MOD);
    if (!this.#owner.leaseOut(bid, tag)) return;
    if (this.#owner.closed()) return this.#owner.reclaim(bid, holder, tag); // only unmaps
    this.#reclaimed++;
    if (!this.#warned) {
      this.#warned = true;
      console.warn(this.#warning(bid, typeof r === "number" ? undefined : r.trace));
    }
    this.#owner.reclaim(bid, holder, tag);
  }

  #warning(bid: number, trace: LeaseTrace | undefined): string {
    const head = `uring-buffers: a lease of buffer ${bid} (pool group ${this.#owner.groupId}) was garbage-collected ` +
      `without release(); the buffer was reclaimed.`;
    if (!trace) return `${head} Create the pool with leakTracking: "debug" to see where your code had it.`;
    // The library makes every lease, in a turn a Driver runs from the event loop (no frame of the
    // program's on that stack): the program's own frames come from its last read of the bytes, else
    // from its call that ran the turn (Reactor.runUntil...), if any.
    const read = userFrames(trace.touched);
    const handed = userFrames(trace.made.stack);
    const yours = read ? `Your code last read its bytes at:\n${read}` : `Your code never read its bytes.`;
    const made = handed
      ? `It was handed over in a turn run from:\n${handed}`
      : `It was made at:\n${(trace.made.stack ?? "").split("\n").slice(0, 1 + FRAMES_SHOWN).join("\n")}`;
    return `${head} ${yours}\n${made}`;
  }
}
