/**
 * TCP echo server on io_uring with provided buffers: each received lease is written straight back
 * (no copy) and released by the send. Reading pauses while a connection's send queue is full.
 *
 *   deno run --allow-ffi --allow-read examples/echo.ts --port 9000
 *   bun examples/echo.ts --port 9000
 *
 * Options: --port N (9000), --host H (127.0.0.1), --buffers N (4096), --buffer-size B (4096),
 * --backend auto|ring|ring-mmap|legacy, --safe (detach leases on release, leak net on; default off
 * here: the echo path never touches bytes after release).
 * Prints "listening on HOST:PORT" to stderr once ready; SIGINT/SIGTERM stop it and print stats.
 */
import process from "node:process";
import { listen, type PoolBackend } from "../mod.ts";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const positionalPort = process.argv.slice(2).find((a) => /^\d+$/.test(a));
const port = Number(option("port", positionalPort ?? "9000"));
const host = option("host", "127.0.0.1");
const safe = process.argv.includes("--safe");

const server = listen({
  host,
  port,
  pool: {
    count: Number(option("buffers", "4096")),
    bufferSize: Number(option("buffer-size", "4096")),
    backend: option("backend", "auto") as PoolBackend | "auto",
    detachOnRelease: safe,
    leakTracking: safe ? "warn" : "off",
  },
  handlers: {
    data(conn, lease) {
      if (!conn.write(lease)) conn.pause();
    },
    drain(conn) {
      conn.resume();
    },
    error() {
      // A reset peer only ends its own connection.
    },
  },
});
console.error(`listening on ${host}:${server.port}`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  const stats = server.stats();
  await server.stop();
  console.error(`${signal}: stopped; ${JSON.stringify(stats)}`);
  server.loop.close();
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
