/**
 * Multi-core serving: one Worker per core, each with its own IoLoop (ring), pool and SO_REUSEPORT
 * listener, so nothing is shared across threads. `startWorkers` runs on the main thread; the worker
 * module calls `serveWorker` with a function that starts its server.
 */
import type { Server, ServerStats } from "./server.ts";

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

export class WorkerGroup {
  readonly #workers: WorkerLike[];
  readonly #waiting: ((m: FromWorker) => void)[][];
  /** The port each worker listens on (all equal with SO_REUSEPORT and a fixed port). */
  readonly ports: number[] = [];

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

  /** @internal */
  async start(data: unknown): Promise<void> {
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

  get size(): number {
    return this.#workers.length;
  }

  /** Every worker's server stats. */
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

/** Starts `count` workers running `module` and waits until each one's server listens. */
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
    await group.start(options.data);
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  return group;
}

/**
 * Worker side: waits for startWorkers' message, calls `start(data, index)` (which should listen
 * with `reusePort: true`), then answers stats and stop requests.
 */
export function serveWorker<T>(start: (data: T, index: number) => Server | Promise<Server>): void {
  const scope = globalThis as unknown as {
    postMessage(m: FromWorker): void;
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  };
  let server: Server | undefined;
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
