/**
 * TCP servers and clients on an IoLoop: `listen()` accepts with multishot accept and hands each
 * connection to handlers in the style of Bun.listen; `connect()` opens a client connection.
 */
import * as abi from "../abi.ts";
import type { BufferPool, BufferPoolOptions, PoolStats } from "../buffers/pool.ts";
import { asError, UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { prepAccept, prepConnect, prepMultishotAccept } from "../prep.ts";
import { probeFeatures } from "../probe.ts";
import { checkBoolean, checkOptionKeys, checkSignal, describe, numberError } from "../options.ts";
import {
  checkConnectionOptions,
  Connection,
  CONNECTION_OPTION_KEYS,
  ConnectionConfig,
  type ConnectionHandlers,
  type ConnectionOptions,
  type ConnectionOwner,
} from "./connection.ts";
import { kAbort, kCloseNow, kEndGracefully, kEndSettled, kListenFd, kSettled, kStart } from "../internal.ts";
import { checkLoop, CLIENT_POOL, getDefaultLoop, type IoLoop, resolveStreamPool, SERVER_POOL } from "./loop.ts";
import { PullQueue } from "./pull_queue.ts";
import { checkEndpoint, encodeSockaddr, formatEndpoint } from "../sockaddr.ts";
import { closeFd, closeFdIfOpen, localAddress, newSocket, setNoDelay, stopListening, tcpListen } from "./socket.ts";
import { closeAtUnload, forgetAtUnload } from "./unload.ts";

/** A server's handlers: every connection's (see ConnectionHandlers), and `acceptError`. */
export interface ServerHandlers<Data = unknown> extends ConnectionHandlers<Data> {
  /**
   * accept failed (e.g. EMFILE); the server keeps listening and retries. Without this handler the
   * failures are logged to stderr, at most one line per second with how many there were.
   */
  acceptError?(error: UringError): void;
}

/**
 * Options of `listen()`, besides the connection options applied to every accepted connection
 * (highWaterMark, maxBuffered, idleTimeout, allowHalfOpen, zeroCopyMin). Unknown keys are refused.
 */
export interface ListenOptions<Data = unknown> extends ConnectionOptions {
  /** The address to listen on: an IPv4 or IPv6 literal ("::1", "::"), or "localhost". Default "127.0.0.1". */
  hostname?: string;
  /** 0 (default) picks a free port; read it from server.port. */
  port?: number;
  /** listen(2) backlog: connections the kernel queues before they are accepted. Default 4096. */
  backlog?: number;
  /** SO_REUSEPORT, for one listener per worker. Default false. */
  reusePort?: boolean;
  /** TCP_NODELAY on accepted sockets. Default true. */
  noDelay?: boolean;
  /**
   * At most this many open connections (a positive integer; default no limit). Beyond it a new
   * connection is accepted and closed at once, so its client sees EOF instead of waiting in the
   * backlog; stats().rejected counts them.
   */
  maxConnections?: number;
  /**
   * The receive buffer pool every connection shares: an existing one (on the server's loop; not
   * closed by the server), or options for a new one that the server owns and frees when it stops.
   * Default: 128 buffers of 64 KiB consumed incrementally where the kernel has it (6.12), else 1024
   * buffers of 4 KiB; options that set bufferSize, count or incremental (or the "legacy" backend)
   * get exactly that, with the 4 KiB defaults for the rest.
   */
  pool?: BufferPool | BufferPoolOptions;
  /** The loop to run on. Default: the thread's shared loop (getDefaultLoop()). */
  loop?: IoLoop;
  /** Aborting stops the server (as stop() does). */
  signal?: AbortSignal;
  /**
   * Bun.listen style. Iteration mode: with neither an `open` nor a `data` handler (or without
   * handlers at all), accepted connections wait in a queue for `for await (const conn of server)`
   * (Deno.listen style). With either handler nothing is queued and the server cannot be iterated.
   * Without `data` each connection is read with `for await (const lease of conn)`.
   */
  handlers?: ServerHandlers<Data>;
}

/** What modules of this package may add to ListenOptions (see src/internal.ts). */
interface InternalListenOptions<Data> extends ListenOptions<Data> {
  [kEndGracefully]?: (conn: Connection<Data>) => void;
  [kCloseNow]?: (conn: Connection<Data>) => void;
}

/** Options of `Server.stop()`. */
export interface StopOptions {
  /**
   * Grace period in ms (a non-negative number; default Infinity: no deadline). Every connection is
   * ended: its queued writes are sent, then it closes. Those still open at the deadline are reset
   * (RST, so their peers see that data was cut short) and counted in stats().forced.
   */
  graceMs?: number;
  /**
   * Leave the open connections alone instead of ending them (default false): they close on their own
   * (the program ends them, their peers close, an idle timeout), as after node's `server.close()` or
   * Deno's `listener.close()`, and those still open at `graceMs` are reset. For streams that must run
   * to their end, a proxy's: ending them would cut them with a clean EOF.
   */
  leaveOpen?: boolean;
}

/** `Server.stats()`: counters since the server started, and its pool's stats. */
export interface ServerStats {
  /** Open connections. */
  connections: number;
  /** Connections taken: given to the handlers or queued for `for await`. */
  accepted: number;
  /** Connections closed as soon as accepted: beyond maxConnections, or after a `for await` over the server was left. */
  rejected: number;
  /** Accept completions that failed (EMFILE, ENFILE, ...); the server retried each time. */
  acceptErrors: number;
  /** Connections that a graceful stop reset at its deadline. */
  forced: number;
  /** Iteration mode: accepted connections waiting for `for await`. */
  queued: number;
  /** The stats of the pool the connections receive into. */
  pool: PoolStats;
}

const ACCEPT_RETRY_MS = 10;
/** Without an acceptError handler, accept failures are logged at most once per this many ms. */
const ACCEPT_LOG_MS = 1000;
/** setTimeout's longest delay: longer grace periods wait in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const CONNECTION_HANDLER_NAMES = ["open", "data", "drain", "end", "error", "close", "timeout"];
const HANDLER_NAMES = [...CONNECTION_HANDLER_NAMES, "acceptError"];
const LISTEN_KEYS = [
  ...CONNECTION_OPTION_KEYS,
  "hostname",
  "port",
  "backlog",
  "reusePort",
  "noDelay",
  "maxConnections",
  "pool",
  "loop",
  "signal",
  "handlers",
];
const CONNECT_KEYS = [...CONNECTION_OPTION_KEYS, "hostname", "port", "noDelay", "pool", "loop", "signal", "handlers"];

/** Checks a handlers object: known names only, each a function. */
function checkHandlers(what: string, handlers: unknown, names: readonly string[]): void {
  if (handlers === undefined) return;
  checkOptionKeys(what, handlers, names);
  for (const name of names) {
    const handler = (handlers as Record<string, unknown>)[name];
    if (handler !== undefined && typeof handler !== "function") {
      throw new TypeError(`handlers.${name} must be a function, got ${describe(handler)}`);
    }
  }
  const h = handlers as { data?: unknown; end?: unknown };
  if (h.end !== undefined && h.data === undefined) {
    // It would never run: without `data` the connection is read with `for await`, whose loop ends at EOF.
    throw new TypeError(
      "handlers.end runs after the last data call, so it needs a data handler; without one, read the connection " +
        "with for await, whose loop ends at the peer's EOF",
    );
  }
}

/** `stop(false)`, as Bun.listen's. */
const LEAVE_OPEN: StopOptions = Object.freeze({ leaveOpen: true });

function graceOf(options: StopOptions): number {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`stop() takes nothing, a boolean or { graceMs }, got ${describe(options)}`);
  }
  // A misspelt key would otherwise mean a graceful stop without a deadline.
  checkOptionKeys("stop()", options, ["graceMs", "leaveOpen"]);
  checkBoolean("leaveOpen", options.leaveOpen);
  const graceMs = options.graceMs ?? Infinity;
  if (typeof graceMs !== "number" || !(graceMs >= 0)) {
    throw numberError(graceMs, `graceMs must be a non-negative number of milliseconds, got ${describe(graceMs)}`);
  }
  return graceMs;
}

/**
 * Told of every listening socket of this thread as it opens and before it closes (with its ring's
 * fd): serveWorker() passes them on to startWorkers(), which closes those of a worker that dies, even
 * one that dies before its start function returned; and it stops the servers a failed start left.
 */
export const listenerWatch: {
  opened?: (listenFd: number, ringFd: number, server: WatchedServer) => void;
  closing?: (listenFd: number) => void;
} = {};

/** What listenerWatch.opened is given of the server. */
export interface WatchedServer {
  /** close(2) of its connections' sockets at once (a worker dying of an uncaught error). */
  closeConnections(): void;
  stop(): Promise<void>;
  readonly loop: IoLoop;
}

/**
 * A TCP listener (from `listen()`): multishot accept on the loop's ring, each connection handed to
 * the handlers (Bun.listen style) or, without `open` and `data` handlers, queued for
 * `for await (const conn of server)` (Deno.listen style). It never stops because of one
 * connection or an accept failure; `stop()` ends it (at once, or gracefully with `graceMs`).
 *
 * @example Echo, then a graceful stop on SIGINT
 * ```ts
 * import process from "node:process";
 * import { listen } from "uring-buffers";
 *
 * const server = listen({
 *   port: 9000,
 *   idleTimeout: 60,
 *   handlers: {
 *     data(conn, lease) {
 *       if (!conn.write(lease)) conn.pause(); // the send releases the lease
 *     },
 *     drain: (conn) => conn.resume(),
 *   },
 * });
 * process.once("SIGINT", async () => {
 *   await server.stop({ graceMs: 5000 }); // queued replies go out; the rest is reset after 5 s
 *   console.log(server.stats());
 * });
 * ```
 */
export class Server<Data = unknown> {
  /** The address listened on, as given (default "127.0.0.1"). */
  readonly hostname: string;
  /** The port listened on (the one the kernel picked when `port` was 0). */
  readonly port: number;
  /** The loop the server and its connections run on. */
  readonly loop: IoLoop;
  /** The pool every connection receives into. */
  readonly pool: BufferPool;
  /** What the server's connections tell it (a small object, so these are not methods of the Server). */
  readonly #owner: ConnectionOwner<Data> = {
    connectionClosed: (conn) => this.#connectionClosed(conn),
  };
  readonly #ownsPool: boolean;
  readonly #fd: number;
  readonly #handlers: ServerHandlers<Data>;
  readonly #connConfig: ConnectionConfig<Data>;
  readonly #noDelay: boolean;
  readonly #maxConnections: number;
  readonly #token: number;
  readonly #connections = new Set<Connection<Data>>();
  readonly #multishot: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.stop();
  readonly #endGracefully: (conn: Connection<Data>) => void;
  readonly #closeNow: (conn: Connection<Data>) => void;
  #accepting = false;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #accepted = 0;
  #rejected = 0;
  #acceptErrors = 0;
  #acceptHandlerThrew = false;
  #forced = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #allClosed: (() => void) | undefined;
  #acceptEnded: (() => void) | undefined;
  // Graceful stop: connections were ended and are reset at the deadline (performance.now() time).
  #draining = false;
  #deadline = Infinity;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  // Accept failures not logged yet (no acceptError handler): count and codes since the last line.
  #unlogged = 0;
  readonly #unloggedCodes = new Set<string>();
  #loggedAt = -Infinity;
  #logTimer: ReturnType<typeof setTimeout> | undefined;
  // Iteration mode (no open and no data handler): accepted connections wait here for `for await`. A
  // Set, so that a connection closing while it waits leaves at once.
  readonly #iterable: boolean;
  readonly #incoming = new PullQueue<Connection<Data>>();
  #queueing: boolean; // false once a `for await` was left early, until the next one starts

  /**
   * Listens and starts accepting: what `listen(options)` does.
   *
   * @throws {TypeError} for an unknown option or handler name, a handler that is not a function, or
   *   a hostname that is not an address literal.
   * @throws {RangeError} for a port, maxConnections or connection option out of range.
   * @throws {UringError} when the socket cannot be bound (`EADDRINUSE`, `EACCES`...).
   */
  constructor(options: ListenOptions<Data>) {
    checkOptionKeys("listen()", options, LISTEN_KEYS);
    const h = options.handlers ?? {};
    if (typeof h !== "object" || h === null) throw new TypeError("listen() handlers must be an object");
    checkHandlers("listen() handlers", h, HANDLER_NAMES);
    const maxConnections = options.maxConnections ?? Infinity;
    if (options.maxConnections != null && !(Number.isInteger(maxConnections) && maxConnections >= 1)) {
      throw numberError(maxConnections, `maxConnections must be a positive integer, got ${describe(maxConnections)}`);
    }
    // Checked before the socket is bound: a throw after it would leave the port taken.
    checkSignal(options.signal);
    checkBoolean("reusePort", options.reusePort);
    checkBoolean("noDelay", options.noDelay);
    checkLoop(options.loop);
    this.#maxConnections = maxConnections;
    this.hostname = options.hostname ?? "127.0.0.1";
    checkEndpoint(this.hostname, options.port ?? 0);
    this.loop = options.loop ?? getDefaultLoop();
    this.#handlers = h;
    this.#iterable = !h.open && !h.data;
    this.#queueing = this.#iterable;
    // Every connection option, checked before binding; the connections share it as a ConnectionConfig.
    const connOptions = checkConnectionOptions(options);
    this.#noDelay = options.noDelay ?? true;
    this.#multishot = probeFeatures().multishotAccept;
    this.#fd = tcpListen({
      hostname: this.hostname,
      port: options.port,
      backlog: options.backlog,
      reusePort: options.reusePort,
    });
    try {
      this.port = localAddress(this.#fd).port;
      const { pool, owned } = resolveStreamPool(this.loop, options.pool, SERVER_POOL);
      this.pool = pool;
      this.#ownsPool = owned;
      this.#connConfig = new ConnectionConfig(this.loop, pool, h, connOptions, this.#owner);
    } catch (e) {
      closeFd(this.#fd);
      throw e;
    }
    this.#token = this.loop.reactor.register({ complete: (res, flags) => this.#acceptDone(res, flags) });
    this.loop.driver.ref();
    listenerWatch.opened?.(this.#fd, this.loop.reactor.ring.fd, {
      closeConnections: () => this.#closeConnectionFds(),
      stop: () => this.stop(),
      loop: this.loop,
    });
    this.#arm();
    closeAtUnload(this.#listening);
    this.#endGracefully = (options as InternalListenOptions<Data>)[kEndGracefully] ?? ((c) => c[kEndSettled]());
    this.#closeNow = (options as InternalListenOptions<Data>)[kCloseNow] ?? ((c) => void c.close());
    this.#signal = options.signal;
    if (this.#signal?.aborted) void this.stop();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** @ignore The listening socket's fd (startWorkers closes a crashed worker's). */
  get [kListenFd](): number {
    return this.#fd;
  }

  /** Open connections right now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** A snapshot of the server's counters and its pool's stats (a new object each call). */
  stats(): ServerStats {
    return {
      connections: this.#connections.size,
      accepted: this.#accepted,
      rejected: this.#rejected,
      acceptErrors: this.#acceptErrors,
      forced: this.#forced,
      queued: this.#incoming.length,
      pool: this.pool.stats(),
    };
  }

  #arm(): void {
    const reactor = this.loop.reactor;
    const slot = reactor.prepare(this.#token);
    if (this.#multishot) prepMultishotAccept(reactor.ring.sqes, slot, this.#fd, 0, 0, abi.SOCK_CLOEXEC);
    else prepAccept(reactor.ring.sqes, slot, this.#fd, 0, 0, abi.SOCK_CLOEXEC);
    this.#accepting = true;
  }

  #acceptDone(res: number, flags: number): void {
    const more = (flags & abi.IORING_CQE_F_MORE) !== 0;
    if (!more) this.#accepting = false;
    if (res >= 0) {
      if (this.#stopped) {
        closeFd(res);
      } else if (this.#connections.size >= this.#maxConnections || (this.#iterable && !this.#queueing)) {
        // Nobody takes it: closed now, its client sees EOF at once instead of hanging in the backlog.
        closeFd(res);
        this.#rejected++;
      } else {
        try {
          this.#open(res);
          this.#accepted++;
        } catch (e) {
          // A connection that cannot be set up (its pool was closed under the server) is closed by
          // #open; the server keeps listening, as after any accept failure.
          this.#acceptErrors++;
          this.#acceptFailed(asError(e));
        }
      }
    } else if (!this.#stopped) { // once stopped, the accept ends by our doing (cancelled, or EINVAL after stopListening)
      this.#acceptErrors++;
      this.#acceptFailed(new UringError("accept", -res, `listening fd ${this.#fd}`));
    }
    if (this.#accepting) return;
    if (this.#stopped) {
      this.#acceptEnded?.();
    } else if (res < 0) {
      // EMFILE and friends: retry shortly rather than spin on an error.
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        if (!this.#stopped) this.#arm();
      }, ACCEPT_RETRY_MS);
    } else {
      this.#arm();
    }
  }

  #acceptFailed(error: Error): void {
    if (this.#handlers.acceptError && error instanceof UringError) {
      try {
        this.#handlers.acceptError(error);
      } catch (e) {
        // Accepts are retried every ACCEPT_RETRY_MS while fds are short: one stack, not a hundred a second.
        if (!this.#acceptHandlerThrew) {
          this.#acceptHandlerThrew = true;
          // Its message only: this runs out of fds, where Deno panics formatting a stack (it needs an fd).
          console.error(
            `uring-buffers: the acceptError handler threw (still listening; logged once): ${
              e instanceof Error ? `${e.name}: ${e.message}` : String(e)
            }`,
          );
        }
      }
      return;
    }
    // The retry runs every ACCEPT_RETRY_MS while fds are short: a line per failure would flood stderr.
    this.#unlogged++;
    this.#unloggedCodes.add(error instanceof UringError ? error.code : error.message);
    if (this.#logTimer !== undefined) return;
    const wait = this.#loggedAt + ACCEPT_LOG_MS - performance.now();
    if (wait <= 0) {
      this.#logAcceptErrors("still listening");
      return;
    }
    this.#logTimer = setTimeout(() => {
      this.#logTimer = undefined;
      this.#logAcceptErrors("still listening");
    }, wait);
  }

  #logAcceptErrors(state: string): void {
    const n = this.#unlogged;
    if (n === 0) return;
    const codes = [...this.#unloggedCodes].join(", ");
    const where = formatEndpoint(this.hostname, this.port);
    console.error(
      `uring-buffers: accept failed ${n} time${n === 1 ? "" : "s"} in the last 1s: ${codes} on ${where}; ${state}`,
    );
    this.#unlogged = 0;
    this.#unloggedCodes.clear();
    this.#loggedAt = performance.now();
  }

  #open(fd: number): void {
    try {
      if (this.#noDelay) setNoDelay(fd);
    } catch {
      // The peer may already be gone; the receive will report it.
    }
    let conn: Connection<Data>;
    try {
      conn = new Connection<Data>(this.#connConfig, fd);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    this.#connections.add(conn);
    conn[kStart]();
    if (this.#iterable && !conn.closed) this.#incoming.push(conn);
  }

  /**
   * Accepted connections, Deno.Listener style, in iteration mode only (neither an `open` nor a
   * `data` handler); ends when the server stops. Leaving the loop early (break, return, throw)
   * closes the connections still queued, and new ones are closed at once (stats().rejected) until
   * another `for await` starts.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Connection<Data>> {
    if (!this.#iterable) throw new TypeError("this server has an open or data handler; iterate one without them");
    this.#queueing = true;
    let left = false;
    return {
      // Itself iterable, as an async generator is.
      [Symbol.asyncIterator]() {
        return this;
      },
      next: () => left ? Promise.resolve({ value: undefined, done: true }) : this.#incoming.next(),
      return: () => {
        if (!left) {
          left = true;
          this.#endIteration();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Nobody takes queued connections any more: close them and queue no more. */
  #endIteration(): void {
    this.#queueing = false;
    this.#incoming.cancelRead();
    this.#incoming.clear((c) => c.close());
  }

  /** ConnectionOwner (through #owner): one of our connections has closed. */
  #connectionClosed(conn: Connection<Data>): void {
    this.#connections.delete(conn);
    this.#incoming.remove(conn);
    if (this.#connections.size === 0) this.#allClosed?.();
  }

  /**
   * Stops accepting at once and closes the listening socket; resolves once every connection is
   * closed and the server's own pool is freed.
   * - `stop()` or `stop(true)`: close every connection now (in-flight operations are cancelled,
   *   queued writes dropped, buffers returned).
   * - `stop({ graceMs })`: end() every connection (its queued writes are sent, then it closes) and
   *   reset those still open after `graceMs` (see StopOptions).
   * - `stop({ graceMs, leaveOpen: true })`: leave the connections to close on their own, and reset
   *   those still open after `graceMs`.
   * - `stop(false)`: `stop({ leaveOpen: true })`, as Bun.listen's `stop(false)` leaves them open.
   *
   * Calling it again returns the same promise and can only bring the deadline nearer: stop() or
   * stop(true) resets what a grace period left open at once.
   *
   * @throws {TypeError} for an argument that is neither nothing, a boolean nor an object, or an unknown key.
   * @throws {RangeError} for a negative or non-numeric graceMs.
   */
  stop(how?: boolean | StopOptions): Promise<void> {
    const options = how === false ? LEAVE_OPEN : how;
    const graceful = options !== undefined && options !== true;
    const deadline = graceful ? performance.now() + graceOf(options) : -Infinity;
    if (this.#stopping) {
      if (deadline < this.#deadline) {
        this.#deadline = deadline;
        this.#armGrace();
      }
      return this.#stopping;
    }
    this.#stopped = true;
    forgetAtUnload(this.#listening);
    this.#deadline = deadline;
    const leaveOpen = graceful && (options as StopOptions).leaveOpen === true;
    // The port is free when stop() returns, as after Deno's listener.close() (the fd closes once the
    // ring's accept has ended).
    stopListening(this.#fd);
    // From a microtask: a close handler run by the stop may call stop() again, and must get this promise.
    this.#stopping = Promise.resolve().then(() => this.#stop(graceful, leaveOpen));
    return this.#stopping;
  }

  /** Graceful stop: `stop({ graceMs })` (no deadline when `graceMs` is undefined). */
  shutdown(graceMs?: number): Promise<void> {
    return this.stop({ graceMs });
  }

  async #stop(graceful: boolean, leaveOpen: boolean): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#endIteration();
    this.#incoming.end(); // a later for-await ends at once
    await Promise.all([this.#closeListener(), this.#closeConnections(graceful, leaveOpen)]);
    if (this.#logTimer !== undefined) clearTimeout(this.#logTimer);
    this.#logTimer = undefined;
    this.#logAcceptErrors("stopped");
    if (this.#ownsPool) this.pool.close();
    this.loop.driver.unref();
    await this.loop.driver[kSettled]();
  }

  /** What it does at unload (closeAtUnload): the port freed and the connections' sockets closed, at once. */
  readonly #listening = {
    unload: () => {
      stopListening(this.#fd);
      // The ring (torn down after the sockets: see closeLoopAtUnload) no longer needs the number.
      closeFdIfOpen(this.#fd);
      this.#closeConnectionFds();
    },
  };

  /**
   * close(2) of every connection's socket, at once, past the ring: for a worker dying of an uncaught
   * error (its loop will never run again), so that its clients are not left waiting.
   */
  #closeConnectionFds(): void {
    for (const conn of this.#connections) closeFdIfOpen(conn.fd);
    this.#connections.clear();
  }

  async #closeListener(): Promise<void> {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#accepting) {
      const ended = new Promise<void>((resolve) => (this.#acceptEnded = resolve));
      this.loop.reactor.cancel(this.#token);
      await ended;
    }
    this.loop.reactor.unregister(this.#token);
    listenerWatch.closing?.(this.#fd);
    closeFd(this.#fd);
  }

  async #closeConnections(graceful: boolean, leaveOpen: boolean): Promise<void> {
    if (this.#connections.size === 0) return;
    const closed = new Promise<void>((resolve) => (this.#allClosed = resolve));
    if (graceful) {
      this.#draining = true;
      if (!leaveOpen) { for (const c of [...this.#connections]) this.#endGracefully(c); }
      this.#armGrace();
    } else {
      for (const c of [...this.#connections]) this.#closeNow(c);
    }
    await closed;
    this.#draining = false;
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  /** (Re)arms the grace period's deadline; past it, what is still open is reset. */
  #armGrace(): void {
    if (!this.#draining) return;
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    const left = this.#deadline - performance.now();
    if (left <= 0) {
      for (const c of [...this.#connections]) {
        // One already closing was not cut short by the deadline.
        if (c.state === "closing" || c.state === "closed") continue;
        this.#forced++;
        void c.reset();
      }
    } else if (left !== Infinity) {
      this.#graceTimer = setTimeout(() => this.#armGrace(), Math.min(left, MAX_TIMER_MS));
    }
  }

  /** `await using server = listen(...)`: stops the server (closing every connection) at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * `using server = listen(...)`: the same stop, not waited for (the port is free at the end of the
   * block; the connections finish closing after it). `await using` waits.
   */
  [Symbol.dispose](): void {
    void this.stop();
  }
}

/**
 * Starts a TCP server: binds `hostname:port` (SO_REUSEADDR; SO_REUSEPORT with `reusePort`), accepts
 * with multishot accept, and runs each connection with `handlers` (or queues it for `for await`
 * when there is neither an `open` nor a `data` handler). `Data` types `conn.data`.
 *
 * @example Echo server
 * ```ts
 * import { listen } from "uring-buffers";
 *
 * const server = listen({
 *   port: 9000,
 *   pool: { count: 4096, bufferSize: 4096 }, // one pool for every connection, fixed size
 *   handlers: {
 *     data(conn, lease) {
 *       if (!conn.write(lease)) conn.pause(); // echo without a copy; the send releases the lease
 *     },
 *     drain: (conn) => conn.resume(),
 *   },
 * });
 * console.error(`listening on 127.0.0.1:${server.port}`);
 * ```
 *
 * @example Deno.listen style
 * ```ts
 * import { listen } from "uring-buffers";
 *
 * const server = listen({ port: 9000 });
 * for await (const conn of server) {
 *   (async () => {
 *     for await (const lease of conn) if (!conn.write(lease)) await conn.flushed();
 *   })().catch(() => {}); // flushed() rejects if the peer resets with writes queued
 * }
 * ```
 *
 * @throws {TypeError} for an unknown option or handler, or a hostname that is not an address literal.
 * @throws {RangeError} for an option out of range.
 * @throws {UringError} when the socket cannot be bound (`EADDRINUSE`, ...).
 */
export function listen<Data = unknown>(options: ListenOptions<Data>): Server<Data> {
  return new Server<Data>(options);
}

/** Options of `connect()`, besides the connection options. Unknown keys are refused. */
export interface ConnectOptions<Data = unknown> extends ConnectionOptions {
  /** The server's address: an IPv4 or IPv6 literal, or "localhost". Default "127.0.0.1". */
  hostname?: string;
  /** The server's port, 1..65535. */
  port: number;
  /** TCP_NODELAY. Default true. */
  noDelay?: boolean;
  /**
   * The receive buffer pool: an existing one, or options for a new one that the connection owns and
   * closes with itself (as on listen(), with 64 instead of 128 buffers and 256 x 16 KiB for the
   * fallback). Default: the loop's shared client pool (IoLoop.clientPool()).
   */
  pool?: BufferPool | BufferPoolOptions;
  /** The loop to run on. Default: the thread's shared loop (getDefaultLoop()). */
  loop?: IoLoop;
  /**
   * Aborting before the connection is made rejects with the signal's reason; after, it fails the
   * connection with that reason (`error`, `conn.error`; queued writes are cut off), as node:net's
   * `signal` does. For a connect timeout alone, abort only until connect() settles.
   */
  signal?: AbortSignal;
  /** Without `data`, read the connection with `for await (const lease of conn)`. */
  handlers?: ConnectionHandlers<Data>;
}

/**
 * Opens a TCP connection (IORING_OP_CONNECT); resolves once connected. Never throws: bad options
 * (TypeError, RangeError) and failures (a UringError such as `ECONNREFUSED`, or the signal's
 * reason) reject. Without a `data` handler, read the connection with `for await`.
 *
 * @example Send a request, read the reply to EOF
 * ```ts
 * import { connect } from "uring-buffers";
 *
 * const conn = await connect({ hostname: "127.0.0.1", port: 8080 });
 * conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
 * const decoder = new TextDecoder();
 * let reply = "";
 * for await (const lease of conn) { // ends at the server's EOF; then the connection ends itself
 *   using l = lease;
 *   reply += decoder.decode(l.bytes, { stream: true });
 * }
 * console.log(reply);
 * ```
 */
export function connect<Data = unknown>(options: ConnectOptions<Data>): Promise<Connection<Data>> {
  try {
    return startConnect(options);
  } catch (e) {
    return Promise.reject(e);
  }
}

function startConnect<Data>(options: ConnectOptions<Data>): Promise<Connection<Data>> {
  checkOptionKeys("connect()", options, CONNECT_KEYS);
  const host = options.hostname ?? "127.0.0.1";
  checkEndpoint(host, options.port, "to connect");
  checkHandlers("connect() handlers", options.handlers, CONNECTION_HANDLER_NAMES);
  const settings = checkConnectionOptions(options);
  checkSignal(options.signal);
  checkBoolean("noDelay", options.noDelay);
  checkLoop(options.loop);
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const loop = options.loop ?? getDefaultLoop();
  const { pool, owned } = options.pool === undefined
    ? { pool: loop.clientPool(), owned: false }
    : resolveStreamPool(loop, options.pool, CLIENT_POOL);
  let fd: number;
  try {
    fd = newSocket(host, abi.SOCK_STREAM);
  } catch (e) {
    if (owned) pool.close();
    throw e;
  }
  const addr = new NativeMemory(abi.SOCKADDR_STORAGE_SIZE);
  const len = encodeSockaddr(addr.view, 0, host, options.port);
  loop.driver.ref();
  return new Promise<Connection<Data>>((resolve, reject) => {
    const onAbort = () => loop.reactor.cancel(token);
    const token = loop.reactor.register({
      complete: (res) => {
        loop.reactor.unregister(token);
        addr.free();
        loop.driver.unref();
        signal?.removeEventListener("abort", onAbort);
        const fail = (error: unknown) => {
          closeFd(fd);
          if (owned) pool.close();
          reject(error);
        };
        // Aborted before this completion (its cancel may have come too late to stop the connect):
        // the signal's reason, whatever the connect's outcome.
        if (signal?.aborted) return fail(signal.reason);
        if (res < 0) return fail(new UringError("connect", -res, formatEndpoint(host, options.port)));
        try {
          if (options.noDelay ?? true) setNoDelay(fd);
          // An owned pool closes with the connection; a long-lived signal must not keep closed connections.
          const owner = {
            connectionClosed: () => {
              signal?.removeEventListener("abort", abortConnection);
              forgetAtUnload(unloading);
              if (owned) pool.close();
            },
          };
          // At unload its socket is closed at once, as a server's connections are (`deno run --watch`).
          const unloading = { unload: () => closeFdIfOpen(fd) };
          const conn = new Connection<Data>(
            new ConnectionConfig(loop, pool, options.handlers ?? {}, settings, owner),
            fd,
          );
          closeAtUnload(unloading);
          const abortConnection = () => conn[kAbort](signal!.reason);
          signal?.addEventListener("abort", abortConnection, { once: true });
          conn[kStart]();
          resolve(conn);
        } catch (e) {
          fail(e);
        }
      },
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    prepConnect(loop.reactor.ring.sqes, loop.reactor.prepare(token), fd, addr.address, len);
  });
}
