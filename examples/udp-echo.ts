/**
 * UDP echo server: each datagram comes in through multishot recvmsg into a provided buffer and goes
 * back to its sender from that same buffer (no copy).
 *
 *   deno run --allow-ffi --allow-read examples/udp-echo.ts --port 9002
 *   bun examples/udp-echo.ts --port 9002
 *
 * Options: see USAGE (--help). An unknown flag, a flag without its value or a bad value prints one
 * line and the usage and exits 2.
 * Prints "listening on HOST:PORT" (IPv6 as [::1]:PORT) to stderr once ready; SIGINT/SIGTERM stop it
 * and print its stats.
 */
import process from "node:process";
import { bindUdp, MAX_UDP_PAYLOAD, type UdpSocket } from "../mod.ts";
import { displayHost, hostArg, integerArg, parseExampleArgs, startOrExit } from "./args.ts";

const USAGE = `udp-echo.ts [--host H] [--port N] [--max-datagram N] [--help]
  --host H          address to bind (default 127.0.0.1)
  --port N          port to bind (default 9002; 0 picks one)
  --max-datagram N  largest datagram echoed, 1..${MAX_UDP_PAYLOAD} (default ${MAX_UDP_PAYLOAD}); each receive buffer is
                    N + 44 bytes (io_uring_recvmsg_out header and source address), 256 buffers.
                    Larger datagrams arrive truncated: they are counted and not echoed.`;

const { values: args } = parseExampleArgs(
  USAGE,
  {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9002" },
    "max-datagram": { type: "string", default: String(MAX_UDP_PAYLOAD) },
  },
  (v, fail, positionals) => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    return {
      hostname: hostArg(v.host, fail),
      port: integerArg("port", v.port, 0, 65535, fail),
      maxDatagramSize: integerArg("max-datagram", v["max-datagram"], 1, MAX_UDP_PAYLOAD, fail),
    };
  },
);

// Options the library still refuses print the usage and exit 2; a kernel without UDP support, one line.
const socket: UdpSocket = await startOrExit("udp-echo.ts", USAGE, () =>
  bindUdp({
    ...args,
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
  }));
const { bufferSize, buffersTotal } = socket.pool.stats();
console.error(
  `listening on ${
    displayHost(socket.hostname)
  }:${socket.port} (udp; datagrams up to ${socket.maxDatagramSize} bytes, ` +
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
