/**
 * UDP sockets on an IoLoop: datagrams arrive through multishot recvmsg into a BufferPool (each with
 * its source address), and go out with SENDMSG to a destination, one datagram per SQE, in order.
 */
import { Lease } from "../buffers/lease.ts";
import { BufferPool, type BufferPoolOptions, type PoolStats } from "../buffers/pool.ts";
import { asError, ClosedError, UringError } from "../errors.ts";
import { prepSendmsg } from "../prep.ts";
import { type Datagram, DATAGRAM_HEADROOM, datagramPayload, DatagramReceiver } from "../receiver.ts";
import { kAddress, kArena, kBytes, kDatagrams, kGiveBack, kIovBlocks, kSettled, kTakeOver } from "../internal.ts";
import { checkLoop, getDefaultLoop, type IoLoop, resolvePool } from "./loop.ts";
import { checkEndpoint, encodeSockaddr, formatEndpoint, type SocketAddress } from "../sockaddr.ts";
import { SEND_CHUNK_SIZE, SMALL_CHUNK_SIZE } from "./send_arena.ts";
import { closeFd, localAddress, receiveDrops as receiveDropsOf, setReceiveBuffer, udpBind } from "./socket.ts";
import { closeAtUnload, forgetAtUnload } from "./unload.ts";
import { checkOptionKeys, checkSignal, describe, numberError } from "../options.ts";
import { native } from "../../ffi/mod.ts";
import { IORING_SETUP_DEFER_TASKRUN } from "../abi.ts";

/** What a UDP socket calls. */
export interface UdpHandlers {
  /**
   * One datagram; release `datagram.lease` when done with it (or send it on, which releases it). If
   * it throws (or its promise rejects) before either, the lease is released for it.
   */
  message(socket: UdpSocket, datagram: Datagram): void;
  /**
   * A receive or send failed (a UringError), or the message handler threw (that error); the socket
   * keeps working unless the receive itself ended. Without this handler, a throwing message handler
   * is logged: the first error with its stack, later ones as a count at most once a second. What this
   * handler throws is logged the same way.
   */
  error?(socket: UdpSocket, error: Error): void;
}

/** Options of `bindUdp()`. Unknown keys are refused. */
export interface UdpOptions {
  /** The address to bind: an IPv4 or IPv6 literal, or "localhost". Default "127.0.0.1". */
  hostname?: string;
  /** The port to bind; 0 (default) picks a free one (read it from `socket.port`). */
  port?: number;
  /** The loop to run on. Default: the thread's shared loop (getDefaultLoop()). */
  loop?: IoLoop;
  /**
   * Largest datagram to receive whole, 1..65507 (default 65507, the largest IPv4 UDP payload). Sizes
   * the owned pool's buffers: `datagramBufferSize(maxDatagramSize)` bytes each. Larger datagrams
   * arrive cut to this size with `truncated: true`, counted in `stats().truncated`.
   */
  maxDatagramSize?: number;
  /**
   * Receive pool: existing, or options for one owned by the socket (default: 256 buffers of
   * `datagramBufferSize(maxDatagramSize)` bytes, 32 of them in rotation until a burst needs more).
   * A pool's bufferSize, when given, decides the largest datagram received whole.
   */
  pool?: BufferPool | BufferPoolOptions;
  /**
   * The socket's receive buffer in bytes (SO_RCVBUF, as `setReceiveBuffer()` sets it): what holds a
   * burst while every buffer of the pool is leased, past which the kernel drops datagrams
   * (`stats().receiveDrops`). The kernel caps it at `net.core.rmem_max`, then doubles it for its
   * bookkeeping. Default: the kernel's (`net.core.rmem_default`, 208 KiB on most systems).
   */
  receiveBufferSize?: number;
  /** Aborting closes the socket. */
  signal?: AbortSignal;
  /** `message` (required) gets each datagram; `error` gets failures. */
  handlers: UdpHandlers;
}

const UDP_KEYS = ["hostname", "port", "loop", "maxDatagramSize", "pool", "receiveBufferSize", "signal", "handlers"];

/** `UdpSocket.stats()`: counters since the socket was bound, and its pool's stats. */
export interface UdpStats {
  /** Datagrams handed to `handlers.message`, truncated ones included. */
  datagramsReceived: number;
  /** Payload bytes handed to `handlers.message` (of a truncated datagram, only what fit). */
  bytesReceived: number;
  /** Datagrams larger than `maxDatagramSize`, delivered cut short with `truncated: true`. */
  truncated: number;
  /** Datagrams the kernel took for sending. */
  datagramsSent: number;
  /** Payload bytes the kernel took for sending. */
  bytesSent: number;
  /** Sends that failed; each is reported to `handlers.error` too (those close() still makes included). */
  sendErrors: number;
  /** Calls of the message handler that threw (or whose promise rejected). */
  handlerErrors: number;
  /**
   * Datagrams send() dropped (and returned false for) because copying them would take the loop's
   * queued sends past its `maxQueuedBytes`: the kernel is not taking them as fast as they come.
   */
  dropped: number;
  /**
   * Datagrams the kernel dropped before the program got them, since the socket was bound: mostly
   * ones that found its receive buffer full (while every buffer of the pool was leased, or the program
   * was not keeping up). Read from the kernel (SO_MEMINFO) at each call while the socket is open;
   * after close(), the count at the close. -1 where the kernel does not tell.
   */
  receiveDrops: number;
  /** The stats of the pool datagrams are received into. */
  pool: PoolStats;
}

/** The largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header). */
export const MAX_UDP_PAYLOAD = 65507;

// Default receive pool: 256 buffers of about 64 KiB map 16 MiB, but the kernel's ring holds only
// DEFAULT_RING_WINDOW of them until a burst runs it dry, so only those pages get touched in a steady flow.
const DEFAULT_COUNT = 256;
const DEFAULT_RING_WINDOW = 32;
const enum HandlerBit {
  Message = 1,
  Error = 2,
}

/** A handler's failures after the first are logged as a count at most this often. */
const FAILURE_LOG_MS = 1000;

function checkMaxDatagramSize(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_UDP_PAYLOAD) {
    throw numberError(n, `maxDatagramSize must be an integer in [1, ${MAX_UDP_PAYLOAD}], got ${describe(n)}`);
  }
}

/**
 * Buffer size that receives datagrams of up to `maxDatagramSize` bytes whole: DATAGRAM_HEADROOM (the
 * 16-byte io_uring_recvmsg_out header and 28 bytes for the source address) + `maxDatagramSize`. For
 * a BufferPool made by hand for a UDP socket or a DatagramReceiver.
 */
export function datagramBufferSize(maxDatagramSize: number = MAX_UDP_PAYLOAD): number {
  checkMaxDatagramSize(maxDatagramSize);
  return DATAGRAM_HEADROOM + maxDatagramSize;
}

/** The pool's bufferSize must hold `maxDatagramSize` after the recvmsg headroom. */
function checkPoolFits(bufferSize: number, maxDatagramSize: number): void {
  const needed = datagramBufferSize(maxDatagramSize);
  if (bufferSize < needed) {
    throw new RangeError(
      `the pool's bufferSize (${bufferSize}) is too small for maxDatagramSize ${maxDatagramSize}: each buffer ` +
        `holds the recvmsg headroom (${DATAGRAM_HEADROOM} bytes: io_uring_recvmsg_out and the source address) ` +
        `before the payload, so it needs datagramBufferSize(${maxDatagramSize}) = ${needed} bytes`,
    );
  }
}

interface Outgoing {
  chunks: number[]; // arena chunks holding copied bytes
  lease: Lease | undefined;
  leaseOffset: number;
  length: number;
  hostname: string;
  port: number;
}

/**
 * A bound UDP socket (from `bindUdp()`): datagrams arrive through multishot recvmsg into a pool, each
 * with its source address, and go out with SENDMSG, one per SQE, in the order sent. A received
 * datagram can be sent back from its receive buffer without a copy.
 *
 * @example Echo each datagram to its sender
 * ```ts
 * import { bindUdp } from "uring-buffers";
 *
 * const sock = bindUdp({
 *   port: 9002,
 *   handlers: {
 *     message(sock, datagram) {
 *       sock.send(datagram); // back to datagram.from, from the receive buffer; releases the lease once sent
 *     },
 *     error: (_sock, error) => console.error(error),
 *   },
 * });
 * console.log(`udp on ${sock.hostname}:${sock.port}`);
 * ```
 */
export class UdpSocket {
  /** The socket's file descriptor (closed once close() has resolved). */
  readonly fd: number;
  /** The address bound to (`"localhost"` when bound by that name, as a `listen()` server says it). */
  readonly hostname: string;
  /** The port bound to (the one the kernel picked when `port` was 0). */
  readonly port: number;
  /** The loop the socket runs on. */
  readonly loop: IoLoop;
  /** The pool datagrams are received into. */
  readonly pool: BufferPool;
  readonly #ownsPool: boolean;
  readonly #handlers: UdpHandlers;
  readonly #receiver: DatagramReceiver;
  readonly #token: number;
  readonly #queue: (Outgoing | undefined)[] = []; // a FIFO from #head: shift() would copy it per datagram
  #head = 0;
  readonly #stats = {
    datagramsReceived: 0,
    bytesReceived: 0,
    truncated: 0,
    datagramsSent: 0,
    bytesSent: 0,
    sendErrors: 0,
    dropped: 0,
    handlerErrors: 0,
  };
  #failedHandlers = 0; // HandlerBit: the handlers whose first failure was logged
  #unloggedFailures = 0;
  #lastFailure = "";
  #failureLogTimer: unknown;
  #block = -1;
  #closed = false;
  #done = false;

  /**
   * Binds and starts receiving: what `bindUdp(options)` does.
   *
   * @throws {TypeError} for an unknown option or handler, a missing `message` handler, a hostname
   *   that is not an address literal, or an incremental pool.
   * @throws {RangeError} for a port, maxDatagramSize or receiveBufferSize out of range, or a pool too
   *   small for it.
   * @throws {UringError} when the socket cannot be bound (`EADDRINUSE`, ...).
   * @throws {UnsupportedError} on a kernel without multishot recvmsg (before 6.0).
   */
  constructor(options: UdpOptions) {
    checkOptionKeys("bindUdp()", options, UDP_KEYS);
    checkOptionKeys("bindUdp() handlers", options.handlers, ["message", "error"]);
    if (typeof options.handlers.message !== "function") {
      throw new TypeError("bindUdp() needs handlers with a message(socket, datagram) function");
    }
    checkSignal(options.signal);
    checkLoop(options.loop);
    const maxDatagramSize = options.maxDatagramSize ?? undefined; // null: the default, as for every number option
    if (maxDatagramSize !== undefined) checkMaxDatagramSize(maxDatagramSize);
    const poolOption = options.pool;
    const givenSize = poolOption instanceof BufferPool ? poolOption.bufferSize : poolOption?.bufferSize;
    if (maxDatagramSize !== undefined && givenSize !== undefined) checkPoolFits(givenSize, maxDatagramSize);
    const receiveBufferSize = options.receiveBufferSize ?? undefined;
    if (
      receiveBufferSize !== undefined &&
      (!Number.isInteger(receiveBufferSize) || receiveBufferSize < 1 || receiveBufferSize > 0x7fffffff)
    ) {
      throw numberError(
        receiveBufferSize,
        `receiveBufferSize must be an integer in [1, 2^31 - 1], got ${describe(receiveBufferSize)}`,
      );
    }
    this.loop = options.loop ?? getDefaultLoop();
    this.fd = udpBind(options.hostname ?? "127.0.0.1", options.port ?? 0);
    if (receiveBufferSize !== undefined) {
      try {
        setReceiveBuffer(this.fd, receiveBufferSize);
      } catch (e) {
        closeFd(this.fd);
        throw e;
      }
    }
    const local = localAddress(this.fd);
    this.hostname = options.hostname === "localhost" ? "localhost" : local.hostname; // as listen()'s server says it
    this.port = local.port;
    this.#handlers = options.handlers;
    let resolved: { pool: BufferPool; owned: boolean } | undefined;
    try {
      resolved = resolvePool(this.loop, poolOption, {
        bufferSize: datagramBufferSize(maxDatagramSize),
        count: DEFAULT_COUNT,
        ringWindow: DEFAULT_RING_WINDOW,
      });
      this.#receiver = new DatagramReceiver(resolved.pool, this.fd, {
        message: (d) => this.#received(d),
        end: (error) => error && this.#reportError(error),
      });
    } catch (e) {
      if (resolved?.owned) resolved.pool.close();
      closeFd(this.fd);
      throw e;
    }
    this.pool = resolved.pool;
    this.#ownsPool = resolved.owned;
    this.#token = this.loop.reactor.register({ complete: (res) => this.#sent(res) });
    this.#receiver.start();
    this.loop.driver.ref();
    closeAtUnload(this.#unloading);
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();
  #closedResolve: (() => void) | undefined;
  readonly #closedPromise = new Promise<void>((resolve) => (this.#closedResolve = resolve));

  /** Datagrams up to this many bytes arrive whole; larger ones arrive truncated. */
  get maxDatagramSize(): number {
    return this.pool.bufferSize - DATAGRAM_HEADROOM;
  }

  #received(d: Datagram): void {
    this.#stats.datagramsReceived++;
    this.#stats.bytesReceived += d.payload.length;
    if (d.truncated) this.#stats.truncated++;
    try {
      const result: unknown = this.#handlers.message(this, d);
      // An async handler's rejection is its exception, after its first await.
      if (result instanceof Promise) result.then(undefined, (e) => this.#handlerFailed(e, d));
    } catch (e) {
      this.#handlerFailed(e, d);
    }
  }

  #handlerFailed(e: unknown, d: Datagram): void {
    // A handler that failed before it released (or sent) its datagram would hold the buffer until
    // the leak net found it: the next datagrams would find the pool dry.
    d.lease[Symbol.dispose]();
    const error = asError(e);
    this.#stats.handlerErrors++;
    if (this.#handlers.error) return this.#reportError(error);
    this.#logFailure("message", error);
  }

  /**
   * Logs a handler's failure. The socket goes on receiving, so a line per datagram would let a sender
   * flood stderr: each handler's first failure is logged with its stack, later ones as a count at most
   * once a second.
   */
  #logFailure(handler: "message" | "error", error: Error): void {
    const first = handler === "message" ? HandlerBit.Message : HandlerBit.Error;
    if ((this.#failedHandlers & first) === 0) {
      this.#failedHandlers |= first;
      console.error(
        `uring-buffers: the ${handler} handler of UDP socket fd ${this.fd} threw (later failures are counted ` +
          `${handler === "message" ? "in stats().handlerErrors " : ""}and logged at most once a second):`,
        error,
      );
      return;
    }
    this.#unloggedFailures++;
    this.#lastFailure = `${handler} handler: ${error.message}`;
    if (this.#failureLogTimer !== undefined) return;
    this.#failureLogTimer = setTimeout(() => this.#logFailures(), FAILURE_LOG_MS);
    native.unrefTimer(this.#failureLogTimer);
  }

  #logFailures(): void {
    this.#failureLogTimer = undefined;
    const n = this.#unloggedFailures;
    if (n === 0) return;
    this.#unloggedFailures = 0;
    console.error(
      `uring-buffers: the handlers of UDP socket fd ${this.fd} threw ${n} more time${n === 1 ? "" : "s"} ` +
        `(last: ${this.#lastFailure})`,
    );
  }

  /** Hands `error` to the error handler; what that throws (or rejects with) is logged, never thrown out of the loop. */
  #reportError(error: Error): void {
    try {
      const result: unknown = this.#handlers.error?.(this, error);
      if (result instanceof Promise) result.then(undefined, this.#errorHandlerFailed);
    } catch (e) {
      this.#errorHandlerFailed(e);
    }
  }

  readonly #errorHandlerFailed = (e: unknown): void => this.#logFailure("error", asError(e));

  /** A snapshot of the socket's counters and its pool's stats (a new object each call). */
  stats(): UdpStats {
    const receiveDrops = this.#dropsAtClose ?? receiveDropsOf(this.fd);
    return { ...this.#stats, receiveDrops, pool: this.pool.stats() };
  }

  #dropsAtClose: number | undefined; // the fd's drop count, once it is closed

  /** Closes the socket's fd, keeping its drop count for stats(). */
  #closeSocketFd(): void {
    this.#dropsAtClose = receiveDropsOf(this.fd);
    closeFd(this.fd);
  }

  /**
   * Queues one datagram. Bytes are copied; a Lease, or a received Datagram's payload, is sent from
   * its buffer without a copy and released once sent. `to` defaults to a Datagram's sender. A
   * failed send is counted in `stats().sendErrors` and reported to `handlers.error`. Returns false
   * (and counts it in `stats().dropped`) for bytes dropped because the loop's queued sends are at
   * its `maxQueuedBytes` (each datagram queued takes a 2 KiB chunk if it fits one, else 16 KiB chunks,
   * until the kernel took it).
   *
   * @throws {ClosedError} after close().
   * @throws {TypeError} without a destination, or for a destination that is not an address literal;
   *   for data that is not a Uint8Array, a Lease or a Datagram; for a lease (or a datagram's) that was
   *   released or sent already (send a datagram once: to send it to several peers, send its
   *   `payload` bytes, a copy, to each, then release its lease).
   * @throws {RangeError} for more than 65,507 bytes, or a port out of [1, 65535]. A lease given is
   *   released before any of these is thrown.
   */
  send(data: Uint8Array | Lease | Datagram, to?: SocketAddress | { hostname: string; port: number }): boolean {
    if (this.#closed) {
      // Said before a lease is taken over, which for one of this socket's own pool (closed with it) is a
      // TypeError; the lease goes back all the same (its release is allowed after the pool's close).
      const held = data instanceof Lease ? data : (data as Datagram | undefined)?.lease;
      if (held instanceof Lease && !held.released) held.release();
      throw new ClosedError("UdpSocket");
    }
    let lease: Lease | undefined;
    let leaseOffset = 0;
    let length: number;
    if (data instanceof Uint8Array) {
      length = data.length;
    } else if (!(data instanceof Lease) && !(data?.lease instanceof Lease && data.payload instanceof Uint8Array)) {
      throw new TypeError(`send() takes a Uint8Array, a Lease or a Datagram, got ${describe(data)}`);
    } else {
      const datagram = data instanceof Lease ? undefined : data;
      if (datagram) to ??= datagram.from ?? undefined;
      lease = datagram ? datagram.lease : data as Lease;
      lease[kTakeOver]("send");
      // A received datagram's bytes start with the kernel's header: what goes out is its payload.
      const payload = datagram?.payload ?? (lease[kDatagrams] ? datagramPayload(lease) : undefined);
      if (payload) {
        leaseOffset = payload.byteOffset - lease[kBytes].byteOffset;
        length = payload.length;
      } else {
        length = lease.length;
      }
    }
    try {
      if (!to) throw new TypeError("send() needs a destination");
      if (typeof to !== "object") {
        // node:dgram's send(bytes, port, host) and "host:port" strings land here.
        throw new TypeError(`send()'s destination is an object { hostname, port }, got ${describe(to)}`);
      }
      if (length > MAX_UDP_PAYLOAD) {
        throw new RangeError(`a UDP datagram holds at most ${MAX_UDP_PAYLOAD} bytes, got ${length}`);
      }
      checkEndpoint(to.hostname, to.port, "to send to");
    } catch (e) {
      lease?.[kGiveBack](); // send() took the lease over, so a refused one goes back to its pool
      throw e;
    }
    const out: Outgoing = { chunks: [], lease, leaseOffset, length, hostname: to.hostname, port: to.port };
    if (!lease) {
      const bytes = data as Uint8Array;
      const arena = this.loop[kArena];
      // Each datagram copies into whole chunks (one small one if it fits): a bound on them bounds a
      // flood's memory.
      const small = length <= SMALL_CHUNK_SIZE;
      const need = small ? SMALL_CHUNK_SIZE : Math.ceil(length / SEND_CHUNK_SIZE) * SEND_CHUNK_SIZE;
      if (arena.bytesInUse + need > this.loop.maxQueuedBytes) {
        this.#stats.dropped++;
        return false;
      }
      for (let at = 0; at < length || out.chunks.length === 0; at += SEND_CHUNK_SIZE) {
        const chunk = arena.take(small);
        arena.bytes(chunk).set(bytes.subarray(at, at + SEND_CHUNK_SIZE));
        out.chunks.push(chunk);
      }
    }
    this.#queue.push(out);
    this.#accepted++;
    if (this.#block < 0) this.#sendNext();
    return true;
  }

  #sendNext(): void {
    const out = this.#queue[this.#head]!;
    const blocks = this.loop[kIovBlocks];
    const block = this.#block = blocks.take();
    if (out.lease) {
      blocks.setIov(block, 0, out.lease[kAddress] + out.leaseOffset, out.length);
    } else {
      for (let i = 0; i < out.chunks.length; i++) {
        const n = Math.min(SEND_CHUNK_SIZE, out.length - i * SEND_CHUNK_SIZE);
        blocks.setIov(block, i, this.loop[kArena].address(out.chunks[i]), n);
      }
    }
    const nameLength = encodeSockaddr(blocks.nameView(block), 0, out.hostname, out.port);
    blocks.setHeader(block, out.lease ? 1 : out.chunks.length, nameLength);
    const reactor = this.loop.reactor;
    prepSendmsg(reactor.ring.sqes, reactor.prepare(this.#token), this.fd, blocks.address(block), 0);
  }

  #sent(res: number): void {
    this.loop[kIovBlocks].give(this.#block);
    this.#block = -1;
    const out = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined;
    if (this.#head === this.#queue.length) this.#queue.length = this.#head = 0;
    this.#free(out);
    if (res >= 0) {
      this.#stats.datagramsSent++;
      this.#stats.bytesSent += res;
    } else {
      this.#stats.sendErrors++;
      // Also while closing: close() still sends what was queued, and its failures are the program's to know.
      this.#reportError(new UringError("sendmsg", -res, `to ${formatEndpoint(out.hostname, out.port)}`));
    }
    this.#settled++;
    if (this.#flushWaiters) this.#resolveFlushed();
    // After close() too: what was queued before it still goes out.
    if (this.#queue.length > this.#head) this.#sendNext();
    else if (this.#closed) this.#finish();
  }

  #accepted = 0; // datagrams queued by send() so far
  #settled = 0; // of those, the ones the kernel took or refused
  #flushWaiters: { upTo: number; resolve: () => void }[] | undefined;

  #resolveFlushed(): void {
    const waiters = this.#flushWaiters!;
    while (waiters.length > 0 && waiters[0].upTo <= this.#settled) waiters.shift()!.resolve();
    if (waiters.length === 0) this.#flushWaiters = undefined;
  }

  /**
   * Resolves once every datagram send() queued before the call has been taken by the kernel (or
   * failed: see `stats().sendErrors`): when to send more after send() returned false. At once when
   * nothing is queued.
   */
  flushed(): Promise<void> {
    if (this.#settled === this.#accepted) return Promise.resolve();
    return new Promise((resolve) => (this.#flushWaiters ??= []).push({ upTo: this.#accepted, resolve }));
  }

  #free(out: Outgoing): void {
    out.lease?.[kGiveBack]();
    for (const c of out.chunks) this.loop[kArena].give(c);
  }

  /** Frees every datagram still queued (none is in flight). */
  #freeQueue(): void {
    for (let i = this.#head; i < this.#queue.length; i++) this.#free(this.#queue[i]!);
    this.#queue.length = this.#head = 0;
  }

  /**
   * Stops receiving and closes the fd. Datagrams send() queued still go out first (the kernel takes
   * each at once unless the socket's send buffer is full); the fd is closed after the last. With none
   * queued beyond the one in flight, the fd is closed and the port free when it returns (a send in
   * flight holds the socket until it ends). Resolves once the fd is closed and nothing is in flight.
   * Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closedPromise;
    this.#closed = true;
    forgetAtUnload(this.#unloading);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#failureLogTimer !== undefined) {
      clearTimeout(this.#failureLogTimer as number);
      this.#logFailures();
    }
    this.#receiver.stop(() => this.#finish());
    // A queued datagram names the fd in an SQE not prepared yet: the fd must outlive it.
    if (this.#queue.length - this.#head > 1) this.#closeFdAtFinish = true;
    else this.#releaseSocket();
    if (this.#block < 0) this.#finish();
    return this.#closedPromise;
  }

  /**
   * Closes the fd now, so that the port is free when close() returns (as a bound socket of the
   * runtime's is). The kernel holds the socket while the multishot receive is armed: the cancel
   * stop() queued is submitted at once, and the kernel completes it before the submit returns to us
   * (or at the next wait, on a DEFER_TASKRUN ring). A send in flight keeps the socket until it ends.
   * Whatever is queued in the SQ goes in with that submit: an SQE names the fd by number, and the
   * number may be reused as soon as it is closed. Nothing of ours uses it after that (the cancel is
   * keyed by user_data, and sends after close() are refused).
   */
  #releaseSocket(): void {
    const ring = this.loop.reactor.ring;
    if (!ring.closed) {
      try {
        // A DEFER_TASKRUN ring runs the cancel's completion only when asked for completions.
        if (ring.setupFlags & IORING_SETUP_DEFER_TASKRUN) ring.submitAndWait(1, 0);
        else ring.submit();
      } catch {
        // Not submitted (EBUSY: the CQ overflowed): the fd must outlive the SQEs that name it.
        this.#closeFdAtFinish = true;
        return;
      }
    }
    this.#closeSocketFd();
  }

  #closeFdAtFinish = false;

  /** `await using sock`: closes and waits until the fd is closed. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `using sock`: closes, not waited for (what send() queued still goes out). `await using` waits. */
  [Symbol.dispose](): void {
    void this.close();
  }

  /** What it does at unload (closeAtUnload): the port freed at once; what is queued is dropped. */
  readonly #unloading = {
    unload: () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#receiver.stop(() => {});
      this.#releaseSocket();
    },
  };

  #finish(): void {
    if (this.#done || !this.#receiver.finished || this.#block >= 0) return;
    this.#done = true;
    this.#freeQueue();
    this.loop.reactor.unregister(this.#token);
    if (this.#closeFdAtFinish) this.#closeSocketFd();
    if (this.#ownsPool) this.pool.close();
    this.loop.driver.unref();
    void this.loop.driver[kSettled]().then(this.#closedResolve!);
  }
}

/**
 * Binds a UDP socket and starts receiving: each datagram goes to `handlers.message` with a lease of
 * its receive buffer (release it, or send the datagram on). Datagrams of up to `maxDatagramSize`
 * bytes (default 65,507) arrive whole; larger ones arrive cut short with `truncated: true`.
 *
 * @example Send a datagram and print the answer
 * ```ts
 * import { bindUdp } from "uring-buffers";
 *
 * const sock = bindUdp({
 *   handlers: {
 *     message(sock, { lease, payload, from }) {
 *       console.log(from, new TextDecoder().decode(payload));
 *       lease.release();
 *       void sock.close();
 *     },
 *   },
 * });
 * sock.send(new TextEncoder().encode("ping"), { hostname: "127.0.0.1", port: 9002 });
 * ```
 *
 * @throws {TypeError} for an unknown option or handler, a missing `message` handler, or a hostname
 *   that is not an address literal.
 * @throws {RangeError} for a port or maxDatagramSize out of range, or a pool too small for it.
 * @throws {UringError} when the socket cannot be bound.
 */
export function bindUdp(options: UdpOptions): UdpSocket {
  return new UdpSocket(options);
}
