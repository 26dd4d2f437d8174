/**
 * The server side of `bench/downloads.sh`: each byte a client sends asks for one copy of a stored
 * value (SIZE bytes, default 1 MiB, filled with the pattern the client checks), which is written back.
 * The value is what a cache or a file server keeps in memory; `--copy false` sends it in place
 * (`write(value, { copy: false })`) instead of copying it into native memory for each reply.
 *
 *   deno run --allow-ffi --allow-read bench/bulk_get_server.ts --port N [--size B] [--copy false]
 *   bun bench/bulk_get_server.ts --port N [--size B] [--copy false]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { listen } from "../mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    port: { type: "string", default: "0" },
    size: { type: "string", default: String(1 << 20) },
    copy: { type: "string", default: "true" },
  },
});
const size = Number(values.size);
const copy = values.copy !== "false";
const value = new Uint8Array(size);
for (let i = 0; i < size; i++) value[i] = (i * 7919 + 13) & 255;
const inPlace = copy ? undefined : { copy: false };

const server = listen({
  hostname: "127.0.0.1",
  port: Number(values.port),
  handlers: {
    data(conn, lease) {
      for (let i = 0; i < lease.length; i++) conn.write(value, inPlace);
      lease.release();
      if (conn.bufferedAmount >= conn.highWaterMark) conn.pause();
    },
    drain(conn) {
      conn.resume();
    },
    error() {},
  },
});
console.error(`listening on 127.0.0.1:${server.port}`);
process.on("SIGTERM", () => server.stop().then(() => process.exit(0)));
