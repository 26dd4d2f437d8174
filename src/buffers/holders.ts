/**
 * `HolderTable`: who holds a pool's leases (connections), and each one's fair share of the pool. A
 * holder over its share is told to stop receiving (overQuota) and, once back at half of it, to go
 * on (LeaseHolder.underQuota). Per-holder numbers live in typed arrays indexed by holder id, grown by
 * doubling: nothing per lease is allocated.
 *
 * The share is in buffers, and what a holder holds is weighed in WEIGHT_UNITS-ths of a buffer: a
 * whole buffer per lease in whole-buffer pools; in incremental pools, where leases are pieces of
 * buffers, a piece's length, at least MIN_PIECE_WEIGHT. Counted in leases, a message that came in
 * more pieces than the share had leases stalled with most of the pool free. In incremental pools
 * the buffers a holder's pieces are in are counted too (its pins), and while half the pool or more
 * is leased they may be at most PIN_FACTOR times its share: each piece keeps its whole buffer from
 * the kernel, so weighed by length alone, a holder that kept small pieces of buffers others filled
 * pinned the whole pool within its share. Only then, because a message kept whole, each of its
 * pieces in a buffer other connections filled (a line typed slowly on a busy server), pins a buffer
 * per piece, and a holder that waits for the rest of it releases nothing until it comes: counted in
 * any state, pins held 20 such holders back for good with 17 of 128 buffers leased.
 */
import { describe, numberError } from "../options.ts";
import { MAX_HOLDER } from "./leak_net.ts";

/**
 * Something that holds leases (a connection) and stops receiving while over its share of the pool;
 * register it with `BufferPool.addHolder` and pass its id to `take`.
 */
export interface LeaseHolder {
  /** The holder fell back under its share after overQuota() said true: resume receiving. */
  underQuota(): void;
  /**
   * Its program has read everything and waits for more (a `for await` loop waiting on its next lease,
   * or a `data` handler with nothing queued for it): held back, it may then resume at its share rather
   * than at half of it, since it releases nothing until more comes.
   */
  waitingToRead?(): boolean;
}

/** `fairShare: "auto"` in the table's terms (see BufferPoolOptions.fairShare). */
export const FAIR_SHARE_AUTO = -1;
/** A whole buffer's weight. A piece's weight fits the leak net's 14-bit record field. */
export const WEIGHT_UNITS = 4096;
/**
 * The least a piece weighs (a 32nd of a buffer, 2 KiB of the default 64 KiB): a holder that keeps
 * tiny pieces, each in a buffer others filled, pins at most 32 buffers per buffer of its share,
 * while pieces of a network's segments (1-3 KB each) count about what they hold.
 */
export const MIN_PIECE_WEIGHT = WEIGHT_UNITS / 32;
/**
 * The buffers a holder's pieces are in may be this many times its share while half the pool or more
 * is leased: pieces seldom fill their buffers (a 1 MB message kept whole is in 18-20 of 64 KiB), so
 * its pins run ahead of its weight.
 */
export const PIN_FACTOR = 2;
/** Buffers of one holder counted in its own slots (more spill into a Map: a holder past its share). */
const PIN_SLOTS = 4;
/**
 * "auto" fair share never goes below this many buffers. No lease weighs more than a buffer, so
 * weighing leases held back no program sooner than counting them did.
 */
const MIN_SHARE = 8;
// Holder slots: free (reusable), live, or removed while some of its leases are still out.
const HOLDER_FREE = 0;
const HOLDER_LIVE = 1;
const HOLDER_GONE = 2;

/** `array` copied into a new one of `length` elements, the rest zero. */
function grown<A extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(array: A, length: number): A {
  const bigger = new (array.constructor as new (length: number) => A)(length);
  bigger.set(array as never);
  return bigger;
}

/** The holders of one pool's leases: ids, leases out per id, and the share each may hold. */
export class HolderTable {
  readonly #fairShare: number; // FAIR_SHARE_AUTO, 0 (off) or a fixed cap
  readonly #holders: (LeaseHolder | undefined)[] = [undefined]; // id 0 is "no holder"
  #state = new Uint8Array(64);
  #held = new Uint32Array(64); // leases out per holder
  #weight = new Float64Array(64); // their weight (WEIGHT_UNITS per buffer)
  #over = new Uint8Array(64); // overQuota() said true; underQuota() not yet called
  // Pins (incremental pools): buffers each holder has pieces in, and in which (PIN_SLOTS per holder:
  // buffer id and pieces in it; more in #morePins, keyed holder * 65536 + buffer id).
  readonly #tracksPins: boolean;
  #pinned = new Uint32Array(0);
  #slotsUsed = new Uint8Array(0);
  #slotBid = new Uint16Array(0);
  #slotPieces = new Uint32Array(0);
  readonly #morePins = new Map<number, number>();
  readonly #free: number[] = [];
  #holding = 0; // holders with at least one lease out
  #live = 0; // holders added and not yet removed
  #overCount = 0; // holders with #over set
  #lastShare = 0; // the share at the last look (recheck(), or a holder held back under a smaller one)
  #lastScarce = false; // pins counted at the last look (half the pool or more leased)

  /**
   * @param fairShare FAIR_SHARE_AUTO, 0 (no cap) or a fixed cap per holder, in buffers.
   * @param tracksPins Count the buffers each holder's leases are in (incremental pools: see PIN_FACTOR).
   */
  constructor(fairShare: number, tracksPins = false) {
    this.#fairShare = fairShare;
    this.#tracksPins = tracksPins;
    if (tracksPins) this.#growPins(64);
  }

  #growPins(n: number): void {
    this.#pinned = grown(this.#pinned, n);
    this.#slotsUsed = grown(this.#slotsUsed, n);
    this.#slotBid = grown(this.#slotBid, n * PIN_SLOTS);
    this.#slotPieces = grown(this.#slotPieces, n * PIN_SLOTS);
  }

  /** A new id (>= 1; ids of removed holders whose leases are all back are reused) for `holder`. */
  add(holder: LeaseHolder): number {
    let id = this.#free.pop();
    if (id === undefined) {
      id = this.#holders.length;
      if (id > MAX_HOLDER) throw new RangeError(`more than ${MAX_HOLDER} holders on one pool`);
      if (id === this.#held.length) this.#grow();
      this.#holders.push(undefined);
    }
    this.#holders[id] = holder;
    this.#state[id] = HOLDER_LIVE;
    this.#live++;
    this.#over[id] = 0;
    return id;
  }

  #clearOver(id: number): void {
    if (this.#over[id] === 0) return;
    this.#over[id] = 0;
    this.#overCount--;
  }

  #grow(): void {
    const n = this.#held.length * 2;
    this.#state = grown(this.#state, n);
    this.#held = grown(this.#held, n);
    this.#weight = grown(this.#weight, n);
    this.#over = grown(this.#over, n);
    if (this.#tracksPins) this.#growPins(n);
  }

  /** Forgets holder `id`; its id comes free once its leases are all back. */
  remove(id: number): void {
    if (id === 0 || this.#state[id] !== HOLDER_LIVE) return;
    this.#live--;
    this.#holders[id] = undefined;
    this.#clearOver(id);
    if (this.#held[id] === 0) this.#freeId(id);
    else this.#state[id] = HOLDER_GONE;
  }

  #freeId(id: number): void {
    this.#state[id] = HOLDER_FREE;
    this.#free.push(id);
  }

  /** Some holder is held back at its share (overQuota() said true, no underQuota() yet). */
  get heldBack(): boolean {
    return this.#overCount > 0;
  }

  /** `id` is a holder added and not yet removed. */
  live(id: number): boolean {
    return this.#state[id] === HOLDER_LIVE;
  }

  /** Leases of holder `id` not yet back (0 for id 0, "no holder"). */
  held(id: number): number {
    this.#checkId(id);
    return id === 0 ? 0 : this.#held[id];
  }

  /** What holder `id`'s leases weigh, in buffers (0 for id 0). */
  heldBuffers(id: number): number {
    this.#checkId(id);
    return id === 0 ? 0 : this.#weight[id] / WEIGHT_UNITS;
  }

  /** The buffers holder `id`'s leases are in (0 for id 0, and in whole-buffer pools: see heldBuffers()). */
  pinnedBuffers(id: number): number {
    this.#checkId(id);
    return id === 0 || !this.#tracksPins ? 0 : this.#pinned[id];
  }

  /** The most buffers a holder's pieces may be in under `share`: Infinity unless pins count (see PIN_FACTOR). */
  #pinLimit(share: number, leased: number, maxCount: number): number {
    return this.#tracksPins && leased * 2 >= maxCount ? share * PIN_FACTOR : Infinity;
  }

  /** Over `share`: by weight, or by the buffers its pieces are in. */
  #overShare(h: number, share: number, pinLimit: number): boolean {
    return this.#weight[h] > share * WEIGHT_UNITS || (pinLimit !== Infinity && this.#pinned[h] > pinLimit);
  }

  /**
   * True when holder `id` holds more than its share (the pool has `leased` of `maxCount` buffers
   * leased); it is then told underQuota() once it holds at most half its share.
   */
  overQuota(id: number, leased: number, maxCount: number): boolean {
    this.#checkId(id);
    const share = this.#share(leased, maxCount);
    const pinLimit = this.#pinLimit(share, leased, maxCount);
    if (id === 0 || this.#state[id] !== HOLDER_LIVE || !this.#overShare(id, share, pinLimit)) return false;
    if (this.#over[id] === 0) {
      this.#over[id] = 1;
      // The smallest share any holder was held back at since the last look: a growth past it is news,
      // and so is the end of counting pins.
      const first = this.#overCount++ === 0;
      this.#lastShare = first ? share : Math.min(this.#lastShare, share);
      this.#lastScarce = (!first && this.#lastScarce) || pinLimit !== Infinity;
    }
    return true;
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.#holders.length) {
      throw numberError(
        id,
        `holder id must be 0 or an id from addHolder (${
          this.#holders.length > 1 ? `1 to ${this.#holders.length - 1}` : "none was added"
        }), got ${describe(id)}`,
      );
    }
  }

  /** Holder `h` (a live one) took a lease of buffer `bid` that weighs `weight` (see WEIGHT_UNITS). */
  took(h: number, weight: number, bid: number): void {
    if (this.#held[h]++ === 0) this.#holding++;
    this.#weight[h] += weight;
    if (this.#tracksPins) this.#pin(h, bid);
  }

  /** Holder `h` has one more piece of buffer `bid`. */
  #pin(h: number, bid: number): void {
    const at = h * PIN_SLOTS, used = this.#slotsUsed[h];
    for (let i = at; i < at + used; i++) {
      if (this.#slotBid[i] === bid) {
        this.#slotPieces[i]++;
        return;
      }
    }
    const key = h * 65536 + bid;
    const more = this.#morePins.size > 0 ? this.#morePins.get(key) : undefined;
    if (more !== undefined) {
      this.#morePins.set(key, more + 1);
      return;
    }
    this.#pinned[h]++;
    if (used < PIN_SLOTS) {
      this.#slotBid[at + used] = bid;
      this.#slotPieces[at + used] = 1;
      this.#slotsUsed[h] = used + 1;
    } else {
      this.#morePins.set(key, 1);
    }
  }

  /** Holder `h` has one piece of buffer `bid` fewer. */
  #unpin(h: number, bid: number): void {
    const at = h * PIN_SLOTS, used = this.#slotsUsed[h];
    for (let i = at; i < at + used; i++) {
      if (this.#slotBid[i] !== bid) continue;
      if (--this.#slotPieces[i] > 0) return;
      this.#pinned[h]--;
      const last = at + used - 1; // the slots stay packed: the last one moves into the gap
      this.#slotBid[i] = this.#slotBid[last];
      this.#slotPieces[i] = this.#slotPieces[last];
      this.#slotsUsed[h] = used - 1;
      return;
    }
    const key = h * 65536 + bid;
    const more = this.#morePins.get(key)!;
    if (more > 1) this.#morePins.set(key, more - 1);
    else {
      this.#morePins.delete(key);
      this.#pinned[h]--;
    }
  }

  /**
   * One lease of holder `h`, of buffer `bid` and of `weight`, came back (released or reclaimed);
   * `notify` false once the pool is closed. Hysteresis: a holder over its share resumes at half of
   * it, not at every lease.
   */
  returned(h: number, weight: number, bid: number, leased: number, maxCount: number, notify: boolean): void {
    const n = --this.#held[h];
    this.#weight[h] = n === 0 ? 0 : this.#weight[h] - weight;
    if (this.#tracksPins) this.#unpin(h, bid);
    if (n === 0) {
      this.#holding--;
      if (this.#state[h] === HOLDER_GONE) this.#freeId(h);
    }
    if (this.#over[h] !== 0 && this.#mayResumeNow(h, leased, maxCount)) {
      this.#clearOver(h);
      if (notify) this.#holders[h]!.underQuota();
    }
  }

  /** #mayResume under the share and pin limit of a pool with `leased` of `maxCount` buffers leased. */
  #mayResumeNow(h: number, leased: number, maxCount: number): boolean {
    const share = this.#share(leased, maxCount);
    return this.#mayResume(h, share, this.#pinLimit(share, leased, maxCount));
  }

  /** Holder `h` (held back) may receive again under `share`: at half of it, or at it when its reader waits. */
  #mayResume(h: number, share: number, pinLimit: number): boolean {
    const w = this.#weight[h], full = share * WEIGHT_UNITS;
    const pins = this.#tracksPins ? this.#pinned[h] : 0;
    return (w <= full / 2 && pins <= pinLimit / 2) ||
      (w <= full && pins <= pinLimit && this.#holders[h]?.waitingToRead?.() === true);
  }

  /**
   * The pool's leases changed (some came back): if the share grew since the last look (a holder
   * let go of its last lease, or the pool fell under half leased) while holders are held back, each
   * of them that may resume under the new share is told. Without it a holder held back at a small
   * share, which releases nothing while it waits, waited for ever once the others were gone.
   */
  recheck(leased: number, maxCount: number, notify: boolean): void {
    if (this.#overCount === 0) return;
    const share = this.#share(leased, maxCount);
    const pinLimit = this.#pinLimit(share, leased, maxCount);
    const scarce = pinLimit !== Infinity;
    const grew = share > this.#lastShare || (this.#lastScarce && !scarce);
    this.#lastShare = share;
    this.#lastScarce = scarce;
    if (!grew) return;
    for (let id = 1; id < this.#holders.length && this.#overCount > 0; id++) {
      if (this.#over[id] === 0 || this.#state[id] !== HOLDER_LIVE || !this.#mayResume(id, share, pinLimit)) continue;
      this.#clearOver(id);
      if (notify) this.#holders[id]!.underQuota();
    }
  }

  /**
   * Holder `id`, held back at its share, may receive again now (see #mayResume: its program waits for
   * more and it holds no more than its share): true, and no underQuota() later. Asked when the program
   * starts to wait, which no lease coming back announces. Without it a loop that keeps a window of
   * leases between half its share and its share, pushed over by leases queued unread, would wait for
   * ever for the lease that lets it release one.
   */
  resumeWithinShare(id: number, leased: number, maxCount: number): boolean {
    if (this.#over[id] === 0 || !this.#mayResumeNow(id, leased, maxCount)) return false;
    this.#clearOver(id);
    return true;
  }

  /** A holder's share, in buffers, with `leased` of `maxCount` buffers leased (Infinity without a cap). */
  share(leased: number, maxCount: number): number {
    return this.#share(leased, maxCount);
  }

  /**
   * The pool closed: holders held back at their share are let go, so that their receives arm once
   * more and end (ECANCELED) instead of waiting for leases that will never count again.
   */
  letGo(): void {
    for (let id = 1; id < this.#holders.length; id++) {
      if (this.#over[id] === 0 || this.#state[id] !== HOLDER_LIVE) continue;
      this.#clearOver(id);
      this.#holders[id]!.underQuota();
    }
  }

  /** A holder's share in buffers now (see BufferPoolOptions.fairShare). */
  #share(leased: number, maxCount: number): number {
    const fixed = this.#fairShare;
    if (fixed !== FAIR_SHARE_AUTO) return fixed === 0 ? Infinity : fixed;
    if (leased * 2 >= maxCount) return MIN_SHARE;
    return Math.max(MIN_SHARE, Math.floor(maxCount / (2 * Math.max(1, this.#holding))));
  }

  /**
   * Buffers holder `id` may take in one burst before its share is checked again (at most 0 once over
   * it; Infinity without a share): what is left of its share, and no more than an even split of half
   * the pool among the live holders. Holders that hold nothing yet count there, so that several
   * starting at once, each alone in `#share`'s count, do not each take half the pool.
   */
  burstRoom(id: number, leased: number, maxCount: number): number {
    if (id === 0 || this.#state[id] !== HOLDER_LIVE || this.#fairShare === 0) return Infinity;
    const split = Math.max(1, Math.floor(maxCount / (2 * this.#live)));
    const left = Math.floor(this.#share(leased, maxCount) - this.#weight[id] / WEIGHT_UNITS);
    return Math.min(left, split);
  }

  /** The most one holder holds, in buffers (0 without holders): for the stall watchdog's warning. */
  largest(): number {
    let most = 0;
    for (let id = 1; id < this.#holders.length; id++) most = Math.max(most, this.#weight[id]);
    return most / WEIGHT_UNITS;
  }
}
