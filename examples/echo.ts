/**
 * TCP echo server on io_uring with provided buffers: each received lease is written straight back
 * (no copy) and released by the send. Reading pauses while a connection's send queue is full.
 *
 *   deno run --allow-ffi --allow-read examples/echo.ts --port 9000
 *   bun examples/echo.ts --port 9000
 *
 * Options: --port N (9000; 0 picks one), --host H (127.0.0.1), --workers N (1: one thread per core
 * with SO_REUSEPORT), --idle-timeout SECONDS (0: none; close connections idle that long),
 * --max-connections N (0: no cap; connections beyond it are closed at once; with --workers, per
 * worker), --safe (detach leases on release and keep the leak net on), --dedicated (a
 * SINGLE_ISSUER | DEFER_TASKRUN ring; the thread waits in the kernel when idle: for servers that do
 * nothing else). The pool is listen()'s default (128 x 64 KiB consumed incrementally on 6.12+, else
 * 1024 x 4 KiB) unless one of these sizes it: --buffers N, --max-buffers N (the pool grows to this
 * under ENOBUFS pressure; at least --buffers), --buffer-size B, --backend auto|ring|ring-mmap|legacy,
 * --incremental (big buffers each serving many receives, 6.12+). A bad value prints one line and the
 * usage and exits 2. Prints "listening on HOST:PORT" to stderr once ready; SIGINT/SIGTERM stop it and
 * print its stats.
 */
import process from "node:process";
import { type PoolBackend, startWorkers } from "../mod.ts";
import { displayHost, hostArg, integerArg as integer, parseExampleArgs, secondsArg, startOrExit } from "./args.ts";
import { type EchoOptions, startEchoServer } from "./echo_server.ts";

const BACKENDS = ["auto", "ring", "ring-mmap", "legacy"];
const USAGE = "echo.ts [--port N] [--host H] [--buffers N] [--max-buffers N] [--buffer-size B] " +
  "[--backend auto|ring|ring-mmap|legacy] [--workers N] [--idle-timeout SECONDS] [--max-connections N] " +
  "[--safe] [--dedicated] [--incremental]";
const { values: args } = parseExampleArgs(
  USAGE,
  {
    port: { type: "string", default: "9000" },
    host: { type: "string", default: "127.0.0.1" },
    buffers: { type: "string" },
    "max-buffers": { type: "string" },
    "buffer-size": { type: "string" },
    backend: { type: "string" },
    workers: { type: "string", default: "1" },
    "idle-timeout": { type: "string", default: "0" },
    "max-connections": { type: "string", default: "0" },
    safe: { type: "boolean" },
    dedicated: { type: "boolean" },
    incremental: { type: "boolean" },
  },
  (v, fail, positionals) => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (v.backend !== undefined && !BACKENDS.includes(v.backend)) {
      fail(`--backend must be one of ${BACKENDS.join(", ")}, got ${v.backend}`);
    }
    if (v.incremental && v.backend === "legacy") fail("--incremental needs a ring backend, not --backend legacy");
    const idleTimeout = secondsArg("idle-timeout", v["idle-timeout"], fail);
    const workers = integer("workers", v.workers, 1, 1024, fail);
    const options: EchoOptions = {
      host: hostArg(v.host, fail),
      port: integer("port", v.port, 0, 65535, fail),
      buffers: v.buffers === undefined ? undefined : integer("buffers", v.buffers, 1, 65536, fail),
      maxBuffers: v["max-buffers"] === undefined ? undefined : integer("max-buffers", v["max-buffers"], 1, 65536, fail),
      bufferSize: v["buffer-size"] === undefined
        ? undefined
        : integer("buffer-size", v["buffer-size"], 1, 1 << 30, fail),
      backend: v.backend as PoolBackend | "auto" | undefined,
      safe: v.safe ?? false,
      reusePort: workers > 1,
      dedicated: v.dedicated ?? false,
      incremental: v.incremental,
      idleTimeout,
      maxConnections: integer("max-connections", v["max-connections"], 0, 2 ** 31 - 1, fail),
    };
    if (workers > 1 && options.port === 0) fail("--workers needs a fixed --port (they share it through SO_REUSEPORT)");
    return { workers, options };
  },
);
const { workers, options } = args;

let stop: () => Promise<string>;
if (workers > 1) {
  if (options.port === 0) throw new RangeError("--workers needs a fixed --port (they share it through SO_REUSEPORT)");
  const group = await startOrExit("echo.ts", USAGE, () =>
    startWorkers({
      count: workers,
      module: new URL("./echo_worker.ts", import.meta.url),
      data: options,
    }));
  console.error(`listening on ${displayHost(options.host)}:${group.ports[0]} (${workers} workers)`);
  stop = async () => {
    // stats() rejects once a worker has died (its error was logged then): the others still stop.
    const stats = await group.stats().then((all) => JSON.stringify(all), (e: Error) => `no stats: ${e.message}`);
    await group.stop().catch((e: Error) => console.error(`echo.ts: ${e.message}`));
    return stats;
  };
} else {
  const server = await startOrExit("echo.ts", USAGE, () => startEchoServer(options));
  console.error(`listening on ${displayHost(options.host)}:${server.port}`);
  stop = async () => {
    const stats = server.stats();
    await server.stop();
    server.loop.close();
    return JSON.stringify(stats);
  };
}

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.error(`${signal}: stopped; ${await stop()}`);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
