/**
 * Multi-core serving: one Worker per core, each with its own IoLoop (ring), pool and SO_REUSEPORT
 * listener, so nothing is shared across threads. `startWorkers` runs on the main thread; the worker
 * module calls `serveWorker` with a function that starts its server.
 */
import { kStart } from "../internal.ts";
import type { IoLoop } from "./loop.ts";
import type { ServerStats } from "./server.ts";

/** What a worker serves with: a `Server` from listen() or an `HttpServer` from serve(). */
export interface WorkerServer {
  /** The port it listens on (reported to startWorkers()). */
  readonly port: number;
  /** Its loop, closed by the worker after a stop. */
  readonly loop: IoLoop;
  /** Its counters (WorkerGroup.stats()). */
  stats(): ServerStats;
  /** Stops it (WorkerGroup.stop()). */
  stop(): Promise<void>;
}

/** Options of `startWorkers()`. */
export interface WorkerGroupOptions<T> {
  /** Workers to start, >= 1 (one per core is the usual choice). */
  count: number;
  /** The worker module: it must call serveWorker(). */
  module: URL | string;
  /** Passed to each worker's start function (structured-cloneable). */
  data: T;
}

type ToWorker = { kind: "start"; index: number; data: unknown } | { kind: "stats" } | { kind: "stop" };
type FromWorker =
  | { kind: "hello" }
  | { kind: "ready"; port: number }
  | { kind: "stats"; stats: ServerStats }
  | { kind: "stopped" }
  | { kind: "error"; message: string };

interface WorkerLike {
  postMessage(message: ToWorker): void;
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  terminate(): void;
}

/**
 * The workers started by `startWorkers()`: one Worker per core, each serving with its own loop,
 * pool and SO_REUSEPORT listener. Ask them for stats or stop them all.
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
  readonly #workers: WorkerLike[];
  readonly #waiting: ((m: FromWorker) => void)[][];
  /** The port each worker listens on (all equal with SO_REUSEPORT and a fixed port). */
  readonly ports: number[] = [];

  /** @ignore Made by startWorkers(). */
  constructor(workers: WorkerLike[]) {
    this.#workers = workers;
    this.#waiting = workers.map(() => []);
    workers.forEach((w, i) => {
      w.onmessage = (e) => this.#waiting[i].shift()?.(e.data);
      w.onerror = (e) => {
        e.preventDefault?.();
        this.#waiting[i].shift()?.({ kind: "error", message: e.message });
      };
    });
  }

  #ask(i: number, message: ToWorker): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      this.#waiting[i].push((m) => (m.kind === "error" ? reject(new Error(`worker ${i}: ${m.message}`)) : resolve(m)));
      this.#workers[i].postMessage(message);
    });
  }

  /** @ignore Sends each worker its start message and waits until every one listens (startWorkers()). */
  async [kStart](data: unknown): Promise<void> {
    // A message posted before the worker's module has finished loading can be lost (Bun), so the
    // worker says hello once serveWorker() listens, and only then gets its start message.
    await Promise.all(
      this.#workers.map((_, i) =>
        new Promise<FromWorker>((resolve, reject) =>
          this.#waiting[i].push((
            m,
          ) => (m.kind === "error" ? reject(new Error(`worker ${i}: ${m.message}`)) : resolve(m)))
        )
      ),
    );
    const ready = await Promise.all(this.#workers.map((_, i) => this.#ask(i, { kind: "start", index: i, data })));
    for (const r of ready) this.ports.push((r as { port: number }).port);
  }

  /** How many workers there are. */
  get size(): number {
    return this.#workers.length;
  }

  /** Every worker's server stats, in worker order. Rejects if a worker fails to answer. */
  async stats(): Promise<ServerStats[]> {
    const replies = await Promise.all(this.#workers.map((_, i) => this.#ask(i, { kind: "stats" })));
    return replies.map((r) => (r as { stats: ServerStats }).stats);
  }

  /** Stops every worker's server, closes its loop and ends the workers. */
  async stop(): Promise<void> {
    await Promise.all(this.#workers.map((_, i) => this.#ask(i, { kind: "stop" })));
    for (const w of this.#workers) w.terminate();
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
 * Rejects with a RangeError for a count that is not a positive integer, and with an Error naming
 * the worker when one fails to start (the others are terminated).
 */
export async function startWorkers<T>(options: WorkerGroupOptions<T>): Promise<WorkerGroup> {
  if (!Number.isInteger(options.count) || options.count < 1) {
    throw new RangeError(`count must be a positive integer, got ${options.count}`);
  }
  const href = options.module instanceof URL ? options.module.href : options.module;
  const workers = Array.from(
    { length: options.count },
    () => new Worker(href, { type: "module" }) as unknown as WorkerLike,
  );
  const group = new WorkerGroup(workers);
  try {
    await group[kStart](options.data);
  } catch (e) {
    for (const w of workers) w.terminate();
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
    postMessage(m: FromWorker): void;
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  };
  let server: WorkerServer | undefined;
  scope.onmessage = async (e) => {
    const m = e.data;
    try {
      if (m.kind === "start") {
        server = await start(m.data as T, m.index);
        scope.postMessage({ kind: "ready", port: server.port });
      } else if (m.kind === "stats") {
        scope.postMessage({ kind: "stats", stats: server!.stats() });
      } else if (m.kind === "stop") {
        await server?.stop();
        server?.loop.close();
        scope.postMessage({ kind: "stopped" });
      }
    } catch (err) {
      scope.postMessage({ kind: "error", message: (err as Error).message });
    }
  };
  scope.postMessage({ kind: "hello" });
}
