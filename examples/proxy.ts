/**
 * TCP proxy: every accepted connection gets its own connection to the target; leases received on one
 * side are written to the other without copying (the send releases them). Each side pauses reading
 * while the other side's send queue is full. A side's EOF is passed on as a half-close, each side
 * closes once both of its directions are done, and a failure on one side resets the other.
 *
 *   deno run --allow-ffi examples/proxy.ts --port 9001 --target 127.0.0.1:9000
 *   bun examples/proxy.ts --port 9001 --target 127.0.0.1:9000
 *
 * Options: --port N (9001; 0 picks one), --host H (127.0.0.1), --target HOST:PORT (127.0.0.1:9000;
 * HOST an address or localhost, not a name; IPv6 as [::1]:PORT), --idle-timeout SECONDS (60, both
 * sides; 0 = none). A bad value prints one line and the usage and exits 2.
 * Prints "listening on HOST:PORT" to stderr once ready. SIGINT/SIGTERM reset both sides of every
 * connection and exit 0, printing nothing.
 */
import process from "node:process";
import { connect, type Connection, listen } from "../mod.ts";
import { displayHost, hostArg, integerArg, parseExampleArgs, parseHostPort, secondsArg, startOrExit } from "./args.ts";

const USAGE = "proxy.ts [--port N] [--host H] [--target HOST:PORT] [--idle-timeout SECONDS]";
const { values } = parseExampleArgs(
  USAGE,
  {
    port: { type: "string", default: "9001" },
    host: { type: "string", default: "127.0.0.1" },
    target: { type: "string", default: "127.0.0.1:9000" },
    "idle-timeout": { type: "string", default: "60" },
  },
  (v, fail, positionals) => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const port = integerArg("port", v.port, 0, 65535, fail);
    const idleTimeout = secondsArg("idle-timeout", v["idle-timeout"], fail);
    const target = parseHostPort(v.target!);
    if (!target) fail(`--target must be HOST:PORT with a port in [1, 65535], got ${JSON.stringify(v.target)}`);
    // An address, as the connections to it need (a name would fail every connection, not the start).
    target!.host = hostArg(target!.host, (m) => fail(m.replace("--target-host", "--target's HOST")), "target-host");
    return { port, host: hostArg(v.host, fail), idleTimeout, target: target! };
  },
);
const { target, idleTimeout } = values;

let stopping = false;
const clients = new Set<Connection>(); // to reset at a stop: a bare stop() would end a stream still flowing with a FIN

/** Forwards `from`'s leases to `to`, with backpressure; `from.data` holds `to`. */
const forward = {
  data(from: Connection, lease: import("../mod.ts").Lease) {
    const to = from.data as Connection;
    // A side that can no longer be written (its peer is gone) drops what still arrives, unpaused.
    if (!to.write(lease) && to.writable) from.pause();
  },
  drain(to: Connection) {
    // `to` can take more: the side feeding it reads again.
    const from = to.data as Connection | undefined;
    if (from && !from.closed) from.resume();
  },
  end(from: Connection) {
    (from.data as Connection | undefined)?.shutdown();
  },
  close(from: Connection) {
    const to = from.data as Connection | undefined;
    if (!to || to.closed) return;
    // A side cut short resets the other: a failure, a stop, or a close of ours before its peer's EOF
    // (an idle timeout). A side that finished normally has passed its EOF on already: the other ends
    // once its queued bytes are sent, reading meanwhile (dropping what arrives) in case it was paused
    // for `from`, since a peer blocked on sending to it might otherwise never read what it queued.
    if (from.error || stopping || !from.peerEnded) return void to.reset();
    to.resume();
    to.end();
  },
  error() {
    // Resets are routine for a proxy; close() passes them on.
  },
};

// A kernel or library that cannot run it: one line, not a stack.
const server = await startOrExit("proxy.ts", USAGE, () =>
  listen({
    hostname: values.host,
    port: values.port,
    allowHalfOpen: true,
    idleTimeout,
    handlers: {
      ...forward,
      close(client) {
        clients.delete(client);
        forward.close(client);
      },
      open(client) {
        clients.add(client);
        client.pause(); // until the target answers
        connect({
          hostname: target.host,
          port: target.port,
          allowHalfOpen: true,
          idleTimeout,
          handlers: {
            ...forward,
            open(upstream) {
              // Linked before the first completion of the new connection is dispatched.
              if (client.closed) return upstream.close();
              upstream.data = client;
              client.data = upstream;
              client.resume();
            },
          },
        }).catch((error) => {
          console.error(`proxy: ${displayHost(target.host)}:${target.port}: ${error.message}`);
          client.reset();
        });
      },
    },
  }));
console.error(
  `listening on ${displayHost(values.host)}:${server.port}, forwarding to ${displayHost(target.host)}:${target.port}`,
);

async function shutdown() {
  stopping = true;
  // A client must not take a stream cut here for a whole one (a bare stop() sends a FIN where nothing
  // was queued): each is reset, and its close handler resets its upstream.
  for (const client of clients) void client.reset();
  await server.stop();
  server.loop.close();
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
