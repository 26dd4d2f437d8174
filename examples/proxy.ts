/**
 * TCP proxy: every accepted connection gets its own connection to the target; leases received on one
 * side are written to the other without copying (the send releases them). Each side pauses reading
 * while the other side's send queue is full.
 *
 *   deno run --allow-ffi --allow-read examples/proxy.ts --port 9001 --target 127.0.0.1:9000
 *   bun examples/proxy.ts --port 9001 --target 127.0.0.1:9000
 */
import process from "node:process";
import { connect, type Connection, listen } from "../mod.ts";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const port = Number(option("port", "9001"));
const host = option("host", "127.0.0.1");
const target = option("target", "127.0.0.1:9000");
const sep = target.lastIndexOf(":");
const targetHost = target.slice(0, sep).replace(/^\[|\]$/g, "");
const targetPort = Number(target.slice(sep + 1));

interface Link {
  peer: Connection | undefined;
  early: import("../mod.ts").Lease[]; // received before the upstream connected
}

const server = listen({
  host,
  port,
  handlers: {
    open(client) {
      const link: Link = { peer: undefined, early: [] };
      client.data = link;
      connect({
        host: targetHost,
        port: targetPort,
        handlers: {
          data(upstream, lease) {
            if (client.closed) return lease.release();
            if (!client.write(lease)) upstream.pause();
          },
          drain: () => client.resume(),
          end: () => client.shutdown(),
          close: () => client.end(),
          error: () => {},
        },
      }).then((upstream) => {
        if (client.closed) return upstream.close();
        link.peer = upstream;
        upstream.data = client;
        for (const l of link.early.splice(0)) upstream.write(l);
      }, (error) => {
        console.error(`proxy: upstream ${target}: ${error.message}`);
        for (const l of link.early.splice(0)) l.release();
        client.reset();
      });
    },
    data(client, lease) {
      const link = client.data as Link;
      if (!link.peer) link.early.push(lease);
      else if (link.peer.closed) lease.release();
      else if (!link.peer.write(lease)) client.pause();
    },
    drain(client) {
      const upstream = (client.data as Link).peer;
      if (upstream && !upstream.closed) upstream.resume();
    },
    end(client) {
      const upstream = (client.data as Link).peer;
      if (upstream && !upstream.closed) upstream.shutdown();
    },
    close(client) {
      const link = client.data as Link;
      for (const l of link.early.splice(0)) l.release();
      link.peer?.end();
    },
    error() {},
  },
});
console.error(`listening on ${host}:${server.port}, forwarding to ${target}`);

async function shutdown() {
  await server.stop();
  server.loop.close();
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
