/**
 * The "raw" HTTP/1.1 hello server of the HTTP benchmark (`ours-*-raw` in bench/http.sh): no Request
 * or Response objects at all, requests parsed straight out of the received leases, every request
 * answered "Hello, World!". It shows what serve()'s Web API objects cost; it is not a server to
 * build on (examples/http.ts is, on serve()). Several pipelined requests in one lease are answered
 * with one write, a head split across leases is carried over (only its partial tail is copied), and
 * every lease is released as soon as it has been parsed.
 *
 *   deno run --allow-ffi --allow-read bench/raw_http.ts --port 8080
 *   bun bench/raw_http.ts --port 8080
 *
 * Options: --port N (8080; 0 picks a free port), --host H (127.0.0.1), --buffers N (4096),
 * --buffer-size B (4096), --backend auto|ring|ring-mmap|legacy, --safe (detach leases on release,
 * leak net on). An unknown flag, a flag without its value or a bad value prints one line and the
 * usage and exits 2.
 * Prints "listening on HOST:PORT" (the real port; IPv6 as [::1]:PORT) to stderr once ready;
 * SIGINT/SIGTERM stop it.
 *
 * What it understands: the request line (HTTP/1.0 and 1.1), `Content-Length` (the body is skipped),
 * `Connection: close` / `keep-alive`, HEAD (no body in the answer). Keep-alive is the default for 1.1.
 * `Transfer-Encoding` gets 501, a malformed head 400, a head over 8 KiB 431; each then closes.
 */
import process from "node:process";
import { type Connection, listen, type PoolBackend } from "../mod.ts";
import { displayHost, hostArg, integerArg, parseExampleArgs } from "../examples/args.ts";

const USAGE = "raw_http.ts [--port N] [--host H] [--buffers N] [--buffer-size B] " +
  "[--backend auto|ring|ring-mmap|legacy] [--safe]";
const BACKENDS = ["auto", "ring", "ring-mmap", "legacy"];
const { values: args } = parseExampleArgs(
  USAGE,
  {
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
    buffers: { type: "string", default: "4096" },
    "buffer-size": { type: "string", default: "4096" },
    backend: { type: "string", default: "auto" },
    safe: { type: "boolean" },
  },
  (v, fail, positionals) => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    if (!BACKENDS.includes(v.backend!)) fail(`--backend must be one of ${BACKENDS.join(", ")}, got ${v.backend}`);
    return {
      port: integerArg("port", v.port, 0, 65535, fail),
      host: hostArg(v.host, fail),
      buffers: integerArg("buffers", v.buffers, 1, 65536, fail),
      bufferSize: integerArg("buffer-size", v["buffer-size"], 1, 1 << 30, fail),
      backend: v.backend as PoolBackend | "auto",
      safe: v.safe ?? false,
    };
  },
);
const { port, host, safe } = args;

/** Largest request head accepted, CRLFCRLF included. */
const MAX_HEAD = 8 * 1024;
const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58;

const encoder = new TextEncoder();
const BODY = "Hello, World!";
const OK = encoder.encode(`HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n${BODY}`);
const OK_CLOSE = encoder.encode(
  `HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${BODY}`,
);
/** For HTTP/1.0 clients that ask for keep-alive (1.0 closes by default). */
const OK_KEEP_ALIVE = encoder.encode(
  `HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\n${BODY}`,
);
const errorResponse = (status: string) =>
  encoder.encode(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
const BAD_REQUEST = errorResponse("400 Bad Request");
const TOO_LARGE = errorResponse("431 Request Header Fields Too Large");
const NOT_IMPLEMENTED = errorResponse("501 Not Implemented");

/** Per-connection parser state (conn.data). */
class HttpState {
  /** The start of a request head that has not ended yet (a copy; at most MAX_HEAD bytes). */
  carry: Uint8Array | undefined = undefined;
  /** How much of CR LF CR LF the carry ends with (0-3). */
  match = 0;
  /** Body bytes (Content-Length) still to skip. */
  skip = 0;
  /** A closing response was queued: ignore everything after it. */
  done = false;
}

// The responses for one lease are gathered here and sent with one write (write() copies them).
let out = new Uint8Array(64 * 1024);
let outLength = 0;

function append(bytes: Uint8Array): void {
  if (outLength + bytes.length > out.length) {
    const bigger = new Uint8Array(Math.max(out.length * 2, outLength + bytes.length));
    bigger.set(out.subarray(0, outLength));
    out = bigger;
  }
  out.set(bytes, outLength);
  outLength += bytes.length;
}

let scanMatch = 0;
/**
 * Looks for the end of a head (CR LF CR LF) in b[from..], having already matched `match` bytes of it.
 * Returns the index just past it, or -1 (then scanMatch says how much of it b ends with).
 */
function scanHeadEnd(b: Uint8Array, from: number, match: number): number {
  for (let i = from; i < b.length; i++) {
    const c = b[i];
    if (c === (match & 1 ? LF : CR)) {
      if (++match === 4) return i + 1;
    } else {
      match = c === CR ? 1 : 0;
    }
  }
  scanMatch = match;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

/** Whether b[start..end) equals `lower` (ASCII, lower case) ignoring case. */
function nameIs(b: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = b[start + i];
    if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function findCrlf(b: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (b[i] === CR && b[i + 1] === LF) return i;
  return -1;
}

/**
 * Answers the complete head b[start..end) (ending with CR LF CR LF): appends the response to `out`
 * and sets the state's skip/done. Returns false once the connection is to be closed.
 */
function respond(st: HttpState, b: Uint8Array, start: number, end: number): boolean {
  // Request line: METHOD SP TARGET SP HTTP/1.x
  const lineEnd = findCrlf(b, start, end);
  const firstSpace = b.indexOf(SP, start);
  if (lineEnd - start < 14 || firstSpace < 0 || firstSpace >= lineEnd - 9 || b[lineEnd - 9] !== SP) {
    return reject(st, BAD_REQUEST);
  }
  const v = lineEnd - 8;
  if (
    b[v] !== 72 || b[v + 1] !== 84 || b[v + 2] !== 84 || b[v + 3] !== 80 || b[v + 4] !== 47 || b[v + 5] !== 49 ||
    b[v + 6] !== 46 || (b[v + 7] !== 49 && b[v + 7] !== 48)
  ) {
    return reject(st, BAD_REQUEST); // not HTTP/1.1 or HTTP/1.0
  }
  const http10 = b[v + 7] === 48;
  // HEAD (methods are case-sensitive): the same headers, no body.
  const head = firstSpace - start === 4 && b[start] === 72 && b[start + 1] === 69 && b[start + 2] === 65 &&
    b[start + 3] === 68;
  let contentLength = 0;
  let close = http10;
  // Header lines up to the empty line.
  for (let i = lineEnd + 2; i < end - 2;) {
    const j = findCrlf(b, i, end);
    let colon = i;
    while (colon < j && b[colon] !== COLON) colon++;
    if (colon === j || colon === i) return reject(st, BAD_REQUEST);
    let vs = colon + 1, ve = j;
    while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    if (nameIs(b, i, colon, "content-length")) {
      if (ve === vs || ve - vs > 15) return reject(st, BAD_REQUEST);
      let n = 0;
      for (let k = vs; k < ve; k++) {
        const d = b[k] - 48;
        if (d < 0 || d > 9) return reject(st, BAD_REQUEST);
        n = n * 10 + d;
      }
      contentLength = n;
    } else if (nameIs(b, i, colon, "connection")) {
      let value = "";
      for (let k = vs; k < ve; k++) value += String.fromCharCode(b[k]);
      for (const token of value.toLowerCase().split(",")) {
        const t = token.trim();
        if (t === "close") close = true;
        else if (t === "keep-alive" && http10) close = false;
      }
    } else if (nameIs(b, i, colon, "transfer-encoding")) {
      return reject(st, NOT_IMPLEMENTED);
    }
    i = j + 2;
  }
  append(close ? OK_CLOSE : http10 ? OK_KEEP_ALIVE : OK);
  if (head) outLength -= BODY.length;
  if (close) {
    st.done = true;
    return false;
  }
  st.skip = contentLength;
  return true;
}

function reject(st: HttpState, response: Uint8Array): false {
  append(response);
  st.done = true;
  st.carry = undefined;
  return false;
}

/** Parses the bytes of one lease, appending responses to `out`; copies an unfinished head into st.carry. */
function feed(st: HttpState, b: Uint8Array): void {
  const n = b.length;
  let p = 0;
  while (p < n) {
    if (st.skip > 0) {
      const k = Math.min(st.skip, n - p);
      st.skip -= k;
      p += k;
      continue;
    }
    if (st.carry) {
      // A head begun in an earlier lease.
      const end = scanHeadEnd(b, p, st.match);
      if (end < 0) {
        if (st.carry.length + n - p > MAX_HEAD) return void reject(st, TOO_LARGE);
        st.carry = concat(st.carry, b.subarray(p));
        st.match = scanMatch;
        return;
      }
      if (st.carry.length + end - p > MAX_HEAD) return void reject(st, TOO_LARGE);
      const head = concat(st.carry, b.subarray(p, end));
      st.carry = undefined;
      st.match = 0;
      p = end;
      if (!respond(st, head, 0, head.length)) return;
      continue;
    }
    if (b[p] === CR || b[p] === LF) {
      p++; // empty lines before a request line are ignored (RFC 9112 section 2.2)
      continue;
    }
    const end = scanHeadEnd(b, p, 0);
    if (end < 0) {
      if (n - p > MAX_HEAD) return void reject(st, TOO_LARGE);
      st.carry = b.slice(p); // the partial tail only
      st.match = scanMatch;
      return;
    }
    if (end - p > MAX_HEAD) return void reject(st, TOO_LARGE);
    const start = p;
    p = end;
    if (!respond(st, b, start, end)) return;
  }
}

const server = listen({
  hostname: host,
  port,
  pool: {
    count: args.buffers,
    bufferSize: args.bufferSize,
    backend: args.backend,
    detachOnRelease: safe,
    leakTracking: safe ? "warn" : "off",
  },
  handlers: {
    open(conn) {
      conn.data = new HttpState();
    },
    data(conn: Connection, lease) {
      const st = conn.data as HttpState;
      if (st.done) return lease.release(); // after a closing response: discard
      outLength = 0;
      try {
        feed(st, lease.bytes);
      } finally {
        lease.release();
      }
      if (outLength > 0 && !conn.write(out.subarray(0, outLength))) conn.pause();
      if (st.done) conn.end();
    },
    drain(conn) {
      conn.resume();
    },
    error() {
      // A reset peer only ends its own connection.
    },
  },
});
console.error(`listening on ${displayHost(host)}:${server.port}`);

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
