/**
 * `Connection`: one TCP socket on an IoLoop. Receives arrive as Leases through a StreamReceiver on a
 * BufferPool and reach either the `data` handler or `for await (const lease of conn)`; sends go
 * through a SendQueue. This module holds the policy: ordering of data and EOF, pause, half-close,
 * backpressure, fair use of a shared pool, idle timeouts, and isolation of handler exceptions (a
 * failure closes this connection only).
 */
import { Lease } from "../buffers/lease.ts";
import { leaseCopies } from "./lease_copies.ts";
import { native } from "../../ffi/mod.ts";
import type { BufferPool, LeaseHolder } from "../buffers/pool.ts";
import { asError, ClosedError, Errno, markHandled, UnsupportedError, UringError } from "../errors.ts";
import * as abi from "../abi.ts";
import {
  kAbort,
  kArena,
  kBacklog,
  kBytes,
  kCopyToQueue,
  kCork,
  kEndSettled,
  kGiveBack,
  kIdle,
  kScarce,
  kSettled,
  kStart,
  kTakeOver,
  kUncork,
} from "../internal.ts";
import { prepPollMultishot, prepShutdown } from "../prep.ts";
import { probeFeatures } from "../probe.ts";
import type { CompletionTarget } from "../reactor.ts";
import { type StreamHandler, StreamReceiver, type StreamReceiverOptions } from "../receiver.ts";
import type { IdleWatch, IdleWatched, IdleWheel } from "./idle_wheel.ts";
import type { IoLoop } from "./loop.ts";
import { PullQueue } from "./pull_queue.ts";
import type { Backlogged } from "./send_backlog.ts";
import { SEND_CHUNK_SIZE } from "./send_arena.ts";
import { NOTIFICATION, SendQueue } from "./send_queue.ts";
import { closeFd, peerIntake, remoteAddress, setLingerZero, takeSocketError } from "./socket.ts";
import type { SocketAddress } from "../sockaddr.ts";
import { checkOptionKeys, checkSeconds, describe, numberError } from "../options.ts";

/**
 * Callbacks of a connection, all optional; `Data` is the type of `conn.data` (as Bun's
 * `Socket<Data>`). An exception thrown by `open`, `data`, `drain`, `end` or `timeout` goes to
 * `error` and closes that connection only (no `data` call follows); `close` runs last, once.
 */
export interface ConnectionHandlers<Data = unknown> {
  /** The connection is ready (server side: just accepted). */
  open?(conn: Connection<Data>): void;
  /**
   * Received bytes, in order. Release the lease (or write it, which takes it over) when done. Not
   * called while the connection is paused. Without this handler the connection is read with
   * `for await (const lease of conn)` instead.
   */
  data?(conn: Connection<Data>, lease: Lease): void;
  /** The send queue emptied after write() returned false. */
  drain?(conn: Connection<Data>): void;
  /**
   * The peer finished sending (EOF), after every `data` call. Writing still works. Unless
   * `allowHalfOpen` is set, the connection is then ended (queued writes are sent, then it closes).
   */
  end?(conn: Connection<Data>): void;
  /**
   * The connection failed: a kernel error (`UringError`: reset, EPIPE...), an exception thrown by one
   * of these handlers, or a write beyond `maxBuffered`. Only this connection closes; close() follows.
   * Without this handler, exceptions (not resets) are logged once with their stack.
   */
  error?(conn: Connection<Data>, error: Error): void;
  /** No receive and no send progress for `idleTimeout` seconds. Default (no handler): close(). */
  timeout?(conn: Connection<Data>): void;
  /** The connection is closed and its fd released. Called once. */
  close?(conn: Connection<Data>): void;
}

/** Per-connection limits and behaviour, accepted by `listen()` (for every connection) and `connect()`. */
export interface ConnectionOptions {
  /** write() returns false once this many bytes are queued. Default 64 KiB. */
  highWaterMark?: number;
  /** A write that would queue more than this many bytes fails the connection (a slow reader). Default 16 MiB. */
  maxBuffered?: number;
  /**
   * Sends of at least this many queued bytes use IORING_OP_SEND_ZC / SENDMSG_ZC: the kernel sends
   * from our memory instead of copying it, and the pieces are released only after the kernel's
   * notification. 0 (default) turns it off. Worth it for large writes to real NICs; on loopback the
   * kernel copies anyway. Linux 6.0+ (an UnsupportedError before).
   */
  zeroCopyMin?: number;
  /**
   * Seconds without receive or send progress before the `timeout` handler runs (default action:
   * close). 0 (default) = no timeout. Checked by one coarse timer per loop every 0.2 s: at most 0.25 s
   * late unless the event loop is held up.
   */
  idleTimeout?: number;
  /**
   * Keep the connection open after the peer's EOF until the program calls end() or close() (or
   * shutdown() once the peer has ended). Default false: after EOF is delivered the connection ends.
   */
  allowHalfOpen?: boolean;
}

/** How `Connection.write()` takes a Uint8Array. */
export interface WriteOptions {
  /**
   * `false`: send the bytes from where they are, without copying them (for big buffers the program
   * keeps anyway: a cache's values, a file read into memory). They must then stay as they are —
   * not changed, transferred or resized — until `flushed()` resolves, which with such bytes queued
   * waits until the kernel has let go of them (sent, and with `zeroCopyMin` notified; `drain` can
   * come sooner): changed sooner, what goes out is what they then hold; transferred sooner, memory
   * no longer theirs. They count toward `highWaterMark` and `maxBuffered` but not the
   * loop's `maxQueuedBytes` (they are not copies); a peer that does not read keeps them reachable
   * until its connection closes. Under 16 KiB they are copied anyway (a copy costs less there).
   * Default `true`: the bytes are copied at once and may change as soon as write() returns.
   */
  copy?: boolean;
}

const WRITE_OPTION_KEYS = ["copy"];

/** Writes with `copy: false` of fewer bytes than this are copied: finding their address costs more. */
const IN_PLACE_MIN = 16 * 1024;

/** The keys of ConnectionOptions (listen() and connect() accept them beside their own). */
export const CONNECTION_OPTION_KEYS = ["highWaterMark", "maxBuffered", "zeroCopyMin", "idleTimeout", "allowHalfOpen"];

/** ConnectionOptions with their defaults filled in. */
export type ConnectionSettings = Required<ConnectionOptions>;

/** Validates ConnectionOptions and fills in the defaults. */
export function checkConnectionOptions(options: ConnectionOptions): ConnectionSettings {
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  const maxBuffered = options.maxBuffered ?? 16 * 1024 * 1024;
  const zeroCopyMin = options.zeroCopyMin ?? 0;
  const idleTimeout = options.idleTimeout ?? 0;
  const allowHalfOpen = options.allowHalfOpen ?? false;
  if (!Number.isInteger(zeroCopyMin) || zeroCopyMin < 0) {
    throw numberError(zeroCopyMin, `zeroCopyMin must be an integer >= 0, got ${describe(zeroCopyMin)}`);
  }
  if (zeroCopyMin > 0 && !probeFeatures().sendZc) {
    throw new UnsupportedError("IORING_OP_SEND_ZC", "6.0", "leave zeroCopyMin at 0 for copying sends");
  }
  if (!Number.isInteger(highWaterMark) || highWaterMark < 0) {
    throw numberError(highWaterMark, `highWaterMark must be an integer >= 0, got ${describe(highWaterMark)}`);
  }
  if (!Number.isInteger(maxBuffered) || maxBuffered < highWaterMark) {
    const given = options.maxBuffered === undefined || options.maxBuffered === null ? " (the default)" : "";
    throw numberError(
      maxBuffered,
      `maxBuffered must be an integer >= highWaterMark (${highWaterMark}), got ${describe(maxBuffered)}${given}` +
        (given ? ": raise maxBuffered with highWaterMark" : ""),
    );
  }
  checkSeconds("idleTimeout", idleTimeout);
  if (typeof allowHalfOpen !== "boolean") {
    throw new TypeError(`allowHalfOpen must be a boolean, got ${describe(allowHalfOpen)}`);
  }
  return { highWaterMark, maxBuffered, zeroCopyMin, idleTimeout, allowHalfOpen };
}

/**
 * What the connections of one listener (or one connect()) share, checked once: a field each on every
 * connection would cost 8 bytes per connection per field.
 */
export class ConnectionConfig<Data = unknown> {
  readonly idle: IdleWheel;
  readonly highWaterMark: number;
  readonly maxBuffered: number;
  readonly zeroCopyMin: number;
  readonly idleMs: number; // 0: no idle timeout
  readonly allowHalfOpen: boolean;

  /** @param settings The options as checkConnectionOptions() returned them (listen() and connect() check first). */
  constructor(
    readonly loop: IoLoop,
    readonly pool: BufferPool,
    readonly handlers: ConnectionHandlers<Data>,
    settings: ConnectionSettings,
    readonly owner?: ConnectionOwner<Data>,
  ) {
    this.idle = loop[kIdle];
    this.highWaterMark = settings.highWaterMark;
    this.maxBuffered = settings.maxBuffered;
    this.zeroCopyMin = settings.zeroCopyMin;
    this.idleMs = settings.idleTimeout * 1000;
    this.allowHalfOpen = settings.allowHalfOpen;
  }
}

/** Told when a connection has closed (a Server keeps count of its connections). */
export interface ConnectionOwner<Data = unknown> {
  connectionClosed(conn: Connection<Data>): void;
}

/** The roles a connection plays for its loop, which ConnectionPort relays to its private methods. */
type ConnectionPort = StreamHandler & CompletionTarget & LeaseHolder & IdleWatched & Backlogged;

/**
 * A connection whose queued copies hold this much of the loop's send arena (a large chunk: it got
 * more than one small write behind) is a candidate to fail when the loop reaches maxQueuedBytes.
 */
const BACKLOG_BYTES = SEND_CHUNK_SIZE;

/** How long an ended connection waits for the peer's EOF, discarding what it sends, before closing. */
const LINGER_SECONDS = 2;
/** How long an ended connection waits for the peer to take any of its queued writes when no idleTimeout is set. */
const ENDING_STALL_SECONDS = 30;
/** When a lingering connection first asks how far its peer has read (see #linger). */
const LINGER_BASE_MS = 250;

/** The idle timeout (ms, 0 = none) of a connection waiting for its flush after end(): never none. */
function endingBound(ms: number): number {
  return ms > 0 ? ms : ENDING_STALL_SECONDS * 1000;
}

/** The idle timeout (ms, 0 = none) of a lingering connection: at most LINGER_SECONDS. */
function lingerBound(ms: number): number {
  return ms > 0 ? Math.min(ms, LINGER_SECONDS * 1000) : LINGER_SECONDS * 1000;
}

/** Leases queued for `for await` before reading pauses (it resumes below half of this). */
const INBOX_LIMIT = 32;

// In lifecycle order: `phase >= Phase.Closing` means the connection is going or gone.
const enum Phase {
  Open,
  Ending, // end(): close once the queue is flushed
  Closing, // waiting for in-flight operations before closing the fd
  Closed,
}
const PHASE_NAMES = ["open", "ending", "closing", "closed"] as const;

/** A connection's yes/no state, one bit each of one number (13 booleans cost 104 bytes per connection). */
const enum Bit {
  CancelSent = 1 << 0,
  NeedDrain = 1 << 1, // write() returned false: drain() is owed
  ShutdownAfterFlush = 1 << 2,
  ShutdownInFlight = 1 << 3,
  WriteShut = 1 << 4, // our SHUTDOWN(SHUT_WR) went out
  UserPaused = 1 << 5,
  InboxFull = 1 << 6,
  OverQuota = 1 << 7,
  ReadEnded = 1 << 8, // EOF or a receive error came from the kernel
  EofSeen = 1 << 9, // ... and the program has seen it (end handler ran, or the iterator said done)
  Draining = 1 << 10,
  Iterated = 1 << 11, // `for await` has started on this connection
  Lingering = 1 << 12, // ended with the peer still sending: discarding until its EOF
  EndWhenSettled = 1 << 13, // EOF or a graceful stop ended it while async handlers ran: end() once they settle
  PeerEnded = 1 << 14, // the kernel reported the peer's EOF (not a failure)
  Stopping = 1 << 15, // a graceful stop: the `for await` loop reads what came, then the connection ends
  WritesDropped = 1 << 16, // a write was dropped, refused or cut off: flushed() rejects
  Backlogged = 1 << 17, // in the loop's SendBacklog: its copied bytes queued hold a large chunk or more
  StreamCut = 1 << 18, // bytes written while writable will never go out: the close resets (RST)
  Corked = 1 << 19, // kCork(): writes queue without starting a send until kUncork()
  Reading = 1 << 20, // a `for await` loop reads it now (until it leaves, or sees the end)
  EndBound = 1 << 21, // an end put off (EOF, a graceful stop) bounds the wait of a send on its peer (#boundEnd)
  HangupWatch = 1 << 22, // after the peer's EOF, a poll for its reset is armed (#watchHangup)
  AutoEnded = 1 << 23, // ended by the automatic end at the peer's EOF, not by the program or a stop
  LateFailureTold = 1 << 24, // closed without a failure, a handler's failure after it went to `error`
}

/** Peer errors that end a connection as a matter of course: reported to `error`, never logged. */
function isRoutine(error: Error): boolean {
  return error instanceof UringError;
}

// One options object for every connection's receiver (the receiver does not keep it): none per accept.
const receiverOptions: StreamReceiverOptions = { holder: 0 };

/**
 * Loops told of a write dropped after the automatic end at EOF of a connection read with `for await`
 * (else a reply written after the loop and an await is lost in silence): once per loop, not per client.
 */
const toldWriteAfterAutoEnd = new WeakSet<object>();

function tellWriteAfterAutoEnd(loop: object, fd: number): void {
  toldWriteAfterAutoEnd.add(loop);
  console.warn(
    `uring-buffers: a write to connection fd ${fd} was dropped: the connection had been ended at the peer's EOF, ` +
      "a task after its for await loop ended. If that was the loop's own reply, written after an await, pass " +
      'allowHalfOpen: true and call end() yourself (README: "Nothing lost at EOF"); a write to a peer that ' +
      "has gone (a broadcast) needs nothing. Said once.",
  );
}

/** How long a connection may sit at its fair share of the pool before the program is told (once per pool). */
const QUOTA_STALL_WARN_MS = 5000;
/** Connections at their fair share, with the timer that warns: kept here, not in each connection. */
const quotaStalls = new Map<object, ReturnType<typeof setTimeout>>();
const quotaWarned = new WeakSet<BufferPool>();

/**
 * `conn` stopped receiving at its fair share of `pool`: if it is still there after
 * QUOTA_STALL_WARN_MS, not paused, with nothing of its own queued to send or waiting to be read
 * (`unsent`), say so, once per pool. A program that drops its leases without releasing them stalls
 * its connection there until the garbage collector finds them, which may be never; an echo to a
 * slow reader is only backpressure, and a paused one holds them by the program's choice.
 */
function watchQuotaStall(conn: object, pool: BufferPool, holder: number, unsent: () => boolean): void {
  if (quotaStalls.has(conn)) return;
  const timer = setTimeout(() => {
    quotaStalls.delete(conn);
    if (quotaWarned.has(pool) || pool.closed || !unsent()) return;
    quotaWarned.add(pool);
    const pins = pool.pinnedBuffers(holder);
    console.error(
      `uring-buffers: a connection has held ${pool.held(holder)} leases of pool group ${pool.groupId}, ` +
        `${shareFigure(pool.heldBuffers(holder))} buffers' worth${pins > 0 ? ` in ${pins} buffers` : ""} ` +
        `(over its fair share, ${pool.share()} now${pins > 0 ? `, or twice that in buffers` : ""}) for ` +
        `${QUOTA_STALL_WARN_MS / 1000} s, and receives nothing more until some ` +
        `come back (to half its share, or to its share once the program has read everything and waits). A lease comes ` +
        "back when released (release(), `using`) or, once written, when its send completes; one dropped without a " +
        "release comes back only when the garbage collector finds it.",
    );
  }, QUOTA_STALL_WARN_MS);
  native.unrefTimer(timer);
  quotaStalls.set(conn, timer);
}

/** Buffers' worth as the notice prints it: whole, or to one decimal (pieces of incremental buffers). */
function shareFigure(buffers: number): string {
  return Number.isInteger(buffers) ? String(buffers) : buffers.toFixed(1);
}

/**
 * Connections whose `for await` loop saw the end, waiting a macrotask before they end (#eofConsumed).
 * A close meanwhile clears the timer: a test that closes what it started leaves none behind.
 */
const eofTimers = new Map<object, ReturnType<typeof setTimeout>>();

function unwatchQuotaStall(conn: object): void {
  const timer = quotaStalls.get(conn);
  if (timer === undefined) return;
  clearTimeout(timer);
  quotaStalls.delete(conn);
}

/**
 * One TCP connection on an {@link IoLoop}, from `listen()` or `connect()`. Received bytes arrive as
 * {@link Lease}s, in order, through the `data` handler or `for await (const lease of conn)`; EOF
 * comes after every byte before it. `write()` queues bytes (copied) or a lease (sent from its
 * buffer, no copy) and returns false past `highWaterMark`: wait for `drain` or `await flushed()`.
 * `end()` closes after queued writes without cutting a reply short; `close()` closes now. A failure
 * (a reset, a handler's exception, a slow reader past `maxBuffered`) closes this connection only.
 *
 * @example A client that sends a line and reads the answer
 * ```ts
 * import { connect } from "uring-buffers";
 *
 * await using conn = await connect({ hostname: "127.0.0.1", port: 9000 });
 * conn.write(new TextEncoder().encode("hello\n"));
 * conn.shutdown(); // half-close: the server sees EOF once the write is sent
 * for await (const lease of conn) { // ends at the server's EOF (or on failure: see conn.error)
 *   using l = lease;
 *   console.log(new TextDecoder().decode(l.bytes));
 * }
 * ```
 */
export class Connection<Data = unknown> {
  /**
   * The connection's side that its loop calls, one per connection: receives (StreamHandler), send
   * completions (CompletionTarget), the pool's quota (LeaseHolder) and idle checks (IdleWatched) go
   * through it to the connection's private methods. A class inside Connection's body, so it may
   * call them; a direct method call, as cheap as the connection being the target itself.
   */
  static readonly #Port = class implements ConnectionPort {
    readonly #conn: Connection<unknown>;
    constructor(conn: Connection<unknown>) {
      this.#conn = conn;
    }
    data(lease: Lease): void {
      this.#conn.#received(lease);
    }
    end(error?: UringError): void {
      this.#conn.#receiveEnded(error);
    }
    complete(res: number, flags: number): void {
      this.#conn.#sendDone(res, flags);
    }
    underQuota(): void {
      this.#conn.#underQuota();
    }
    waitingToRead(): boolean {
      return this.#conn.#waitingToRead();
    }
    idleDeadline(): number {
      return this.#conn.#idleDeadline();
    }
    idleExpired(): void {
      this.#conn.#idleExpired();
    }
    get queued(): number {
      return this.#conn.#sends.arenaBytes;
    }
    shed(): void {
      this.#conn.#shed();
    }
  };

  /** The socket's file descriptor (closed once `closed` is true). */
  readonly fd: number;
  /** Yours: per-connection state (typed by `listen<Data>()` / `connect<Data>()`). Undefined at first. */
  data: Data = undefined as Data;
  readonly #config: ConnectionConfig<Data>;
  readonly #port: ConnectionPort;
  readonly #receiver: StreamReceiver;
  readonly #token: number;
  readonly #sends: SendQueue;
  readonly #holder: number;
  #phase = Phase.Open;
  #bits = 0; // Bit flags
  #flushWaiters: { resolve: () => void; reject: (e: Error) => void }[] | undefined;
  // Receiving: leases wait in the inbox while paused (handler mode) or until read (`for await`).
  #inbox: PullQueue<Lease> | undefined; // made on first use: most connections never need it
  #error: Error | undefined;
  #readError: UringError | undefined; // a receive failure put off until the program had what arrived before it
  #idleMs: number; // idle timeout (0 = off): setIdleTimeout() and lingering change it
  #lastActive = 0; // on the loop's coarse clock, whole ms (a double would be a heap number per connection)
  #idleWatch: IdleWatch | undefined;
  #running = 0; // async data and end calls not settled yet
  #hangupToken = 0; // the poll of #watchHangup, while armed
  #intake = -1; // lingering, or a send waiting on the peer: how far it had taken our bytes at the last check (peerIntake), -1 before the first

  /**
   * @ignore Connections are made by `listen()` and `connect()`, which start them; the config is
   * shared by every connection of a listener.
   */
  constructor(config: ConnectionConfig<Data>, fd: number) {
    this.fd = fd;
    this.#config = config;
    this.#idleMs = config.idleMs;
    const loop = config.loop;
    const port = this.#port = new Connection.#Port(this as Connection<unknown>);
    // Its port is the completion target of its sends, the holder of its leases and its receiver's handler.
    this.#token = loop.reactor.register(port);
    this.#sends = new SendQueue(loop, fd, this.#token, config.zeroCopyMin);
    this.#holder = config.pool.addHolder(port);
    receiverOptions.holder = this.#holder;
    this.#receiver = new StreamReceiver(config.pool, fd, port, receiverOptions);
    loop.driver.ref();
  }

  /** The loop the connection runs on. */
  get loop(): IoLoop {
    return this.#config.loop;
  }

  /** The pool its receives take buffers from. */
  get pool(): BufferPool {
    return this.#config.pool;
  }

  /** write() returns false once this many bytes are queued (see ConnectionOptions). */
  get highWaterMark(): number {
    return this.#config.highWaterMark;
  }

  /** A write that would queue more than this many bytes fails the connection (see ConnectionOptions). */
  get maxBuffered(): number {
    return this.#config.maxBuffered;
  }

  #is(bit: Bit): boolean {
    return (this.#bits & bit) !== 0;
  }

  #set(bit: Bit, on: boolean): void {
    this.#bits = on ? this.#bits | bit : this.#bits & ~bit;
  }

  /** @ignore end() once the async `data` and `end` calls running now have settled (a graceful stop). */
  [kEndSettled](): void {
    if (this.#phase !== Phase.Open) return;
    const read = !this.#config.handlers.data && (this.#is(Bit.Iterated) || (this.#inbox?.length ?? 0) > 0);
    if (read && !this.#is(Bit.EofSeen)) {
      // The program's loop (one not started yet too, while leases wait for it) reads what has come,
      // sees the end, and the connection ends as at EOF: a reply it writes after an await in the
      // loop's body still goes out. A loop that has seen its end already has nothing more to read.
      this.#set(Bit.Stopping, true);
      this.#useInbox().end();
      this.#boundEnd();
    } else if (this.#running > 0) this.#endWhenSettled();
    else this.end();
  }

  /** end() once the async `data` and `end` calls running now have settled, bounded meanwhile. */
  #endWhenSettled(): void {
    this.#set(Bit.EndWhenSettled, true);
    this.#boundEnd();
  }

  /**
   * An end put off until the program's loop or async handlers are done: one of them may wait on
   * flushed() for a peer that reads nothing, and so put it off for ever. Without an idle timeout of
   * the program's, such a wait gets the bound end() gives a flush (ENDING_STALL_SECONDS); only a
   * send waiting on the peer counts as idle meanwhile, not a handler's own work.
   */
  #boundEnd(): void {
    if (this.#boundStall()) this.#set(Bit.EndBound, true);
  }

  /** @ignore Starts receiving and calls open() (listen() and connect() do, once). */
  [kStart](): void {
    this.#receiver.start();
    this.#touchNow(); // the turn's clock may lag a long turn (many accepts): a timeout must not come early
    if (this.#idleMs > 0) this.#watch();
    if (this.#config.handlers.open) this.#call(this.#config.handlers.open);
  }

  #remote: SocketAddress | undefined;

  /**
   * The peer's address (getpeername(2), asked once, on first use). Read it while the connection is
   * open, or in the `close` handler (it is read for that handler before the fd closes): once the
   * peer has gone the kernel may no longer know it, and a peer that reset the connection before
   * anything read its address has none.
   *
   * @throws {UringError} `ENOTCONN` when the peer is already gone and the address was never read.
   * @throws {ClosedError} when read for the first time after the connection closed (in `close`, for a
   *   peer that reset the connection before anything asked).
   */
  get remoteAddress(): SocketAddress {
    if (this.#remote) return this.#remote;
    if (this.#phase === Phase.Closed) throw new ClosedError("Connection");
    return this.#remote = remoteAddress(this.fd);
  }

  /** Bytes queued and not yet accepted by the kernel. */
  get bufferedAmount(): number {
    return this.#sends.buffered;
  }

  /** The fd is closed (after close(), end(), a failure, or a server's stop()); `close` has run. */
  get closed(): boolean {
    return this.#phase === Phase.Closed;
  }

  /** write() still takes data: not shut down, ended, closing or closed. */
  get writable(): boolean {
    return this.#phase === Phase.Open && !this.#is(Bit.ShutdownAfterFlush) && !this.#is(Bit.ShutdownInFlight) &&
      !this.#is(Bit.WriteShut);
  }

  /**
   * "open"; "ending" (end() was called: queued writes go out, then it closes); "closing" (close()
   * was called: waiting for the kernel to let go); "closed" (the fd is closed).
   */
  get state(): "open" | "ending" | "closing" | "closed" {
    return PHASE_NAMES[this.#phase];
  }

  /**
   * The peer's EOF arrived: what it sent was all received. A `for await` loop over the connection
   * also ends when the connection is closed under it (close(), a server's stop(), an idle timeout) or
   * fails (`error`): check this before taking what the loop read as the whole of it.
   */
  get peerEnded(): boolean {
    return this.#is(Bit.PeerEnded);
  }

  /** pause() is in effect. */
  get paused(): boolean {
    return this.#is(Bit.UserPaused);
  }

  /** Why the connection failed, if it did (a kernel error, a handler's exception, a slow reader). */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Sends that went out with IORING_OP_SEND_ZC (see ConnectionOptions.zeroCopyMin). */
  get zeroCopySends(): number {
    return this.#sends.zeroCopySends;
  }

  /** Seconds of inactivity before `timeout` (0 = none). Setting it restarts the count. */
  get idleTimeout(): number {
    return this.#idleMs / 1000;
  }

  set idleTimeout(seconds: number) {
    checkSeconds("idleTimeout", seconds);
    const ms = seconds * 1000;
    // An ended connection waiting for its peer's EOF closes within LINGER_SECONDS, whatever is set
    // later; one waiting for its flush gets ENDING_STALL_SECONDS for "none".
    const ending = this.#phase === Phase.Ending || this.#is(Bit.EndBound);
    this.#idleMs = this.#is(Bit.Lingering) ? lingerBound(ms) : ending ? endingBound(ms) : ms;
    if (ms > 0) this.#set(Bit.EndBound, false); // the program's own timeout from here on
    // A lingering connection keeps its clock: restarted, its 2 s bound would start over.
    if (!this.#is(Bit.Lingering)) this.#touchNow();
    if (this.#idleMs > 0 && this.#phase !== Phase.Closed) this.#watch();
  }

  /**
   * Queues bytes (copied into native memory) or a Lease (sent from its buffer, no copy; released
   * when sent). Returns true while the queue is below highWaterMark, false from there on: wait for
   * `drain` or `await flushed()`. On a connection that is not `writable` (shut down, ending or
   * closed), the data is dropped (a lease released) and false returned. A write that would queue
   * more than `maxBuffered` bytes fails the connection instead (`error`, then close) and returns
   * false. One that would take the loop past its `maxQueuedBytes` first fails the connections
   * furthest behind (those whose queued copies hold the most of it, behind since an earlier turn
   * first, dropping what they queued), and fails this one only when none holds more, or when it is
   * larger than the whole bound. Writes go out in order. `{ copy: false }` sends a Uint8Array from
   * where it is instead of copying it (see {@link WriteOptions}).
   *
   * @throws {TypeError} for a lease that was already released or written (write a lease once: to
   *   send its bytes to several connections, write `lease.bytes`), data that is neither a
   *   Uint8Array nor a Lease (encode a string with TextEncoder), or options that are not an object
   *   with a boolean `copy`.
   */
  write(data: Uint8Array | Lease, options?: WriteOptions): boolean {
    const isLease = !(data instanceof Uint8Array);
    let inPlace = false;
    if (options !== undefined) {
      if (
        typeof options !== "object" || options === null || Array.isArray(options) ||
        (options.copy != null && typeof options.copy !== "boolean")
      ) {
        const got = typeof options === "object" && options !== null && !Array.isArray(options)
          ? `copy: ${describe(options.copy)}`
          : describe(options);
        throw new TypeError(`write()'s options are { copy?: boolean }, got ${got}`);
      }
      checkOptionKeys("write()", options, WRITE_OPTION_KEYS);
      inPlace = options.copy === false && !isLease && data.length >= IN_PLACE_MIN;
    }
    if (isLease && !(data instanceof Lease)) {
      throw new TypeError(
        `write() takes a Uint8Array or a Lease, got ${describe(data)}` +
          (typeof data === "string" ? " (encode it: new TextEncoder().encode(text))" : ""),
      );
    }
    if (isLease) data[kTakeOver]("write");
    if (!this.writable) {
      if (isLease) data[kGiveBack]();
      this.#set(Bit.WritesDropped, true);
      // Not once the connection failed: the failure, reported at `error`, is what dropped the write then.
      // In the handler style the end waits for the handlers; a write from elsewhere is a race with the peer.
      if (
        this.#is(Bit.AutoEnded) && this.#is(Bit.Iterated) && !this.#error &&
        !toldWriteAfterAutoEnd.has(this.#config.loop)
      ) {
        tellWriteAfterAutoEnd(this.#config.loop, this.fd);
      }
      return false;
    }
    const length = data.length;
    const buffered = this.#sends.buffered;
    if (buffered + length > this.maxBuffered) {
      return this.#refuse(
        data,
        buffered === 0
          ? `a write of ${length} bytes is larger than maxBuffered (${this.maxBuffered}); closing the connection`
          : `write of ${length} bytes would queue more than maxBuffered (${this.maxBuffered}) bytes ` +
            `(${buffered} queued, not yet taken by the peer: a peer that does not read, or writes that did ` +
            `not wait for drain() or flushed() when write() returned false); closing the connection`,
      );
    }
    if (length === 0) {
      if (isLease) data[kGiveBack]();
      return buffered < this.highWaterMark;
    }
    if (isLease && !data[kCopyToQueue](this.pool, this.#holder)) {
      this.#sends.pushLease(data);
    } else if (inPlace) {
      this.#sends.pushView(data as Uint8Array);
    } else {
      const loop = this.loop;
      const arena = loop[kArena];
      if (
        arena.bytesInUse + length > loop.maxQueuedBytes &&
        !loop[kBacklog].makeRoom(arena, length, loop.maxQueuedBytes, this.#port)
      ) {
        return this.#refuse(
          data,
          length > loop.maxQueuedBytes
            ? `a write of ${length} bytes is larger than the loop's maxQueuedBytes (${loop.maxQueuedBytes}); ` +
              `closing the connection`
            : `write of ${length} bytes would take the loop's queued sends past maxQueuedBytes ` +
              `(${loop.maxQueuedBytes}), and no connection is further behind than this one ` +
              `(${this.#sends.arenaBytes} bytes of chunks); closing the connection`,
        );
      }
      if (isLease) {
        // The lease's pool is short of buffers, or its holder (another connection) would be held back
        // by this queue: queue a copy, so a peer that does not read pins native memory bounded by
        // maxBuffered and maxQueuedBytes instead of the pool.
        this.#sends.pushBytes(data[kBytes]);
        data[kGiveBack]();
      } else {
        this.#sends.pushBytes(data);
      }
      if (!this.#is(Bit.Backlogged) && this.#sends.arenaBytes >= BACKLOG_BYTES) {
        this.#set(Bit.Backlogged, true);
        loop[kBacklog].add(this.#port);
      }
    }
    if (!this.#is(Bit.Corked)) this.#sends.send();
    if (this.#sends.buffered >= this.highWaterMark) {
      this.#set(Bit.NeedDrain, true);
      return false;
    }
    return true;
  }

  /** @ignore connect()'s signal aborted: the connection fails with its reason (the program asked: not logged). */
  [kAbort](reason: unknown): void {
    this.#fail(asError(reason), true);
  }

  /** @ignore Writes queue without starting a send until kUncork() (see kCork). */
  [kCork](): void {
    this.#set(Bit.Corked, true);
  }

  /** @ignore Ends kCork(): what the writes queued goes out. */
  [kUncork](): void {
    this.#set(Bit.Corked, false);
    if (this.#phase < Phase.Closing) this.#sends.send();
  }

  /** The loop's queued sends reached maxQueuedBytes with this connection furthest behind. */
  #shed(): void {
    this.#set(Bit.Backlogged, false); // the backlog let go of it
    this.#fail(
      new RangeError(
        `the loop's queued sends reached maxQueuedBytes (${this.loop.maxQueuedBytes}) and this connection was ` +
          `furthest behind (${this.#sends.arenaBytes} bytes of chunks not yet sent); closing the connection`,
      ),
    );
  }

  /** Out of the loop's backlog (its queue went down, or it closes). */
  #leaveBacklog(): void {
    this.#set(Bit.Backlogged, false);
    this.loop[kBacklog].delete(this.#port);
  }

  /** A write that would grow the server past a bound: the data is dropped and the connection fails. */
  #refuse(data: Uint8Array | Lease, message: string): false {
    if (!(data instanceof Uint8Array)) data[kGiveBack]();
    this.#set(Bit.WritesDropped | Bit.StreamCut, true);
    this.#fail(new RangeError(message));
    return false;
  }

  /**
   * Resolves at once while the queue is below highWaterMark, otherwise once everything queued has
   * been sent (when `drain` runs). While bytes written with `{ copy: false }` are queued, it waits
   * until the kernel has let go of them (sent, and with zero-copy sends notified), whatever the
   * queue holds. Rejects with ClosedError once a write of this connection was dropped (written when
   * not `writable`, refused by a bound, or cut off by a close with the writes still queued): what
   * was written will not all arrive. The promise is marked handled: one the program drops is no
   * unhandled rejection, which would end a Deno process for one connection's reset.
   */
  flushed(): Promise<void> {
    if (this.#is(Bit.WritesDropped)) {
      return markHandled(
        Promise.reject(new ClosedError(this.#phase === Phase.Open ? "Connection's write side" : "Connection")),
      );
    }
    if ((this.#sends.buffered < this.highWaterMark || this.#sends.buffered === 0) && this.#sends.inPlace === 0) {
      return Promise.resolve();
    }
    if (this.#phase === Phase.Closed) return markHandled(Promise.reject(new ClosedError("Connection")));
    return markHandled(new Promise((resolve, reject) => (this.#flushWaiters ??= []).push({ resolve, reject })));
  }

  /**
   * Stops reading: after this returns no `data` callback runs until resume(). What the kernel had
   * already received waits in order (and counts as leased from the pool); the peer is held back by
   * TCP flow control.
   */
  pause(): void {
    this.#set(Bit.UserPaused, true);
    this.#updateReceive();
  }

  /** Resumes reading: waiting data is delivered first (in a microtask), then new data. */
  resume(): void {
    if (!this.#is(Bit.UserPaused)) return;
    this.#set(Bit.UserPaused, false);
    this.#resumeIfWithinShare();
    this.#updateReceive();
    if (this.#config.handlers.data && (this.#inbox?.length || this.#is(Bit.ReadEnded))) {
      queueMicrotask(() => this.#drainInbox());
    }
  }

  /** Half-close: once queued writes are sent, shutdown(SHUT_WR); reading goes on until the peer ends. */
  shutdown(): void {
    if (this.#phase !== Phase.Open || this.#is(Bit.ShutdownAfterFlush) || this.#is(Bit.WriteShut)) return;
    this.#set(Bit.ShutdownAfterFlush, true);
    if (!this.#sends.sending) this.#flushDone();
  }

  /**
   * Close once queued writes are sent; later writes are dropped. `data`, when given, is written first
   * (as `socket.end(data)` does in `node:net` and Bun: it was ignored, and the last reply lost).
   *
   * @throws {TypeError} for `data` that `write()` refuses (a string: encode it).
   */
  end(data?: Uint8Array | Lease): void {
    if (data !== undefined) this.write(data);
    if (this.#phase !== Phase.Open) return;
    this.#phase = Phase.Ending;
    if (!this.#sends.sending) return this.#flushDone();
    // A peer that takes none of what is queued must not hold the connection for ever.
    this.#boundStall();
  }

  /**
   * Without an idle timeout of the program's, a wait on the peer gets one of ENDING_STALL_SECONDS:
   * the flush of an ended connection, or an end put off (#boundEnd). False when one is set.
   */
  #boundStall(): boolean {
    if (this.#idleMs !== 0) return false;
    this.#idleMs = endingBound(0);
    this.#touchNow();
    this.#watch();
    return true;
  }

  /**
   * Close now: cancel in-flight operations, drop queued writes (their leases are released). Resolves
   * once the fd is closed. Idempotent. A close that cut queued writes off (as a failure's does)
   * resets the connection, so the peer sees ECONNRESET instead of a clean end of a cut stream.
   */
  close(): Promise<void> {
    if (this.#phase >= Phase.Closing) return this.#whenClosed();
    this.#startClose();
    return this.#whenClosed();
  }

  #closedPromise: Promise<void> | undefined;
  #closedResolve: (() => void) | undefined;

  /** Settles when the fd is closed. */
  #whenClosed(): Promise<void> {
    if (this.#phase === Phase.Closed) return Promise.resolve();
    return this.#closedPromise ??= new Promise((resolve) => (this.#closedResolve = resolve));
  }

  #startClose(): void {
    unwatchQuotaStall(this);
    const eofTimer = eofTimers.get(this);
    if (eofTimer !== undefined) {
      clearTimeout(eofTimer);
      eofTimers.delete(this);
    }
    this.#phase = Phase.Closing;
    // What no send in flight covers goes at once: memory the loop's other connections may need.
    if (this.#sends.dropQueued() > 0) this.#set(Bit.WritesDropped | Bit.StreamCut, true);
    if (this.#is(Bit.Backlogged)) this.#leaveBacklog();
    this.#receiver.stop(() => this.#maybeFinish());
    if (this.#sends.sending && !this.#is(Bit.CancelSent)) {
      this.#set(Bit.CancelSent, true);
      this.loop.reactor.cancel(this.#token);
    }
    if (this.#is(Bit.HangupWatch)) this.loop.reactor.cancel(this.#hangupToken);
    this.#maybeFinish();
  }

  /** Abort: close with a reset (RST) so the peer sees ECONNRESET; queued writes are dropped. Resolves once closed. */
  reset(): Promise<void> {
    if (this.#phase < Phase.Closing) {
      try {
        setLingerZero(this.fd);
      } catch {
        // Already broken: a plain close does.
      }
    }
    return this.close();
  }

  /**
   * `using conn`: end() — what was written still goes out, then the connection closes (close()
   * would drop it: leaving a block must not lose the block's writes).
   */
  [Symbol.dispose](): void {
    this.end();
  }

  /** `await using conn`: end(), and wait until the fd is closed (end()'s bounds hold for a peer that reads nothing). */
  [Symbol.asyncDispose](): Promise<void> {
    this.end();
    return this.#whenClosed();
  }

  /**
   * Reads the connection as leases, Deno.Conn style (only when it has no `data` handler). The loop
   * ends at EOF, and also when the connection fails (`conn.error` says why). Release each lease, or
   * write it. Leaving the loop early (`break`, `return`, a throw) releases what was received and not
   * read, and ends the connection (queued writes are still sent).
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Lease> {
    if (this.#config.handlers.data) throw new TypeError("this connection has a data handler; iterate one without it");
    // Two loops at once would split the leases between them, each seeing holes in the stream.
    if (this.#is(Bit.Reading)) {
      throw new TypeError("this connection is read by another for await loop: one at a time (leave the first)");
    }
    this.#set(Bit.Iterated | Bit.Reading, true);
    const inbox = this.#useInbox();
    return {
      // Itself iterable, as an async generator is: `for await (const l of it)` over a kept iterator.
      [Symbol.asyncIterator]() {
        return this;
      },
      next: () => inbox.next(),
      return: () => {
        this.#set(Bit.Reading, false);
        this.#discardInbox(); // what still arrives is released too
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  #useInbox(): PullQueue<Lease> {
    if (this.#inbox) return this.#inbox;
    this.#inbox = new PullQueue<Lease>({
      taken: () => this.#inboxTaken(),
      waiting: () => this.#resumeIfWithinShare(),
      finished: () => {
        this.#set(Bit.Reading, false);
        this.#eofConsumed();
      },
    });
    // Made after the close began (a loop started late): nothing more will come, so it ends now.
    if (this.#phase >= Phase.Closing) this.#inbox.end();
    return this.#inbox;
  }

  /**
   * Leases left the inbox (read, or delivered after a pause): receiving resumes below half its limit.
   * A read is activity: a program behind on what arrived is not idle, though its receive is held.
   */
  #inboxTaken(): void {
    if (this.#phase === Phase.Open) this.#touch();
    if (this.#is(Bit.InboxFull) && (this.#inbox?.length ?? 0) < INBOX_LIMIT / 2) {
      this.#set(Bit.InboxFull, false);
      this.#updateReceive();
    }
  }

  /** A received lease (from the StreamReceiver, through the port). */
  #received(lease: Lease): void {
    if (this.#is(Bit.Lingering) || this.#phase >= Phase.Closing) {
      // Discarded bytes are no activity: a peer that keeps sending cannot hold an ended connection open.
      lease.release();
      return;
    }
    // After end() only our sends' progress counts: a peer that keeps sending and never reads must not
    // hold the connection open while the reply waits for it.
    if (this.#phase === Phase.Open) this.#touch();
    if (this.#config.handlers.data && !this.#is(Bit.UserPaused) && !this.#inbox?.length) {
      this.#call(this.#config.handlers.data, lease, true);
    } else {
      // Held for `for await`, or while paused (what was in flight when pause() came). The inbox's
      // limit also bounds a paused connection whose copies keep it under its pool quota.
      const inbox = this.#useInbox();
      if (this.#hold(inbox, lease) && inbox.length >= INBOX_LIMIT && !this.#is(Bit.InboxFull)) {
        this.#set(Bit.InboxFull, true);
        this.#updateReceive();
      }
    }
    if (!this.#is(Bit.OverQuota) && this.pool.overQuota(this.#holder)) {
      this.#set(Bit.OverQuota, true);
      this.#updateReceive();
      // Nothing of its own queued to send, not paused, nothing waiting to be read: the leases are
      // the program's, or wait in another connection's queue. Once the pool has reported, no closure.
      if (!quotaWarned.has(this.pool)) {
        watchQuotaStall(
          this,
          this.pool,
          this.#holder,
          () => this.#sends.buffered === 0 && !this.#is(Bit.UserPaused) && !this.#inbox?.length,
        );
      }
    }
  }

  /**
   * Queues a lease to wait in the inbox: a copy when its pool runs short, so waiting data does not
   * pin the pool. False (and the lease released) when nobody will read it any more.
   */
  #hold(inbox: PullQueue<Lease>, lease: Lease): boolean {
    const item = lease[kScarce] && !inbox.waiting ? leaseCopies.copy(lease) : lease;
    if (inbox.push(item)) return true;
    item.release(); // the program left its loop, or the connection failed
    return false;
  }

  /** Nobody reads the inbox any more: it takes no more leases, and those waiting are released. */
  #discardInbox(): void {
    this.#inbox?.end();
    this.#inbox?.clear((lease) => lease.release());
  }

  /**
   * LeaseHolder (through the port): the program has read everything and waits for more, not paused: a
   * `for await` loop waiting on its next lease, or a `data` handler with nothing queued for it. Not
   * while this connection has sends queued: leases written come back by themselves as they go out.
   */
  #waitingToRead(): boolean {
    if (this.#is(Bit.UserPaused) || this.#sends.buffered > 0) return false;
    const inbox = this.#inbox;
    if (this.#config.handlers.data) return inbox === undefined || inbox.length === 0;
    return inbox !== undefined && inbox.waiting && inbox.length === 0;
  }

  /**
   * Held back at its share while the program waits for more: within its share it receives again (see
   * HolderTable.resumeWithinShare), though above the half at which a release would resume it. A
   * program that keeps a window of leases, or the pieces of a message, releases nothing until more
   * comes: held back at half, it would wait for ever.
   */
  #resumeIfWithinShare(): void {
    if (this.#is(Bit.OverQuota) && this.pool.resumeWithinShare(this.#holder)) this.#underQuota();
  }

  /** LeaseHolder (through the port): enough of our leases came back to receive again. */
  #underQuota(): void {
    unwatchQuotaStall(this);
    this.#set(Bit.OverQuota, false);
    this.#updateReceive();
  }

  /** Pauses or resumes the kernel receive to match what the program and the pool allow. */
  #updateReceive(): void {
    if (!this.#receiver.active) return;
    const hold = this.#is(Bit.UserPaused) || this.#is(Bit.InboxFull) || this.#is(Bit.OverQuota);
    if (hold && !this.#receiver.paused) this.#receiver.pause();
    else if (!hold && this.#receiver.paused) this.#receiver.resume();
  }

  /** Handler mode after resume(): delivers what waited, then a waiting EOF. */
  #drainInbox(): void {
    if (this.#is(Bit.Draining)) return;
    this.#set(Bit.Draining, true);
    try {
      const inbox = this.#inbox;
      let lease: Lease | undefined;
      while (
        !this.#is(Bit.UserPaused) && this.#phase < Phase.Closing && !this.#is(Bit.Lingering) &&
        (lease = inbox?.shift()) !== undefined
      ) {
        this.#call(this.#config.handlers.data!, lease, true);
      }
      this.#inboxTaken();
      this.#resumeIfWithinShare();
      if (!this.#is(Bit.UserPaused) && !inbox?.length && this.#is(Bit.ReadEnded) && !this.#is(Bit.EofSeen)) {
        if (!this.#failAfterInbox()) this.#deliverEnd();
      }
    } finally {
      this.#set(Bit.Draining, false);
    }
  }

  /** The receive ended (through the port): EOF (no error) or a failure. */
  #receiveEnded(error?: UringError): void {
    this.#set(Bit.ReadEnded, true);
    // Once ended, what arrives is discarded: an EOF then does not mean the program got it all.
    if (!error && !this.#is(Bit.Lingering) && this.#phase < Phase.Closing) {
      this.#set(Bit.PeerEnded, true);
      this.#keepRemote();
      // In the for-await style the end that follows an EOF waits until the program's loop sees it, and
      // the loop may wait on flushed() for a peer that reads nothing: bound it (a handler's end does not
      // wait, or is bounded where its async calls hold it: #afterEof).
      if (!this.#config.handlers.data && !this.#config.allowHalfOpen && this.#phase === Phase.Open) this.#boundEnd();
    }
    if (this.#is(Bit.Lingering)) {
      void this.close();
      return;
    }
    if (error) {
      if (this.#inbox?.length && this.#phase < Phase.Closing) {
        // What arrived before a reset is the program's, as a socket's unread bytes stay readable
        // after one: it reads what waits, then the connection fails with the error.
        this.#readError = error;
        if (!this.#config.handlers.data) this.#inbox.end();
        return;
      }
      this.#fail(error);
      return;
    }
    if (this.#config.allowHalfOpen && this.#phase === Phase.Open) this.#watchHangup();
    if (this.#config.handlers.data) {
      if (!this.#is(Bit.UserPaused) && !this.#inbox?.length) this.#deliverEnd();
    } else {
      this.#useInbox().end(); // the iterator says done after the queued leases: then #eofConsumed
    }
  }

  /** Handler mode: every lease before EOF was delivered; now the end handler. */
  #deliverEnd(): void {
    this.#set(Bit.EofSeen, true);
    if (this.#phase >= Phase.Closing) return;
    if (this.#config.handlers.end) this.#call(this.#config.handlers.end, undefined, true);
    this.#afterEof();
  }

  /** The program has had what arrived before a receive failure (see #receiveEnded): now it fails. */
  #failAfterInbox(): boolean {
    const error = this.#readError;
    if (!error) return false;
    this.#readError = undefined;
    this.#fail(error);
    return true;
  }

  /** Iteration mode: the program's loop has seen the end. */
  #eofConsumed(): void {
    if (this.#failAfterInbox()) return;
    this.#set(Bit.EofSeen, true);
    // Writes the program makes right after its loop (same task, or promises already settled) still go out.
    if (this.#config.allowHalfOpen && !this.#is(Bit.Stopping)) return this.#afterEof();
    eofTimers.set(
      this,
      setTimeout(() => {
        eofTimers.delete(this);
        this.#afterEof();
      }, 0),
    );
  }

  #afterEof(): void {
    if (this.#phase !== Phase.Open) return;
    if (!this.#config.allowHalfOpen || this.#is(Bit.Stopping)) {
      // An async handler still running may write its answer (or fail) after an await: end after it.
      if (this.#running > 0) this.#endWhenSettled();
      else {
        // Not after the program's own shutdown(): that, not this end, is what drops its later writes.
        if (!this.#is(Bit.Stopping) && this.writable) this.#set(Bit.AutoEnded, true);
        this.end();
      }
    } else if (this.#is(Bit.WriteShut)) void this.close(); // both directions are done
  }

  #touch(): void {
    this.#lastActive = Math.ceil(this.#config.idle.now); // rounded up: a timeout never fires early
  }

  /** #touch() with the clock read afresh: for a call that may come from a timer (outside a turn, where `now` lags). */
  #touchNow(): void {
    this.#lastActive = Math.ceil(this.#config.idle.freshNow());
  }

  /** Files the connection in the idle wheel; one filed already for a later deadline is filed again. */
  #watch(): void {
    const idle = this.#config.idle;
    this.#idleWatch = this.#idleWatch?.entry ? idle.reschedule(this.#idleWatch) : idle.watch(this.#port);
  }

  /** IdleWatched (through the port): when the connection becomes idle, -1 for never. */
  #idleDeadline(): number {
    if (this.#idleMs === 0 || this.#phase === Phase.Closed) return -1;
    return this.#lastActive + this.#idleMs;
  }

  /** IdleWatched (through the port): no activity for idleTimeout. */
  #idleExpired(): void {
    if (this.#phase >= Phase.Closing) return;
    this.#touch(); // the next timeout counts from here
    const sendWaits = this.#sends.sending && !this.#is(Bit.Lingering);
    if (this.#inbox?.length && !this.#is(Bit.UserPaused) && this.#phase === Phase.Open && !sendWaits) {
      // What arrived waits for the program's loop (which holds the receive back once 32 wait): the
      // program is behind, the peer is not idle. Not while a send waits on the peer: the loop may be
      // waiting on that send (`await conn.flushed()`), and a peer that reads nothing held it for good.
      this.#watch();
      return;
    }
    if (sendWaits) {
      // A send waits on the peer: it is not idle while it takes more of our bytes (a slow reader of a
      // long reply, whose send completes only once the kernel's buffer has room for it). The first
      // check takes a base and looks again half an idle time later; a peer that took nothing meanwhile is idle.
      if (this.#peerTookMore()) {
        this.#lastActive -= Math.floor(this.#idleMs / 2);
        this.#watch();
        return;
      }
    }
    if (this.#is(Bit.EndBound) && this.#phase === Phase.Open) {
      // The end waits on the program: idle only while a send waits on a peer that took nothing.
      if (this.#sends.sending) void this.close();
      else this.#watch();
      return;
    }
    if (this.#is(Bit.Lingering)) {
      // Closed with the peer still sending, the socket resets, and the peer's program may never read
      // what it has of ours: linger on while it reads (a slow reader of a long reply), not while it does not.
      if (!this.#peerTookMore()) void this.close();
    } else if (this.#phase === Phase.Ending || !this.#config.handlers.timeout) {
      void this.close(); // ended, its peer has taken none of the rest for that long: no handler's to decide
    } else this.#call(this.#config.handlers.timeout);
    if (this.#idleMs > 0 && this.#phase < Phase.Closing) this.#watch();
  }

  /**
   * The first look takes a base of how far the peer has taken our bytes (peerIntake); a later one
   * says whether it took more since. True for a base or progress, which becomes the next base.
   */
  #peerTookMore(): boolean {
    const intake = peerIntake(this.fd);
    if (intake < 0 || (this.#intake >= 0 && intake <= this.#intake)) return false;
    this.#intake = intake;
    return true;
  }

  /** Completion of this connection's send (CompletionTarget, through the port). */
  #sendDone(res: number, flags: number): void {
    const sent = this.#sends.complete(res, flags);
    if (this.#is(Bit.Backlogged) && this.#sends.arenaBytes < BACKLOG_BYTES) this.#leaveBacklog();
    if (sent === NOTIFICATION || this.#phase === Phase.Closing) {
      if (this.#phase === Phase.Closing) this.#maybeFinish();
      else if (this.#sends.buffered === 0) this.#resolveFlushed(); // what flushed() waited for may be notified now
      return;
    }
    if (sent < 0) {
      this.#fail(new UringError("send", -sent, `fd ${this.fd}`));
      return;
    }
    if (sent > 0) {
      this.#touch();
      if (!this.#is(Bit.Lingering)) this.#intake = -1; // progress shown: a later wait takes a new base
    }
    if (this.#sends.buffered > 0) this.#sends.send();
    else this.#flushDone();
  }

  /** flushed() waiters, once nothing is queued and the kernel holds none of the bytes written in place. */
  #resolveFlushed(): void {
    if (this.#flushWaiters && this.#sends.inPlace === 0) {
      for (const w of this.#flushWaiters.splice(0)) w.resolve();
    }
  }

  /** The queue is empty: drain, then any pending shutdown or end. */
  #flushDone(): void {
    this.#resolveFlushed();
    this.#resumeIfWithinShare(); // its sends no longer keep it from counting as waiting
    if (this.#is(Bit.NeedDrain)) {
      this.#set(Bit.NeedDrain, false);
      if (this.#config.handlers.drain) this.#call(this.#config.handlers.drain);
      if (this.#sends.sending || this.#phase >= Phase.Closing) return;
    }
    if (this.#is(Bit.ShutdownAfterFlush)) {
      this.#set(Bit.ShutdownAfterFlush, false);
      this.#sendShutdown();
    }
    if (this.#phase !== Phase.Ending || this.#is(Bit.Lingering)) return;
    if (this.#is(Bit.ReadEnded)) void this.close(); // nothing left unread: close sends a plain FIN
    else this.#linger();
  }

  /**
   * Ending while the peer may still send: close(2) with unread data would reset the connection and
   * destroy what the peer has not read yet. So shut our side down, discard what still arrives, and
   * close at the peer's EOF, or once its program has read none of our bytes for LINGER_SECONDS after
   * the last of our sends, whatever the peer still sends.
   */
  #linger(): void {
    this.#set(Bit.Lingering, true);
    if (!this.#is(Bit.WriteShut) && !this.#is(Bit.ShutdownInFlight)) this.#sendShutdown();
    this.#discardInbox();
    this.#bits &= ~(Bit.UserPaused | Bit.InboxFull | Bit.OverQuota);
    this.#updateReceive();
    this.#idleMs = lingerBound(this.#idleMs);
    // The first check, soon, takes the base: by then the peer has read our last bytes if it reads at
    // all, so their reading does not count as progress and buy it another LINGER_SECONDS.
    this.#intake = -1;
    this.#touchNow();
    this.#lastActive -= Math.max(0, this.#idleMs - LINGER_BASE_MS);
    this.#watch();
  }

  /**
   * After the peer's EOF, a connection that may still write (allowHalfOpen) cannot tell a half-close
   * from a peer that closed for good: the latter answers our next bytes with a reset, which no receive
   * is left to see (the EOF ended it), so only the write after that one would fail. A multishot poll
   * notices the reset when it comes: its first completion reports the EOF (POLLRDHUP, which 6.18
   * reports though not asked for: a one-shot poll would end there), a later one the reset's POLLERR.
   */
  #watchHangup(): void {
    const reactor = this.loop.reactor;
    this.#set(Bit.HangupWatch, true);
    const token = this.#hangupToken = reactor.register({
      complete: (res, flags) => {
        if ((flags & abi.IORING_CQE_F_MORE) === 0) {
          reactor.unregister(token);
          this.#set(Bit.HangupWatch, false);
          if (this.#phase === Phase.Closing) this.#maybeFinish();
          return;
        }
        if (res <= 0 || (res & abi.POLLERR) === 0 || this.#phase >= Phase.Closing) return;
        const errno = takeSocketError(this.fd);
        if (errno > 0) this.#fail(new UringError("send", errno, `fd ${this.fd}`));
      },
    });
    prepPollMultishot(reactor.ring.sqes, reactor.prepare(token), this.fd, abi.POLLERR | abi.POLLHUP);
  }

  /**
   * The close handler is where a server logs who left: the address is kept for it while the kernel
   * still knows it. Asked at the peer's EOF and at our own shutdown too, since once both ends have
   * closed (TIME_WAIT) getpeername(2) says ENOTCONN; a peer that reset has none.
   */
  #keepRemote(): void {
    if (!this.#config.handlers.close || this.#remote) return;
    try {
      this.#remote = remoteAddress(this.fd);
    } catch {
      // Gone already (ENOTCONN).
    }
  }

  /** SHUTDOWN(SHUT_WR), tracked: the fd must stay open until the kernel has run it (it looks the fd up then; closed and reused meanwhile, another socket would be shut down). */
  #sendShutdown(): void {
    this.#keepRemote();
    const reactor = this.loop.reactor;
    this.#set(Bit.ShutdownInFlight, true);
    const token = reactor.register({
      complete: () => {
        reactor.unregister(token);
        this.#set(Bit.ShutdownInFlight, false);
        this.#set(Bit.WriteShut, true);
        if (this.#phase === Phase.Closing) this.#maybeFinish();
        else if (this.#is(Bit.EofSeen) && this.#phase === Phase.Open) void this.close(); // both directions are done
        else if (this.#is(Bit.Lingering) && this.#is(Bit.ReadEnded)) void this.close();
      },
    });
    prepShutdown(reactor.ring.sqes, reactor.prepare(token), this.fd, abi.SHUT_WR);
  }

  /**
   * Calls a handler; an exception (an async one's rejection) fails the connection. The auto-end at
   * EOF waits for the async calls made with `input` (data and end: they answer what was received),
   * not for an open() or timeout() that may run for the connection's whole life.
   */
  #call(handler: (conn: Connection<Data>, lease: Lease) => void, lease?: Lease, input = false): void {
    try {
      const result: unknown = handler(this, lease!);
      // An async handler's rejection is its exception, after its first await.
      if (!(result instanceof Promise)) return;
      if (!input) {
        result.then(undefined, (e) => this.#failLater(asError(e)));
        return;
      }
      this.#running++;
      result.then(() => this.#settled(), (e) => {
        lease?.[Symbol.dispose]();
        this.#failLater(asError(e));
        this.#settled();
      });
    } catch (e) {
      // A data handler that failed before it released or wrote its lease would hold the buffer until
      // the leak net found it (as UDP's message handler would).
      lease?.[Symbol.dispose]();
      this.#fail(asError(e));
    }
  }

  /** An async handler call settled: the end that EOF put off waits for none now. */
  #settled(): void {
    if (--this.#running === 0 && this.#is(Bit.EndWhenSettled)) {
      this.#set(Bit.EndWhenSettled, false);
      this.end();
    }
  }

  /** An async handler (or error/close handler) rejected: #fail() while it can, else logged, never lost. */
  #failLater(error: Error): void {
    if (this.#phase !== Phase.Closed && !this.#error) return this.#fail(error);
    // Closed without a failure (close(), a graceful stop's reset at its deadline): a handler's first
    // failure after it, its `await flushed()` rejected say, is still the connection's first.
    if (this.#config.handlers.error && !this.#error && !this.#is(Bit.LateFailureTold)) {
      this.#set(Bit.LateFailureTold, true);
      return this.#tellError(error);
    }
    if (!isRoutine(error)) console.error(`uring-buffers: a handler of connection fd ${this.fd} failed:`, error);
  }

  /** Reports the connection's first failure (to `error`, or logged unless routine or asked for) and closes it. */
  #fail(error: Error, asked = false): void {
    if (this.#phase === Phase.Closed || this.#error) return;
    this.#error = error;
    if (this.#config.handlers.error) {
      this.#tellError(error);
    } else if (!asked && !isRoutine(error)) {
      console.error(`uring-buffers: connection fd ${this.fd} closed after an error:`, error);
    }
    this.#inbox?.end();
    void this.close();
  }

  /** Gives `error` to the `error` handler (there is one); what it throws or rejects with is logged. */
  #tellError(error: Error): void {
    try {
      const result: unknown = this.#config.handlers.error!(this, error);
      if (result instanceof Promise) result.then(undefined, (e) => this.#failLater(asError(e)));
    } catch (e) {
      console.error(`uring-buffers: the error handler of connection fd ${this.fd} threw:`, e);
    }
  }

  #maybeFinish(): void {
    if (
      this.#phase !== Phase.Closing || this.#sends.busy || this.#is(Bit.ShutdownInFlight | Bit.HangupWatch) ||
      !this.#receiver.finished
    ) return;
    this.#phase = Phase.Closed;
    if (this.#idleWatch) this.#config.idle.unwatch(this.#idleWatch); // the wheel lets go of it now
    if (this.#sends.clear() > 0) this.#set(Bit.WritesDropped | Bit.StreamCut, true);
    const dropped = this.#is(Bit.WritesDropped);
    this.loop.reactor.unregister(this.#token);
    if (this.#is(Bit.StreamCut)) {
      // A peer that got a clean end after a cut stream would take what it got for all of it.
      try {
        setLingerZero(this.fd);
      } catch {
        // The socket is gone already (a reset): the close below is all there is to do.
      }
    }
    this.#keepRemote();
    try {
      closeFd(this.fd);
    } catch (e) {
      if (!(e instanceof UringError && e.errno === Errno.EBADF)) throw e;
    }
    this.loop.driver.unref();
    this.#discardInbox();
    this.pool.removeHolder(this.#holder);
    if (this.#flushWaiters) {
      for (const w of this.#flushWaiters.splice(0)) {
        if (dropped) w.reject(new ClosedError("Connection"));
        else w.resolve();
      }
    }
    this.#config.owner?.connectionClosed(this);
    // Awaited closes settle once the loop's park has returned too, if this was its last reference.
    if (this.#closedResolve) void this.loop.driver[kSettled]().then(this.#closedResolve);
    if (this.#config.handlers.close) {
      try {
        const result: unknown = this.#config.handlers.close(this);
        if (result instanceof Promise) result.then(undefined, (e) => this.#failLater(asError(e)));
      } catch (e) {
        console.error(`uring-buffers: the close handler of connection fd ${this.fd} threw:`, e);
      }
    }
  }
}
