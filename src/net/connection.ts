/**
 * `Connection`: one TCP socket on an IoLoop. Receives arrive as Leases through a StreamReceiver on a
 * BufferPool. Sends keep order with one send in flight per connection (everything queued goes out in
 * one SENDMSG with an iovec per piece, so a turn costs one SQE per connection); partial sends are resumed;
 * a Lease can be written back without a copy (echo, proxy) and is released once sent. Backpressure:
 * write() returns false above `highWaterMark` and drain() fires once the queue empties; writes beyond
 * `maxBuffered` throw. close() cancels in-flight operations and returns their buffers.
 */
import * as abi from "../abi.ts";
import type { Lease } from "../buffers/lease.ts";
import type { BufferPool } from "../buffers/pool.ts";
import { ClosedError, Errno, UringError } from "../errors.ts";
import { prepSend, prepSendmsg, prepSendmsgZc, prepSendZc, prepShutdown } from "../prep.ts";
import { type StreamHandler, StreamReceiver } from "../receiver.ts";
import type { IoLoop } from "./loop.ts";
import { IOV_PER_BLOCK, SEND_CHUNK_SIZE } from "./send_arena.ts";
import { closeFd, setLingerZero } from "./socket.ts";

export interface ConnectionHandlers {
  /** The connection is ready (server side: just accepted). */
  open?(conn: Connection): void;
  /**
   * Received bytes. Release the lease (or write it, which takes it over) when done. Without this
   * handler the connection is read with `for await (const lease of conn)` instead.
   */
  data?(conn: Connection, lease: Lease): void;
  /** The send queue emptied after write() returned false. */
  drain?(conn: Connection): void;
  /** The peer finished sending (EOF). Default: end() the connection once writes are flushed. */
  end?(conn: Connection): void;
  /** A failure on this connection (errno in the UringError); close() follows. */
  error?(conn: Connection, error: UringError): void;
  /** The connection is closed and its fd released. Called once. */
  close?(conn: Connection): void;
}

export interface ConnectionOptions {
  /** write() returns false once this many bytes are queued. Default 64 KiB. */
  highWaterMark?: number;
  /** write() throws RangeError beyond this many queued bytes. Default 16 MiB. */
  maxBuffered?: number;
  /**
   * Sends of at least this many queued bytes use IORING_OP_SEND_ZC / SENDMSG_ZC: the kernel sends
   * from our memory instead of copying it, and the pieces are released only after the kernel's
   * notification. 0 (default) turns it off. Worth it for large writes to real NICs; on loopback the
   * kernel copies anyway.
   */
  zeroCopyMin?: number;
}

/** Validates ConnectionOptions and fills in the defaults. */
export function checkConnectionOptions(options: ConnectionOptions): Required<ConnectionOptions> {
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  const maxBuffered = options.maxBuffered ?? 16 * 1024 * 1024;
  const zeroCopyMin = options.zeroCopyMin ?? 0;
  if (!Number.isInteger(zeroCopyMin) || zeroCopyMin < 0) {
    throw new RangeError(`zeroCopyMin must be an integer >= 0, got ${zeroCopyMin}`);
  }
  if (!Number.isInteger(highWaterMark) || highWaterMark < 0) {
    throw new RangeError(`highWaterMark must be an integer >= 0, got ${highWaterMark}`);
  }
  if (!Number.isInteger(maxBuffered) || maxBuffered < highWaterMark) {
    throw new RangeError(`maxBuffered must be an integer >= highWaterMark (${highWaterMark}), got ${maxBuffered}`);
  }
  return { highWaterMark, maxBuffered, zeroCopyMin };
}

/** Told when a connection has closed (a Server keeps count of its connections). */
export interface ConnectionOwner {
  connectionClosed(conn: Connection): void;
}

/** Relays a connection's receives to its data handler, or to its async iterator when it has none. */
class ReceiveSink implements StreamHandler {
  readonly #conn: Connection;
  readonly #handlers: ConnectionHandlers;
  constructor(conn: Connection, handlers: ConnectionHandlers) {
    this.#conn = conn;
    this.#handlers = handlers;
  }
  data(lease: Lease): void {
    if (this.#handlers.data) this.#handlers.data(this.#conn, lease);
    else this.#conn.enqueue(lease);
  }
  end(error?: UringError): void {
    this.#conn.receiveEnded(error);
  }
}

/** Leases queued for `for await` before reading pauses (it resumes below half of this). */
const INBOX_LIMIT = 32;

const enum Phase {
  Open,
  Ending, // end(): close once the queue is flushed
  Closing, // waiting for in-flight operations before closing the fd
  Closed,
}

// A queued send: either a lease (sent from the pool's memory) or an arena chunk holding copied bytes.
interface SendItem {
  address: number;
  length: number;
  lease: Lease | undefined;
  chunk: number; // -1 for a lease
}

export class Connection {
  readonly fd: number;
  readonly loop: IoLoop;
  readonly pool: BufferPool;
  readonly highWaterMark: number;
  readonly maxBuffered: number;
  /** Free for the application (e.g. per-connection state). */
  data: unknown;
  readonly #handlers: ConnectionHandlers;
  readonly #receiver: StreamReceiver;
  readonly #sendToken: number;
  readonly #queue: SendItem[] = [];
  #queueHead = 0;
  #sending = false;
  #iovBlock = -1; // the msghdr+iovec block of the SENDMSG in flight, if any
  readonly #zeroCopyMin: number;
  #zcNotifications = 0; // SEND_ZC notifications still due: the kernel may still read our memory
  #zcHeld: SendItem[] | undefined; // pieces sent while notifications were due, released after them
  #zeroCopySends = 0;
  #cancelSent = false;
  #buffered = 0;
  #needDrain = false;
  #phase = Phase.Open;
  #shutdownAfterFlush = false;
  #shutdownInFlight = false;
  readonly #owner: ConnectionOwner | undefined;
  // Iteration mode (no data handler): received leases wait here for `for await`.
  #inbox: Lease[] | undefined; // made on the first lease: most connections have a data handler
  #reader: ((r: IteratorResult<Lease>) => void) | undefined;
  #readerFail: ((e: unknown) => void) | undefined;
  #readEnded = false;
  #readError: UringError | undefined;
  #flushWaiters: (() => void)[] | undefined;

  constructor(
    loop: IoLoop,
    pool: BufferPool,
    fd: number,
    handlers: ConnectionHandlers,
    options: ConnectionOptions = {},
    owner?: ConnectionOwner,
  ) {
    const { highWaterMark, maxBuffered, zeroCopyMin } = checkConnectionOptions(options);
    this.#zeroCopyMin = zeroCopyMin;
    this.fd = fd;
    this.loop = loop;
    this.pool = pool;
    this.highWaterMark = highWaterMark;
    this.maxBuffered = maxBuffered;
    this.#handlers = handlers;
    this.#owner = owner;
    // The connection is the completion target of its sends, and one small sink object relays its
    // receives: no closures per connection (they add up at 10,000 idle sockets).
    this.#sendToken = loop.reactor.register(this);
    this.#receiver = new StreamReceiver(pool, fd, new ReceiveSink(this, handlers));
    loop.driver.ref();
  }

  /** @internal Starts receiving and calls open(). */
  start(): void {
    this.#receiver.start();
    this.#handlers.open?.(this);
  }

  /** Bytes queued and not yet accepted by the kernel. */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  get closed(): boolean {
    return this.#phase === Phase.Closed;
  }

  get paused(): boolean {
    return this.#receiver.paused;
  }

  /**
   * Queues bytes (copied into native memory) or a Lease (sent from its buffer, no copy; released
   * when sent). Returns false when the queue is above highWaterMark: wait for drain().
   */
  write(data: Uint8Array | Lease): boolean {
    if (this.#phase !== Phase.Open) {
      if (!(data instanceof Uint8Array)) data.release();
      throw new ClosedError("Connection");
    }
    const length = data.length;
    if (this.#buffered + length > this.maxBuffered) {
      if (!(data instanceof Uint8Array)) data.release();
      throw new RangeError(`write of ${length} bytes would queue more than maxBuffered (${this.maxBuffered}) bytes`);
    }
    if (length === 0) {
      if (!(data instanceof Uint8Array)) data.release();
      return this.#buffered < this.highWaterMark;
    }
    if (data instanceof Uint8Array) {
      const arena = this.loop.arena;
      for (let at = 0; at < length; at += SEND_CHUNK_SIZE) {
        const n = Math.min(SEND_CHUNK_SIZE, length - at);
        const chunk = arena.take();
        arena.bytes(chunk).set(n === length ? data : data.subarray(at, at + n));
        this.#queue.push({ address: arena.address(chunk), length: n, lease: undefined, chunk });
      }
    } else {
      if (data.released) throw new TypeError("cannot write a released lease");
      this.#queue.push({ address: data.address, length, lease: data, chunk: -1 });
    }
    this.#buffered += length;
    if (!this.#sending) this.#sendNext();
    if (this.#buffered >= this.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** @internal Iteration mode: a received lease for `for await`. */
  enqueue(lease: Lease): void {
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = this.#readerFail = undefined;
      reader({ value: lease, done: false });
      return;
    }
    const inbox = this.#inbox ??= [];
    inbox.push(lease);
    if (inbox.length >= INBOX_LIMIT && !this.paused) this.pause();
  }

  /**
   * Reads the connection as leases, Deno.Conn style (only when it has no `data` handler): ends at
   * EOF or close, throws the connection's error. Release each lease, or write it.
   */
  [Symbol.asyncIterator](): AsyncIterator<Lease> {
    if (this.#handlers.data) throw new TypeError("this connection has a data handler; iterate one without it");
    return {
      next: () => this.#next(),
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  #next(): Promise<IteratorResult<Lease>> {
    const lease = this.#inbox?.shift();
    if (lease) {
      if (this.paused && this.#inbox!.length < INBOX_LIMIT / 2 && this.#phase === Phase.Open) this.resume();
      return Promise.resolve({ value: lease, done: false });
    }
    if (this.#readError) return Promise.reject(this.#readError);
    if (this.#readEnded || this.#phase === Phase.Closed) return Promise.resolve({ value: undefined, done: true });
    if (this.#reader) return Promise.reject(new TypeError("another read of this connection is pending"));
    return new Promise((resolve, reject) => {
      this.#reader = resolve;
      this.#readerFail = reject;
    });
  }

  #endReads(error?: UringError): void {
    this.#readEnded = true;
    this.#readError ??= error;
    const reader = this.#reader, fail = this.#readerFail;
    this.#reader = this.#readerFail = undefined;
    if (error && fail) fail(error);
    else reader?.({ value: undefined, done: true });
  }

  /** Resolves once the send queue is below highWaterMark (at once if it is): `await` it after write() returned false. */
  flushed(): Promise<void> {
    if (this.#buffered < this.highWaterMark || this.#phase === Phase.Closed) return Promise.resolve();
    return new Promise((resolve) => (this.#flushWaiters ??= []).push(resolve));
  }

  /** Stop receiving (backpressure); data already received is still delivered. */
  pause(): void {
    this.#receiver.pause();
  }

  resume(): void {
    this.#receiver.resume();
  }

  /** Half-close: once queued writes are sent, shutdown(SHUT_WR); keep receiving until the peer ends. */
  shutdown(): void {
    if (this.#phase !== Phase.Open) return;
    this.#shutdownAfterFlush = true;
    if (!this.#sending) this.#flushDone();
  }

  /** Close once queued writes are sent. */
  end(): void {
    if (this.#phase !== Phase.Open) return;
    this.#phase = Phase.Ending;
    if (!this.#sending) this.#flushDone();
  }

  /** Close now: cancel in-flight operations, drop queued writes (their leases are released). Idempotent. */
  close(): void {
    if (this.#phase === Phase.Closing || this.#phase === Phase.Closed) return;
    this.#phase = Phase.Closing;
    this.#receiver.stop(() => this.#maybeFinish());
    if (this.#sending && !this.#cancelSent) {
      this.#cancelSent = true;
      this.loop.reactor.cancel(this.#sendToken);
    }
    this.#maybeFinish();
  }

  /** Abort: close with a reset (RST) so the peer sees ECONNRESET; queued writes are dropped. */
  reset(): void {
    if (this.#phase === Phase.Closing || this.#phase === Phase.Closed) return;
    try {
      setLingerZero(this.fd);
    } catch {
      // Already broken: a plain close does.
    }
    this.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #sendNext(): void {
    const ring = this.loop.reactor.ring;
    const slot = this.loop.reactor.prepare(this.#sendToken);
    const queued = this.#queue.length - this.#queueHead;
    if (queued === 1) {
      const item = this.#queue[this.#queueHead];
      if (this.#zeroCopyMin > 0 && item.length >= this.#zeroCopyMin) {
        prepSendZc(ring.sqes, slot, this.fd, item.address, item.length, abi.MSG_NOSIGNAL, 0);
        this.#zeroCopySends++;
      } else {
        prepSend(ring.sqes, slot, this.fd, item.address, item.length, abi.MSG_NOSIGNAL);
      }
    } else {
      const blocks = this.loop.iovBlocks;
      const block = this.#iovBlock = blocks.take();
      const count = Math.min(queued, IOV_PER_BLOCK);
      for (let i = 0; i < count; i++) {
        const item = this.#queue[this.#queueHead + i];
        blocks.setIov(block, i, item.address, item.length);
      }
      blocks.setHeader(block, count);
      if (this.#zeroCopyMin > 0 && this.#buffered >= this.#zeroCopyMin) {
        prepSendmsgZc(ring.sqes, slot, this.fd, blocks.address(block), abi.MSG_NOSIGNAL);
        this.#zeroCopySends++;
      } else {
        prepSendmsg(ring.sqes, slot, this.fd, blocks.address(block), abi.MSG_NOSIGNAL);
      }
    }
    this.#sending = true;
  }

  /** Sends that went out with IORING_OP_SEND_ZC (see ConnectionOptions.zeroCopyMin). */
  get zeroCopySends(): number {
    return this.#zeroCopySends;
  }

  /** @internal Completion of this connection's send (CompletionTarget). */
  complete(res: number, flags: number): void {
    if (flags & abi.IORING_CQE_F_NOTIF) {
      // The kernel is done with the memory of a zero-copy send.
      if (--this.#zcNotifications === 0) {
        if (this.#zcHeld) { for (const item of this.#zcHeld.splice(0)) this.#releaseItem(item); }
        if (this.#phase === Phase.Closing) this.#maybeFinish();
      }
      return;
    }
    if (flags & abi.IORING_CQE_F_MORE) this.#zcNotifications++; // a SEND_ZC result: its notification follows
    this.#sending = false;
    if (this.#iovBlock >= 0) {
      this.loop.iovBlocks.give(this.#iovBlock);
      this.#iovBlock = -1;
    }
    if (this.#phase === Phase.Closing) {
      this.#maybeFinish();
      return;
    }
    if (res < 0) {
      this.#fail(new UringError("send", -res, `fd ${this.fd}`));
      return;
    }
    this.#buffered -= res;
    // Retire every piece the kernel took; a partial send leaves the rest of one piece at the head.
    while (res > 0) {
      const item = this.#queue[this.#queueHead];
      if (res < item.length) {
        item.address += res;
        item.length -= res;
        break;
      }
      res -= item.length;
      if (this.#zcNotifications > 0) (this.#zcHeld ??= []).push(item);
      else this.#releaseItem(item);
      this.#queue[this.#queueHead++] = undefined as unknown as SendItem;
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    }
    if (this.#queueHead < this.#queue.length) {
      this.#sendNext();
      return;
    }
    this.#flushDone();
  }

  /** The queue is empty: drain, then any pending shutdown or end. */
  #flushDone(): void {
    if (this.#flushWaiters) { for (const w of this.#flushWaiters.splice(0)) w(); }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.#handlers.drain?.(this);
      if (this.#sending || this.#phase === Phase.Closing || this.#phase === Phase.Closed) return;
    }
    if (this.#shutdownAfterFlush) {
      this.#shutdownAfterFlush = false;
      // Tracked: the fd must stay open until the kernel has run the SHUTDOWN (it looks the fd up
      // then; closed and reused meanwhile, another socket would be shut down).
      const reactor = this.loop.reactor;
      this.#shutdownInFlight = true;
      const token = reactor.register({
        complete: () => {
          reactor.unregister(token);
          this.#shutdownInFlight = false;
          this.#maybeFinish();
        },
      });
      prepShutdown(reactor.ring.sqes, reactor.prepare(token), this.fd, abi.SHUT_WR);
    }
    if (this.#phase === Phase.Ending) this.close();
  }

  #releaseItem(item: SendItem): void {
    if (item.lease) {
      if (!item.lease.released) item.lease.release();
    } else {
      this.loop.arena.give(item.chunk);
    }
  }

  /** @internal The receive ended (EOF or error). */
  receiveEnded(error?: UringError): void {
    if (!this.#handlers.data) this.#endReads(error);
    if (error) {
      this.#fail(error);
      return;
    }
    if (this.#phase !== Phase.Open) {
      this.#maybeFinish();
      return;
    }
    if (this.#handlers.end) this.#handlers.end(this);
    else this.end();
  }

  #fail(error: UringError): void {
    if (this.#phase === Phase.Closed) return;
    // A reset peer is routine for servers, but it is still this connection's error to report.
    this.#handlers.error?.(this, error);
    this.close();
  }

  #maybeFinish(): void {
    if (
      this.#phase !== Phase.Closing || this.#sending || this.#shutdownInFlight || this.#zcNotifications > 0 ||
      !this.#receiver.finished
    ) return;
    this.#phase = Phase.Closed;
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#releaseItem(this.#queue[i]);
    this.#queue.length = 0;
    this.#queueHead = 0;
    this.#buffered = 0;
    this.loop.reactor.unregister(this.#sendToken);
    try {
      closeFd(this.fd);
    } catch (e) {
      if (!(e instanceof UringError && e.errno === Errno.EBADF)) throw e;
    }
    this.loop.driver.unref();
    if (this.#inbox) { for (const l of this.#inbox.splice(0)) l.release(); }
    this.#endReads();
    if (this.#flushWaiters) { for (const w of this.#flushWaiters.splice(0)) w(); }
    this.#owner?.connectionClosed(this);
    this.#handlers.close?.(this);
  }
}
