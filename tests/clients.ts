/** Plain node:net clients (as users test servers with), shared by the server tests. */
import { once } from "node:events";
import net from "node:net";

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `done` every 10 ms until it holds or `ms` passes; returns whether it held. */
export async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Opens a node:net connection to 127.0.0.1:port. */
export function dial(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Connects, sends `text`, and resolves with the first chunk that comes back (as text), then closes. */
export async function firstReply(port: number, text: string): Promise<string> {
  const socket = await dial(port);
  try {
    socket.write(text);
    const [reply] = await once(socket, "data");
    return String(reply);
  } finally {
    socket.destroy();
  }
}

/**
 * Sends `payload`, half-closes (like `nc -N`), and collects everything the server sends until it
 * closes. Rejects on a socket error or after `ms`.
 */
export async function sendAndHalfClose(port: number, payload: Uint8Array, ms = 20_000): Promise<Uint8Array> {
  const socket = await dial(port);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no EOF after ${ms} ms (${chunks.reduce((n, c) => n + c.length, 0)} bytes received)`));
    }, ms);
    socket.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      socket.end();
      resolve(concat(chunks));
    });
    socket.end(payload);
  });
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * One lockstep echo round trip on an open socket: writes `message`, resolves with the milliseconds
 * until all of it came back, or -1 after `timeoutMs`.
 */
export function roundTrip(socket: net.Socket, message: Uint8Array, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const start = performance.now();
    let got = 0;
    const onData = (d: Uint8Array) => {
      got += d.length;
      if (got >= message.length) finish(performance.now() - start);
    };
    const timer = setTimeout(() => finish(-1), timeoutMs);
    function finish(ms: number) {
      clearTimeout(timer);
      socket.off("data", onData);
      resolve(ms);
    }
    socket.on("data", onData);
    socket.write(message);
  });
}

/**
 * A node:net server on 127.0.0.1 that takes one connection and reads nothing from it until
 * `resume()`; `hash` resolves with the SHA-256 (hex) of everything it received once the peer ends.
 */
export async function pausedSink(): Promise<{ port: number; hash: Promise<string>; resume(): void; close(): void }> {
  const { createHash } = await import("node:crypto");
  let done!: (hash: string) => void;
  const hash = new Promise<string>((resolve) => (done = resolve));
  let socket: net.Socket | undefined;
  let resumed = false;
  const server = net.createServer((s) => {
    socket = s;
    if (!resumed) s.pause();
    const digest = createHash("sha256");
    s.on("data", (chunk) => digest.update(chunk));
    s.on("end", () => done(digest.digest("hex")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hash,
    resume: () => {
      resumed = true;
      socket?.resume();
    },
    close: () => void server.close(),
  };
}
