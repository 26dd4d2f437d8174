/**
 * Receives with buffer selection: the kernel picks a buffer from a BufferPool when data arrives, and
 * the bytes reach user code as Leases. `StreamReceiver` drives recv (sockets, multishot where the
 * kernel has it, optionally bundles) or read (files, pipes); `DatagramReceiver` drives multishot
 * recvmsg for UDP. A -ENOBUFS completion is not an end: the receive waits in the pool's FIFO and is
 * re-armed when a buffer comes back.
 */
import * as abi from "./abi.ts";
import type { Lease } from "./buffers/lease.ts";
import type { BufferPool, BufferWaiter } from "./buffers/pool.ts";
import { ClosedError, Errno, UringError } from "./errors.ts";
import { NativeMemory } from "./memory.ts";
import { decodeSockaddr, type SocketAddress } from "./sockaddr.ts";
import { prepRead, prepRecv, prepRecvmsgMultishot, prepRecvMultishot, setBufferSelect, setBundle } from "./prep.ts";
import { probeFeatures } from "./probe.ts";
import type { CompletionTarget, Reactor } from "./reactor.ts";

export interface StreamHandler {
  /** The next received bytes, in order. Release the lease when done with them. */
  data(lease: Lease): void;
  /** Called once when the stream ends: no argument for EOF, a UringError for a failure. */
  end(error?: UringError): void;
}

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

const enum State {
  Idle,
  Armed,
  Waiting, // parked in the pool for buffers
  Pausing, // cancel submitted by pause(); data still delivered until it lands
  Paused,
  Stopping,
  Done,
}

abstract class ReceiverBase implements CompletionTarget {
  readonly pool: BufferPool;
  readonly reactor: Reactor;
  protected readonly token: number;
  protected state = State.Idle;

  constructor(pool: BufferPool) {
    if (pool.closed) throw new ClosedError("BufferPool");
    this.pool = pool;
    this.reactor = pool.reactor;
    // The receiver is its own completion target: no closure per receiver (it matters at 10k sockets).
    this.token = this.reactor.register(this);
  }

  abstract complete(res: number, flags: number): void;

  /** Queues a receive SQE; the pool calls it when buffers are back after -ENOBUFS. */
  abstract rearm(): void;

  /** Submits the first receive (with the reactor's next submit). */
  start(): this {
    if (this.state !== State.Idle) throw new TypeError("receiver already started");
    this.rearm();
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
   * `stopped` runs once the kernel no longer holds the receive (at once if it holds none).
   */
  stop(stopped?: () => void): void {
    if (this.state === State.Done) {
      stopped?.();
      return;
    }
    if (stopped) this.#stopped = stopped;
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

export class StreamReceiver extends ReceiverBase implements BufferWaiter {
  readonly fd: number;
  readonly op: "recv" | "read";
  readonly multishot: boolean;
  readonly bundle: boolean;
  #offset: number;
  readonly #handler: StreamHandler;
  readonly #holder: number;
  #bundleLeases: Lease[] | undefined; // made on the first bundle completion

  constructor(pool: BufferPool, fd: number, handler: StreamHandler, options: StreamReceiverOptions = {}) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`fd must be a non-negative integer, got ${fd}`);
    const op = options.op ?? "recv";
    if (op !== "recv" && op !== "read") throw new TypeError(`op must be "recv" or "read", got ${JSON.stringify(op)}`);
    const features = probeFeatures();
    const multishot = op === "recv" && (options.multishot ?? features.multishotRecv);
    if (multishot && !features.multishotRecv) throw new TypeError("this kernel has no multishot recv (6.0+)");
    const bundle = options.bundle ?? false;
    if (bundle && (op !== "recv" || pool.backend === "legacy" || pool.incremental || !features.bundles)) {
      throw new TypeError('bundles need op "recv", a non-incremental ring pool and a 6.10+ kernel');
    }
    const offset = options.offset ?? -1;
    if (!Number.isInteger(offset) || offset < -1) {
      throw new RangeError(`offset must be -1 or a byte offset, got ${offset}`);
    }
    super(pool);
    this.fd = fd;
    this.op = op;
    this.multishot = multishot;
    this.bundle = bundle;
    this.#offset = offset;
    this.#handler = handler;
    this.#holder = options.holder ?? 0;
  }

  override rearm(): void {
    if (this.state === State.Done || this.state === State.Stopping) return;
    const sqes = this.reactor.ring.sqes;
    const slot = this.reactor.prepare(this.token);
    if (this.op === "read") prepRead(sqes, slot, this.fd, 0, 0, this.#offset);
    // A pool short of buffers hands them out one per receive (see BufferPool.scarce).
    else if (this.multishot && !this.pool.scarce) prepRecvMultishot(sqes, slot, this.fd, 0, 0, 0);
    else prepRecv(sqes, slot, this.fd, 0, 0, 0);
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
    }
  }

  resume(): void {
    if (this.state === State.Paused) this.rearm();
    else if (this.state === State.Pausing) this.#resumeWanted = true;
  }

  get paused(): boolean {
    return this.state === State.Paused || this.state === State.Pausing;
  }

  #resumeWanted = false;

  override complete(res: number, flags: number): void {
    if (flags & abi.IORING_CQE_F_BUFFER) this.#deliver(res, flags);
    if (flags & abi.IORING_CQE_F_MORE) return;
    // The operation is over.
    if (this.state === State.Stopping || this.state === State.Done) {
      this.finish();
      return;
    }
    if (this.state === State.Pausing && (res > 0 || res === -Errno.ENOBUFS || res === -Errno.ECANCELED)) {
      this.state = State.Paused;
      if (this.#resumeWanted) {
        this.#resumeWanted = false;
        this.rearm();
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
      this.#handler.end(new UringError(this.op === "read" ? "read" : "recv", -res, `fd ${this.fd}`));
    } else {
      this.rearm(); // a single-shot receive completed, or the kernel ended a multishot one
    }
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
  lease: Lease;
  payload: Uint8Array;
  from: SocketAddress | null;
  /**
   * The datagram was larger than the buffer's room for it (MSG_TRUNC): `payload` holds its first
   * `bufferSize - DATAGRAM_HEADROOM` bytes, the rest was dropped by the kernel.
   */
  truncated: boolean;
}

export interface DatagramHandler {
  message(datagram: Datagram): void;
  /** Called once if the receive fails for a reason other than a lack of buffers. */
  end(error?: UringError): void;
}

const NAME_LEN = abi.SOCKADDR_IN6_SIZE; // room for IPv4 and IPv6 sources

/**
 * Bytes of each receive buffer before a datagram's payload: the io_uring_recvmsg_out header, then
 * room for the source address. A buffer of `n` bytes holds datagrams of up to `n - DATAGRAM_HEADROOM`
 * bytes whole.
 */
export const DATAGRAM_HEADROOM = abi.RECVMSG_OUT_SIZE + NAME_LEN;

/** Multishot recvmsg on a UDP socket: each completion is one datagram with its source address. */
export class DatagramReceiver extends ReceiverBase implements BufferWaiter {
  readonly fd: number;
  readonly #handler: DatagramHandler;
  readonly #msghdr: NativeMemory;

  constructor(pool: BufferPool, fd: number, handler: DatagramHandler) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`fd must be a non-negative integer, got ${fd}`);
    if (!probeFeatures().multishotRecv) throw new TypeError("this kernel has no multishot recvmsg (6.0+)");
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
    this.fd = fd;
    this.#handler = handler;
    // The kernel reads only msg_namelen and msg_controllen from this msghdr in multishot mode.
    this.#msghdr = new NativeMemory(abi.MSGHDR_SIZE);
    this.#msghdr.view.setUint32(abi.MSGHDR_NAMELEN, NAME_LEN, true);
  }

  override rearm(): void {
    if (this.state === State.Done || this.state === State.Stopping) return;
    const sqes = this.reactor.ring.sqes;
    const slot = this.reactor.prepare(this.token);
    prepRecvmsgMultishot(sqes, slot, this.fd, this.#msghdr.address, 0);
    setBufferSelect(sqes, slot, this.pool.groupId);
    this.state = State.Armed;
  }

  override complete(res: number, flags: number): void {
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
      this.#handler.end(new UringError("recvmsg", -res, `fd ${this.fd}`));
    } else {
      this.rearm();
    }
  }

  /** Splits a buffer laid out as io_uring_recvmsg_out, name (NAME_LEN bytes), payload. */
  #parse(lease: Lease): Datagram {
    const b = lease.bytes;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const namelen = dv.getUint32(abi.RECVMSG_OUT_NAMELEN, true);
    const controllen = dv.getUint32(abi.RECVMSG_OUT_CONTROLLEN, true);
    const payloadlen = dv.getUint32(abi.RECVMSG_OUT_PAYLOADLEN, true);
    const msgFlags = dv.getUint32(abi.RECVMSG_OUT_FLAGS, true);
    const start = abi.RECVMSG_OUT_SIZE + NAME_LEN + controllen;
    const inBuffer = Math.max(0, Math.min(payloadlen, b.length - start));
    return {
      lease,
      payload: b.subarray(start, start + inBuffer),
      from: namelen > 0 ? decodeSockaddr(dv, abi.RECVMSG_OUT_SIZE) : null,
      truncated: (msgFlags & abi.MSG_TRUNC) !== 0 || inBuffer < payloadlen,
    };
  }

  protected override finish(): void {
    super.finish();
    this.#msghdr.free();
  }
}
