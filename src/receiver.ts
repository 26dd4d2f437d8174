/**
 * Receives with buffer selection: the kernel picks a buffer from a BufferPool when data arrives, and
 * the bytes reach user code as Leases. `StreamReceiver` drives recv (sockets, multishot where the
 * kernel has it, optionally bundles) or read (files, pipes); `DatagramReceiver` drives multishot
 * recvmsg for UDP. A -ENOBUFS completion is not an end: the receive waits in the pool's FIFO and is
 * re-armed when a buffer comes back.
 */
import * as abi from "./abi.ts";
import type { Lease } from "./buffers/lease.ts";
import { BufferPool, type BufferWaiter } from "./buffers/pool.ts";
import { ClosedError, Errno, UnsupportedError, UringError } from "./errors.ts";
import { NativeMemory } from "./memory.ts";
import { decodeSockaddr, type SocketAddress } from "./sockaddr.ts";
import {
  prepRead,
  prepRecv,
  prepRecvmsgMultishot,
  prepRecvMultishot,
  setBufferSelect,
  setBundle,
  setMultishotLimit,
} from "./prep.ts";
import { probeFeatures } from "./probe.ts";
import { checkBoolean, checkFd, checkHandler, checkOptionKeys, describe, numberError } from "./options.ts";
import { kBytes, kDatagrams } from "./internal.ts";
import type { CompletionTarget, Reactor } from "./reactor.ts";

/** What a StreamReceiver calls: each receive's bytes, then the end. */
export interface StreamHandler {
  /** The next received bytes, in order. Release the lease when done with them. */
  data(lease: Lease): void;
  /**
   * Called once when the stream ends: no argument for EOF, a UringError for a failure (e.g.
   * `ECONNRESET`). Not called after stop().
   */
  end(error?: UringError): void;
}

/** Options of `new StreamReceiver(pool, fd, handler, options)`. */
export interface StreamReceiverOptions {
  /** "recv" for sockets (default), "read" for files and pipes. */
  op?: "recv" | "read";
  /** One SQE, many completions (recv only; default: where the kernel has it). */
  multishot?: boolean;
  /** IORING_RECVSEND_BUNDLE: one completion may fill several buffers (recv on a ring pool, 6.10+). Default false. */
  bundle?: boolean;
  /** read: file offset to start at; -1 (default) reads at the current position (pipes, sockets). */
  offset?: number;
  /** The pool's holder id (BufferPool.addHolder) that the leases count against; 0 (default) = none. */
  holder?: number;
}

const RECEIVER_OPTION_KEYS = ["op", "multishot", "bundle", "offset", "holder"];
// Made once: a connection's receiver is checked at every accept, and an array per check is garbage.
const STREAM_HANDLER_METHODS = ["data", "end"];
const DATAGRAM_HANDLER_METHODS = ["message", "end"];

const enum State {
  Idle,
  Armed,
  // Its operation ended with the completion being delivered: pause() and resume() only switch between
  // these two (nothing to cancel; re-armed, or left paused, once the delivery is over).
  Completing,
  CompletingPaused,
  Waiting, // parked in the pool for buffers
  Pausing, // cancel submitted by pause(); data still delivered until it lands
  Paused,
  Stopping,
  Done,
}

/** A receiver's pool argument: a BufferPool (a TypeError naming what it got, before anything reads it). */
function checkPool(pool: unknown): asserts pool is BufferPool {
  if (!(pool instanceof BufferPool)) throw new TypeError(`pool must be a BufferPool, got ${describe(pool)}`);
}

/**
 * What StreamReceiver and DatagramReceiver share: a receive with buffer selection from `pool`,
 * registered as a completion target on the pool's reactor, started once and stopped once.
 */
export abstract class ReceiverBase implements CompletionTarget {
  /** The pool the kernel picks buffers from. */
  readonly pool: BufferPool;
  /** @ignore The receive's user_data (its reactor token). */
  protected readonly token: number;
  /** @ignore Where the receive is: idle, armed, waiting for buffers, pausing, paused, stopping, done. */
  protected state: State = State.Idle;

  /**
   * @ignore Registers the receiver on the pool's reactor.
   * @throws {ClosedError} if the pool is closed.
   */
  constructor(pool: BufferPool) {
    checkPool(pool);
    if (pool.closed) throw new ClosedError("BufferPool");
    this.pool = pool;
    // The receiver is its own completion target: no closure per receiver (it matters at 10k sockets).
    this.token = pool.reactor.register(this);
  }

  /** The pool's reactor, which runs the receive and dispatches its completions. */
  get reactor(): Reactor {
    return this.pool.reactor;
  }

  /**
   * CompletionTarget: the reactor calls this with each completion of the receive (data, `-ENOBUFS`,
   * EOF, errors). Not for programs to call.
   */
  abstract complete(res: number, flags: number): void;

  /**
   * BufferWaiter: queues the receive's SQE. The pool calls it when a waiting receive's turn comes
   * (buffers are back after `-ENOBUFS`, or a held receive can be served); start() and resume() arm
   * through arm(). Not for programs to call.
   */
  abstract rearm(): void;

  /** @ignore Arms the receive on its own account (start, resume): by default at once. */
  protected arm(): void {
    this.rearm();
  }

  /**
   * Queues the first receive (submitted with the reactor's next submit); returns the receiver.
   *
   * @throws {TypeError} if it was started before.
   */
  start(): this {
    if (this.state !== State.Idle) throw new TypeError("receiver already started");
    this.arm();
    return this;
  }

  /** The kernel holds no receive of ours any more (never started, ended, or stop() completed). */
  get finished(): boolean {
    return this.state === State.Done || this.state === State.Idle;
  }

  /** Receiving (or waiting for buffers, or paused): not yet ended or stopped. */
  get active(): boolean {
    return this.state !== State.Idle && this.state !== State.Stopping && this.state !== State.Done;
  }

  /**
   * Cancels the receive; no more data() or end() calls. Data already in flight is released unread.
   * `stopped` runs once the kernel no longer holds the receive (at once if it holds none); each
   * call's callback runs, in the order given.
   */
  stop(stopped?: () => void): void {
    if (this.state === State.Done) {
      stopped?.();
      return;
    }
    if (stopped) {
      const earlier = this.#stopped;
      this.#stopped = earlier
        ? () => {
          earlier();
          stopped();
        }
        : stopped;
    }
    if (this.state === State.Stopping) return;
    if ((this.state === State.Armed || this.state === State.Pausing) && !this.reactor.ring.closed) {
      const cancelled = this.state === State.Pausing;
      this.state = State.Stopping;
      if (cancelled) return;
      this.reactor.cancel(this.token);
      return;
    }
    this.finish();
  }

  #stopped: (() => void) | undefined;

  /**
   * @ignore A completion after the pool was closed under a running receive: its buffer is gone, so
   * there is nothing to deliver, and the receive ends (once) with ECANCELED instead of throwing
   * ClosedError out of the loop's turn. Later completions of the operation are dropped (its token is gone).
   */
  protected endForClosedPool(): void {
    if (this.state === State.Done) return;
    const stopping = this.state === State.Stopping;
    this.finish();
    if (!stopping) this.failed(Errno.ECANCELED, "its buffer pool was closed");
  }

  /** @ignore Tells the handler the receive ended with a UringError of `errno`. */
  protected abstract failed(errno: number, detail?: string): void;

  /** @ignore The kernel holds no receive of ours any more: unregister, and run stop()'s callback. */
  protected finish(): void {
    if (this.state === State.Done) return;
    if (this.state === State.Waiting) this.pool.cancelWait(this as unknown as BufferWaiter);
    this.state = State.Done;
    this.reactor.unregister(this.token);
    const stopped = this.#stopped;
    this.#stopped = undefined;
    stopped?.();
  }
}

/** StreamReceiver's operation and its kind, one bit each. */
const enum Mode {
  Read = 1,
  Multishot = 2,
  Bundle = 4,
  // The program paused the receive as its data came (an echo or proxy whose write() returned false):
  // the next receive is single-shot, which ends by itself where a multishot one needs a cancel.
  PausesOnData = 8,
}

/** The largest multishot byte limit set (`sqe->optlen` is unsigned; the kernel counts it as an int). */
const MAX_MULTISHOT_LIMIT = 0x7fffffff;

/**
 * Receives a byte stream with buffer selection: recv on a socket (multishot where the kernel has
 * it: one SQE, a completion per receive) or read on a file or pipe, each completion delivered to
 * `handler.data` as a Lease of the pool, in order, then `handler.end` once. A receive that finds
 * the pool empty waits in it and is re-armed when a buffer comes back: data waits in the socket
 * meanwhile, nothing is lost.
 *
 * @example Read a file through a pool
 * ```ts
 * import { BufferPool } from "uring-buffers";
 * import { Reactor, StreamReceiver } from "uring-buffers/ring";
 * import { closeFd, openFile } from "uring-buffers/sys";
 *
 * using reactor = new Reactor({ entries: 256 });
 * using pool = new BufferPool(reactor, { count: 64, bufferSize: 4096 });
 * const fd = openFile("README.md");
 * let bytes = 0, done = false;
 * new StreamReceiver(pool, fd, {
 *   data(lease) {
 *     bytes += lease.length;
 *     lease.release();
 *   },
 *   end(error) {
 *     done = true;
 *     if (error) throw error;
 *   },
 * }, { op: "read" }).start();
 * reactor.runUntil(() => done, 5000); // blocks; a Driver runs a reactor without blocking
 * closeFd(fd);
 * console.log(bytes, "bytes read");
 * ```
 */
export class StreamReceiver extends ReceiverBase implements BufferWaiter {
  /** The file descriptor received from (not owned: closing it is the caller's business). */
  readonly fd: number;
  #mode: number; // Mode bits: a field each would cost 16 bytes per connection
  #cappedStamp = -1; // the armed receive is capped: the pool's stamp for it (armCapped), else -1
  #burst = 0; // the armed multishot receive is limited: the buffers reserved for it (reserveBurst), else 0
  #offset: number;
  readonly #handler: StreamHandler;
  readonly #holder: number;
  #bundleLeases: Lease[] | undefined; // made on the first bundle completion

  /**
   * Registers the receiver; nothing is submitted until start().
   *
   * @param pool The pool buffers come from (and whose reactor runs the receive).
   * @param fd A socket (op `"recv"`) or a file or pipe (op `"read"`).
   * @param handler Gets each lease, then the end.
   * @param options Operation, multishot, bundles, read offset, holder; see {@link StreamReceiverOptions}.
   * @throws {RangeError} for a bad fd or offset, or a holder id the pool did not give.
   * @throws {TypeError} for a handler without `data` and `end` methods, an unknown op, or bundles on a
   *   read, a legacy or an incremental pool.
   * @throws {UnsupportedError} for multishot or bundles on a kernel without them.
   * @throws {ClosedError} if the pool is closed.
   */
  constructor(pool: BufferPool, fd: number, handler: StreamHandler, options: StreamReceiverOptions = {}) {
    checkPool(pool);
    checkFd(fd);
    checkHandler("StreamReceiver", handler, STREAM_HANDLER_METHODS);
    checkOptionKeys("StreamReceiver", options, RECEIVER_OPTION_KEYS);
    checkBoolean("multishot", options.multishot);
    checkBoolean("bundle", options.bundle);
    const op = options.op ?? "recv";
    if (op !== "recv" && op !== "read") throw new TypeError(`op must be "recv" or "read", got ${JSON.stringify(op)}`);
    // Asked for, a mode the op cannot have is refused, as bundles are (not dropped in silence).
    if (options.multishot && op !== "recv") throw new TypeError('multishot needs op "recv" (a read is single-shot)');
    const features = probeFeatures();
    const multishot = op === "recv" && (options.multishot ?? features.multishotRecv);
    if (multishot && !features.multishotRecv) throw new UnsupportedError("IORING_RECV_MULTISHOT", "6.0");
    const bundle = options.bundle ?? false;
    if (bundle && !features.bundles) throw new UnsupportedError("IORING_RECVSEND_BUNDLE", "6.10");
    if (bundle && (op !== "recv" || pool.backend === "legacy" || pool.incremental)) {
      throw new TypeError('bundles need op "recv" and a non-incremental ring pool');
    }
    const offset = options.offset ?? -1;
    // Beyond 2^53 - 1 the offset cannot be counted on exactly (nor held by the SQE's u64 past 2^64).
    if (!Number.isSafeInteger(offset) || offset < -1) {
      throw numberError(
        offset,
        `offset must be -1 or a byte offset up to ${Number.MAX_SAFE_INTEGER}, got ${describe(offset)}`,
      );
    }
    const holder = options.holder ?? 0;
    pool.held(holder); // a RangeError now for an id the pool never gave, not at the first completion
    super(pool);
    this.fd = fd;
    this.#mode = (op === "read" ? Mode.Read : 0) | (multishot ? Mode.Multishot : 0) | (bundle ? Mode.Bundle : 0);
    this.#offset = offset;
    this.#handler = handler;
    this.#holder = holder;
  }

  /** `"recv"` (sockets) or `"read"` (files, pipes). */
  get op(): "recv" | "read" {
    return this.#mode & Mode.Read ? "read" : "recv";
  }

  /** Receives are multishot (one SQE, many completions). */
  get multishot(): boolean {
    return (this.#mode & Mode.Multishot) !== 0;
  }

  /** Receives are bundles (one completion may fill several buffers). */
  get bundle(): boolean {
    return (this.#mode & Mode.Bundle) !== 0;
  }

  /**
   * BufferWaiter: queues the receive's SQE (recv, multishot unless the pool is scarce, or read) with
   * buffer selection from the pool. Not for programs to call: use start() and resume().
   */
  override rearm(): void {
    if (this.state === State.Done || this.state === State.Stopping) return;
    const sqes = this.reactor.ring.sqes;
    const slot = this.reactor.prepare(this.token);
    if (this.op === "read") prepRead(sqes, slot, this.fd, 0, 0, this.#offset);
    // A pool short of buffers hands them out one per receive (BufferPool.scarce), capped where it
    // must share big incremental buffers out (BufferPool.receiveCap).
    else {
      const cap = this.pool.receiveCap;
      if (this.multishot && !(this.#mode & Mode.PausesOnData) && cap === 0 && !this.pool.scarce) {
        prepRecvMultishot(sqes, slot, this.fd, 0, 0, 0);
        // A burst already in the socket ends at the holder's fair share, not at the ring's last buffer.
        const burst = this.#burst = this.pool.reserveBurst(this.#holder);
        if (burst > 0) setMultishotLimit(sqes, slot, Math.min(burst * this.pool.bufferSize, MAX_MULTISHOT_LIMIT));
      } else {
        prepRecv(sqes, slot, this.fd, 0, cap, 0);
      }
      if (cap > 0) this.#cappedStamp = this.pool.armCapped();
    }
    setBufferSelect(sqes, slot, this.pool.groupId);
    if (this.bundle) setBundle(sqes, slot);
    this.state = State.Armed;
  }

  /**
   * Stops asking for data (backpressure) without ending: the receive is cancelled, data already
   * received is still delivered, and resume() re-arms it. The kernel keeps unread data in the socket.
   */
  pause(): void {
    if (this.state === State.Pausing) {
      this.#resumeWanted = false; // pause, resume, pause while the cancel lands: stay paused
    } else if (this.state === State.Waiting) {
      this.pool.cancelWait(this);
      this.state = State.Paused;
    } else if (this.state === State.Armed) {
      this.state = State.Pausing;
      this.reactor.cancel(this.token);
    } else if (this.state === State.Completing) {
      this.state = State.CompletingPaused;
    }
  }

  /** Re-arms a paused receive (after the cancel of a pause() has landed, if it is still in flight). */
  resume(): void {
    if (this.state === State.Paused) this.arm();
    else if (this.state === State.Pausing) this.#resumeWanted = true;
    else if (this.state === State.CompletingPaused) this.state = State.Completing;
  }

  /**
   * pause() is in effect (its cancel may still be in flight), and no resume() since: a receive
   * resumed while the cancel lands is not paused, so that a pause() after it is not skipped.
   */
  get paused(): boolean {
    return this.state === State.Paused || this.state === State.CompletingPaused ||
      (this.state === State.Pausing && !this.#resumeWanted);
  }

  #resumeWanted = false;

  /**
   * CompletionTarget: each completion of the receive. Data becomes a lease for `handler.data`;
   * `-ENOBUFS` parks the receive in the pool; EOF or an error ends it (`handler.end`); a finished
   * single-shot or multishot receive is re-armed. Not for programs to call.
   */
  override complete(res: number, flags: number): void {
    if (this.pool.closed) {
      this.endForClosedPool();
      return;
    }
    if (flags & abi.IORING_CQE_F_BUFFER) {
      if (!(flags & abi.IORING_CQE_F_MORE) && res > 0 && this.state === State.Armed) this.state = State.Completing;
      // A handler that throws must not leave a finished receive unarmed: the stream would stall.
      try {
        this.#deliver(res, flags);
      } finally {
        this.#completed(res, flags);
      }
    } else {
      this.#completed(res, flags);
    }
  }

  /** After its data (if any) was delivered: the receive goes on, parks, ends or is re-armed. */
  #completed(res: number, flags: number): void {
    if (flags & abi.IORING_CQE_F_MORE) {
      if (this.state === State.Pausing && res > 0) this.#mode |= Mode.PausesOnData;
      return;
    }
    // The operation is over. A pool the data handler closed ends it as a completion after the close
    // does (re-armed, a read would be handed to a closed pool, which throws out of the turn).
    if (this.pool.closed) return this.endForClosedPool();
    if (this.#cappedStamp >= 0) {
      const stamp = this.#cappedStamp;
      this.#cappedStamp = -1;
      this.pool.cappedDone(stamp);
    }
    if (this.#burst > 0) {
      this.pool.endBurst(this.#burst);
      this.#burst = 0;
    }
    if (!(flags & abi.IORING_CQE_F_BUFFER) && res !== -Errno.ENOBUFS) this.pool.receiveEnded();
    if (this.state === State.Stopping || this.state === State.Done) {
      this.finish();
      return;
    }
    if (this.state === State.CompletingPaused) {
      this.state = State.Paused; // paused as its data came: nothing to cancel, resume() re-arms it
      return;
    }
    if (this.state === State.Completing) {
      this.state = State.Armed; // as it was: the paths below re-arm it
      this.#mode &= ~Mode.PausesOnData; // the program took this receive's data without pausing
    }
    if (this.state === State.Pausing && (res > 0 || res === -Errno.ENOBUFS || res === -Errno.ECANCELED)) {
      this.state = State.Paused;
      if (this.#resumeWanted) {
        this.#resumeWanted = false;
        this.arm();
      }
      return;
    }
    if (res === -Errno.ENOBUFS) {
      this.state = State.Waiting;
      this.pool.waitForBuffers(this);
    } else if (res === 0) {
      this.finish();
      this.#handler.end();
    } else if (res < 0) {
      this.finish();
      this.failed(-res);
    } else if (this.#mode & Mode.Read) {
      // A file read re-armed at once went before the reads that wait for buffers (their -ENOBUFS comes
      // later in the same batch), which then starved: the pool arms it at its flush, behind them.
      this.state = State.Waiting;
      this.pool.deferRead(this);
    } else {
      this.arm(); // a single-shot receive completed, or the kernel ended a multishot one
    }
  }

  /** @ignore The receive ended with a UringError of `errno` (recv or read). */
  protected failed(errno: number, detail?: string): void {
    const op = this.#mode & Mode.Read ? "read" : "recv";
    this.#handler.end(new UringError(op, errno, detail ? `fd ${this.fd}: ${detail}` : `fd ${this.fd}`));
  }

  /**
   * @ignore Arms the receive now, or, while the pool caps receives and cannot serve one more (or
   * others wait before it), queues it in the pool's FIFO to be re-armed in turn: a receive armed
   * then would only fail with -ENOBUFS, and would take its turn from those already waiting.
   */
  protected override arm(): void {
    if (this.#mode & Mode.Read || this.pool.closed || this.pool.admitsReceive()) {
      this.rearm();
      return;
    }
    this.state = State.Waiting;
    this.pool.holdReceive(this);
  }

  #deliver(res: number, flags: number): void {
    const pool = this.pool;
    if (res <= 0 || this.state === State.Stopping || this.state === State.Done) {
      // A buffer with nothing for the user (EOF, or data after stop()): straight back to the pool.
      if (res === 0) pool.recycle(flags);
      else if (res > 0) pool.take(res, flags).release();
      return;
    }
    if (this.#offset >= 0) this.#offset += res;
    if (!this.bundle) {
      this.#handler.data(pool.take(res, flags, this.#holder));
      return;
    }
    const leases = this.#bundleLeases ??= [];
    pool.takeBundle(res, flags, leases, this.#holder);
    for (let i = 0; i < leases.length; i++) this.#handler.data(leases[i]);
    leases.length = 0;
  }
}

/** One UDP datagram: its payload (a view into the lease's buffer) and where it came from. */
export interface Datagram {
  /**
   * The receive buffer, headers included. Release it when done with `payload` (or send the datagram
   * with `UdpSocket.send`, which releases it once sent).
   */
  lease: Lease;
  /** The datagram's bytes: a view into `lease.bytes` (no copy), valid until the lease is released. */
  payload: Uint8Array<ArrayBuffer>;
  /** The sender's address, or null when the kernel gave none. */
  from: SocketAddress | null;
  /**
   * The datagram was larger than the buffer's room for it (MSG_TRUNC): `payload` holds its first
   * `bufferSize - DATAGRAM_HEADROOM` bytes, the rest was dropped by the kernel.
   */
  truncated: boolean;
}

/** What a DatagramReceiver calls. */
export interface DatagramHandler {
  /** One datagram; release `datagram.lease` when done with it. */
  message(datagram: Datagram): void;
  /** Called once if the receive fails for a reason other than a lack of buffers. */
  end(error?: UringError): void;
}

const NAME_LEN = abi.SOCKADDR_IN6_SIZE; // room for IPv4 and IPv6 sources

/** The payload of a received datagram's buffer `b` (io_uring_recvmsg_out, name, payload), no copy. */
function payloadIn(b: Uint8Array<ArrayBuffer>, dv: DataView): Uint8Array<ArrayBuffer> {
  const start = abi.RECVMSG_OUT_SIZE + NAME_LEN + dv.getUint32(abi.RECVMSG_OUT_CONTROLLEN, true);
  const inBuffer = Math.max(0, Math.min(dv.getUint32(abi.RECVMSG_OUT_PAYLOADLEN, true), b.length - start));
  return b.subarray(start, start + inBuffer);
}

/** The payload of a lease a DatagramReceiver delivered (its bytes start with the recvmsg header), no copy. */
export function datagramPayload(lease: Lease): Uint8Array<ArrayBuffer> {
  const b = lease[kBytes]; // also for a lease a send took over (UdpSocket.send reads its payload then)
  return payloadIn(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Bytes of each receive buffer before a datagram's payload: the io_uring_recvmsg_out header, then
 * room for the source address. A buffer of `n` bytes holds datagrams of up to `n - DATAGRAM_HEADROOM`
 * bytes whole.
 */
export const DATAGRAM_HEADROOM: number = abi.RECVMSG_OUT_SIZE + NAME_LEN;

/**
 * Multishot recvmsg on a UDP socket with buffer selection: each completion is one datagram, parsed
 * from the `io_uring_recvmsg_out` layout into a {@link Datagram} with its source address. The pool's
 * buffers must hold DATAGRAM_HEADROOM bytes before the payload (size them with `datagramBufferSize`).
 */
export class DatagramReceiver extends ReceiverBase implements BufferWaiter {
  /** The UDP socket received from (not owned). */
  readonly fd: number;
  readonly #handler: DatagramHandler;
  readonly #msghdr: NativeMemory;

  /**
   * Registers the receiver; nothing is submitted until start().
   *
   * @throws {RangeError} for a bad fd, or a pool whose buffers leave no room after DATAGRAM_HEADROOM.
   * @throws {TypeError} for a handler without `message` and `end` methods, or an incremental pool.
   * @throws {UnsupportedError} on a kernel without multishot recvmsg (before 6.0).
   * @throws {ClosedError} if the pool is closed.
   */
  constructor(pool: BufferPool, fd: number, handler: DatagramHandler) {
    checkPool(pool);
    checkFd(fd);
    checkHandler("DatagramReceiver", handler, DATAGRAM_HANDLER_METHODS);
    if (!probeFeatures().multishotRecv) throw new UnsupportedError("IORING_RECV_MULTISHOT (recvmsg)", "6.0");
    if (pool.incremental) {
      throw new TypeError("recvmsg with an incremental pool is not supported (see liburing issue 1433)");
    }
    if (pool.bufferSize <= DATAGRAM_HEADROOM) {
      throw new RangeError(
        `the pool's bufferSize (${pool.bufferSize}) leaves no room for a datagram: each recvmsg buffer starts ` +
          `with a ${abi.RECVMSG_OUT_SIZE}-byte io_uring_recvmsg_out header and ${NAME_LEN} bytes for the source ` +
          `address, so bufferSize must be ${DATAGRAM_HEADROOM} + the largest datagram to receive whole`,
      );
    }
    super(pool);
    pool[kDatagrams] = true;
    this.fd = fd;
    this.#handler = handler;
    // The kernel reads only msg_namelen and msg_controllen from this msghdr in multishot mode.
    this.#msghdr = new NativeMemory(abi.MSGHDR_SIZE);
    this.#msghdr.view.setUint32(abi.MSGHDR_NAMELEN, NAME_LEN, true);
  }

  /** BufferWaiter: queues the multishot recvmsg SQE. Not for programs to call: use start(). */
  override rearm(): void {
    if (this.state === State.Done || this.state === State.Stopping) return;
    const sqes = this.reactor.ring.sqes;
    const slot = this.reactor.prepare(this.token);
    prepRecvmsgMultishot(sqes, slot, this.fd, this.#msghdr.address, 0);
    setBufferSelect(sqes, slot, this.pool.groupId);
    this.state = State.Armed;
  }

  /**
   * CompletionTarget: each completion of the receive: a datagram for `handler.message`, `-ENOBUFS`
   * (parks the receive in the pool), or an error (`handler.end`). Not for programs to call.
   */
  override complete(res: number, flags: number): void {
    if (this.pool.closed) {
      this.endForClosedPool();
      return;
    }
    if (flags & abi.IORING_CQE_F_BUFFER) {
      const lease = this.pool.take(res, flags);
      if (this.state === State.Stopping || this.state === State.Done) lease.release();
      else this.#handler.message(this.#parse(lease));
    }
    if (flags & abi.IORING_CQE_F_MORE) return;
    if (this.state === State.Stopping || this.state === State.Done) {
      this.finish();
    } else if (res === -Errno.ENOBUFS) {
      this.state = State.Waiting;
      this.pool.waitForBuffers(this);
    } else if (res < 0) {
      this.finish();
      this.failed(-res);
    } else {
      this.rearm();
    }
  }

  /** @ignore The receive ended with a UringError of `errno` (recvmsg). */
  protected failed(errno: number, detail?: string): void {
    this.#handler.end(new UringError("recvmsg", errno, detail ? `fd ${this.fd}: ${detail}` : `fd ${this.fd}`));
  }

  /** Splits a buffer laid out as io_uring_recvmsg_out, name (NAME_LEN bytes), payload. */
  #parse(lease: Lease): Datagram {
    const b = lease[kBytes];
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const namelen = dv.getUint32(abi.RECVMSG_OUT_NAMELEN, true);
    const payloadlen = dv.getUint32(abi.RECVMSG_OUT_PAYLOADLEN, true);
    const msgFlags = dv.getUint32(abi.RECVMSG_OUT_FLAGS, true);
    const payload = payloadIn(b, dv);
    return {
      lease,
      payload,
      from: namelen > 0 ? decodeSockaddr(dv, abi.RECVMSG_OUT_SIZE) : null,
      truncated: (msgFlags & abi.MSG_TRUNC) !== 0 || payload.length < payloadlen,
    };
  }

  /** @ignore Also frees the msghdr. */
  protected override finish(): void {
    super.finish();
    this.#msghdr.free();
  }
}
