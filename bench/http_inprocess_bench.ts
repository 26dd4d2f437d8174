/**
 * The JavaScript cost of serve() per request, without sockets: one HttpConnection over a stand-in
 * connection, fed requests as leases, each awaited until its response is written. What is left out
 * is the transport (bench/raw_http.ts measures that part under wrk).
 *
 *   deno run -A bench/http_inprocess_bench.ts get|posta|post
 *   bun bench/http_inprocess_bench.ts get|posta|post
 *
 * get: `GET /` answered "Hello, World!"; posta: a 16 KiB POST answered "ok" without reading the
 * body; post: a 16 KiB POST echoed (`new Response(await request.arrayBuffer())`). The body arrives
 * in four 4 KiB receives. Prints the best of 5 runs of 50,000 requests, in us per request.
 */
import process from "node:process";
import type { Connection } from "../src/net/connection.ts";
import type { Lease } from "../src/buffers/lease.ts";
import { HttpConnection, type HttpContext } from "../src/http/http_connection.ts";
import { DEFAULT_PARSER_LIMITS } from "../src/http/parser.ts";
import { kCork, kUncork } from "../src/internal.ts";

const mode = process.argv[2] ?? "get";
if (!["get", "posta", "post"].includes(mode)) {
  console.error("usage: http_inprocess_bench.ts get|posta|post");
  process.exit(2);
}

let wake: (() => void) | undefined;
// Just what HttpConnection calls on a Connection; every write counts as the response going out.
const conn = {
  data: undefined,
  idleTimeout: 0,
  write() {
    wake?.();
    return true;
  },
  pause() {},
  [kCork]() {},
  [kUncork]() {},
  resume() {},
  end() {},
  close: () => Promise.resolve(),
  flushed: () => Promise.resolve(),
  remoteAddress: { family: "ipv4", hostname: "127.0.0.1", port: 1 },
} as unknown as Connection<HttpConnection>;

const ctx: HttpContext = {
  handler: mode === "post"
    ? async (request) => new Response(await request.arrayBuffer())
    : mode === "posta"
    ? () => new Response("ok")
    : () => new Response("Hello, World!"),
  server: undefined,
  stopping: false,
  onError: undefined,
  limits: DEFAULT_PARSER_LIMITS,
  idleTimeout: 10,
  headerTimeout: 10,
  minBodyRate: 0,
  defaultHost: "127.0.0.1:8080",
  counters: { requests: 0, refused: 0, handlerErrors: 0 },
  filePool: () => {
    throw new Error("no files here");
  },
};
const http = new HttpConnection(conn, ctx);
const encoder = new TextEncoder();
const get = encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n");
const postHead = encoder.encode(
  "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 16384\r\nContent-Type: application/octet-stream\r\n\r\n",
);
const piece = new Uint8Array(4096).fill(120);
const lease = (bytes: Uint8Array) => ({ bytes, release() {} }) as unknown as Lease;

async function one(): Promise<void> {
  const written = new Promise<void>((resolve) => (wake = resolve));
  if (mode === "get") {
    http.received(lease(get));
  } else {
    http.received(lease(postHead));
    for (let i = 0; i < 4; i++) http.received(lease(piece));
  }
  await written;
}

let best = Infinity;
for (let run = 0; run < 5; run++) {
  const n = 50_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) await one();
  best = Math.min(best, (performance.now() - start) * 1000 / n);
}
console.log(`${mode}: ${best.toFixed(2)} us/request (best of 5 runs of 50,000)`);
