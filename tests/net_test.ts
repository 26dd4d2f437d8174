import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type BufferPoolOptions,
  connect,
  type Connection,
  getDefaultLoop,
  type HttpServerStats,
  IoLoop,
  type Lease,
  listen,
  probeFeatures,
  type Server,
  UringError,
  type WorkerGroup,
} from "../mod.ts";
import type { EchoOptions } from "../examples/echo_server.ts";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import net from "node:net";
import { closeFd, tcpListen } from "../sys.ts";
import { captureConsoleErrors, collectGarbage, runFixture, runtime, runtimeCommand, test } from "./harness.ts";
import { dial, roundTrip, sleep, waitFor } from "./clients.ts";
import { freePort, patternBytes } from "./helpers.ts";
import { kArena, kIovBlocks } from "../src/internal.ts";

// Connection c's stream is a window into one random 1 MiB table, starting at a per-connection offset:
// cheap to produce (memcpy) and to check, and different for every connection.
const TABLE_BITS = 20;
const TABLE = new Uint8Array(1 << TABLE_BITS).map(() => Math.floor(Math.random() * 256));
const MASK = (1 << TABLE_BITS) - 1;

function streamByte(c: number, i: number): number {
  return TABLE[(i + c * 7919) & MASK];
}

function fill(c: number, from: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let k = 0; k < n;) {
    const at = (from + k + c * 7919) & MASK;
    const piece = TABLE.subarray(at, Math.min(at + n - k, TABLE.length));
    out.set(piece, k);
    k += piece.length;
  }
  return out;
}

/**
 * A client of `port` on `loop`: `send` writes when it opens, and it closes once `expected` bytes came
 * back. Resolves at its close with what came back, kept in `parts` when given.
 */
function echoedBack(
  loop: IoLoop,
  port: number,
  expected: number,
  send: (conn: Connection) => void,
  parts?: Uint8Array[],
): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    let got = 0;
    connect({
      loop,
      port,
      handlers: {
        open: send,
        data(conn, lease) {
          parts?.push(lease.bytes.slice());
          got += lease.length;
          lease.release();
          if (got === expected) conn.close();
        },
        close: () => resolve(parts ?? []),
        error: (_conn, e) => reject(e),
      },
    }).catch(reject);
  });
}

function echoServer(loop: IoLoop, pool?: BufferPoolOptions): Server {
  return listen({
    loop,
    pool,
    handlers: {
      data(conn, lease) {
        if (!conn.write(lease)) conn.pause();
      },
      drain(conn) {
        conn.resume();
      },
      error() {},
    },
  });
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** `conns` clients each send `bytes` in random writes and check the echo byte by byte. */
async function echoIntegrity(loop: IoLoop, server: Server, conns: number, bytes: number, pacing = 64 * 1024) {
  const results = await Promise.all(Array.from({ length: conns }, (_, c) =>
    new Promise<number>((resolve, reject) => {
      let received = 0, sent = 0;
      const pump = (conn: Connection) => {
        while (sent < bytes && sent - received < pacing) {
          const n = Math.min(bytes - sent, 1 + Math.floor(Math.random() * 8192));
          conn.write(fill(c, sent, n));
          sent += n;
        }
      };
      connect({
        loop,
        port: server.port,
        handlers: {
          open: (conn) => pump(conn),
          data(conn, lease: Lease) {
            const b = lease.bytes;
            for (let k = 0; k < b.length; k++) {
              if (b[k] !== streamByte(c, received + k)) {
                lease.release();
                conn.close();
                reject(new Error(`conn ${c}: byte ${received + k} differs`));
                return;
              }
            }
            received += b.length;
            lease.release();
            if (received === bytes) conn.close();
            else pump(conn);
          },
          close: () => resolve(received),
          error: (_conn, e) => reject(e),
        },
      }).catch(reject);
    })));
  for (const r of results) assert.equal(r, bytes);
}

test("echo integrity: 200 connections x 1 MiB in random writes come back exact", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop, { count: 1024, bufferSize: 4096 });
  const fds = openFds();
  await echoIntegrity(loop, server, 200, 1 << 20);
  const s = server.stats();
  assert.equal(s.accepted, 200);
  await server.stop();
  assert.equal(s.pool.buffersLeased, 0);
  assert.ok(openFds() <= fds - 1, "listening socket and every connection closed");
  loop.close();
}, { timeoutMs: 120_000 });

test(
  "default pools: 64 KiB buffers consumed incrementally (6.12+), 128 per server, 64 per client loop; echo exact",
  async () => {
    const loop = new IoLoop();
    const server = echoServer(loop);
    const incremental = probeFeatures().incremental;
    const expect = (stats: { incremental: boolean; bufferSize: number; buffersTotal: number }, count: number) =>
      assert.deepEqual(
        { incremental: stats.incremental, bufferSize: stats.bufferSize, buffersTotal: stats.buffersTotal },
        incremental ? { incremental: true, bufferSize: 65536, buffersTotal: count } : {
          incremental: false,
          bufferSize: count === 128 ? 4096 : 16384,
          buffersTotal: count === 128 ? 1024 : 256,
        },
      );
    expect(server.stats().pool, 128);
    await echoIntegrity(loop, server, 100, 1 << 20);
    expect(loop.clientPool().stats(), 64);
    assert.ok(server.stats().pool.leasesMade > 100, "many receives");
    await server.stop();
    assert.equal(server.stats().pool.buffersLeased, 0);
    // Options present but undefined are defaults too (examples/echo.ts passes its unset flags so).
    const unset = listen({
      loop,
      pool: { count: undefined, bufferSize: undefined, incremental: undefined },
      handlers: {},
    });
    expect(unset.stats().pool, 128);
    await unset.stop();
    // Options that size the pool get what they ask for, with the 4 KiB defaults for the rest.
    for (const pool of [{ count: 8 }, { bufferSize: 2048 }, { incremental: false }, { backend: "legacy" as const }]) {
      const sized = listen({ loop, pool, handlers: { data: (_c, l) => l.release() } });
      const s = sized.stats().pool;
      assert.equal(s.incremental, false, JSON.stringify(pool));
      assert.equal(s.bufferSize, pool.bufferSize ?? 4096, JSON.stringify(pool));
      assert.equal(s.buffersTotal, pool.count ?? 1024, JSON.stringify(pool));
      await sized.stop();
    }
    loop.close();
  },
  { timeoutMs: 120_000 },
);

test("a write's pieces that are adjacent in memory go out as one send, without a msghdr, and arrive whole", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop);
  // 40 KiB copied into three 16 KiB send chunks, which a fresh loop hands out adjacent.
  const sent = patternBytes(5, 40 * 1024);
  let msghdrBytes = -1;
  const parts = await echoedBack(loop, server.port, sent.length, (conn) => {
    conn.write(sent);
    msghdrBytes = loop[kIovBlocks].bytesInUse;
  }, []);
  assert.equal(msghdrBytes, 0, "one run: a plain SEND, no msghdr + iovec block taken");
  assert.ok(Buffer.concat(parts).equals(sent), "every byte echoed, in order");
  await server.stop();
  loop.close();
});

test("maxCount: a pool grows under a storm of -ENOBUFS even while released buffers keep coming back", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop, { bufferSize: 64 * 1024, count: 4, maxCount: 64 });
  const block = new Uint8Array(64 * 1024).fill(3);
  await Promise.all(Array.from({ length: 100 }, () =>
    echoedBack(loop, server.port, 8 * block.length, (conn) => {
      for (let i = 0; i < 8; i++) conn.write(block);
    })));
  const stats = server.stats().pool;
  assert.ok(stats.growthEvents > 0 && stats.buffersTotal > 4, `the pool grew (${JSON.stringify(stats)})`);
  assert.ok(stats.buffersTotal <= 64);
  await server.stop();
  loop.close();
}, { timeoutMs: 60_000 });

test("echo integrity with a pool of 8 buffers (ENOBUFS storm): exact, stalls counted, nothing leaked", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop, { count: 8, bufferSize: 4096 });
  await echoIntegrity(loop, server, 200, 1 << 20, 16 * 1024);
  const stats = server.stats().pool;
  assert.ok(stats.enobufs > 0, `stalls counted (${stats.enobufs})`);
  // Client connections close first; let the server side see their EOFs.
  for (let i = 0; i < 100 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.pool.stats().buffersLeased, 0);
  assert.equal(server.pool.stats().buffersFree, 8);
  await server.stop();
  loop.close();
}, { timeoutMs: 120_000 });

test("proxy integrity: examples/proxy.ts in front of an echo server", async () => {
  const loop = new IoLoop();
  const backend = echoServer(loop, { count: 256, bufferSize: 4096 });
  const script = fileURLToPath(new URL("../examples/proxy.ts", import.meta.url));
  const [cmd, args] = runtimeCommand(script, ["--port", "0", "--target", `127.0.0.1:${backend.port}`]);
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let err = "";
      const timer = setTimeout(() => reject(new Error(`proxy did not start: ${err}`)), 15_000);
      child.stderr!.on("data", (d: Uint8Array) => {
        err += new TextDecoder().decode(d);
        const m = /listening on [^:]+:(\d+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.on("exit", (code) => reject(new Error(`proxy exited ${code}: ${err}`)));
    });
    await echoIntegrity(loop, { port } as Server, 20, 256 * 1024);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.on("exit", r));
  }
  await backend.stop();
  loop.close();
}, { timeoutMs: 120_000 });

test("resets and half-closes in the middle of traffic affect only their own connections", async () => {
  const loop = new IoLoop();
  const errors: string[] = [];
  const server = listen({
    loop,
    handlers: {
      data(conn, lease) {
        if (!conn.write(lease)) conn.pause();
      },
      drain: (conn) => conn.resume(),
      error: (_conn, e) => errors.push((e as UringError).code),
    },
  });
  // Half-close: send, shutdown our side, still receive the whole echo, then EOF.
  const halfClosed = new Promise<number>((resolve, reject) => {
    let got = 0;
    connect({
      loop,
      port: server.port,
      handlers: {
        open(conn) {
          conn.write(fill(1, 0, 100_000));
          conn.shutdown();
        },
        data(_c, l) {
          got += l.length;
          l.release();
        },
        close: () => resolve(got),
        error: (_c, e) => reject(e),
      },
    }).catch(reject);
  });
  // Resets mid-stream.
  const resets = Array.from({ length: 10 }, () =>
    connect({
      loop,
      port: server.port,
      handlers: {
        data(conn, l) {
          l.release();
          conn.reset();
        },
        error() {},
      },
    }).then((conn) => conn.write(fill(2, 0, 200_000))));
  await Promise.all(resets);
  assert.equal(await halfClosed, 100_000);
  // And the server still serves a fresh connection exactly.
  await echoIntegrity(loop, server, 5, 100_000);
  await server.stop();
  assert.ok(errors.every((c) => c === "ECONNRESET" || c === "EPIPE"), `only resets reported: ${errors}`);
  loop.close();
}, { timeoutMs: 60_000 });

test("event loop: a 10 ms interval keeps its cadence while idle and under load", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop, { count: 1024, bufferSize: 4096 });
  let last = performance.now(), maxGap = 0, ticks = 0;
  let gaps: number[] = [];
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    gaps.push(now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    // Collect the garbage earlier tests left behind, so their GC pauses do not land in our windows.
    collectGarbage();
    await new Promise((r) => setTimeout(r, 50)); // settle (first ticks include test start-up)
    maxGap = 0;
    ticks = 0;
    last = performance.now();
    await new Promise((r) => setTimeout(r, 300)); // idle, parked
    assert.ok(loop.driver.stats().parks > 0, "the driver parked while idle");
    assert.ok(ticks >= 20, `idle ticks ${ticks}`);
    assert.ok(maxGap < 20, `idle max gap ${maxGap.toFixed(1)} ms`);
    // Load from another process (64 connections, 16 messages in flight each), so this thread is only the server.
    const script = fileURLToPath(new URL("./fixtures/load_client.ts", import.meta.url));
    const [cmd, args] = runtimeCommand(script, [String(server.port), "64", "3"]);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    // Wait (bounded) until the client is connected and traffic flows, then measure.
    for (let i = 0; i < 100 && server.stats().pool.leasesMade < 1000; i++) await new Promise((r) => setTimeout(r, 20));
    collectGarbage();
    maxGap = 0;
    gaps = [];
    last = performance.now();
    const before = server.stats().pool.leasesMade;
    await new Promise((r) => setTimeout(r, 800));
    const gapUnderLoad = maxGap;
    // A few late ticks (a collector pause of the runtime, a host stall: CI saw two, of 27 and 72 ms) are
    // not starvation; a loop that held the thread would make most of them late, and fewer.
    const late = gaps.filter((g) => g >= 20);
    const ticksUnderLoad = gaps.length;
    const during = server.stats().pool.leasesMade - before;
    const code = await new Promise((r) => child.on("exit", r));
    assert.equal(code, 0, `load client: ${out}`);
    assert.ok(during > 1000, `server was under load (${during} receives in 0.8 s)`);
    assert.ok(
      late.length <= 3 && ticksUnderLoad >= 60,
      `${late.length} of ${ticksUnderLoad} ticks 20 ms or more late under load (${late.map((g) => g.toFixed(1))} ms)`,
    );
    assert.ok(gapUnderLoad < 100, `max gap under load ${gapUnderLoad.toFixed(1)} ms`);
  } finally {
    clearInterval(timer);
  }
  await server.stop();
  loop.close();
}, { timeoutMs: 60_000 });

test("a client that sends every 2 ms: the server parks at once instead of polling between messages", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop, {});
  const client = await dial(server.port);
  const message = patternBytes(3, 64);
  try {
    for (let i = 0; i < 10; i++) assert.ok(await roundTrip(client, message, 1000) >= 0); // warm up
    const before = loop.driver.stats();
    const COUNT = 100;
    for (let i = 0; i < COUNT; i++) {
      assert.ok(await roundTrip(client, message, 1000) >= 0);
      await sleep(2);
    }
    const after = loop.driver.stats();
    const turns = (after.turns - before.turns) / COUNT;
    // Polling 0.1 ms before each park took 55-75 turns per message here; parking at once takes 2.
    assert.ok(after.parks - before.parks >= COUNT / 2, `parks: ${after.parks - before.parks}`);
    assert.ok(turns < 12, `${turns.toFixed(1)} turns per message`);
  } finally {
    client.destroy();
    await server.stop();
    loop.close();
  }
});

test("the process exits by itself after server.stop()", async () => {
  const { code, out } = await runFixture("exit_after_stop.ts", 15_000);
  assert.equal(code, 0, `exit code (null = still alive after 15 s): ${out}`);
  assert.match(out, /echoed 5 bytes/);
});

test("connection churn: 5,000 connect/send/close cycles leak no fds and no buffers", async () => {
  const loop = new IoLoop();
  const server = echoServer(loop, { count: 64, bufferSize: 1024 });
  const fds = openFds();
  const cycle = () =>
    new Promise<void>((resolve, reject) => {
      connect({
        loop,
        port: server.port,
        handlers: {
          open: (conn) => conn.write(new Uint8Array([1, 2, 3, 4])),
          data(conn, l) {
            l.release();
            conn.close();
          },
          close: () => resolve(),
          error: (_c, e) => reject(e),
        },
      }).catch(reject);
    });
  for (let i = 0; i < 5000; i += 50) await Promise.all(Array.from({ length: 50 }, cycle));
  for (let i = 0; i < 200 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(server.connections, 0);
  assert.equal(server.stats().accepted, 5000);
  // <=: fds of earlier tests' child processes may close meanwhile; a leak would add thousands.
  assert.ok(openFds() <= fds, `no fd leaked (${openFds()} open, ${fds} before)`);
  assert.equal(server.pool.stats().buffersFree, 64);
  assert.equal(loop.clientPool().stats().buffersLeased, 0);
  await server.stop();
  loop.close();
}, { timeoutMs: 120_000 });

test("connect to a closed port rejects with ECONNREFUSED; bad arguments throw (listen) or reject (connect)", async () => {
  const loop = new IoLoop();
  const s = listen({ loop, handlers: { data: (_c, l) => l.release() } });
  const port = s.port;
  await s.stop();
  await assert.rejects(connect({ loop, port, handlers: { data: (_c, l) => l.release() } }), /ECONNREFUSED/);
  // An IPv6 peer in brackets, as the examples print it: "::1:5000" would be ambiguous.
  await assert.rejects(connect({ loop, hostname: "::1", port }), new RegExp(`ECONNREFUSED.*\\[::1\\]:${port}`));
  const h = { data: (_c: Connection, l: Lease) => l.release() };
  assert.throws(() => listen({ loop, port: -1, handlers: h }), RangeError);
  assert.throws(() => listen({ loop, port: 70000, handlers: h }), RangeError);
  assert.throws(() => listen({ loop, hostname: "not-a-host", handlers: h }), TypeError);
  assert.throws(() => listen({ loop, handlers: { data: 5 } as unknown as typeof h }), TypeError);
  assert.throws(() => listen({ loop, handlers: h, pool: { bufferSize: -1 } }), RangeError);
  await assert.rejects(connect({ loop, port: 0, handlers: h }), RangeError);
  await assert.rejects(connect({ loop, port: 70000, handlers: h }), /\[1, 65535\] to connect, got number 70000/);
  await assert.rejects(connect({ loop, port: 80, hostname: "999.1.1.1", handlers: h }), TypeError);
  const s2 = listen({ loop, hostname: "::1", handlers: h });
  assert.ok(s2.port > 0, "IPv6 listener");
  await assert.rejects(connect({ loop, hostname: "::1", port: s2.port, handlers: h, highWaterMark: -5 }), RangeError);
  assert.throws(() => listen({ loop, handlers: h, highWaterMark: 10, maxBuffered: 5 }), RangeError);
  await s2.stop();
  loop.close();
});

test("IPv6: echo over ::1", async () => {
  const loop = new IoLoop();
  const server = listen({
    loop,
    hostname: "::1",
    handlers: { data: (conn, lease) => void conn.write(lease) },
  });
  const got = await new Promise<string>((resolve, reject) => {
    connect({
      loop,
      hostname: "::1",
      port: server.port,
      handlers: {
        open: (c) => c.write(new TextEncoder().encode("over ipv6")),
        data(c, l) {
          const s = new TextDecoder().decode(l.bytes);
          l.release();
          c.close();
          resolve(s);
        },
      },
    }).catch(reject);
  });
  assert.equal(got, "over ipv6");
  await server.stop();
  loop.close();
});

test("dedicated mode (SINGLE_ISSUER | DEFER_TASKRUN, blocking idle waits) echoes exactly", async () => {
  const serverLoop = new IoLoop({ mode: "dedicated", blockMs: 1 });
  const clientLoop = new IoLoop();
  const server = echoServer(serverLoop, { count: 64, bufferSize: 4096 });
  await echoIntegrity(clientLoop, server, 10, 200_000);
  assert.equal(serverLoop.driver.stats().parkMode, "blocking");
  // A shared loop's ring has the flags its Driver parks on (this kernel takes them).
  const { Driver } = await import("../ring.ts");
  assert.equal(clientLoop.reactor.ring.setupFlags & Driver.ringFlags, Driver.ringFlags);
  await server.stop();
  serverLoop.close();
  clientLoop.close();
  assert.throws(() => new IoLoop({ mode: "turbo" as "shared" }), TypeError);
}, { timeoutMs: 60_000 });

test("workers: two threads share a port through SO_REUSEPORT and report their stats", async () => {
  const { startWorkers } = await import("../mod.ts");
  const port = freePort();
  const group = await startWorkers({
    count: 2,
    module: new URL("../examples/echo_worker.ts", import.meta.url),
    data: {
      host: "127.0.0.1",
      port,
      buffers: 256,
      maxBuffers: 256,
      bufferSize: 4096,
      backend: "auto",
      safe: false,
      reusePort: true,
      dedicated: false,
    } satisfies EchoOptions,
  });
  try {
    assert.deepEqual(group.ports, [port, port]);
    const loop = new IoLoop();
    await echoIntegrity(loop, { port } as Server, 40, 50_000);
    loop.close();
    const stats = await group.stats();
    assert.equal(stats.length, 2);
    assert.equal(stats[0].accepted + stats[1].accepted, 40);
    // Before: each of these was taken as a stop() without a deadline; then each rejected, where a
    // server's stop() throws (a later bad call's rejection, unhandled, ended a Deno process).
    for (const bad of [300, true, "300", { gracems: 300 }]) {
      assert.throws(() => group.stop(bad as never), TypeError, `stop(${JSON.stringify(bad)})`);
    }
    assert.throws(() => group.stop({ graceMs: -1 }), RangeError);
  } finally {
    await group.stop();
  }
  await assert.rejects(startWorkers({ count: 0, module: "x", data: 0 }), RangeError);
  // Before: taken, and workers were started until memory ran out (3 GB within 25 s on both runtimes).
  await assert.rejects(startWorkers({ count: 1e6, module: "x", data: 0 }), /RangeError: count must be at most \d+/);
  // Before: the runtime's bare DataCloneError ("could not be cloned"), naming no option.
  await assert.rejects(
    startWorkers({ count: 1, module: new URL("./fixtures/exit_worker.ts", import.meta.url), data: { f: () => 1 } }),
    /TypeError: data must be structured-cloneable/,
  );
  // Before: Deno's URIError, and on Bun a worker that died of ModuleNotFound.
  await assert.rejects(
    startWorkers({ count: 1, module: "./echo_worker.ts", data: 0 }),
    /TypeError: module must be an absolute URL/,
  );
}, { timeoutMs: 60_000 });

test(
  "workers with port 0: group.ports lists each worker's own port; stats() rejects once the group was stopped (README)",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const module = new URL("../examples/echo_worker.ts", import.meta.url);
    let stopped: WorkerGroup;
    let ownLoop: IoLoop;
    {
      // Before: neither a WorkerGroup nor an IoLoop could be disposed of (`await using` threw a TypeError).
      await using group = await startWorkers({ count: 2, module, data: smallEchoOptions(0, true) });
      stopped = group;
      assert.equal(group.ports.length, 2);
      assert.notEqual(group.ports[0], group.ports[1]);
      await using loop = new IoLoop();
      ownLoop = loop;
      for (const port of group.ports) await echoIntegrity(loop, { port } as Server, 2, 10_000);
      const stats = await group.stats();
      assert.deepEqual(stats.map((s) => s.accepted), [2, 2]);
    }
    const group = stopped;
    assert.equal(ownLoop!.closed, true);
    // Before: a plain Error ("worker 0 was stopped"), where every other use after close is a ClosedError.
    await assert.rejects(group.stats(), { name: "ClosedError", message: "WorkerGroup is closed" });
  },
  { timeoutMs: 60_000 },
);

test("zero-copy sends (SEND_ZC) deliver exact bytes and release memory only after the notification", async () => {
  const loop = new IoLoop();
  const server = listen({
    loop,
    zeroCopyMin: 4096,
    handlers: {
      data(conn, lease) {
        if (!conn.write(lease)) conn.pause();
      },
      drain: (conn) => conn.resume(),
    },
  });
  const total = 1 << 20;
  let zc = 0;
  const received = await new Promise<number>((resolve, reject) => {
    let got = 0, sent = 0;
    connect({
      loop,
      port: server.port,
      zeroCopyMin: 16 * 1024,
      handlers: {
        open(conn) {
          for (; sent < total; sent += 64 * 1024) conn.write(fill(3, sent, 64 * 1024));
        },
        data(conn, lease) {
          const b = lease.bytes;
          for (let k = 0; k < b.length; k++) {
            if (b[k] !== streamByte(3, got + k)) return reject(new Error(`byte ${got + k} differs`));
          }
          got += b.length;
          lease.release();
          if (got === total) {
            zc = conn.zeroCopySends;
            conn.close();
          }
        },
        close: () => resolve(got),
        error: (_c, e) => reject(e),
      },
    }).catch(reject);
  });
  assert.equal(received, total);
  assert.ok(zc > 0, "the client used SEND_ZC");
  await server.stop();
  assert.equal(server.pool.stats().buffersLeased, 0);
  loop.close();
  assert.throws(() => listen({ handlers: { data: (_c, l) => l.release() }, zeroCopyMin: -1 }), RangeError);
}, { timeoutMs: 60_000, skip: !probeFeatures().sendZc && "kernel lacks IORING_OP_SEND_ZC (6.0+)" });

test("EMFILE on accept is reported and the server keeps serving once fds free up", async () => {
  const script = fileURLToPath(new URL("./fixtures/emfile_server.ts", import.meta.url));
  const [cmd, args] = runtimeCommand(script);
  // A low fd limit for the server only: the runtime itself needs a few dozen.
  const quoted = [cmd, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("bash", ["-c", `ulimit -n 96 && exec ${quoted}`], { stdio: ["pipe", "pipe", "inherit"] });
  const lines: string[] = [];
  let buffered = "";
  child.stdout!.on("data", (d: Uint8Array) => {
    buffered += new TextDecoder().decode(d);
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  const nextLine = async (prefix: string) => {
    for (let i = 0; i < 1500; i++) {
      const line = lines.find((l) => l.startsWith(prefix));
      if (line) {
        lines.splice(lines.indexOf(line), 1);
        return line;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no "${prefix}" line from the server (got: ${lines.join(" / ").slice(0, 300)})`);
  };
  const loop = new IoLoop();
  try {
    const port = Number((await nextLine("port ")).slice(5));
    // More connections than the server has fds: the kernel completes them (backlog), accept fails.
    const conns = await Promise.all(
      Array.from(
        { length: 150 },
        () => connect({ loop, port, handlers: { data: (_c, l) => l.release(), error() {} } }),
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    child.stdin!.write("stats\n");
    const before = JSON.parse(await nextLine("{"));
    assert.ok(before.acceptErrors > 0, `accept errors reported (${JSON.stringify(before)})`);
    assert.ok(before.errors.includes("EMFILE") || before.errors.includes("ENFILE"), `codes ${before.errors}`);
    for (const c of conns) c.close();
    await new Promise((r) => setTimeout(r, 300));
    // With fds free again the server accepts and echoes.
    await echoIntegrity(loop, { port } as Server, 5, 10_000);
    child.stdin!.write("stop\n");
    assert.equal(await new Promise((r) => child.on("exit", r)), 0);
  } finally {
    child.kill("SIGKILL");
    loop.close();
  }
}, {
  timeoutMs: 60_000,
  // Bun itself aborts the process when one of its own operations hits the fd limit
  // ("bun ran out of file descriptors (ProcessFdQuotaExceeded)"), so there is no server left to test.
  skip: runtime === "bun" && "Bun aborts the whole process at the fd limit (ProcessFdQuotaExceeded)",
});

test("Deno.listen style: for await over accepted connections and over each connection's leases", async () => {
  const loop = new IoLoop();
  const server = listen({ loop, pool: { count: 16, bufferSize: 4096 } });
  const serving = (async () => {
    for await (const conn of server) {
      (async () => {
        for await (const lease of conn) {
          if (!conn.write(lease)) await conn.flushed();
        }
      })();
    }
  })();
  const total = 300_000;
  const conn = await connect({ loop, port: server.port });
  const withHandler = await connect({ loop, port: server.port, handlers: { data: (_c, l) => l.release() } });
  assert.throws(() => withHandler[Symbol.asyncIterator](), /data handler/);
  await withHandler.close();
  let got = 0;
  const expected = fill(9, 0, total);
  const reading = (async () => {
    for await (const lease of conn) {
      assert.ok(
        Buffer.from(lease.bytes).equals(Buffer.from(expected.subarray(got, got + lease.length))),
        `bytes at ${got}`,
      );
      got += lease.length;
      lease.release();
      if (got === total) break;
    }
  })();
  for (let at = 0; at < total; at += 10_000) {
    if (!conn.write(expected.subarray(at, at + 10_000))) await conn.flushed();
  }
  await reading;
  assert.equal(got, total);
  await conn.close();
  await server.stop();
  await serving; // the server's iterator ends when it stops
  assert.equal(server.pool.stats().buffersLeased, 0);
  loop.close();
}, { timeoutMs: 60_000 });

test(
  "a for await loop that keeps a window of leases under its fair share never stalls (one reader, then eight)",
  async () => {
    // The default pool (128 x 64 KiB): one reader's share is 64, eight readers' 8. Leases queued unread
    // count too, so a burst pushed such a reader over its share; it resumed only at half of it, which a
    // loop keeping more than half never reaches while it waits for the next lease (the stall this fixes).
    for (const [clients, keep] of [[1, 33], [8, 5]]) {
      const loop = new IoLoop();
      const server = listen({ loop });
      let received = 0;
      const serving = (async () => {
        for await (const conn of server) {
          (async () => {
            const kept: Lease[] = [];
            for await (const lease of conn) {
              received += lease.length;
              kept.push(lease);
              if (kept.length > keep) kept.shift()!.release();
            }
            for (const l of kept) l.release();
            conn.write(new TextEncoder().encode("done"));
          })();
        }
      })();
      const each = 16 * 1024 * 1024 / clients;
      const replies = await Promise.all(Array.from({ length: clients }, async () => {
        const socket = await dial(server.port);
        socket.end(new Uint8Array(each));
        const [reply] = await Promise.race([
          once(socket, "data"),
          sleep(15_000).then(
            () => [`nothing after 15 s: ${received} bytes received, ${JSON.stringify(server.pool.stats())}`],
          ),
        ]);
        socket.destroy();
        return String(reply);
      }));
      assert.deepEqual(replies, Array(clients).fill("done"), `${clients} reader(s) keeping ${keep} leases`);
      assert.equal(received, clients * each);
      await server.stop();
      await serving;
      loop.close();
    }
  },
  { timeoutMs: 60_000 },
);

test(
  "a for await loop held back while many shared the pool resumes once the others are gone and its share grew",
  async () => {
    // One reader keeps every lease of a 1 MiB message until it is whole; nine others stream 4 MB each and
    // release at once. With ten holders the share is 8, so the assembler is held back holding 9 or so;
    // once the others are done it is alone (share 64) and must go on: it waited for ever, since nothing
    // looked again when the share grew and it releases nothing until its message is whole.
    const loop = new IoLoop();
    const server = listen({ loop });
    const message = 1 << 20;
    const serving = (async () => {
      for await (const conn of server) {
        (async () => {
          let n = 0, assembler: boolean | undefined;
          const kept: Lease[] = [];
          for await (const lease of conn) {
            assembler ??= lease.bytes[0] === 0x41;
            n += lease.length;
            if (!assembler) lease.release();
            else {
              kept.push(lease);
              if (n >= message) { for (const l of kept.splice(0)) l.release(); }
            }
          }
          for (const l of kept) l.release();
          conn.write(new TextEncoder().encode(`${n}`));
        })();
      }
    })();
    const client = (byte: number, total: number) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(server.port, "127.0.0.1", () => {
          const chunk = new Uint8Array(65536).fill(byte);
          let sent = 0;
          const pump = () => {
            while (sent < total) {
              sent += chunk.length;
              if (!socket.write(chunk)) return void socket.once("drain", pump);
            }
            socket.end();
          };
          pump();
        });
        let got = "";
        socket.on("data", (d: Uint8Array) => (got += new TextDecoder().decode(d)));
        socket.on("end", () => resolve(got));
        socket.on("error", reject);
      });
    const assembled = client(0x41, message);
    const others = await Promise.all(Array.from({ length: 9 }, () => client(0x42, 4 * 1024 * 1024)));
    assert.deepEqual(others, Array(9).fill(String(4 * 1024 * 1024)));
    const answer = await Promise.race([
      assembled,
      sleep(8000).then(() => `stalled: ${JSON.stringify(server.pool.stats())}`),
    ]);
    assert.equal(answer, String(message));
    await server.stop();
    await serving;
    assert.equal(server.pool.stats().leasesActive, 0);
    loop.close();
  },
  { timeoutMs: 60_000 },
);

test(
  "a connection held back at a share smaller than when another was held back is looked at again when it grows",
  async () => {
    // A keeps 20 leases and stops reading (held back for good); B assembles messages of 14 leases and is
    // held back at a share of 12 once three more holders come; when one of them leaves, the share is 16
    // again and B, waiting with 13, must go on. The last look had been taken at 16, when A was held
    // back, so the growth from 12 to 16 went unseen (before).
    const loop = new IoLoop();
    const server = listen({ loop, pool: { count: 128, bufferSize: 65536, incremental: false } });
    const got = new Map<string, number>();
    const stuck: Lease[] = [];
    let stopA!: () => void;
    const aStopped = new Promise<void>((resolve) => (stopA = resolve));
    const serving = (async () => {
      for await (const conn of server) {
        (async () => {
          let mode = "";
          const window: Lease[] = [];
          for await (const lease of conn) {
            mode ||= String.fromCharCode(lease.bytes[0]);
            got.set(mode, (got.get(mode) ?? 0) + lease.length);
            window.push(lease);
            if (mode === "B" && window.length === 14) { for (const l of window.splice(0)) l.release(); }
            if (mode === "J") { while (window.length > 1) window.shift()!.release(); }
            if (mode === "A" && window.length === 20) {
              stuck.push(...window.splice(0));
              await aStopped;
            }
          }
          for (const l of window) l.release();
        })();
      }
    })();
    const sockets: net.Socket[] = [];
    const client = (tag: string, paced: boolean) => {
      const socket = net.connect(server.port, "127.0.0.1");
      const chunk = new Uint8Array(tag === "J" ? 1000 : 65536).fill(tag.charCodeAt(0));
      const feed = () => {
        if (socket.destroyed) return;
        if (socket.writableLength < 1 << 20) socket.write(chunk);
        if (paced) setTimeout(feed, 5);
      };
      socket.on("connect", feed);
      socket.on("error", () => {});
      sockets.push(socket);
      return socket;
    };
    try {
      client("B", true);
      await sleep(300);
      const a = client("A", false);
      a.on("connect", () => a.write(new Uint8Array(20 * 65536).fill(65))); // 20 leases, no more: the pool stays under half
      await sleep(300);
      const js = [client("J", false), client("J", false), client("J", false)];
      await sleep(500);
      js[0].destroy();
      await sleep(500);
      const before = got.get("B") ?? 0;
      await sleep(1500);
      const share = server.pool.share();
      assert.ok(
        (got.get("B") ?? 0) > before + (1 << 20),
        `B received ${(got.get("B") ?? 0) - before} bytes in 1.5 s (share ${share})`,
      );
    } finally {
      for (const s of sockets) s.destroy();
      for (const l of stuck) l.release();
      stopA();
      await server.stop();
      await serving;
      loop.close();
    }
  },
  { timeoutMs: 60_000 },
);

test("a data handler keeping a window of leases under its share, with pauses, never stalls", async () => {
  // fairShare 6, a window of 4: leases queued during a pause pushed the connection over its share, and a
  // handler that releases only when more comes never got back to half of it (3/40 frames, before).
  const loop = new IoLoop();
  const frame = 256 * 1024, frames = 40;
  let leases = 0;
  const server = listen({
    loop,
    pool: { bufferSize: 65536, count: 128, incremental: true, fairShare: 6 },
    handlers: {
      open(conn) {
        conn.data = { kept: [] as Lease[], got: 0 };
      },
      data(conn, lease) {
        const state = conn.data as { kept: Lease[]; got: number };
        state.got += lease.length;
        while (state.got >= frame) {
          state.got -= frame;
          conn.write(new TextEncoder().encode("ok\n"));
        }
        state.kept.push(lease);
        while (state.kept.length > 4) state.kept.shift()!.release();
        if (++leases % 3 === 0 && !conn.paused) {
          conn.pause();
          setTimeout(() => conn.resume(), 30);
        }
      },
      close(conn) {
        for (const l of (conn.data as { kept: Lease[] }).kept) l.release();
      },
    },
  });
  let answers = 0;
  const socket = net.connect(server.port, "127.0.0.1", () => socket.write(new Uint8Array(frame).fill(1)));
  socket.on("data", (d: Uint8Array) => {
    for (const byte of d) {
      if (byte !== 10) continue;
      if (++answers < frames) socket.write(new Uint8Array(frame).fill(1));
    }
  });
  try {
    assert.ok(await waitFor(() => answers === frames, 15_000), `${answers}/${frames} frames answered`);
  } finally {
    socket.destroy();
    await server.stop();
    loop.close();
  }
}, { timeoutMs: 60_000 });

test("the default loop is shared and reusable", () => {
  assert.equal(getDefaultLoop(), getDefaultLoop());
});

/** Sends "ping" on `n` new connections to `port`; resolves with the replies that were not "ping" ("none": no reply in 2 s). */
async function unansweredPings(port: number, n: number): Promise<string[]> {
  const answers = await Promise.all(Array.from({ length: n }, async () => {
    const socket = await dial(port);
    socket.write("ping");
    const reply = await Promise.race([
      once(socket, "data").then(([d]) => String(d)),
      sleep(2000).then(() => "none"),
    ]);
    socket.destroy();
    return reply;
  }));
  return answers.filter((a) => a !== "ping");
}

test(
  "workers: one that dies of an uncaught error is reported, its listener closed; the others serve every connection",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const port = freePort();
    const { errors, restore } = captureConsoleErrors();
    const group = await startWorkers({
      count: 2,
      module: new URL("./fixtures/crash_worker.ts", import.meta.url),
      data: { port },
    });
    try {
      assert.ok(await waitFor(() => errors.length > 0, 5000), "the death is reported");
      // The same words on both runtimes (before, Deno's said "Uncaught Error: a bug in worker 0").
      assert.match(String(errors[0][0]), /worker 0 died of an uncaught error: a bug in worker 0 \(/);
      // Before: worker 0's listener stayed open; about half the new connections were never answered.
      assert.deepEqual(await unansweredPings(port, 20), []);
      // Before: both stayed pending for ever.
      await assert.rejects(group.stats(), /worker 0 died/);
    } finally {
      await group.stop();
      restore();
    }
    // Before: worker 0's death again, where the README and stats()'s doc promise a ClosedError once stopped.
    await assert.rejects(group.stats(), { name: "ClosedError" });
    assert.equal(await group.stop(), undefined);
  },
  { timeoutMs: 60_000 },
);

test("workers: onWorkerExit is told of a death instead of the log, once; not of the group's stop", async () => {
  const { startWorkers } = await import("../mod.ts");
  const port = freePort();
  const { errors, restore } = captureConsoleErrors();
  const told: [number, string][] = [];
  // Before: no way to learn of a death but polling stats().
  const group = await startWorkers({
    count: 2,
    module: new URL("./fixtures/crash_worker.ts", import.meta.url),
    data: { port },
    onWorkerExit: (index, error) => void told.push([index, error.message]),
  });
  try {
    assert.ok(await waitFor(() => told.length > 0, 5000), "the death is told");
    assert.deepEqual(told, [[0, "worker 0 died of an uncaught error: a bug in worker 0"]]);
    await assert.rejects(group.stats(), /worker 0 died/);
    assert.deepEqual(await unansweredPings(port, 10), []);
  } finally {
    await group.stop();
    restore();
  }
  assert.equal(told.length, 1, "the stop is not a death");
  assert.deepEqual(errors.filter((e) => /worker 0 died/.test(String(e[0]))), [], "not logged as well");
  await assert.rejects(
    startWorkers({ count: 1, module: "file:///x.ts", onWorkerExit: 5 as never }),
    /TypeError: onWorkerExit must be a function, got number 5/,
  );
}, { timeoutMs: 60_000 });

test("workers: onWorkerExit hears of a death during the start once startWorkers() has returned the group", async () => {
  const { startWorkers } = await import("../mod.ts");
  const told: [number, string, boolean][] = [];
  // Before: the hook ran while `group` was still unassigned: the README's supervisor threw a ReferenceError.
  const group: WorkerGroup = await startWorkers({
    count: 2,
    module: new URL("./fixtures/slow_start_worker.ts", import.meta.url),
    data: { port: freePort() },
    onWorkerExit: (index, error) => void told.push([index, error.message, group !== undefined]),
  });
  try {
    assert.ok(await waitFor(() => told.length > 0, 5000), "the death is told");
    assert.deepEqual(told, [[0, "worker 0 exited (code 2)", true]]);
  } finally {
    await group.stop();
  }
}, { timeoutMs: 30_000 });

test(
  "workers: an uncaught error is named as such, not as the exit it causes (Bun), nor as a missing serveWorker()",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const { restore } = captureConsoleErrors();
    try {
      // Before, on Bun, in 5 of 8 tries: "worker 0 exited (code 1)", the error's message lost.
      for (let i = 0; i < 4; i++) {
        await assert.rejects(
          startWorkers({ count: 1, module: new URL("./fixtures/throw_after_serve_worker.ts", import.meta.url) }),
          /worker 0 died of an uncaught error: .*a bug after serveWorker\(\)/,
        );
      }
      // Before: "... a broken import before it called serveWorker() (does its module call it?)".
      await assert.rejects(
        startWorkers({ count: 1, module: new URL("./fixtures/throw_at_import_worker.ts", import.meta.url) }),
        (e: Error) => /died of an uncaught error: .*a broken import/.test(e.message) && !/serveWorker/.test(e.message),
      );
    } finally {
      restore();
    }
  },
  { timeoutMs: 60_000 },
);

test(
  "workers: one that exits (process.exit(), self.close()) is reported, its listener closed; stats() rejects, stop() ends",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    for (const exit of ["process", "close"] as const) {
      const port = freePort();
      const { errors, restore } = captureConsoleErrors();
      const group = await startWorkers({
        count: 2,
        module: new URL("./fixtures/exit_worker.ts", import.meta.url),
        data: { port, exit, failAfterListen: false },
      });
      try {
        // Before: nothing noticed the exit; stats() and stop() waited for ever, half the connections hung.
        assert.ok(await waitFor(() => errors.length > 0, 5000), `${exit}: the exit is reported`);
        // With its code (before, Deno's said only "exited").
        assert.match(String(errors[0][0]), exit === "process" ? /worker 0 exited \(code 3\)/ : /worker 0 exited/);
        assert.deepEqual(await unansweredPings(port, 20), []);
        await assert.rejects(group.stats(), /worker 0 exited/);
      } finally {
        await group.stop();
        restore();
      }
    }
  },
  { timeoutMs: 60_000 },
);

test(
  "workers: the open connections of one that called process.exit() are closed, not left hanging (on Bun they were)",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const port = freePort();
    const { errors, restore } = captureConsoleErrors();
    const group = await startWorkers({
      count: 2,
      module: new URL("./fixtures/exit_worker.ts", import.meta.url),
      data: { port, exit: "on-data", failAfterListen: false },
    });
    const sockets = await Promise.all(Array.from({ length: 16 }, () => dial(port)));
    try {
      for (const socket of sockets) assert.equal(await reply(socket, "ping"), "ping");
      // "exit" on each in turn until worker 0 gets it (it answers nothing; worker 1 echoes it).
      let exitedOn = -1;
      for (let i = 0; i < sockets.length && exitedOn < 0; i++) {
        if (await reply(sockets[i], "exit") !== "exit") exitedOn = i;
      }
      assert.ok(exitedOn >= 0, "a connection reached worker 0");
      assert.ok(await waitFor(() => errors.length > 0, 5000), "the exit is reported");
      // Before: worker 0's other connections stayed open on Bun, their requests unread, until the process ended.
      const after = await Promise.all(sockets.map((socket, i) => i === exitedOn ? "exited" : reply(socket, "ping")));
      assert.deepEqual(after.filter((r) => r === "none"), [], `every connection answered or closed: ${after}`);
      assert.ok(after.some((r) => r === "closed"), `another connection was worker 0's: ${after}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await group.stop();
      restore();
    }
  },
  { timeoutMs: 60_000 },
);

/** Writes `text`; resolves with the reply, "closed" at an end or a reset, or "none" after 3 s of neither. */
function reply(socket: import("node:net").Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    const done = (r: string) => {
      clearTimeout(timer);
      socket.off("data", onData).off("close", onClose).off("error", onClose);
      resolve(r);
    };
    const onData = (d: Uint8Array) => done(String(d));
    const onClose = () => done("closed");
    const timer = setTimeout(() => done("none"), 3000);
    if (socket.destroyed || socket.readyState !== "open") return done("closed");
    socket.on("data", onData).on("close", onClose).on("error", onClose);
    socket.write(text);
  });
}

test("workers: a start that fails after it listened rejects startWorkers, and that listener is closed too", async () => {
  const { startWorkers } = await import("../mod.ts");
  const port = freePort();
  await assert.rejects(
    startWorkers({
      count: 2,
      module: new URL("./fixtures/exit_worker.ts", import.meta.url),
      data: { port, exit: "none", failAfterListen: true },
    }),
    /worker 1: the database is down/,
  );
  // Before: worker 1's listener stayed open: connections were taken and never answered, the port stayed bound.
  const again = listen({ hostname: "127.0.0.1", port, handlers: { data: (_c, l) => l.release() } });
  await again.stop();
});

test(
  "workers: a start function that returns no server rejects startWorkers; serveWorker on the main thread throws",
  async () => {
    const { startWorkers, serveWorker } = await import("../mod.ts");
    // Before: ports was [null], and the group's stop() then hung.
    await assert.rejects(
      startWorkers({ count: 1, module: new URL("./fixtures/bad_start_worker.ts", import.meta.url), data: 0 }),
      /start must return the Server \(listen\(\)\) or HttpServer \(serve\(\)\) it started/,
    );
    // Before: "scope.postMessage is not a function" on Deno; Bun kept the process alive for ever.
    assert.throws(() => serveWorker(() => ({}) as never), /not on the main thread/);
    await assert.rejects(startWorkers({ count: "2" as never, module: "x", data: 0 }), /got string "2"/);
    // Before: taken, then failing inside the runtime's Worker constructor or in the worker.
    await assert.rejects(
      startWorkers({ count: 1, modul: "x", data: 0 } as never),
      /startWorkers\(\): unknown option "modul" \(did you mean "module"\?\)/,
    );
    await assert.rejects(startWorkers({ count: 1, module: 42 as never, data: 0 }), /module must be a URL/);
  },
  { timeoutMs: 30_000 },
);

/** examples/echo_worker.ts's options for a small pool on 127.0.0.1:`port`. */
function smallEchoOptions(port: number, reusePort: boolean): EchoOptions {
  const pool = { buffers: 16, maxBuffers: 16, bufferSize: 4096, backend: "auto" } as const;
  return { host: "127.0.0.1", port, ...pool, safe: false, reusePort, dedicated: false };
}

test("workers: a module that never calls serveWorker() is named as such", async () => {
  const { startWorkers } = await import("../mod.ts");
  const { restore } = captureConsoleErrors();
  try {
    // Before, on Bun: "worker 0 exited (code 0)", which did not say why.
    await assert.rejects(
      startWorkers({ count: 1, module: new URL("./fixtures/no_serve_worker.ts", import.meta.url) }),
      /worker 0 exited \(code 0\) before it called serveWorker\(\)/,
    );
  } finally {
    restore();
  }
}, { skip: runtime === "deno" && "Deno keeps such a worker alive: it is refused after 20 s, saying so already" });

test("workers: when one fails to start, the ones that started are stopped: their listeners are closed", async () => {
  const { startWorkers } = await import("../mod.ts");
  const port = freePort();
  const data = smallEchoOptions(port, false); // the second worker's bind fails with EADDRINUSE
  // A UringError with its code, as the worker's bind threw it (before: a plain Error, the code only in its text).
  await assert.rejects(
    startWorkers({ count: 2, module: new URL("../examples/echo_worker.ts", import.meta.url), data }),
    (e: unknown) =>
      e instanceof UringError && e.code === "EADDRINUSE" && e.op === "bind" &&
      /^worker [01]: bind failed/.test(e.message),
  );
  // Before: the worker that had started was terminated with its listener open: the port stayed taken.
  const again = tcpListen({ port });
  closeFd(again);
}, { timeoutMs: 30_000 });

/** This process's fds of one kind (`anon_inode:[io_uring]`, `anon_inode:[eventfd]`). */
function fdsOfKind(kind: string): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === kind;
    } catch {
      return false; // closed meanwhile
    }
  }).length;
}

test("an IoLoop whose blockMs is refused leaves no ring behind, in either mode", () => {
  const before = fdsOfKind("anon_inode:[io_uring]");
  for (const blockMs of [-1, 0, Number.NaN, "x"]) {
    for (const mode of ["dedicated", "shared"] as const) {
      // Before: shared mode took any blockMs; dedicated mode refused it after making the ring, which stayed open.
      assert.throws(() => new IoLoop({ mode, blockMs: blockMs as never }), /blockMs must be a number > 0, got /);
    }
  }
  assert.equal(fdsOfKind("anon_inode:[io_uring]"), before);
  new IoLoop({ blockMs: 0.5 }).close();
});

test("workers: a stopped group and a start that failed after it listened leave no ring or eventfd behind", async () => {
  const { startWorkers } = await import("../mod.ts");
  const port = freePort();
  const data = smallEchoOptions(port, true);
  let rings = 0;
  let eventfds = 0;
  for (let i = 0; i < 4; i++) {
    if (i === 1) {
      // After a first round: the runtime keeps fds of its own for workers (Deno: an eventfd, an epoll).
      rings = fdsOfKind("anon_inode:[io_uring]");
      eventfds = fdsOfKind("anon_inode:[eventfd]");
    }
    const group = await startWorkers({
      count: 2,
      module: new URL("../examples/echo_worker.ts", import.meta.url),
      data,
    });
    await group.stop();
    await assert.rejects(
      startWorkers({
        count: 2,
        module: new URL("./fixtures/throw_after_listen_worker.ts", import.meta.url),
        data: { port },
      }),
      /start failed after it listened/,
    );
  }
  // Before: Deno left a ring now and then (the thread was ended before the ring's deferred exit), and
  // Bun an eventfd per failed start (its loop was never closed).
  assert.ok(await waitFor(() => fdsOfKind("anon_inode:[io_uring]") <= rings, 2000), "rings closed");
  assert.ok(await waitFor(() => fdsOfKind("anon_inode:[eventfd]") <= eventfds, 2000), "eventfds closed");
}, { timeoutMs: 60_000 });

test(
  "workers: one that dies before its start returns has its listener closed too; stop({ graceMs }) bounds endless streams",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const port = freePort();
    const { restore } = captureConsoleErrors();
    try {
      await assert.rejects(
        startWorkers({
          count: 1,
          module: new URL("./fixtures/crash_in_start_worker.ts", import.meta.url),
          data: { port },
        }),
        /worker 0 died/,
      );
    } finally {
      restore();
    }
    // Before: the main thread learnt the listener only from the worker's "ready": it stayed open, taking
    // connections nobody answered.
    await assert.rejects(dial(port), /ECONNREFUSED/);

    const group = await startWorkers({
      count: 1,
      module: new URL("./fixtures/sse_worker.ts", import.meta.url),
      data: { port },
    });
    const socket = await dial(port);
    socket.on("error", () => {});
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await once(socket, "data");
    const [served] = await group.stats<HttpServerStats>(); // a serve() worker's stats carry its HTTP counters
    assert.equal(served.requests, 1);
    const stats = group.stats(); // answered (or rejected) even while the stop runs
    const t0 = performance.now();
    // Before: stop() took no graceMs, and an endless stream held it for ever.
    await group.stop({ graceMs: 300 });
    assert.ok(performance.now() - t0 < 3000, `stop took ${performance.now() - t0} ms`);
    await stats.catch(() => {});
    socket.destroy();
  },
  { timeoutMs: 30_000 },
);

test(
  "workers: a later stop({ graceMs }) brings a graceful stop's end nearer (it used to be ignored: the first call decided)",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const port = freePort();
    const group = await startWorkers({
      count: 2,
      module: new URL("./fixtures/sse_worker.ts", import.meta.url),
      data: { port },
    });
    const sockets = [];
    for (let i = 0; i < 4; i++) {
      const socket = await dial(port);
      socket.on("error", () => {});
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await once(socket, "data");
      sockets.push(socket);
    }
    const graceful = group.stop(); // the endless streams hold it
    let ended = false;
    graceful.then(() => (ended = true), () => (ended = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ended, false, "a graceful stop waits for the streams");
    const t0 = performance.now();
    const forced = group.stop({ graceMs: 0 });
    assert.equal(forced, graceful, "the same promise");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), 5000)));
    assert.notEqual(await Promise.race([forced, late]), "late", "stop({ graceMs: 0 }) ended the stop");
    clearTimeout(timer);
    assert.ok(performance.now() - t0 < 3000, `the end came ${performance.now() - t0} ms after the deadline`);
    for (const socket of sockets) socket.destroy();
    await assert.rejects(dial(port), /ECONNREFUSED/);
  },
  { timeoutMs: 30_000 },
);

test(
  "workers: a worker that dies while the group stops counts as stopped: stop() resolves, the death is logged",
  async () => {
    // Before: group.stop() rejected with "worker 0 died of an uncaught error" (seen in CI: a crash racing the stop).
    const { startWorkers } = await import("../mod.ts");
    const { errors, restore } = captureConsoleErrors();
    try {
      const group = await startWorkers({
        count: 1,
        module: new URL("./fixtures/crash_on_stop_worker.ts", import.meta.url),
        data: { port: freePort() },
      });
      await group.stop();
      assert.ok(errors.some((e) => /worker 0 died of an uncaught error: .*crash while stopping/.test(String(e[0]))));
      await assert.rejects(group.stats(), { name: "ClosedError" }); // stopped: as any use after close
    } finally {
      restore();
    }
  },
  { timeoutMs: 30_000 },
);

test(
  "workers: a worker that dies closes its connections' sockets (they used to stay open for the process's life)",
  async () => {
    const { startWorkers } = await import("../mod.ts");
    const port = freePort();
    const sockets = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:");
        } catch {
          return false;
        }
      }).length;
    const { restore } = captureConsoleErrors();
    const group = await startWorkers({
      count: 1,
      module: new URL("./fixtures/crash_on_data_worker.ts", import.meta.url),
      data: { port },
    });
    try {
      const clients = [];
      for (let i = 0; i < 5; i++) {
        const c = await dial(port);
        c.on("error", () => {});
        c.write("hi");
        await once(c, "data");
        clients.push(c);
      }
      const before = sockets(); // ours and the worker's, in this one process
      clients[0].write("crash");
      // Before: the dead worker's 5 server-side sockets stayed open (CLOSE-WAIT) until the process ended.
      assert.ok(await waitFor(() => sockets() <= before - 5, 5000), `sockets ${before} -> ${sockets()}`);
      for (const c of clients) c.destroy();
    } finally {
      await group.stop();
      restore();
    }
  },
  { timeoutMs: 30_000 },
);

test("a data handler that returns its connection's chain of work holds the end at EOF until the chain is done", async () => {
  // The README's way to keep async replies in order: a promise chain in conn.data, returned from data.
  const encoder = new TextEncoder();
  const server = listen<Promise<void>>({
    port: 0,
    handlers: {
      open: (conn) => void (conn.data = Promise.resolve()),
      data(conn, lease) {
        const lines = lease.bytes.filter((b) => b === 10).length;
        lease.release();
        return (conn.data = conn.data.then(async () => {
          for (let i = 0; i < lines; i++) {
            await sleep(1);
            conn.write(encoder.encode(`reply ${i}\n`));
          }
        }));
      },
    },
  });
  try {
    const { connect: netConnect } = await import("node:net");
    const replies = await new Promise<number>((resolve) => {
      const s = netConnect(server.port, "127.0.0.1", () => s.end("request\n".repeat(30)));
      let text = "";
      s.on("data", (d: Uint8Array) => void (text += new TextDecoder().decode(d)));
      s.on("end", () => resolve(text.split("\n").length - 1));
    });
    assert.equal(replies, 30);
  } finally {
    await server.stop();
  }
});

test("write(bytes, { copy: false }) sends the bytes from where they are; under 16 KiB, or by default, they are copied", async () => {
  const loop = new IoLoop();
  let queuedCopies = -1;
  let buffered = -1;
  let opened: Connection | undefined;
  const server = listen({
    loop,
    port: 0,
    handlers: {
      open(conn) {
        opened = conn;
        const inPlace = new Uint8Array(1 << 20).fill(1);
        const small = new Uint8Array(1024).fill(3);
        const copied = new Uint8Array(64 * 1024).fill(5);
        conn.write(inPlace, { copy: false });
        conn.write(small, { copy: false });
        conn.write(copied);
        buffered = conn.bufferedAmount;
        queuedCopies = loop[kArena].bytesInUse;
        // Changed before any of it was submitted: only the bytes sent in place go out changed.
        inPlace.fill(2);
        small.fill(4);
        copied.fill(6);
        conn.end();
      },
    },
  });
  try {
    const socket = await dial(server.port);
    const chunks: Uint8Array[] = [];
    socket.on("data", (d: Uint8Array) => chunks.push(d));
    await once(socket, "end");
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) all.set(c, (at += c.length) - c.length);
    assert.equal(all.length, (1 << 20) + 1024 + 64 * 1024);
    const runs = (from: number, length: number) => new Set(all.subarray(from, from + length));
    // Before: the option was not there, and every write was a copy (all 1s).
    assert.deepEqual([...runs(0, 1 << 20)], [2], "sent in place: the bytes as they were when sent");
    assert.deepEqual([...runs(1 << 20, 1024)], [3], "under 16 KiB: copied at write()");
    assert.deepEqual([...runs((1 << 20) + 1024, 64 * 1024)], [5], "the default: copied at write()");
    assert.equal(buffered, (1 << 20) + 1024 + 64 * 1024, "bufferedAmount counts bytes sent in place");
    assert.ok(queuedCopies < 256 * 1024, `the send arena holds the copies only (${queuedCopies} bytes)`);
    socket.destroy();
  } finally {
    await server.stop();
    loop.close();
  }
  // The write option checks come first, so the connection (ended by now) shows them.
  const conn = opened!;
  // Before: a misspelt key or an array was taken, and the bytes copied without a word.
  assert.throws(
    () => conn.write(new Uint8Array(1), { cpy: false } as never),
    /unknown option "cpy" \(did you mean "copy"\?\)/,
  );
  for (const bad of ["x", null, false, [], { copy: "no" }, { copy: 0 }]) {
    assert.throws(() => conn.write(new Uint8Array(1), bad as never), TypeError, String(bad));
  }
  assert.throws(() => conn.write(new Uint8Array(1), { copy: "no" as never }), /got copy: string "no"/);
});

test("a big message broadcast in place: one copy written with { copy: false } to many connections reaches each whole", async () => {
  const message = patternBytes(7, 200_000);
  const conns: Connection[] = [];
  const server = listen({
    port: 0,
    handlers: {
      open(conn) {
        conns.push(conn);
        if (conns.length < 8) return;
        const copy = message.slice(); // as from lease.bytes.slice(): nothing else holds it
        for (const c of conns) c.write(copy, { copy: false }), c.end();
      },
    },
  });
  try {
    const sockets = await Promise.all(Array.from({ length: 8 }, () => dial(server.port)));
    const received = await Promise.all(sockets.map(async (socket) => {
      const chunks: Uint8Array[] = [];
      socket.on("data", (d: Uint8Array) => chunks.push(d));
      await once(socket, "end");
      socket.destroy();
      return Buffer.concat(chunks);
    }));
    for (const bytes of received) assert.ok(Buffer.from(message).equals(bytes), `${bytes.length} bytes`);
  } finally {
    await server.stop();
  }
});

test("write(bytes, { copy: false }): once flushed() resolves the bytes may change, below highWaterMark and with zero-copy sends too", async () => {
  // Before: flushed() resolved at once below highWaterMark (20,000 bytes: every byte went out changed), and
  // with zeroCopyMin at the send's completion, before the kernel's notification (950,272 of 1 MiB changed).
  for (const [size, zeroCopyMin] of [[1 << 20, 16_384], [20_000, 0], [60_000, 16_384]]) {
    let take!: (c: Connection) => void;
    const opened = new Promise<Connection>((resolve) => (take = resolve));
    const server = listen({ port: 0, zeroCopyMin, handlers: { open: (c) => take(c) } });
    try {
      const socket = await dial(server.port);
      const chunks: Uint8Array[] = [];
      socket.on("data", (d: Uint8Array) => chunks.push(d));
      const conn = await opened;
      const bytes = new Uint8Array(size).fill(65);
      conn.write(bytes, { copy: false });
      await conn.flushed();
      bytes.fill(66);
      conn.end();
      await once(socket, "end");
      socket.destroy();
      const got = Buffer.concat(chunks);
      assert.equal(got.length, size);
      assert.equal(got.filter((b) => b === 66).length, 0, `size ${size}, zeroCopyMin ${zeroCopyMin}`);
    } finally {
      await server.stop();
    }
  }
});
