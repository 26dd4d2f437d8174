/**
 * An HTTP/1.1 server on serve(): the handler is what you would hand to `Deno.serve` or `Bun.serve`.
 *
 *   deno run --allow-ffi --allow-read examples/http.ts --port 8080
 *   bun examples/http.ts --port 8080
 *   curl http://127.0.0.1:8080/   |   wrk -t1 -c64 -d10s http://127.0.0.1:8080/
 *
 * Routes: `GET /` answers "Hello, World!"; `POST /echo` answers the request body back;
 * `GET /stream?n=N` streams N lines (default 5), one every 10 ms, chunked; `GET /ip` answers the
 * client's address; anything else 404.
 *
 * Options: --port N (8080; 0 picks a free port), --host H (127.0.0.1), --workers N (1: this thread
 * only; N > 1 starts N workers on the port with SO_REUSEPORT), --idle-timeout S (10). An unknown
 * flag, a flag without its value or a bad value prints one line and the usage and exits 2
 * (--idle-timeout takes whole seconds).
 * Prints "listening on HOST:PORT" (the real port; IPv6 as [::1]:PORT) to stderr once ready;
 * SIGINT/SIGTERM stop it gracefully and print its stats: requests in flight get 5 s to be answered
 * (with --workers too), then their connections are reset; a second signal resets them at once.
 */
import { startWorkers } from "../mod.ts";
import {
  displayHost,
  exitWithUsage,
  hostArg,
  integerArg,
  onStopSignals,
  parseExampleArgs,
  startOrExit,
} from "./args.ts";
import { type HttpExampleOptions, startHttpServer } from "./http_server.ts";

const USAGE = "http.ts [--port N] [--host H] [--workers N] [--idle-timeout S]";
const { values: options } = parseExampleArgs(
  USAGE,
  {
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    workers: { type: "string", default: "1" },
    "idle-timeout": { type: "string", default: "10" },
  },
  (v, fail, positionals): HttpExampleOptions & { workers: number } => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    return {
      port: integerArg("port", v.port, 0, 65535, fail),
      hostname: hostArg(v.host, fail),
      workers: integerArg("workers", v.workers, 1, 256, fail),
      idleTimeout: integerArg("idle-timeout", v["idle-timeout"], 0, 86400, fail),
    };
  },
);

if (options.workers > 1) {
  if (options.port === 0) {
    exitWithUsage(USAGE, "--workers needs a fixed --port (each worker binds it with SO_REUSEPORT)");
  }
  const group = await startOrExit("http.ts", USAGE, () =>
    startWorkers({
      count: options.workers,
      module: new URL("./http_worker.ts", import.meta.url),
      data: options,
    }));
  console.error(`listening on ${displayHost(options.hostname)}:${group.ports[0]} (${group.size} workers)`);
  onStopSignals(async (signal) => {
    // stats() rejects once a worker has died (its error was logged then): the others still stop gracefully.
    const stats = await group.stats().then(
      (all) => JSON.stringify(all.map((s) => ({ requests: (s as { requests?: number }).requests }))),
      (e: Error) => `no stats: ${e.message}`,
    );
    await group.stop({ graceMs: 5000 }).catch((e: Error) => console.error(`http.ts: ${e.message}`));
    console.error(`${signal}: stopped; ${stats}`);
  }, () => void group.stop({ graceMs: 0 }).catch(() => {}));
} else {
  const server = await startOrExit("http.ts", USAGE, () => startHttpServer(options));
  console.error(`listening on ${displayHost(options.hostname)}:${server.port}`);
  onStopSignals(async (signal) => {
    await server.shutdown(5000);
    const { requests, refused, handlerErrors, accepted } = server.stats();
    console.error(`${signal}: stopped; ${JSON.stringify({ accepted, requests, refused, handlerErrors })}`);
    server.loop.close();
  }, () => void server.stop(true));
}
