/**
 * Line chat: each line a client sends (up to and with its "\n") goes to every other client, whole and
 * in the order its sender sent it. The broadcast a chat or pub-sub server needs, with its two traps
 * handled: a partial line is kept as a copy, not as the lease (a kept piece keeps its whole pool
 * buffer from the kernel), and a client that falls behind is reset rather than followed (pausing
 * the senders for the slowest reader holds everyone back, and a queue without a bound sheds healthy
 * readers with the slow once the loop's memory bound is reached).
 *
 *   deno run --allow-ffi --allow-read examples/chat.ts --port 9003
 *   bun examples/chat.ts --port 9003
 *
 * Options: see USAGE (--help). Prints "listening on HOST:PORT" to stderr once ready; SIGINT/SIGTERM
 * stop it and print its stats.
 */
import process from "node:process";
import { type Connection, listen } from "../mod.ts";
import { displayHost, hostArg, integerArg, parseExampleArgs, startOrExit } from "./args.ts";

const USAGE = `chat.ts [--host H] [--port N] [--max-behind BYTES] [--max-line BYTES] [--help]
  --host H            address to bind (default 127.0.0.1)
  --port N            port to bind (default 9003; 0 picks one)
  --max-behind BYTES  a client with more than this queued for it is reset (default 4194304:
                      above what all senders may send in one burst together)
  --max-line BYTES    a client whose line runs longer than this is reset (default 65536)`;

const { values: args } = parseExampleArgs(
  USAGE,
  {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9003" },
    "max-behind": { type: "string", default: String(4 << 20) },
    "max-line": { type: "string", default: String(64 * 1024) },
  },
  (v, fail, positionals) => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    return {
      hostname: hostArg(v.host, fail),
      port: integerArg("port", v.port, 0, 65535, fail),
      maxBehind: integerArg("max-behind", v["max-behind"], 1, 2 ** 30, fail),
      maxLine: integerArg("max-line", v["max-line"], 1, 2 ** 30, fail),
    };
  },
);

/** A client's line still coming: copies of its pieces. */
interface Partial {
  pieces: Uint8Array[];
  bytes: number;
}

const NEWLINE = 10;
const clients = new Set<Connection<Partial>>();
let broadcasts = 0;
let resetBehind = 0;
let resetLong = 0;

const server = await startOrExit("chat.ts", USAGE, () =>
  listen<Partial>({
    hostname: args.hostname,
    port: args.port,
    handlers: {
      open(conn) {
        conn.data = { pieces: [], bytes: 0 };
        clients.add(conn);
      },
      data(conn, lease) {
        const bytes = lease.bytes;
        const end = bytes.lastIndexOf(NEWLINE) + 1; // past the last whole line in this piece
        const partial = conn.data;
        if (end > 0) {
          // This sender's whole lines, as one write to each other client: lines of two senders never mix.
          const lines = partial.bytes === 0 ? bytes.subarray(0, end) : join(partial, bytes.subarray(0, end));
          for (const other of clients) if (other !== conn) deliver(other, lines);
          broadcasts++;
        }
        keep(conn, bytes.subarray(end));
        lease.release(); // each write above copied what it sends
      },
      close(conn) {
        clients.delete(conn);
      },
      error() {}, // a client that reset, or one reset here: its close follows
    },
  }));
console.error(`listening on ${displayHost(server.hostname)}:${server.port} (chat)`);

/** Queues `lines` for `to`, or resets `to` if that would put it more than --max-behind behind. */
function deliver(to: Connection<Partial>, lines: Uint8Array): void {
  if (!to.writable) return;
  if (to.bufferedAmount + lines.length > args.maxBehind) {
    resetBehind++;
    to.reset();
    return;
  }
  to.write(lines);
}

/** Keeps a copy of the start of `conn`'s next line (the lease goes back to the pool). */
function keep(conn: Connection<Partial>, rest: Uint8Array): void {
  if (rest.length === 0) return;
  const partial = conn.data;
  partial.pieces.push(rest.slice());
  partial.bytes += rest.length;
  if (partial.bytes > args.maxLine) {
    resetLong++;
    conn.reset();
  }
}

/** The pieces of a line, then `tail`, in one array; the partial line is then empty. */
function join(partial: Partial, tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(partial.bytes + tail.length);
  let at = 0;
  for (const piece of partial.pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  out.set(tail, at);
  partial.pieces = [];
  partial.bytes = 0;
  return out;
}

let stopping = false;
function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  const { pool: _, ...stats } = server.stats();
  console.error(`${signal}: stopped; ${JSON.stringify({ ...stats, broadcasts, resetBehind, resetLong })}`);
  void server.stop();
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
