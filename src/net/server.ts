/**
 * TCP servers and clients on an IoLoop: `listen()` accepts with multishot accept and hands each
 * connection to handlers in the style of Bun.listen; `connect()` opens a client connection.
 */
import * as abi from "../abi.ts";
import { BufferPool, type BufferPoolOptions, type PoolStats } from "../buffers/pool.ts";
import { Errno, UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { prepAccept, prepConnect, prepMultishotAccept } from "../prep.ts";
import { probeFeatures } from "../probe.ts";
import { native } from "../../ffi/mod.ts";
import {
  checkConnectionOptions,
  Connection,
  type ConnectionHandlers,
  type ConnectionOptions,
  type ConnectionOwner,
} from "./connection.ts";
import { getDefaultLoop, type IoLoop } from "./loop.ts";
import { checkEndpoint, encodeSockaddr } from "./sockaddr.ts";
import { closeFd, localAddress, newSocket, setNoDelay, tcpListen } from "./socket.ts";

export interface ServerHandlers extends ConnectionHandlers {
  /** accept failed (e.g. EMFILE); the server keeps listening and retries. */
  acceptError?(error: UringError): void;
}

export interface ListenOptions extends ConnectionOptions {
  /** Default "127.0.0.1". IPv6 literals ("::1", "::") work too. */
  host?: string;
  /** 0 (default) picks a free port; read it from server.port. */
  port?: number;
  backlog?: number;
  /** SO_REUSEPORT, for one listener per worker. Default false. */
  reusePort?: boolean;
  /** TCP_NODELAY on accepted sockets. Default true. */
  noDelay?: boolean;
  /** The receive buffer pool: an existing one, or options for a new one owned by the server. */
  pool?: BufferPool | BufferPoolOptions;
  /** Defaults to the thread's shared loop. */
  loop?: IoLoop;
  /** Aborting stops the server. */
  signal?: AbortSignal;
  /**
   * Bun.listen style. Without `open` (or without handlers at all) accepted connections are taken
   * with `for await (const conn of server)`; without `data` each connection is read with
   * `for await (const lease of conn)` (Deno.listen style).
   */
  handlers?: ServerHandlers;
}

export interface ServerStats {
  connections: number;
  accepted: number;
  acceptErrors: number;
  pool: PoolStats;
}

const ACCEPT_RETRY_MS = 10;

export class Server implements ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly loop: IoLoop;
  readonly pool: BufferPool;
  readonly #ownsPool: boolean;
  readonly #fd: number;
  readonly #handlers: ServerHandlers;
  readonly #connOptions: ConnectionOptions;
  readonly #noDelay: boolean;
  readonly #token: number;
  readonly #connections = new Set<Connection>();
  readonly #multishot: boolean;
  #accepting = false;
  #stopping: Promise<void> | undefined;
  #accepted = 0;
  #acceptErrors = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #allClosed: (() => void) | undefined;
  #acceptEnded: (() => void) | undefined;

  constructor(options: ListenOptions) {
    if (!options || typeof options !== "object") throw new TypeError("listen() needs an options object");
    const h = options.handlers ?? {};
    for (const name of ["open", "data", "drain", "end", "error", "close", "acceptError"] as const) {
      if (h[name] !== undefined && typeof h[name] !== "function") {
        throw new TypeError(`handlers.${name} must be a function`);
      }
    }
    this.host = options.host ?? "127.0.0.1";
    checkEndpoint(this.host, options.port ?? 0);
    this.loop = options.loop ?? getDefaultLoop();
    this.#handlers = h;
    this.#connOptions = {
      highWaterMark: options.highWaterMark,
      maxBuffered: options.maxBuffered,
      zeroCopyMin: options.zeroCopyMin,
    };
    checkConnectionOptions(this.#connOptions);
    this.#noDelay = options.noDelay ?? true;
    this.#multishot = probeFeatures().multishotAccept;
    this.#fd = tcpListen({
      host: this.host,
      port: options.port,
      backlog: options.backlog,
      reusePort: options.reusePort,
    });
    try {
      this.port = localAddress(this.#fd).port;
      const { pool, owned } = this.loop.resolvePool(options.pool, { bufferSize: 4096, count: 1024 });
      this.pool = pool;
      this.#ownsPool = owned;
    } catch (e) {
      closeFd(this.#fd);
      throw e;
    }
    this.#token = this.loop.reactor.register({ complete: (res, flags) => this.#acceptDone(res, flags) });
    this.loop.driver.ref();
    this.#arm();
    if (options.signal) {
      if (options.signal.aborted) void this.stop();
      else options.signal.addEventListener("abort", () => void this.stop(), { once: true });
    }
  }

  get connections(): number {
    return this.#connections.size;
  }

  stats(): ServerStats {
    return {
      connections: this.#connections.size,
      accepted: this.#accepted,
      acceptErrors: this.#acceptErrors,
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
      if (this.#stopping) {
        native.libc.close(res);
      } else {
        this.#accepted++;
        this.#open(res);
      }
    } else if (res !== -Errno.ECANCELED || !this.#stopping) {
      this.#acceptErrors++;
      const error = new UringError("accept", -res, `listening fd ${this.#fd}`);
      if (this.#handlers.acceptError) this.#handlers.acceptError(error);
      else console.error(`uring-buffers: ${error.message}; still listening`);
    }
    if (this.#accepting) return;
    if (this.#stopping) {
      this.#acceptEnded?.();
    } else if (res < 0) {
      // EMFILE and friends: retry shortly rather than spin on an error.
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        if (!this.#stopping) this.#arm();
      }, ACCEPT_RETRY_MS);
    } else {
      this.#arm();
    }
  }

  #open(fd: number): void {
    try {
      if (this.#noDelay) setNoDelay(fd);
    } catch {
      // The peer may already be gone; the receive will report it.
    }
    const conn = new Connection(this.loop, this.pool, fd, this.#handlers, this.#connOptions, this);
    this.#connections.add(conn);
    conn.start();
    if (!this.#handlers.open) this.#offer(conn);
  }

  // Iteration mode (no open handler): accepted connections wait here for `for await`.
  readonly #incoming: Connection[] = [];
  #acceptor: ((r: IteratorResult<Connection>) => void) | undefined;

  #offer(conn: Connection): void {
    if (this.#acceptor) {
      const acceptor = this.#acceptor;
      this.#acceptor = undefined;
      acceptor({ value: conn, done: false });
    } else {
      this.#incoming.push(conn);
    }
  }

  /** Accepted connections, Deno.Listener style (only without an `open` handler); ends when the server stops. */
  [Symbol.asyncIterator](): AsyncIterator<Connection> {
    if (this.#handlers.open) throw new TypeError("this server has an open handler; iterate one without it");
    return {
      next: () => {
        let conn: Connection | undefined;
        while ((conn = this.#incoming.shift()) && conn.closed);
        if (conn) return Promise.resolve({ value: conn, done: false });
        if (this.#stopping) return Promise.resolve({ value: undefined, done: true });
        if (this.#acceptor) return Promise.reject(new TypeError("another accept of this server is pending"));
        return new Promise((resolve) => (this.#acceptor = resolve));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  /** @internal ConnectionOwner: one of our connections has closed. */
  connectionClosed(conn: Connection): void {
    this.#connections.delete(conn);
    if (this.#connections.size === 0) this.#allClosed?.();
  }

  /**
   * Stops accepting, closes the listening socket and every connection (in-flight operations are
   * cancelled, buffers returned), then frees the server's pool. Resolves when all of it is done.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const acceptor = this.#acceptor;
    this.#acceptor = undefined;
    acceptor?.({ value: undefined, done: true });
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    const acceptEnded = this.#accepting
      ? new Promise<void>((resolve) => (this.#acceptEnded = resolve))
      : Promise.resolve();
    if (this.#accepting) this.loop.reactor.cancel(this.#token);
    await acceptEnded;
    this.loop.reactor.unregister(this.#token);
    closeFd(this.#fd);
    if (this.#connections.size > 0) {
      const closed = new Promise<void>((resolve) => (this.#allClosed = resolve));
      for (const c of [...this.#connections]) c.close();
      await closed;
    }
    if (this.#ownsPool) this.pool.close();
    this.loop.driver.unref();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Starts a TCP server. */
export function listen(options: ListenOptions): Server {
  return new Server(options);
}

export interface ConnectOptions extends ConnectionOptions {
  host?: string;
  port: number;
  noDelay?: boolean;
  pool?: BufferPool;
  loop?: IoLoop;
  /** Without `data`, read the connection with `for await (const lease of conn)`. */
  handlers?: ConnectionHandlers;
}

/** Opens a TCP connection (IORING_OP_CONNECT); resolves once connected, rejects with UringError (e.g. ECONNREFUSED). */
export function connect(options: ConnectOptions): Promise<Connection> {
  const host = options.host ?? "127.0.0.1";
  checkEndpoint(host, options.port);
  if (options.port === 0) throw new RangeError("port must be in [1, 65535] to connect");
  if (options.handlers !== undefined && (typeof options.handlers !== "object" || options.handlers === null)) {
    throw new TypeError("connect() handlers must be an object");
  }
  checkConnectionOptions(options);
  const loop = options.loop ?? getDefaultLoop();
  const pool = options.pool ?? loop.clientPool();
  const fd = newSocket(host, abi.SOCK_STREAM);
  const addr = new NativeMemory(abi.SOCKADDR_STORAGE_SIZE);
  const len = encodeSockaddr(addr.view, 0, host, options.port);
  loop.driver.ref();
  return new Promise<Connection>((resolve, reject) => {
    const token = loop.reactor.register({
      complete: (res) => {
        loop.reactor.unregister(token);
        addr.free();
        loop.driver.unref();
        if (res < 0) {
          native.libc.close(fd);
          reject(new UringError("connect", -res, `${host}:${options.port}`));
          return;
        }
        try {
          if (options.noDelay ?? true) setNoDelay(fd);
          const conn = new Connection(loop, pool, fd, options.handlers ?? {}, options);
          conn.start();
          resolve(conn);
        } catch (e) {
          native.libc.close(fd);
          reject(e);
        }
      },
    });
    prepConnect(loop.reactor.ring.sqes, loop.reactor.prepare(token), fd, addr.address, len);
  });
}
