/**
 * UDP echo server: each datagram comes in through multishot recvmsg into a provided buffer and goes
 * back to its sender from that same buffer (no copy).
 *
 *   deno run --allow-ffi --allow-read examples/udp-echo.ts --port 9002
 *   bun examples/udp-echo.ts --port 9002
 */
import process from "node:process";
import { bindUdp } from "../mod.ts";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const socket = bindUdp({
  host: option("host", "127.0.0.1"),
  port: Number(option("port", "9002")),
  handlers: {
    message(sock, datagram) {
      if (datagram.truncated) return datagram.lease.release();
      sock.send(datagram); // back to its sender, straight from the receive buffer; released once sent
    },
    error(_sock, error) {
      console.error(`udp-echo: ${error.message}`);
    },
  },
});
console.error(`listening on ${socket.host}:${socket.port} (udp)`);

function stop() {
  socket.close();
  setTimeout(() => socket.loop.close(), 50);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
