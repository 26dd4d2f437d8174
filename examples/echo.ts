/**
 * TCP echo server on io_uring with provided buffers: each received lease is written straight back
 * (no copy) and released by the send. Reading pauses while a connection's send queue is full.
 *
 *   deno run --allow-ffi --allow-read examples/echo.ts --port 9000
 *   bun examples/echo.ts --port 9000
 *
 * Options: --port N (9000; 0 picks one), --host H (127.0.0.1), --buffers N (4096 per thread),
 * --max-buffers N (16384: the pool grows to this under ENOBUFS pressure), --buffer-size B (4096), --backend auto|ring|ring-mmap|legacy, --workers N (1: one thread per core
 * with SO_REUSEPORT), --safe (detach leases on release and keep the leak net on), --dedicated (a
 * SINGLE_ISSUER | DEFER_TASKRUN ring; the thread waits in the kernel when idle: for servers that do
 * nothing else), --incremental (big buffers each serving many receives, 6.12+).
 * Prints "listening on HOST:PORT" to stderr once ready; SIGINT/SIGTERM stop it and print its stats.
 */
import process from "node:process";
import { type PoolBackend, startWorkers } from "../mod.ts";
import { type EchoOptions, startEchoServer } from "./echo_server.ts";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const positionalPort = process.argv.slice(2).find((a) => /^\d+$/.test(a));
const workers = Number(option("workers", "1"));
const options: EchoOptions = {
  host: option("host", "127.0.0.1"),
  port: Number(option("port", positionalPort ?? "9000")),
  buffers: Number(option("buffers", "4096")),
  maxBuffers: Number(option("max-buffers", "16384")),
  bufferSize: Number(option("buffer-size", "4096")),
  backend: option("backend", "auto") as PoolBackend | "auto",
  safe: process.argv.includes("--safe"),
  reusePort: workers > 1,
  dedicated: process.argv.includes("--dedicated"),
  incremental: process.argv.includes("--incremental"),
};

let stop: () => Promise<string>;
if (workers > 1) {
  if (options.port === 0) throw new RangeError("--workers needs a fixed --port (they share it through SO_REUSEPORT)");
  const group = await startWorkers({
    count: workers,
    module: new URL("./echo_worker.ts", import.meta.url),
    data: options,
  });
  console.error(`listening on ${options.host}:${group.ports[0]} (${workers} workers)`);
  stop = async () => {
    const stats = await group.stats();
    await group.stop();
    return JSON.stringify(stats);
  };
} else {
  const server = startEchoServer(options);
  console.error(`listening on ${options.host}:${server.port}`);
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
