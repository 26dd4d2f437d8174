/**
 * serve(): an HTTP/1.1 server with the Web fetch API (Request in, Response out) on a TCP server of
 * this module. A handler written for `Deno.serve` or `Bun.serve` runs unchanged.
 */
import { BufferPool, type BufferPoolOptions } from "../buffers/pool.ts";
import { kCloseNow, kEndGracefully, kListenFd } from "../internal.ts";
import type { Connection } from "../net/connection.ts";
import { checkLoop, type IoLoop } from "../net/loop.ts";
import { listen, type Server, type ServerStats } from "../net/server.ts";
import { checkOptionKeys, checkSeconds, checkSignal, describe, isPlainObject, numberError } from "../options.ts";
import { HttpConnection, type HttpContext, type HttpCounters, type ServeHandler } from "./http_connection.ts";
import { DEFAULT_PARSER_LIMITS } from "./parser.ts";
import type { NetAddr, ServeInfo } from "./serve_info.ts";

export type { ServeHandler } from "./http_connection.ts";

/** Options of serve(). Unknown keys are refused. */
export interface ServeOptions {
  /** The handler (Bun.serve's name); or pass it as serve()'s second argument, or as `handler`. */
  fetch?: ServeHandler;
  /** The handler (Deno.serve's name for it inside the options). */
  handler?: ServeHandler;
  /** Port to listen on; 0 picks a free one. Default 8000 (as Deno.serve). */
  port?: number;
  /** Address to listen on: an IP literal or "localhost". Default "0.0.0.0" (every interface, as Deno.serve and Bun.serve). */
  hostname?: string;
  /** SO_REUSEPORT, for one server per worker on the same port. Default false. */
  reusePort?: boolean;
  /** Aborting stops the server gracefully (as shutdown()). */
  signal?: AbortSignal;
  /** Called once listening. Default: nothing is printed. */
  onListen?: (addr: NetAddr) => void;
  /**
   * A handler threw, rejected or returned something other than a Response: its answer is sent instead.
   * Returning nothing sends a 500 (the error is the program's: nothing is logged); one that throws, or
   * returns something other than a Response, is logged with the error, and a 500 sent. Default: the
   * error is logged and 500 sent. The connection stays open when the response framing allows.
   */
  onError?: (error: unknown, request?: Request) => Response | void | Promise<Response | void>;
  /** Largest request head (request line, fields, blank line) in bytes; beyond: 431. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Largest request body in bytes; beyond: 413. Default 128 MiB. */
  maxRequestBodySize?: number;
  /** Longest request-target in bytes; beyond: 414. Default 8 KiB. */
  maxRequestTargetLength?: number;
  /**
   * Seconds a connection may stay silent between requests, while a body arrives, or while a response
   * waits for the client to read it, before it is closed. 0 = never. Default 10 (as Bun.serve).
   */
  idleTimeout?: number;
  /** Seconds from a request head's first byte to its end; beyond: 408 and close. 0 = no limit. Default 10. */
  headerTimeout?: number;
  /**
   * Bytes per second a request body must average once it has taken longer than 5 s (time the
   * handler spends not reading is not counted; a body nobody reads, cancelled or left after the
   * answer, is counted in 5 s windows); slower: 408 and close. 0 = no limit. Default 1024.
   */
  minBodyRate?: number;
  /** At most this many open connections; more are closed as soon as accepted. Default no limit. */
  maxConnections?: number;
  /** listen(2) backlog. Default 4096. */
  backlog?: number;
  /** The receive buffer pool (a BufferPool on the server's loop, or options for one). Default as listen()'s. */
  pool?: BufferPool | BufferPoolOptions;
  /** The loop to run on. Default: the thread's shared loop. */
  loop?: IoLoop;
}

const SERVE_KEYS = [
  "fetch",
  "handler",
  "port",
  "hostname",
  "reusePort",
  "signal",
  "onListen",
  "onError",
  "maxHeaderSize",
  "maxRequestBodySize",
  "maxRequestTargetLength",
  "idleTimeout",
  "headerTimeout",
  "minBodyRate",
  "maxConnections",
  "backlog",
  "pool",
  "loop",
];

/** File responses are read into 64 KiB buffers: one read fills what a socket takes in a send. */
const FILE_POOL = { bufferSize: 64 * 1024, count: 32 };

/**
 * serve()'s pool options: its leases never reach the program, serve() releases each one itself, so
 * no leak net (a FinalizationRegistry entry per lease) unless the options ask for one. A pool given
 * as such, or options that are not an object (refused by name later), pass unchanged.
 */
function withoutLeakNet(pool: BufferPool | BufferPoolOptions | undefined): BufferPool | BufferPoolOptions | undefined {
  if (pool === undefined) return { leakTracking: "off" };
  if (!isPlainObject(pool)) return pool; // a pool, or what listen() then refuses by name
  return { leakTracking: "off", ...pool };
}

/** HttpServer.stats(): the TCP server's counters plus the requests. */
export interface HttpServerStats extends ServerStats {
  /** Requests parsed and given to the handler. */
  requests: number;
  /**
   * Requests the server answered itself with a 4xx/5xx, then closed: refused by the parser, a timeout,
   * or a body that ended short (the client half-closed in the middle of it).
   */
  refused: number;
  /**
   * Handlers that threw or rejected, returned something other than a Response, or a Response whose
   * body failed before its first byte went out (answered 500 or by onError).
   */
  handlerErrors: number;
}

/**
 * A running serve(): its address, stats and stop. `await using server = serve(...)` stops it
 * gracefully at the end of the block.
 */
export class HttpServer {
  readonly #server: Server<HttpConnection>;
  /** The address listened on. */
  readonly addr: NetAddr;
  /** Settles once the server has stopped. */
  readonly finished: Promise<void>;
  readonly #ctx: HttpContext;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.shutdown();
  #stopping: Promise<void> | undefined;
  #resolveFinished!: () => void;

  /** @ignore Made by serve(). */
  constructor(server: Server<HttpConnection>, ctx: HttpContext, signal: AbortSignal | undefined) {
    this.#server = server;
    this.#ctx = ctx;
    this.addr = { transport: "tcp", hostname: server.hostname, port: server.port };
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve));
    this.#signal = signal;
    if (signal?.aborted) void this.shutdown();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The port listened on. */
  get port(): number {
    return this.#server.port;
  }

  /** The address listened on. */
  get hostname(): string {
    return this.#server.hostname;
  }

  /** `http://HOST:PORT/` (IPv6 in brackets), as Bun's `server.url`. */
  get url(): URL {
    const host = this.hostname.includes(":") ? `[${this.hostname}]` : this.hostname;
    return new URL(`http://${host}:${this.port}/`);
  }

  /** @ignore The listening socket's fd (startWorkers closes a crashed worker's). */
  get [kListenFd](): number {
    return this.#server[kListenFd];
  }

  /** The loop the server runs on. */
  get loop(): IoLoop {
    return this.#server.loop;
  }

  /** The pool the server receives into (its own, freed at the stop, or the one given as `pool`). */
  get pool(): BufferPool {
    return this.#server.pool;
  }

  /** Open connections. */
  get connections(): number {
    return this.#server.connections;
  }

  /** Counters since the server started. */
  stats(): HttpServerStats {
    return { ...this.#server.stats(), ...this.#ctx.counters };
  }

  /**
   * Stops accepting and closes every connection once its requests in flight are answered (idle
   * keep-alive connections close at once). `stop(true)` closes every connection now instead (as
   * Bun's `server.stop(true)`); `stop({ graceMs })` resets what is still open after `graceMs`.
   * Settles once every connection is closed. Calling it again returns the same promise and can only
   * bring the end nearer: `stop(true)` now, `stop({ graceMs })` a deadline nearer than the one set.
   */
  stop(force?: boolean | { graceMs?: number }): Promise<void> {
    const leaveOpen = typeof force === "object" && force !== null ? (force as { leaveOpen?: unknown }).leaveOpen : null;
    if (leaveOpen != null && leaveOpen !== false) {
      // A listen() server's option: serve()'s graceful stop already lets the requests in flight finish,
      // streams included, and left open a keep-alive connection would go on taking requests.
      throw new TypeError("stop() takes nothing, a boolean or { graceMs } (leaveOpen is a listen() server's option)");
    }
    if (!this.#stopping) {
      // The listener checks the options (a misspelt key would mean no deadline) before anything stops.
      const stopped = force === true
        ? this.#server.stop()
        : this.#server.stop(force === undefined || force === false ? {} : force);
      this.#ctx.stopping = true;
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#stopping = stopped.then(() => this.#resolveFinished());
    } else if (force === true) {
      void this.#server.stop();
    } else if (force !== undefined && force !== false) {
      // A deadline given later brings the stop's nearer (as the listener's own stop() does).
      void this.#server.stop(force);
    }
    return this.#stopping;
  }

  /** Graceful stop (as Deno's `server.shutdown()`): `stop({ graceMs })`. */
  shutdown(graceMs?: number): Promise<void> {
    return this.stop({ graceMs });
  }

  /** `await using server = serve(...)`: a graceful stop at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * `using server = serve(...)`: the same graceful stop, not waited for (the port is free at the end
   * of the block; the requests in flight finish after it). `await using` waits.
   */
  [Symbol.dispose](): void {
    void this.stop();
  }
}

function seconds(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  checkSeconds(name, v);
  return v;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw numberError(v, `${name} must be a positive integer, got ${describe(v)}`);
  return v;
}

/**
 * Serves HTTP/1.1: each request is given to `handler` as a Web `Request` with a `ServeInfo`
 * (`info.remoteAddr`, `info.completed`, `info.requestIP()`); the `Response` it returns (or resolves
 * to) is sent, in request order, with keep-alive, pipelining, chunked streaming and backpressure.
 * Called as `serve(handler)`, `serve(options, handler)` or `serve({ ...options, fetch })`.
 *
 * @example
 * ```ts
 * import { serve } from "uring-buffers";
 *
 * const server = serve({ port: 8080, hostname: "127.0.0.1" }, (request) => new Response(`you asked for ${new URL(request.url).pathname}\n`));
 * console.error(`listening on ${server.url}`);
 * ```
 *
 * @throws {TypeError} without a handler, for an unknown option or a hostname that is not an address literal.
 * @throws {RangeError} for an option out of range.
 * @throws {UringError} when the socket cannot be bound (`EADDRINUSE`, ...).
 */
export function serve(options: ServeOptions | ServeHandler, handler?: ServeHandler): HttpServer {
  const usage = "serve(handler), serve(options, handler) or serve({ ...options, fetch })";
  if (typeof options === "function") {
    if (handler !== undefined) throw new TypeError(`serve(handler, ...) takes nothing after the handler: ${usage}`);
    handler = options;
    options = {};
  }
  if (options === undefined) throw new TypeError(`serve() needs a handler: ${usage}`);
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`serve() options must be an object, got ${describe(options)}`);
  }
  // An application object with a fetch method (a router's app: Bun.serve(app) reads its fetch, port and
  // hostname) is its handler; its other members are its own business. Options are plain objects.
  const proto = Object.getPrototypeOf(options);
  if (proto !== Object.prototype && proto !== null && typeof (options as { fetch?: unknown }).fetch === "function") {
    if (handler !== undefined) throw new TypeError(`serve() got 2 handlers; give one: ${usage}`);
    // Called as its own method: `this` is the app, whose fetch may use its other members.
    const app = options as {
      fetch(request: Request, info: ServeInfo): Response | Promise<Response>;
      port?: unknown;
      hostname?: unknown;
    };
    handler = (request, info) => app.fetch(request, info);
    options = {
      port: typeof app.port === "function" ? undefined : app.port as number | undefined,
      hostname: typeof app.hostname === "function" ? undefined : app.hostname as string | undefined,
    };
  }
  checkOptionKeys("serve()", options, SERVE_KEYS);
  const given = [handler, options.fetch, options.handler].filter((h) => h !== undefined);
  if (given.length > 1) throw new TypeError(`serve() got ${given.length} handlers; give one: ${usage}`);
  const fetch = given[0];
  if (typeof fetch !== "function") throw new TypeError(`serve() needs a handler function: ${usage}`);
  checkLoop(options.loop);
  checkSignal(options.signal);
  const signal = options.signal;
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError(`onError must be a function, got ${describe(options.onError)}`);
  }
  if (options.onListen !== undefined && typeof options.onListen !== "function") {
    throw new TypeError(`onListen must be a function, got ${describe(options.onListen)}`);
  }
  const minBodyRate = options.minBodyRate ?? 1024;
  if (typeof minBodyRate !== "number" || !(minBodyRate >= 0)) {
    throw numberError(
      minBodyRate,
      `minBodyRate must be a number of bytes per second >= 0, got ${describe(minBodyRate)}`,
    );
  }
  const counters: HttpCounters = { requests: 0, refused: 0, handlerErrors: 0 };
  const hostname = options.hostname ?? "0.0.0.0";
  const ctx: HttpContext = {
    handler: fetch,
    server: undefined,
    stopping: false,
    onError: options.onError,
    limits: {
      maxHeaderSize: positiveInteger("maxHeaderSize", options.maxHeaderSize, DEFAULT_PARSER_LIMITS.maxHeaderSize),
      maxRequestBodySize: positiveInteger(
        "maxRequestBodySize",
        options.maxRequestBodySize,
        DEFAULT_PARSER_LIMITS.maxRequestBodySize,
      ),
      maxTargetLength: positiveInteger(
        "maxRequestTargetLength",
        options.maxRequestTargetLength,
        DEFAULT_PARSER_LIMITS.maxTargetLength,
      ),
    },
    idleTimeout: seconds("idleTimeout", options.idleTimeout, 10),
    headerTimeout: seconds("headerTimeout", options.headerTimeout, 10),
    minBodyRate,
    defaultHost: "", // set once the port is known
    counters,
    filePool: () => filePool ??= new BufferPool(server.loop.reactor, FILE_POOL),
  };
  let filePool: BufferPool | undefined;
  const server = listen<HttpConnection>(
    {
      hostname,
      port: options.port ?? 8000,
      reusePort: options.reusePort,
      backlog: options.backlog,
      maxConnections: options.maxConnections,
      pool: withoutLeakNet(options.pool),
      loop: options.loop,
      allowHalfOpen: true, // a client's EOF still gets the answers to what it sent
      handlers: {
        open(conn) {
          conn.data = new HttpConnection(conn, ctx);
        },
        data(conn, lease) {
          conn.data.received(lease);
        },
        end(conn) {
          conn.data.peerEnded();
        },
        timeout(conn) {
          conn.data.timedOut();
        },
        drain(conn) {
          conn.data.drained();
        },
        close(conn) {
          conn.data?.closed();
        },
        error() {
          // A reset client ends only its own connection; handler failures are answered with 500 already.
        },
      },
      [kEndGracefully]: (conn: Connection<HttpConnection>) => conn.data.stopGracefully(),
      [kCloseNow]: (conn: Connection<HttpConnection | undefined>) =>
        conn.data ? conn.data.closeNow() : void conn.close(),
    } as Parameters<typeof listen<HttpConnection>>[0],
  );
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  (ctx as { defaultHost: string }).defaultHost = `${host}:${server.port}`;
  const http = new HttpServer(server, ctx, signal);
  ctx.server = http;
  void http.finished.then(() => filePool?.close());
  if (options.onListen) {
    try {
      options.onListen({ transport: "tcp", hostname, port: server.port });
    } catch (e) {
      void server.stop();
      throw e;
    }
  }
  return http;
}
