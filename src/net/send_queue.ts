/**
 * `SendQueue`: the ordered bytes one stream socket still has to send, and the mechanism that sends
 * them: one send in flight at a time, everything queued going out in one SENDMSG with an iovec per
 * run of pieces adjacent in memory, or one SEND for a single run (so a turn costs one SQE per
 * socket), partial sends resumed, pieces released once the kernel took them — or, for zero-copy
 * sends, once the kernel's notification says it no longer reads them.
 * Pieces are leases (sent from the pool's memory, no copy), the program's own bytes sent in place
 * (`write(bytes, { copy: false })`), or chunks of the loop's send arena holding bytes copied from
 * JS. Policy (high-water marks, drain, closing) belongs to the owner.
 */
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import type { Lease } from "../buffers/lease.ts";
import { kAddress, kArena, kGiveBack, kIovBlocks } from "../internal.ts";
import { prepSend, prepSendmsg, prepSendmsgZc, prepSendZc } from "../prep.ts";
import type { IoLoop } from "./loop.ts";
import { IOV_PER_BLOCK, SMALL_CHUNK_SIZE } from "./send_arena.ts";

// A queued piece: a lease (sent from the pool's memory), the program's bytes sent in place, or an
// arena chunk holding copied bytes.
interface Piece {
  address: number;
  length: number;
  lease: Lease | undefined;
  view: Uint8Array | undefined; // bytes sent in place: held (so not collected) until the kernel took them
  chunk: number; // -1 for a lease or a view
}

// Pieces are recycled (the kernel takes one per write), so that a write allocates nothing once the
// spares cover the pieces in flight; the spares kept are bounded.
const spares: Piece[] = [];
const MAX_SPARES = 1024;

function newPiece(
  address: number,
  length: number,
  lease: Lease | undefined,
  view: Uint8Array | undefined,
  chunk: number,
): Piece {
  const piece = spares.pop();
  if (piece === undefined) return { address, length, lease, view, chunk };
  piece.address = address;
  piece.length = length;
  piece.lease = lease;
  piece.view = view;
  piece.chunk = chunk;
  return piece;
}

// A run stops growing past this many bytes (a piece is at most 1 GiB, so a run stays below 2 GiB):
// an SQE's length is 32 bits.
const MAX_RUN = 1 << 30;

/** What complete() reports besides a byte count or a negative errno. */
export const NOTIFICATION = Number.MIN_SAFE_INTEGER;

/**
 * Bytes of one connection's zero-copy sends awaiting their notification past which its sends are
 * copied instead. A zero-copy send holds its memory until the peer has acknowledged it, so a slow
 * reader would hold its socket's whole send buffer (2-4 MB) of ours, outside `bufferedAmount`: 128
 * such readers that kept to `write()`'s backpressure took a loop past its maxQueuedBytes (256 MiB),
 * and the loop shed connections. Copied sends leave those bytes in the kernel's socket buffers.
 */
const ZERO_COPY_HELD_MAX = 1 << 20;

/** A queue's zero-copy sends. */
interface ZeroCopyState {
  sends: number;
  heldBytes: number; // the bytes of the pieces in `held`
  // One group per SEND_ZC whose notification is still due (the kernel may still read its pieces), oldest
  // first. A piece whose front a SEND_ZC sent and a plain send finished joins the newest group.
  held: Piece[][];
  front: Piece | undefined; // the head piece, its front sent by a SEND_ZC whose notification may be due
}

export class SendQueue {
  readonly #loop: IoLoop;
  readonly #fd: number;
  readonly #token: number;
  readonly #zeroCopyMin: number;
  readonly #pieces: Piece[] = [];
  #head = 0;
  #buffered = 0;
  #arenaBytes = 0; // the loop's send arena taken by our chunks (what shedding this queue would free)
  #sending = false;
  #iovBlock = -1; // the msghdr+iovec block of the SENDMSG in flight, if any
  #flightEnd = 0; // while sending: the index past the last piece the send in flight covers
  #zc: ZeroCopyState | undefined; // made by the first SEND_ZC: most connections never send one
  #inPlace = 0; // pieces of the program's bytes (pushView) the kernel may still read

  constructor(loop: IoLoop, fd: number, token: number, zeroCopyMin: number) {
    this.#loop = loop;
    this.#fd = fd;
    this.#token = token;
    this.#zeroCopyMin = zeroCopyMin;
  }

  /** Bytes queued and not yet accepted by the kernel. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Bytes of the loop's send arena our queued chunks hold (their whole size, used or not). */
  get arenaBytes(): number {
    return this.#arenaBytes;
  }

  /** A send is in flight. */
  get sending(): boolean {
    return this.#sending;
  }

  /**
   * Pieces written in place (pushView) that the kernel may still read: queued, in flight, or held
   * for a zero-copy notification. The program may change their bytes only once this is 0.
   */
  get inPlace(): number {
    return this.#inPlace;
  }

  /** The kernel may still read memory of ours (a send in flight, or zero-copy notifications due). */
  get busy(): boolean {
    return this.#sending || (this.#zc !== undefined && this.#zc.held.length > 0);
  }

  get zeroCopySends(): number {
    return this.#zc?.sends ?? 0;
  }

  /**
   * Copies `bytes` into arena chunks and queues them; small writes fill the room left in the last
   * chunk first (bytes appended behind a piece in flight go out with the next send: the kernel only
   * reads the length it was given).
   */
  pushBytes(bytes: Uint8Array): void {
    const arena = this.#loop[kArena];
    const length = bytes.length;
    let at = 0;
    const last = this.#pieces.length > this.#head ? this.#pieces[this.#pieces.length - 1] : undefined;
    const appending = last !== undefined && last.chunk >= 0;
    if (appending) {
      const used = last.address + last.length - arena.address(last.chunk);
      at = Math.min(arena.capacity(last.chunk) - used, length);
      if (at > 0) {
        arena.bytes(last.chunk).set(at === length ? bytes : bytes.subarray(0, at), used);
        last.length += at;
      }
    }
    // A small write to a queue without copied bytes at its tail takes a small chunk; more bytes behind
    // one (a peer falling behind, a burst of writes) take large ones.
    const small = !appending && length <= SMALL_CHUNK_SIZE;
    for (let n = 0; at < length; at += n) {
      const chunk = arena.take(small);
      const capacity = arena.capacity(chunk);
      this.#arenaBytes += capacity;
      n = Math.min(capacity, length - at);
      arena.bytes(chunk).set(at === 0 && n === length ? bytes : bytes.subarray(at, at + n));
      this.#pieces.push(newPiece(arena.address(chunk), n, undefined, undefined, chunk));
    }
    this.#buffered += length;
  }

  /** Queues a lease, sent from its buffer; released once sent (or dropped). */
  pushLease(lease: Lease): void {
    this.#pieces.push(newPiece(lease[kAddress], lease.length, lease, undefined, -1));
    this.#buffered += lease.length;
  }

  /** Queues the program's bytes, sent from where they are (held, unchanged by contract, until sent). */
  pushView(bytes: Uint8Array): void {
    this.#pieces.push(newPiece(native.addressOf(bytes), bytes.length, undefined, bytes, -1));
    this.#buffered += bytes.length;
    this.#inPlace++;
  }

  /** Starts a send of everything queued, unless one is in flight or nothing is queued. */
  send(): void {
    if (this.#sending || this.#head === this.#pieces.length) return;
    const reactor = this.#loop.reactor;
    const sqes = reactor.ring.sqes;
    const slot = reactor.prepare(this.#token);
    const pieces = this.#pieces;
    const end = pieces.length;
    const zeroCopy = this.#zeroCopyMin > 0 && this.#buffered >= this.#zeroCopyMin && this.#mayHoldForNotification();
    // Pieces that continue one another in memory (consecutive receives into an incremental buffer,
    // echoed or forwarded) go out as one run: one iovec, and a plain SEND when the queue is one run.
    const blocks = this.#loop[kIovBlocks];
    let block = -1;
    let count = 0;
    let i = this.#head;
    for (;;) {
      const address = pieces[i].address;
      let length = pieces[i].length;
      while (++i < end && pieces[i].address === address + length && length < MAX_RUN) length += pieces[i].length;
      if (i === end && count === 0) {
        if (zeroCopy) prepSendZc(sqes, slot, this.#fd, address, length, abi.MSG_NOSIGNAL, 0);
        else prepSend(sqes, slot, this.#fd, address, length, abi.MSG_NOSIGNAL);
        break;
      }
      if (block < 0) block = this.#iovBlock = blocks.take();
      blocks.setIov(block, count++, address, length);
      if (i === end || count === IOV_PER_BLOCK) {
        blocks.setHeader(block, count);
        if (zeroCopy) prepSendmsgZc(sqes, slot, this.#fd, blocks.address(block), abi.MSG_NOSIGNAL);
        else prepSendmsg(sqes, slot, this.#fd, blocks.address(block), abi.MSG_NOSIGNAL);
        break;
      }
    }
    if (zeroCopy) (this.#zc ??= { sends: 0, heldBytes: 0, held: [], front: undefined }).sends++;
    this.#flightEnd = i;
    this.#sending = true;
  }

  /**
   * A zero-copy send may hold more of our memory until its notification: this connection's held
   * bytes are under ZERO_COPY_HELD_MAX, and the loop's queued sends under half its maxQueuedBytes (so
   * that many slow readers together do not make it shed connections that keep to backpressure).
   */
  #mayHoldForNotification(): boolean {
    if (this.#zc !== undefined && this.#zc.heldBytes >= ZERO_COPY_HELD_MAX) return false;
    return this.#loop[kArena].bytesInUse * 2 < this.#loop.maxQueuedBytes;
  }

  /**
   * A completion carrying our token. Returns NOTIFICATION for a zero-copy notification, the bytes
   * the kernel took (pieces retired and released; call send() for the rest), or a negative errno.
   */
  complete(res: number, flags: number): number {
    const zc = this.#zc;
    if (flags & abi.IORING_CQE_F_NOTIF) {
      // Notifications come in the order of their sends (TCP frees what it sent in order): the oldest
      // send's pieces may go. Holding all until none was due kept a steady stream's whole history.
      for (const piece of zc!.held.shift()!) {
        zc!.heldBytes -= piece.length;
        this.#release(piece);
      }
      return NOTIFICATION;
    }
    let held: Piece[] | undefined; // where retired pieces wait for a notification
    if (flags & abi.IORING_CQE_F_MORE) zc!.held.push(held = []); // a SEND_ZC result: its notification follows
    // A plain send's pieces go back at once (the kernel copied them), but for one whose front a SEND_ZC
    // sent: holding them all kept a slow reader's every copied send until a notification came.
    const front = zc?.front;
    this.#sending = false;
    if (this.#iovBlock >= 0) {
      this.#loop[kIovBlocks].give(this.#iovBlock);
      this.#iovBlock = -1;
    }
    if (res <= 0) return res;
    this.#buffered -= res;
    // Retire every piece the kernel took; a partial send leaves the rest of one piece at the head.
    for (let left = res; left > 0;) {
      const piece = this.#pieces[this.#head];
      if (left < piece.length) {
        piece.address += left;
        piece.length -= left;
        if (held !== undefined) zc!.front = piece;
        break;
      }
      left -= piece.length;
      if (piece === front) zc!.front = undefined;
      if (held !== undefined) this.#hold(held, piece);
      else if (piece === front && zc!.held.length > 0) this.#hold(zc!.held[zc!.held.length - 1], piece);
      else this.#release(piece);
      this.#pieces[this.#head++] = undefined as unknown as Piece;
    }
    if (this.#head === this.#pieces.length) {
      this.#pieces.length = 0;
      this.#head = 0;
    }
    return res;
  }

  /**
   * Releases the queued pieces that no send in flight covers (every one when none is in flight; bytes
   * appended to a chunk in flight stay with it). Returns the bytes dropped.
   */
  dropQueued(): number {
    if (!this.#sending) return this.clear();
    const pieces = this.#pieces;
    let dropped = 0;
    for (let i = this.#flightEnd; i < pieces.length; i++) {
      dropped += pieces[i].length;
      this.#release(pieces[i]);
    }
    pieces.length = this.#flightEnd;
    this.#buffered -= dropped;
    return dropped;
  }

  /** Releases every queued piece (the kernel holds none: call when not busy). Returns the bytes dropped. */
  clear(): number {
    const dropped = this.#buffered;
    for (let i = this.#head; i < this.#pieces.length; i++) this.#release(this.#pieces[i]);
    this.#pieces.length = 0;
    this.#head = 0;
    this.#buffered = 0;
    return dropped;
  }

  /** Keeps `piece` in a zero-copy send's group until its notification. */
  #hold(group: Piece[], piece: Piece): void {
    group.push(piece);
    this.#zc!.heldBytes += piece.length;
  }

  #release(piece: Piece): void {
    const lease = piece.lease;
    if (lease) {
      piece.lease = undefined;
      lease[kGiveBack]();
    } else if (piece.view !== undefined) {
      piece.view = undefined;
      this.#inPlace--;
    } else {
      const arena = this.#loop[kArena];
      this.#arenaBytes -= arena.capacity(piece.chunk);
      arena.give(piece.chunk);
    }
    if (spares.length < MAX_SPARES) spares.push(piece);
  }
}
