/**
 * Server protections: accepted connections are not kept when nobody iterates, maxConnections,
 * rate-limited accept-error logging, graceful stop, and connection options reaching connections.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { connect, type Connection, IoLoop, listen, type Server, type ServerHandlers } from "../mod.ts";
import { closeFd, tcpConnect } from "../sys.ts";
import { collectGarbage, runtime, runtimeCommand, test } from "./harness.ts";
import { patternBytes } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every 5 ms for up to `ms`; returns its last value. */
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  for (const end = performance.now() + ms; !done() && performance.now() < end;) await sleep(5);
  return done();
}

const text = (s: string) => new TextEncoder().encode(s);

/** Open TCP socket fds of this process (the runtimes open other fds of their own lazily). */
function openFds(): number {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) inodes.add(line.trim().split(/\s+/)[9]);
  }
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      if (inode && inodes.has(inode)) n++;
    } catch {
      // The fd of the directory listing itself, gone by now.
    }
  }
  return n;
}

/** A client connection that records what it receives and when it closed. */
interface Client {
  conn: Connection;
  got: string;
  openedAt: number;
  closedAt: number;
}

async function client(loop: IoLoop, port: number): Promise<Client> {
  const c = { got: "", openedAt: 0, closedAt: 0 } as Client;
  c.conn = await connect({
    loop,
    port,
    handlers: {
      data(_conn, lease) {
        c.got += new TextDecoder().decode(lease.bytes);
        lease.release();
      },
      close: () => void (c.closedAt = performance.now()),
      error() {},
    },
  });
  c.openedAt = performance.now();
  return c;
}

/** `count` blocking connects, each closed at once, in batches the server drains before the next. */
async function churn(server: Server, count: number): Promise<void> {
  const start = server.stats().accepted;
  for (let i = 0; i < count; i += 200) {
    const n = Math.min(200, count - i);
    for (let k = 0; k < n; k++) closeFd(tcpConnect("127.0.0.1", server.port));
    assert.ok(await waitFor(() => server.stats().accepted === start + i + n, 5000), `accepted ${i + n}`);
  }
}

test("a server with data/drain handlers keeps no closed connection (20,000 connect/close cycles)", async () => {
  const loop = new IoLoop();
  const closed: WeakRef<Connection>[] = [];
  const server = listen({
    loop,
    pool: { count: 64, bufferSize: 1024 },
    handlers: {
      data(conn, lease) {
        if (!conn.write(lease)) conn.pause();
      },
      drain: (conn) => conn.resume(),
      close(conn) {
        if (closed.length < 2000) closed.push(new WeakRef(conn));
      },
    },
  });
  await churn(server, 20_000);
  assert.ok(await waitFor(() => server.connections === 0, 5000), `${server.connections} still open`);
  assert.equal(server.stats().queued, 0, "nothing queued for a for-await nobody runs");
  // The closed connections are garbage: nothing in the server still holds them.
  await sleep(0);
  collectGarbage();
  await sleep(0);
  collectGarbage();
  const alive = closed.filter((r) => r.deref() !== undefined).length;
  assert.ok(alive < closed.length / 10, `${alive} of ${closed.length} closed connections still reachable`);
  await server.stop();
  loop.close();
}, { timeoutMs: 120_000 });

test("iteration mode: a closed connection leaves the queue; leaving for-await closes the queue until the next one", async () => {
  const loop = new IoLoop();
  const server = listen({ loop, pool: { count: 64, bufferSize: 1024 } });
  const clients: Client[] = [];
  for (let i = 0; i < 3; i++) {
    clients.push(await client(loop, server.port));
    assert.ok(await waitFor(() => server.stats().queued === i + 1, 2000), `queued ${i + 1}`);
  }
  clients[0].conn.reset(); // the server's side fails with ECONNRESET and closes
  assert.ok(await waitFor(() => server.stats().queued === 2, 2000), "the closed connection left the queue");
  let taken: Connection | undefined;
  for await (const conn of server) {
    taken = conn;
    break;
  }
  assert.equal(server.stats().queued, 0);
  assert.ok(await waitFor(() => clients[2].closedAt > 0, 2000), "the connection still queued at the break was closed");
  assert.equal(clients[1].closedAt, 0);
  const echo = async (conn: Connection) => {
    for await (const lease of conn) conn.write(lease);
  };
  void echo(taken!);
  clients[1].conn.write(text("one"));
  assert.ok(await waitFor(() => clients[1].got === "one", 2000), "the connection taken first is client 1's");
  // Nobody iterates any more: a new connection is closed at once.
  const late = await client(loop, server.port);
  assert.ok(await waitFor(() => late.closedAt > 0, 2000), "closed at once");
  assert.equal(server.stats().rejected, 1);
  // A new for-await takes connections again.
  const serving = (async () => {
    for await (const conn of server) void echo(conn);
  })();
  const again = await client(loop, server.port);
  again.conn.write(text("two"));
  assert.ok(await waitFor(() => again.got === "two", 2000));
  assert.deepEqual([server.stats().accepted, server.stats().rejected], [4, 1]);
  // With an open or a data handler nothing is queued, and iterating is an error.
  for (const handlers of [{ data: (_c: Connection, l: { release(): void }) => l.release() }, { open() {} }]) {
    const other = listen({ loop, handlers });
    assert.throws(() => other[Symbol.asyncIterator](), TypeError);
    await other.stop();
  }
  await server.stop();
  await serving; // the iterator ends when the server stops
  for (const c of [...clients, late, again]) c.conn.close();
  await sleep(20);
  assert.equal(server.pool.stats().buffersLeased, 0);
  loop.close();
});

test(
  "maxConnections 100: of 1,000 connection attempts 100 are held, the rest closed at once; serving goes on",
  async () => {
    const serverLoop = new IoLoop();
    const clientLoop = new IoLoop();
    const fds = openFds();
    const server = listen({
      loop: serverLoop,
      maxConnections: 100,
      pool: { count: 256, bufferSize: 1024 },
      handlers: { data: (conn, lease) => void conn.write(lease), error() {} },
    });
    const clients = await Promise.all(Array.from({ length: 1000 }, () => client(clientLoop, server.port)));
    const closed = () => clients.filter((c) => c.closedAt > 0);
    assert.ok(await waitFor(() => closed().length >= 900, 10_000), `${closed().length} of 900 closed`);
    await sleep(200); // no more than 900 close
    const held = clients.filter((c) => c.closedAt === 0);
    assert.equal(held.length, 100);
    assert.equal(server.connections, 100);
    assert.deepEqual([server.stats().accepted, server.stats().rejected], [100, 900]);
    const slowest = Math.max(...closed().map((c) => c.closedAt - c.openedAt));
    assert.ok(slowest < 2000, `a rejected client waited ${slowest.toFixed(0)} ms for its EOF`);
    // The 100 held are served.
    for (const c of held) c.conn.write(text("held"));
    assert.ok(await waitFor(() => held.every((c) => c.got === "held"), 5000), "every held connection echoes");
    // Closing 10 of them makes room for 10 new clients, and the one after those is closed again.
    for (const c of held.slice(0, 10)) c.conn.close();
    assert.ok(await waitFor(() => server.connections === 90, 2000), `${server.connections} open`);
    const fresh = await Promise.all(Array.from({ length: 10 }, () => client(clientLoop, server.port)));
    for (const c of fresh) c.conn.write(text("fresh"));
    assert.ok(await waitFor(() => fresh.every((c) => c.got === "fresh"), 5000), "every new client echoes");
    assert.equal(server.connections, 100);
    const extra = await client(clientLoop, server.port);
    assert.ok(await waitFor(() => extra.closedAt > 0, 2000), "the 101st is closed at once");
    assert.equal(server.stats().rejected, 901);
    for (const c of [...clients, ...fresh]) c.conn.close();
    await server.stop();
    assert.equal(server.pool.stats().buffersLeased, 0);
    assert.ok(await waitFor(() => openFds() <= fds, 2000), `no fd leaked (${openFds()} open, ${fds} before)`);
    serverLoop.close();
    clientLoop.close();
  },
  { timeoutMs: 60_000 },
);

/**
 * Runs tests/fixtures/emfile_log_server.ts under `ulimit -n 96`, opens 150 connections to it for 2.5 s,
 * and returns its stats, its stderr and how long it ran; it must then stop and exit 0.
 */
async function serverOutOfFds(env: Record<string, string> = {}) {
  const script = fileURLToPath(new URL("./fixtures/emfile_log_server.ts", import.meta.url));
  const [cmd, args] = runtimeCommand(script);
  const quoted = [cmd, ...args].map((a) => `'${a}'`).join(" ");
  const started = performance.now();
  const child = spawn("bash", ["-c", `ulimit -n 96 && exec ${quoted}`], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "", err = "";
  child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const line = async (pattern: RegExp) => {
    assert.ok(await waitFor(() => pattern.test(out), 15_000), `no ${pattern} from the server: ${out} ${err}`);
    const m = pattern.exec(out)!;
    out = out.slice(m.index + m[0].length);
    return m;
  };
  const loop = new IoLoop();
  try {
    const port = Number((await line(/port (\d+)\n/))[1]);
    // More connections than the server has fds: they wait in the backlog and accept fails with EMFILE.
    const conns = await Promise.all(
      Array.from(
        { length: 150 },
        () => connect({ loop, port, handlers: { data: (_c, l) => l.release(), error() {} } }),
      ),
    );
    await sleep(2500);
    for (const c of conns) c.close();
    await sleep(300);
    child.stdin!.write("stats\n");
    const stats = JSON.parse((await line(/(\{.*\})\n/))[1]);
    child.stdin!.write("stop\n");
    assert.equal(await exited, 0, err);
    return { stats, err, seconds: (performance.now() - started) / 1000 };
  } finally {
    child.kill("SIGKILL");
    loop.close();
  }
}

const bunAbortsAtFdLimit = runtime === "bun" && "Bun aborts the whole process at the fd limit (ProcessFdQuotaExceeded)";

test("accept failures without an acceptError handler: one log line per second at most, with their count", async () => {
  const { stats, err, seconds } = await serverOutOfFds();
  {
    const lines = err.split("\n").filter((l) => l.includes("accept"));
    const logged = lines.map((l) => {
      const m =
        /^uring-buffers: accept failed (\d+) times? in the last 1s: (E[A-Z]+(, E[A-Z]+)*) on 127\.0\.0\.1:\d+; (still listening|stopped)$/
          .exec(l);
      assert.ok(m, `log line: ${l}`);
      assert.match(m[2], /EMFILE|ENFILE/);
      return Number(m[1]);
    });
    assert.ok(stats.acceptErrors > 2 * lines.length, `${stats.acceptErrors} failures in ${lines.length} lines`);
    assert.ok(lines.length <= Math.ceil(seconds) + 1, `${lines.length} lines in ${seconds.toFixed(1)} s`);
    assert.equal(logged.reduce((a, b) => a + b, 0), stats.acceptErrors, "every failure counted in a line");
  }
}, { timeoutMs: 60_000, skip: bunAbortsAtFdLimit });

test("an acceptError handler that throws out of fds is logged once by its message; the server lives on", async () => {
  // Logged with its stack, it killed Deno there (Deno panics formatting a stack without a free fd).
  const { stats, err } = await serverOutOfFds({ ACCEPT_HANDLER: "throw" });
  assert.ok(stats.acceptErrors > 0, "accepts failed");
  const lines = err.split("\n").filter((l) => l.includes("acceptError handler threw"));
  assert.equal(lines.length, 1, err);
  assert.match(lines[0], /Error: acceptError could not cope with .*EMFILE/);
}, { timeoutMs: 60_000, skip: bunAbortsAtFdLimit });

/** A server whose open handler queues `payload` on each connection; the client reads only when told. */
async function bigWrite(loop: IoLoop, payload: Uint8Array) {
  const served: Connection[] = [];
  const server = listen({
    loop,
    maxBuffered: payload.length,
    handlers: {
      open(conn) {
        served.push(conn);
        conn.write(payload);
      },
      data: (_c, lease) => lease.release(),
      error() {},
    },
  });
  const reader = { got: 0, mismatchAt: -1, eof: false, error: "", closed: false, limit: 0 };
  const conn = await connect({
    loop,
    port: server.port,
    handlers: {
      data(c, lease) {
        const b = lease.bytes;
        const want = payload.subarray(reader.got, reader.got + b.length);
        if (reader.mismatchAt < 0 && !Buffer.from(b).equals(Buffer.from(want))) reader.mismatchAt = reader.got;
        reader.got += b.length;
        lease.release();
        if (reader.got >= reader.limit) c.pause();
      },
      end(c) {
        reader.eof = true;
        c.end();
      },
      close: () => void (reader.closed = true),
      error: (_c, e) => void (reader.error = e.message),
    },
  });
  conn.pause();
  assert.ok(await waitFor(() => served.length === 1, 2000));
  // The kernel's socket buffers take a few MiB; the rest stays queued in the server.
  assert.ok(await waitFor(() => served[0].bufferedAmount < payload.length, 2000));
  await sleep(50);
  assert.ok(served[0].bufferedAmount > 1 << 20, `${served[0].bufferedAmount} bytes still queued`);
  return { server, conn, reader, served };
}

test("stop({ graceMs }) lets a slow reader receive a 10 MiB queued write, then EOF; nothing forced", async () => {
  const loop = new IoLoop();
  const fds = openFds();
  const payload = patternBytes(7, 10 << 20);
  const { server, conn, reader } = await bigWrite(loop, payload);
  let stopped = false;
  const stopping = server.stop({ graceMs: 10_000 }).then(() => void (stopped = true));
  await sleep(200);
  assert.equal(stopped, false, "stop() waits for the queued write");
  assert.equal(server.connections, 1);
  await assert.rejects(connect({ loop, port: server.port }), /ECONNREFUSED/, "no longer accepting");
  // Read slowly: 256 KiB every 5 ms at most.
  const pacer = setInterval(() => {
    reader.limit = reader.got + (256 << 10);
    conn.resume();
  }, 5);
  try {
    // stop() resolves once the server has handed the last bytes to the kernel, maybe before they arrive.
    assert.ok(await waitFor(() => stopped && reader.closed, 15_000), `stopped ${stopped}, received ${reader.got}`);
  } finally {
    clearInterval(pacer);
  }
  await stopping;
  assert.equal(reader.got, payload.length);
  assert.equal(reader.mismatchAt, -1, "every byte as written");
  assert.ok(reader.eof, "EOF after the data");
  assert.equal(reader.error, "");
  assert.deepEqual([server.stats().forced, server.connections], [0, 0]);
  conn.close();
  assert.ok(await waitFor(() => openFds() <= fds, 2000), `no fd leaked (${openFds()} open, ${fds} before)`);
  loop.close();
}, { timeoutMs: 60_000 });

test("stop({ graceMs: 200 }) with a peer that never reads resets it at the deadline (forced 1)", async () => {
  const loop = new IoLoop();
  const { server, conn, served } = await bigWrite(loop, patternBytes(8, 10 << 20));
  const t0 = performance.now();
  await server.stop({ graceMs: 200 });
  const took = performance.now() - t0;
  assert.ok(took >= 190 && took < 1500, `stop() took ${took.toFixed(0)} ms`);
  assert.deepEqual([server.stats().forced, server.connections], [1, 0]);
  assert.equal(served[0].error, undefined, "a forced reset is no failure of the connection (README)");
  conn.close();
  loop.close();
}, { timeoutMs: 30_000 });

test("stop() during a grace period resets what is left at once; shutdown() is stop({ graceMs })", async () => {
  const loop = new IoLoop();
  const { server, conn } = await bigWrite(loop, patternBytes(9, 10 << 20));
  const t0 = performance.now();
  const graceful = server.shutdown(60_000);
  await sleep(50);
  assert.equal(server.stop(), graceful, "one stop, one promise");
  await graceful;
  assert.ok(performance.now() - t0 < 1500, "ended before the grace period");
  assert.equal(server.stats().forced, 1);
  conn.close();
  loop.close();
}, { timeoutMs: 30_000 });

test("bad maxConnections, graceMs, handlers throw naming the option", async () => {
  const loop = new IoLoop();
  const handlers = { data: (_c: Connection, l: { release(): void }) => l.release() };
  for (const bad of [0, -1, 1.5, NaN, Infinity, "10"]) {
    assert.throws(() => listen({ loop, handlers, maxConnections: bad as number }), (e: Error) => {
      const kind = typeof bad === "number" ? RangeError : TypeError;
      return e instanceof kind && /maxConnections must be a positive integer/.test(e.message);
    });
  }
  assert.throws(() => listen({ loop, handlers: { timeout: 5 } as unknown as ServerHandlers }), /handlers\.timeout/);
  assert.throws(() => listen({ loop, handlers: 5 as unknown as ServerHandlers }), TypeError);
  const server = listen({ loop, handlers });
  for (const bad of [-1, NaN, "5"]) {
    assert.throws(() => server.stop({ graceMs: bad as number }), (e: Error) => {
      const kind = typeof bad === "number" ? RangeError : TypeError;
      return e instanceof kind && /graceMs must be a non-negative number/.test(e.message);
    });
  }
  assert.throws(() => server.stop(5 as never), /stop\(\) takes nothing, a boolean or \{ graceMs \}, got number 5/);
  // The rejected calls did not stop it.
  const c = await client(loop, server.port);
  c.conn.close();
  await server.stop({ graceMs: 0 });
  loop.close();
});

test("connection options given to listen() reach every accepted connection", async () => {
  const loop = new IoLoop();
  const seen: number[][] = [];
  const server = listen({
    loop,
    highWaterMark: 1234,
    maxBuffered: 5678,
    handlers: { open: (conn) => void seen.push([conn.highWaterMark, conn.maxBuffered]) },
  });
  const c = await client(loop, server.port);
  assert.ok(await waitFor(() => seen.length === 1, 2000));
  assert.deepEqual(seen[0], [1234, 5678]);
  c.conn.close();
  await server.stop();
  loop.close();
});

test("stop() called again by a close handler that the stop runs returns the same promise", async () => {
  const loop = new IoLoop();
  let again: Promise<void> | undefined;
  const server: Server = listen({
    loop,
    handlers: {
      open: (conn) => conn.pause(), // nothing in flight: close() finishes at once, inside stop()
      close: () => void (again = server.stop()),
    },
  });
  const c = await client(loop, server.port);
  assert.ok(await waitFor(() => server.connections === 1, 2000));
  await sleep(50);
  const first = server.stop();
  await first;
  assert.equal(again, first);
  c.conn.close();
  loop.close();
});
