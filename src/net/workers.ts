/**
 * Multi-core serving: one Worker per core, each with its own IoLoop (ring), pool and SO_REUSEPORT
 * listener, so nothing is shared across threads. `startWorkers` runs on the main thread; the worker
 * module calls `serveWorker` with a function that starts its server.
 */
import process from "node:process";
import { kListenFd, kStart, kWhenClosed } from "../internal.ts";
import { asError, ClosedError, UringError } from "../errors.ts";
import { checkOptionKeys, describe, numberError } from "../options.ts";
import { closeFdIfOpen } from "./socket.ts";
import { SHUT_RDWR } from "../abi.ts";
import { prepMsgRing, prepShutdown } from "../prep.ts";
import { Ring } from "../ring.ts";
import type { IoLoop } from "./loop.ts";
import { listenerWatch, type ServerStats, type WatchedServer } from "./server.ts";

/** What a worker serves with: a `Server` from listen() or an `HttpServer` from serve(). */
export interface WorkerServer {
  /** The port it listens on (reported to startWorkers()). */
  readonly port: number;
  /** Its loop, closed by the worker after a stop. */
  readonly loop: IoLoop;
  /** Its counters (WorkerGroup.stats()). */
  stats(): ServerStats;
  /** Stops it (WorkerGroup.stop(), with its graceMs if given). */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** Options of `startWorkers()`. */
export interface WorkerGroupOptions<T> {
  /** Workers to start, >= 1 (one per core is the usual choice). */
  count: number;
  /** The worker module: it must call serveWorker(). */
  module: URL | string;
  /** Passed to each worker's start function (structured-cloneable); undefined when left out. */
  data?: T;
  /**
   * Called when a worker dies of an uncaught error or exits (not at the group's stop): `error` names
   * it, as `stats()` rejects from then on. Its listener is closed by then. A death while the group
   * starts is told once startWorkers() has returned the group, unless it makes startWorkers() reject
   * (then it is logged). Without it, each death is logged.
   */
  onWorkerExit?: (index: number, error: Error) => void;
}

type ToWorker =
  | { kind: "start"; id: number; index: number; data: unknown }
  | { kind: "stats"; id: number }
  | { kind: "stop"; id: number; graceMs: number | undefined }
  | { kind: "deadline"; id: number; graceMs: number }; // a later stop({ graceMs }): the first stop's answer tells
type FromWorker =
  | { kind: "hello" }
  | { kind: "ready"; id: number; port: number }
  | { kind: "listening"; listenFd: number; ringFd: number }
  | { kind: "unlistening"; listenFd: number }
  | { kind: "stats"; id: number; stats: ServerStats }
  | { kind: "stopped"; id: number }
  | { kind: "error"; id: number; message: string; name: string; op?: string; errno?: number }
  | { kind: "exiting"; code?: number; crashed: boolean };

interface WorkerLike {
  postMessage(message: ToWorker): void;
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  addEventListener(type: "close", listener: (event: Event & { code?: number }) => void): void;
  terminate(): void;
}

/** How long a worker may take to load its module and call serveWorker(). */
const HELLO_TIMEOUT_MS = 20_000;
/** A worker's `gone` once the group was stopped. */
const STOPPED = "was stopped";
/** How long an exit after an uncaught error waits for the error's own report, which names it. */
const EXIT_AFTER_ERROR_MS = 50;
/** How long a stopping worker waits for its loops' rings to be torn down before it says it stopped. */
const LOOP_CLOSE_WAIT_MS = 1000;

/** One worker as the main thread sees it: requests in flight by id, and whether it has died. */
interface WorkerState {
  readonly worker: WorkerLike;
  readonly pending: Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>;
  hello: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** Its open listeners' fds, each with its ring's, closed here if it dies: a dead thread closes nothing. */
  readonly listeners: Map<number, number>;
  /** Why it is gone (crashed, or the group stopped), once it is. */
  gone: string | undefined;
}

/**
 * The workers started by `startWorkers()`: one Worker per core, each serving with its own loop,
 * pool and SO_REUSEPORT listener. Ask them for stats or stop them all. A worker that dies of an
 * uncaught error is reported (logged), its listener and ring are closed so the port's other workers
 * take every new connection, and its requests reject.
 *
 * @example Main thread (the worker module is serveWorker's example)
 * ```ts
 * import { startWorkers } from "uring-buffers";
 *
 * const group = await startWorkers({ count: 4, module: new URL("./echo_worker.ts", import.meta.url), data: { port: 9000 } });
 * console.log("listening on", group.ports[0], "with", group.size, "workers");
 * // ...
 * console.log(await group.stats());
 * await group.stop();
 * ```
 */
export class WorkerGroup {
  readonly #workers: WorkerState[];
  #nextId = 1;
  #stopping: Promise<void> | undefined;
  #started = false;
  #stopped = false;
  readonly #diedInStart: { i: number; said: string }[] = [];
  readonly #onWorkerExit: ((index: number, error: Error) => void) | undefined;
  /** The port each worker listens on (all equal with SO_REUSEPORT and a fixed port). */
  readonly ports: number[] = [];

  /** @ignore Made by startWorkers(). */
  constructor(workers: WorkerLike[], onWorkerExit?: (index: number, error: Error) => void) {
    this.#onWorkerExit = onWorkerExit;
    this.#workers = workers.map((worker) => ({
      worker,
      pending: new Map(),
      hello: undefined,
      listeners: new Map(),
      gone: undefined,
    }));
    this.#workers.forEach((w, i) => {
      w.worker.onmessage = (e) => {
        const m = e.data;
        if (m.kind === "hello") return w.hello?.resolve();
        if (m.kind === "exiting") {
          const how = m.code === undefined ? "exited" : `exited (code ${m.code})`;
          // After an uncaught error, the onerror that says what it was can come after this (Bun): it goes first.
          if (m.crashed) return void setTimeout(() => this.#died(i, how), EXIT_AFTER_ERROR_MS);
          return this.#died(i, how);
        }
        if (m.kind === "listening") return void w.listeners.set(m.listenFd, m.ringFd);
        if (m.kind === "unlistening") return void w.listeners.delete(m.listenFd);
        const request = w.pending.get(m.id);
        if (!request) return;
        w.pending.delete(m.id);
        if (m.kind === "error") request.reject(workerError(i, m));
        else request.resolve(m);
      };
      w.worker.onerror = (e) => {
        e.preventDefault?.(); // the main thread goes on; the error is reported here instead
        // Bun's message is a source excerpt around an "error: ..." or "TypeError: ..." line: that line
        // says it. Deno's is "Uncaught Error: ...": said as Bun's is ("...", "TypeError: ...").
        const line = /^(?:error: (.+)|((?:[A-Z]\w*)?Error: .+))$/m.exec(e.message);
        const said = line?.[1] ?? line?.[2] ?? e.message.replace(/^Uncaught (?:Error: )?/, "");
        this.#died(i, `died of an uncaught error: ${said}`);
      };
      // Bun tells of a worker that exited (process.exit()); Deno does not, so serveWorker() says "exiting".
      w.worker.addEventListener("close", (e) => this.#died(i, `exited (code ${e.code ?? "?"})`));
    });
  }

  /** Worker `i` died (`how`: of an uncaught error, or it exited): report it, then end it. */
  #died(i: number, how: string): void {
    const w = this.#workers[i];
    if (w.gone) return;
    if (w.hello && how.startsWith("exited")) how += " before it called serveWorker() (does its module call it?)";
    const said = `worker ${i} ${how}${w.listeners.size > 0 ? " (its listener is closed)" : ""}`;
    this.#end(i, how);
    if (!this.#onWorkerExit || this.#stopping) return void console.error(`uring-buffers: ${said}`);
    // One that dies while the group starts is told once it has started; if the start fails, logged.
    if (!this.#started) return void this.#diedInStart.push({ i, said });
    this.#tellExit(i);
  }

  #tellExit(i: number): void {
    const failed = (e: unknown) => console.error("uring-buffers: onWorkerExit failed:", e);
    try {
      const returned: unknown = this.#onWorkerExit!(i, this.#gone(i));
      if (returned instanceof Promise) returned.catch(failed);
    } catch (e) {
      failed(e);
    }
  }

  /**
   * Ends worker `i` (`gone` says why, unless it is gone already): what waits for it rejects, and the
   * listeners it left open (it died, or its start failed after it listened) are closed here: a
   * thread that is gone closes nothing.
   */
  #end(i: number, gone: string): void {
    const w = this.#workers[i];
    w.gone ??= gone;
    w.worker.terminate();
    for (const [listenFd, ringFd] of w.listeners) {
      stopListening(listenFd, ringFd);
      // A ring shared by two listeners is closed with the first.
      for (const fd of [listenFd, ringFd]) closeFdIfOpen(fd);
    }
    w.listeners.clear();
    const error = this.#gone(i);
    w.hello?.reject(error); // and its timer cleared
    for (const request of w.pending.values()) request.reject(error);
    w.pending.clear();
  }

  /** Why worker `i` cannot answer: a ClosedError once the group was stopped, as any use after close. */
  #gone(i: number): Error {
    const gone = this.#workers[i].gone;
    return gone === STOPPED ? new ClosedError("WorkerGroup") : new Error(`worker ${i} ${gone}`);
  }

  #ask(i: number, message: ToWorker): Promise<FromWorker> {
    const w = this.#workers[i];
    if (w.gone) return Promise.reject(this.#gone(i));
    return new Promise((resolve, reject) => {
      w.pending.set(message.id, { resolve, reject });
      w.worker.postMessage(message);
    });
  }

  /** @ignore Sends each worker its start message and waits until every one listens (startWorkers()). */
  async [kStart](data: unknown): Promise<void> {
    try {
      await this.#start(data);
    } catch (e) {
      for (const { said } of this.#diedInStart) console.error(`uring-buffers: ${said}`);
      throw e;
    }
    this.#started = true;
    // After startWorkers() has returned the group, which the hook may use (a microtask would come sooner).
    for (const { i } of this.#diedInStart) setTimeout(() => this.#tellExit(i), 0);
  }

  async #start(data: unknown): Promise<void> {
    // A message posted before the worker's module has finished loading can be lost (Bun), so the
    // worker says hello once serveWorker() runs, and only then gets its start message.
    await Promise.all(this.#workers.map((w, i) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          w.hello = undefined;
          w.gone = `did not call serveWorker() within ${HELLO_TIMEOUT_MS / 1000} s`;
          w.worker.terminate();
          reject(new Error(`worker ${i} ${w.gone}`));
        }, HELLO_TIMEOUT_MS);
        const settle = () => {
          clearTimeout(timer);
          w.hello = undefined;
        };
        w.hello = {
          resolve: () => (settle(), resolve()),
          reject: (e) => (settle(), reject(e)),
        };
      })
    ));
    const ready = await Promise.all(
      this.#workers.map((_, i) => this.#ask(i, { kind: "start", id: this.#nextId++, index: i, data })),
    );
    for (const r of ready) this.ports.push((r as { port: number }).port);
  }

  /** How many workers there are. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Every worker's server stats (what its server's `stats()` returned), in worker order. Rejects if
   * a worker fails to answer: it died (an Error naming it), or the group was stopped (ClosedError).
   * Name the stats type for serve() workers: `group.stats<HttpServerStats>()`.
   */
  async stats<S extends ServerStats = ServerStats>(): Promise<S[]> {
    // Once stopped, as any use after close (a worker that had died before says so no more).
    if (this.#stopped) throw new ClosedError("WorkerGroup");
    const replies = await Promise.all(this.#workers.map((_, i) => this.#ask(i, { kind: "stats", id: this.#nextId++ })));
    return replies.map((r) => (r as { stats: ServerStats }).stats as S);
  }

  /**
   * Stops every worker's server (`graceMs`: as the server's own `stop({ graceMs })`, so that
   * endless streams cannot hold the stop for ever; without it, as the server's `stop()`), closes
   * its loop and ends the workers (a dead one is only ended). Requests still waiting for an answer
   * then reject. Rejects if a live worker's stop fails; the workers are ended either way. Calling it
   * again returns the same promise, and can only bring the end nearer: a later `graceMs` reaches every
   * worker still stopping, as a server's second `stop({ graceMs })` does (`{ graceMs: 0 }` forces).
   *
   * @throws {TypeError} for anything but nothing or `{ graceMs }` (a bare number, `true`, a misspelt key).
   * @throws {RangeError} for a graceMs that is not a number >= 0.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    // A bare number, `true` (a server's stop(true)) or a misspelt key would mean no deadline at all.
    // Thrown, not a rejection, as a server's stop() does: a later bad call must not end the process
    // through an unhandled rejection of a promise that is not the pending stop's.
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`stop() takes nothing or { graceMs }, got ${describe(options)}`);
    }
    checkOptionKeys("stop()", options, ["graceMs"]);
    const graceMs = options.graceMs;
    if (graceMs !== undefined && !(typeof graceMs === "number" && graceMs >= 0)) {
      throw numberError(graceMs, `graceMs must be a number >= 0, got ${describe(graceMs)}`);
    }
    if (this.#stopping) {
      if (graceMs !== undefined) {
        this.#workers.forEach((w) => {
          if (!w.gone && !w.hello) {
            w.worker.postMessage({ kind: "deadline", id: this.#nextId++, graceMs } satisfies ToWorker);
          }
        });
      }
      return this.#stopping;
    }
    this.#stopping = (async () => {
      // A worker still loading its module (a failed start) is only ended: it has no server yet. One
      // that dies while it stops is stopped too (its death is logged); only a stop that failed in a
      // living worker rejects.
      const stops = this.#workers.map((w, i) =>
        w.gone || w.hello ? Promise.resolve() : this.#ask(i, { kind: "stop", id: this.#nextId++, graceMs }).catch(
          (e) => {
            if (!w.gone) throw e;
          },
        )
      );
      const results = await Promise.allSettled(stops);
      this.#workers.forEach((_, i) => this.#end(i, STOPPED));
      this.#stopped = true;
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    })();
    return this.#stopping;
  }

  /** `await using group = await startWorkers(...)`: stops every worker's server at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Starts `count` module Workers running `module` and resolves once each one's server listens (the
 * module must call serveWorker(); `data` reaches its start function). On Deno, workers need
 * `--allow-read` for the module (and `--allow-ffi`).
 *
 * @example
 * ```ts
 * import { startWorkers } from "uring-buffers";
 *
 * const group = await startWorkers({ count: 4, module: new URL("./echo_worker.ts", import.meta.url), data: { port: 9000 } });
 * console.log(group.ports); // [9000, 9000, 9000, 9000]
 * ```
 *
 * Rejects with a TypeError for an unknown option key, a module that is not a URL (or its string) or
 * `data` that cannot be structured-cloned, a RangeError for a count that is not a positive integer or
 * is over the larger of 64 and four per core, and the worker's error, after its number, when one fails
 * to start (a UringError, TypeError or RangeError keeps its class; the others are stopped: their
 * listeners are closed).
 */
export async function startWorkers<T>(options: WorkerGroupOptions<T>): Promise<WorkerGroup> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`startWorkers() takes { count, module, data, onWorkerExit }, got ${describe(options)}`);
  }
  checkOptionKeys("startWorkers()", options, ["count", "module", "data", "onWorkerExit"]);
  if (options.onWorkerExit !== undefined && typeof options.onWorkerExit !== "function") {
    throw new TypeError(`onWorkerExit must be a function, got ${describe(options.onWorkerExit)}`);
  }
  if (!Number.isInteger(options.count) || options.count < 1) {
    throw numberError(options.count, `count must be a positive integer, got ${describe(options.count)}`);
  }
  const most = maxWorkers();
  if (options.count > most) {
    // Each worker is a thread with a runtime of its own: a count of a million took 3 GB before it failed.
    throw new RangeError(
      `count must be at most ${most} (the larger of 64 and four per core, navigator.hardwareConcurrency), ` +
        `got ${options.count}`,
    );
  }
  if (!(options.module instanceof URL) && typeof options.module !== "string") {
    throw new TypeError(`module must be a URL or a URL string of the worker module, got ${describe(options.module)}`);
  }
  const href = options.module instanceof URL ? options.module.href : options.module;
  if (!URL.canParse(href)) {
    // Each runtime resolves a relative string its own way (Deno: URIError; Bun: a worker that dies).
    throw new TypeError(
      `module must be an absolute URL (for a file beside yours: new URL("./worker.ts", import.meta.url)), got ${
        describe(href)
      }`,
    );
  }
  try {
    structuredClone(options.data); // before any worker starts: what the workers get is a structured clone
  } catch (e) {
    throw new TypeError(
      `data must be structured-cloneable (it is copied to each worker): ${e instanceof Error ? e.message : e}`,
    );
  }
  const workers = Array.from(
    { length: options.count },
    () => new Worker(href, { type: "module" }) as unknown as WorkerLike,
  );
  const group = new WorkerGroup(workers, options.onWorkerExit);
  try {
    await group[kStart](options.data);
  } catch (e) {
    await group.stop().catch(() => {});
    throw e;
  }
  return group;
}

/**
 * Worker side: waits for startWorkers' message, calls `start(data, index)` (which should listen()
 * or serve() with `reusePort: true`), then answers stats and stop requests (a stop stops the server
 * and closes its loop). An error thrown by `start` rejects startWorkers().
 *
 * @example The worker module
 * ```ts
 * import { listen, serveWorker } from "uring-buffers";
 *
 * serveWorker((data: { port: number }) =>
 *   listen({ port: data.port, reusePort: true, handlers: { data: (conn, lease) => void conn.write(lease) } })
 * );
 * ```
 *
 * @example An HTTP worker module
 * ```ts
 * import { serve, serveWorker } from "uring-buffers";
 *
 * serveWorker((data: { port: number }) => serve({ port: data.port, reusePort: true }, () => new Response("hi")));
 * ```
 */
export function serveWorker<T>(start: (data: T, index: number) => WorkerServer | Promise<WorkerServer>): void {
  const scope = globalThis as unknown as {
    postMessage?(m: FromWorker): void;
    addEventListener?(type: string, listener: () => void): void;
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
    close?(): void;
    document?: unknown;
  };
  if (typeof scope.postMessage !== "function" || isMainThread()) {
    throw new Error("serveWorker() runs in a worker module started by startWorkers(), not on the main thread");
  }
  let server: WorkerServer | undefined;
  // The main thread learns of each listener as it opens, so it can close it should this worker die.
  // Should it die of an uncaught error, its connections are closed here, while it still runs (the main
  // thread closes the listeners and the ring: it cannot tell the connections' fds).
  const listeners = new Map<number, WatchedServer>();
  const loops = new Set<IoLoop>(); // every loop a listener of this worker ran on: closed at the stop
  listenerWatch.opened = (listenFd, ringFd, watched) => {
    listeners.set(listenFd, watched);
    loops.add(watched.loop);
    scope.postMessage!({ kind: "listening", listenFd, ringFd });
  };
  listenerWatch.closing = (listenFd) => {
    listeners.delete(listenFd);
    scope.postMessage!({ kind: "unlistening", listenFd });
  };
  const closeConnections = () => {
    for (const watched of listeners.values()) watched.closeConnections();
  };
  let crashed = false; // an uncaught error: the main thread's onerror tells what it was
  const dying = () => {
    crashed = true;
    closeConnections();
  };
  scope.addEventListener!("error", dying);
  scope.addEventListener!("unhandledrejection", dying);
  // A worker that exits (process.exit(), self.close()): Deno tells the main thread nothing, so this does.
  // Bun sends no `unload` at a worker's process.exit(), where both runtimes emit process's `exit`.
  let exited = false;
  const exiting = (code?: number) => {
    if (exited) return;
    exited = true;
    closeConnections();
    scope.postMessage!({ kind: "exiting", code, crashed });
  };
  scope.addEventListener!("unload", () => exiting());
  process.on("exit", exiting);
  if (typeof scope.close === "function") {
    const close = scope.close;
    scope.close = () => {
      exiting();
      close.call(scope);
    };
  }
  scope.onmessage = async (e) => {
    const m = e.data;
    try {
      if (m.kind === "start") {
        const started = await start(m.data as T, m.index);
        checkWorkerServer(started);
        server = started;
        scope.postMessage!({ kind: "ready", id: m.id, port: server.port });
      } else if (m.kind === "stats") {
        scope.postMessage!({ kind: "stats", id: m.id, stats: server!.stats() });
      } else if (m.kind === "deadline") {
        // The server keeps the nearer of its deadlines; what the stop ends in, its "stop" answer says.
        server?.stop({ graceMs: m.graceMs }).catch(() => {});
      } else if (m.kind === "stop") {
        await (m.graceMs === undefined ? server?.stop() : server?.stop({ graceMs: m.graceMs }));
        // Listeners of a start that failed after it listened: their loops close only once they stop.
        await Promise.all([...listeners.values()].map((watched) => watched.stop()));
        if (server) loops.add(server.loop);
        for (const loop of loops) loop.close();
        // The thread may be ended as soon as "stopped" arrives: the rings must be torn down by then
        // (on Deno the last off-thread wait has to return first), or their fds outlive it. A loop
        // that other sockets of the program keep open (a client of its own) is not waited for long.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all([...loops].map((loop) => loop[kWhenClosed]())),
          new Promise((resolve) => (timer = setTimeout(resolve, LOOP_CLOSE_WAIT_MS))),
        ]);
        clearTimeout(timer);
        scope.postMessage!({ kind: "stopped", id: m.id });
      }
    } catch (err) {
      const e = asError(err);
      const uring = e instanceof UringError ? e : undefined;
      scope.postMessage!({
        kind: "error",
        id: m.id,
        message: e.message,
        name: e.name,
        op: uring?.op,
        errno: uring?.errno,
      });
    }
  };
  scope.postMessage({ kind: "hello" });
}

/**
 * A dead worker's listener stops taking connections. Closing its fd is not enough: the worker's ring
 * holds the socket through its armed accept, and the ring may be held alive by a thread of the
 * worker still parked in io_uring_enter (Deno's off-thread wait). So the socket is shut down (a
 * listener then leaves the port's SO_REUSEPORT group and its accept fails), and a CQE posted to the
 * ring (MSG_RING, 5.18) ends such a wait.
 */
function stopListening(listenFd: number, ringFd: number): void {
  try {
    using ring = new Ring({ entries: 4 });
    prepShutdown(ring.sqes, ring.getSqe(), listenFd, SHUT_RDWR);
    if (ringFd >= 0) prepMsgRing(ring.sqes, ring.getSqe(), ringFd, 0, 0, 0);
    ring.submitAndWait(ringFd >= 0 ? 2 : 1, 1000);
  } catch {
    // Nothing more to do for a dead worker: closing its fds is what is left.
  }
}

/** start() must return the server it started (what startWorkers() asks for stats and stops). */
function checkWorkerServer(value: unknown): asserts value is WorkerServer {
  const v = value as Partial<WorkerServer> & { [kListenFd]?: number } | null | undefined;
  if (
    typeof v !== "object" || v === null || typeof v.port !== "number" || typeof v.stats !== "function" ||
    typeof v.stop !== "function" || typeof v[kListenFd] !== "number"
  ) {
    throw new TypeError(
      `serveWorker(): start must return the Server (listen()) or HttpServer (serve()) it started, got ${
        describe(value)
      }`,
    );
  }
}

/** The most workers startWorkers() takes: the larger of 64 and four per core. */
function maxWorkers(): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.max(64, 4 * cores);
}

/**
 * A worker's failure as the main thread rejects with: its message after the worker's number, and its
 * class where the main thread has it (a UringError keeps its `code`, `errno` and `op`).
 */
function workerError(i: number, m: { message: string; name: string; op?: string; errno?: number }): Error {
  const error = m.op !== undefined && m.errno !== undefined
    ? new UringError(m.op, m.errno)
    : m.name === "TypeError"
    ? new TypeError()
    : m.name === "RangeError"
    ? new RangeError()
    : new Error();
  error.message = `worker ${i}: ${m.message}`;
  error.name = m.name; // an UnsupportedError, a ClosedError: an Error here, but named so
  return error;
}

/** On the main thread of Deno or Bun (a worker's global scope is not the main one). */
function isMainThread(): boolean {
  const g = globalThis as unknown as { Bun?: { isMainThread?: boolean }; WorkerGlobalScope?: unknown; self?: unknown };
  if (g.Bun) return g.Bun.isMainThread === true;
  return typeof g.WorkerGlobalScope === "undefined" || !(globalThis instanceof (g.WorkerGlobalScope as never));
}
