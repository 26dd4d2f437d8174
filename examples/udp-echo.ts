/**
 * UDP echo server: each datagram comes in through multishot recvmsg into a provided buffer and goes
 * back to its sender from that same buffer (no copy).
 *
 *   deno run --allow-ffi --allow-read examples/udp-echo.ts --port 9002
 *   bun examples/udp-echo.ts --port 9002
 *
 * Prints "listening on HOST:PORT" to stderr once ready; SIGINT/SIGTERM stop it and print its stats.
 */
import process from "node:process";
import { bindUdp, type UdpSocket } from "../mod.ts";

const USAGE = `usage: udp-echo.ts [--host H] [--port N] [--max-datagram N]
  --host H          address to bind (default 127.0.0.1)
  --port N          port to bind (default 9002; 0 picks one)
  --max-datagram N  largest datagram echoed, 1..65507 (default 65507); each receive buffer is
                    N + 44 bytes (io_uring_recvmsg_out header and source address), 256 buffers.
                    Larger datagrams arrive truncated: they are counted and not echoed.`;

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** Binds the echo socket; bad options print the usage and exit 2. */
function bind(): UdpSocket {
  try {
    return bindUdp({
      host: option("host", "127.0.0.1"),
      port: Number(option("port", "9002")),
      maxDatagramSize: Number(option("max-datagram", "65507")),
      handlers: {
        message(sock, datagram) {
          // Half a datagram back would look like a whole one to the sender: drop it (stats count it).
          if (datagram.truncated) return datagram.lease.release();
          sock.send(datagram); // back to its sender, straight from the receive buffer; released once sent
        },
        error(_sock, error) {
          console.error(`udp-echo: ${error.message}`);
        },
      },
    });
  } catch (e) {
    if (!(e instanceof RangeError || e instanceof TypeError)) throw e;
    console.error(`udp-echo: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
}

const socket = bind();
const { bufferSize, buffersTotal } = socket.pool.stats();
console.error(
  `listening on ${socket.host}:${socket.port} (udp; datagrams up to ${socket.maxDatagramSize} bytes, ` +
    `${buffersTotal} buffers of ${bufferSize} bytes)`,
);

let stopping = false;
function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  const { pool: _, ...stats } = socket.stats();
  console.error(`${signal}: stopped; ${JSON.stringify(stats)}`);
  socket.close();
  setTimeout(() => socket.loop.close(), 50);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
