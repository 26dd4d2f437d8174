import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  bindUdp,
  BufferPool,
  type Datagram,
  datagramBufferSize,
  IoLoop,
  type Lease,
  MAX_UDP_PAYLOAD,
  probeFeatures,
  type UdpSocket,
} from "../mod.ts";
import { DatagramReceiver, NativeMemory, prepSend, Reactor } from "../ring.ts";
import { closeFd, connectSocket, localAddress, setReceiveBuffer, udpBind } from "../sys.ts";
import { captureConsoleErrors, runtimeCommand, test } from "./harness.ts";
import { waitFor } from "./clients.ts";
import { patternBytes } from "./helpers.ts";

test("UDP multishot recvmsg: 1,000 datagrams of random sizes, each with its source address", () => {
  using reactor = new Reactor({ entries: 256 });
  const server = udpBind("127.0.0.1", 0);
  const port = localAddress(server).port;
  const senders = [udpBind("127.0.0.1", 0), udpBind("127.0.0.1", 0)];
  senders.forEach((fd) => connectSocket(fd, "127.0.0.1", port));
  const senderPorts = senders.map((fd) => localAddress(fd).port);
  const pool = new BufferPool(reactor, { bufferSize: 2048, count: 64 });
  const got: { port: number; address: string; bytes: Uint8Array; truncated: boolean }[] = [];
  const held: Lease[] = [];
  const receiver = new DatagramReceiver(pool, server, {
    message(d) {
      got.push({ port: d.from!.port, address: d.from!.hostname, bytes: d.payload.slice(), truncated: d.truncated });
      held.push(d.lease);
    },
    end(error) {
      throw error ?? new Error("unexpected end");
    },
  }).start();
  const total = 1000;
  const mem = new NativeMemory(total * 2048);
  const sizes: number[] = [];
  let sent = 0;
  const sendTarget = reactor.register({ complete: (res) => assert.ok(res >= 0, `send ${res}`) });
  let next = 0;
  const ok = reactor.runUntil(() => {
    for (const l of held.splice(0)) l.release();
    // Bounded bursts, so the socket's receive queue is not overrun (UDP drops, it does not wait).
    for (let k = 0; k < 16 && next < total && next - got.length < 48; k++, next++) {
      const size = next === 0 ? 0 : next === 1 ? 2048 - 60 : 1 + Math.floor(Math.random() * 1500);
      sizes.push(size);
      mem.bytes.set(patternBytes(next + 1, size), next * 2048);
      const slot = reactor.ring.getSqe();
      prepSend(reactor.ring.sqes, slot, senders[next % 2], mem.address + next * 2048, size, 0);
      reactor.ring.sqes.setUserData(slot, sendTarget);
      sent++;
    }
    return got.length === total;
  }, 20_000);
  assert.ok(ok, `received ${got.length} of ${total}`);
  for (let i = 0; i < total; i++) {
    assert.equal(got[i].address, "127.0.0.1");
    assert.equal(got[i].port, senderPorts[i % 2], `datagram ${i} source port`);
    assert.equal(got[i].bytes.length, sizes[i], `datagram ${i} size`);
    assert.ok(Buffer.from(got[i].bytes).equals(Buffer.from(patternBytes(i + 1, sizes[i]))), `datagram ${i} bytes`);
    assert.equal(got[i].truncated, false);
  }
  for (const l of held.splice(0)) l.release();
  receiver.stop();
  reactor.runOnce(20);
  assert.ok(!receiver.active);
  assert.equal(pool.stats().buffersLeased, 0);
  pool.close();
  mem.free();
  [server, ...senders].forEach(closeFd);
}, { skip: !probeFeatures().multishotRecv && "kernel lacks multishot recvmsg (6.0+)" });

test("UDP: a datagram larger than the buffer is flagged truncated", () => {
  using reactor = new Reactor({ entries: 16 });
  const server = udpBind("127.0.0.1", 0);
  const sender = udpBind("127.0.0.1", 0);
  connectSocket(sender, "127.0.0.1", localAddress(server).port);
  const pool = new BufferPool(reactor, { bufferSize: 256, count: 4 });
  let d: { truncated: boolean; payload: number } | undefined;
  const r = new DatagramReceiver(pool, server, {
    message(x) {
      d = { truncated: x.truncated, payload: x.payload.length };
      x.lease.release();
    },
    end() {},
  }).start();
  const mem = new NativeMemory(4096);
  const slot = reactor.ring.getSqe();
  prepSend(reactor.ring.sqes, slot, sender, mem.address, 1000, 0);
  reactor.ring.sqes.setUserData(slot, 0);
  assert.ok(reactor.runUntil(() => d !== undefined, 2000));
  assert.equal(d!.truncated, true);
  assert.equal(d!.payload, 256 - 16 - 28, "what fits after io_uring_recvmsg_out and the name");
  r.stop();
  reactor.runOnce(10);
  pool.close();
  mem.free();
  closeFd(server);
  closeFd(sender);
});

test("bindUdp: datagrams echoed back to their senders without a copy, in order", async () => {
  const { bindUdp, IoLoop } = await import("../mod.ts");
  const loop = new IoLoop();
  const echo = bindUdp({ loop, handlers: { message: (sock, d) => sock.send(d) } });
  const got: string[] = [];
  const client = bindUdp({
    loop,
    handlers: {
      message(_s, d) {
        assert.equal(d.from!.port, echo.port);
        got.push(new TextDecoder().decode(d.payload));
        d.lease.release();
      },
    },
  });
  const sent: string[] = [];
  for (let i = 0; i < 200; i++) {
    const text = `datagram ${i} ${"x".repeat(i * 7)}`;
    sent.push(text);
    client.send(new TextEncoder().encode(text), { hostname: "127.0.0.1", port: echo.port });
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5)); // stay under the socket's receive queue
  }
  for (let i = 0; i < 200 && got.length < sent.length; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, sent);
  assert.throws(() => client.send(new Uint8Array(70000), { hostname: "127.0.0.1", port: echo.port }), RangeError);
  assert.throws(() => client.send(new Uint8Array(1), { hostname: "bad", port: 1 }), TypeError);
  // Port 0 binds to any port, but no datagram can go to it: refused here, not left to fail later.
  assert.throws(
    () => client.send(new Uint8Array(1), { hostname: "127.0.0.1", port: 0 }),
    /port must be an integer in \[1, 65535\] to send to, got number 0/,
  );
  assert.equal(client.stats().sendErrors, 0);
  echo.close();
  client.close();
  for (let i = 0; i < 50 && loop.driver.refs > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(loop.driver.refs, 0, "both sockets fully closed");
  assert.equal(echo.pool.closed && client.pool.closed, true);
  loop.close();
});

test("bindUdp: a received datagram's lease sent back on its own carries its payload only, not the recvmsg header", async () => {
  const { bindUdp, IoLoop } = await import("../mod.ts");
  const loop = new IoLoop();
  const echo = bindUdp({ loop, handlers: { message: (sock, d) => sock.send(d.lease, d.from!) } });
  const got: string[] = [];
  const client = bindUdp({
    loop,
    handlers: {
      message(_s, d) {
        got.push(new TextDecoder().decode(d.payload));
        d.lease.release();
      },
    },
  });
  const sent = ["ping", "", "x".repeat(3000)];
  for (const text of sent) client.send(new TextEncoder().encode(text), { hostname: "127.0.0.1", port: echo.port });
  for (let i = 0; i < 200 && got.length < sent.length; i++) await new Promise((r) => setTimeout(r, 10));
  // Before: 44 bytes of io_uring_recvmsg_out header and source address went out in front of each payload.
  assert.deepEqual(got, sent);
  echo.close();
  client.close();
  for (let i = 0; i < 50 && loop.driver.refs > 0; i++) await new Promise((r) => setTimeout(r, 10));
  loop.close();
});

test("sending a received datagram on a closed socket throws ClosedError and returns its buffer", async () => {
  const { bindUdp, ClosedError, IoLoop } = await import("../mod.ts");
  const loop = new IoLoop();
  let kept: Datagram | undefined;
  const receiver = bindUdp({ loop, handlers: { message: (_s, d) => void (kept = d) } });
  const sender = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  sender.send(new TextEncoder().encode("keep me"), { hostname: "127.0.0.1", port: receiver.port });
  for (let i = 0; i < 200 && !kept; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(kept);
  receiver.close();
  assert.throws(() => receiver.send(kept!), ClosedError); // threw "already released" before
  assert.equal(kept.lease.released, true);
  // Once the close has completed (the socket's pool closed with it), still ClosedError: it was a TypeError,
  // "cannot send a lease of a closed pool".
  const got: { datagram?: Datagram } = {};
  const keeper = bindUdp({ loop, handlers: { message: (_s, d) => void (got.datagram = d) } });
  sender.send(new TextEncoder().encode("keep me too"), { hostname: "127.0.0.1", port: keeper.port });
  for (let i = 0; i < 200 && !got.datagram; i++) await new Promise((r) => setTimeout(r, 5));
  const late = got.datagram;
  assert.ok(late);
  await keeper.close();
  assert.throws(() => keeper.send(late), ClosedError);
  assert.equal(late.lease.released, true);
  // On another socket, a datagram whose pool closed is refused and released too (it stayed out, and
  // the closed pool's memory mapped with it).
  const again: { datagram?: Datagram } = {};
  const third = bindUdp({ loop, handlers: { message: (_s, d) => void (again.datagram = d) } });
  sender.send(new TextEncoder().encode("and me"), { hostname: "127.0.0.1", port: third.port });
  for (let i = 0; i < 200 && !again.datagram; i++) await new Promise((r) => setTimeout(r, 5));
  const orphan = again.datagram;
  assert.ok(orphan);
  await third.close();
  assert.throws(() => sender.send(orphan, { hostname: "127.0.0.1", port: 9 }), /a lease of a closed pool/);
  assert.equal(orphan.lease.released, true);
  sender.close();
  for (let i = 0; i < 50 && loop.driver.refs > 0; i++) await new Promise((r) => setTimeout(r, 10));
  loop.close();
});

/** Sizes around the old 2,004-byte limit of a 2 KiB buffer, up to the largest IPv4 UDP payload. */
const LARGE_SIZES = [2005, 4096, 9000, 65507];

/** A node:dgram client on 127.0.0.1 whose kernel buffers hold 64 KiB datagrams. */
async function dgramClient(): Promise<dgram.Socket> {
  const client = dgram.createSocket({ type: "udp4", recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  await new Promise<void>((resolve) => client.bind(0, "127.0.0.1", resolve));
  return client;
}

function sendTo(client: dgram.Socket, port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => client.send(bytes, port, "127.0.0.1", (e) => e ? reject(e) : resolve()));
}

/**
 * Sends `patternBytes(i + 1, sizes[i])` for each size in turn and waits for its echo; returns what
 * came back, an empty array for a datagram that never did.
 */
async function echoed(port: number, sizes: number[]): Promise<Uint8Array[]> {
  const client = await dgramClient();
  const replies: Uint8Array[] = [];
  client.on("message", (msg: Uint8Array) => replies.push(new Uint8Array(msg)));
  const out: Uint8Array[] = [];
  try {
    for (const [i, size] of sizes.entries()) {
      await sendTo(client, port, patternBytes(i + 1, size));
      for (let t = 0; t < 200 && replies.length === 0; t++) await new Promise((r) => setTimeout(r, 5));
      out.push(replies.shift() ?? new Uint8Array(0));
    }
  } finally {
    client.close();
  }
  return out;
}

function assertEchoedWhole(replies: Uint8Array[], sizes: number[]): void {
  for (const [i, size] of sizes.entries()) {
    assert.equal(replies[i].length, size, `echo of the ${size}-byte datagram`);
    assert.ok(Buffer.from(replies[i]).equals(Buffer.from(patternBytes(i + 1, size))), `bytes of the ${size}-byte echo`);
  }
}

/** Waits (bounded) until the loop's sockets have fully closed, then closes the loop. */
async function closeLoop(loop: IoLoop): Promise<void> {
  for (let i = 0; i < 50 && loop.driver.refs > 0; i++) await new Promise((r) => setTimeout(r, 10));
  loop.close();
}

test("bindUdp with default options: datagrams of 2,005 to 65,507 bytes arrive whole and echo back", async () => {
  const loop = new IoLoop();
  const server = bindUdp({
    loop,
    handlers: {
      message(sock, d) {
        if (d.truncated) return d.lease.release();
        sock.send(d);
      },
    },
  });
  try {
    assert.equal(server.maxDatagramSize, MAX_UDP_PAYLOAD);
    assert.equal(server.pool.bufferSize, datagramBufferSize(MAX_UDP_PAYLOAD));
    assert.equal(datagramBufferSize(MAX_UDP_PAYLOAD), 16 + 28 + 65507, "io_uring_recvmsg_out + sockaddr_in6 + payload");
    assertEchoedWhole(await echoed(server.port, LARGE_SIZES), LARGE_SIZES);
    const stats = server.stats();
    const total = LARGE_SIZES.reduce((a, b) => a + b);
    assert.deepEqual(
      { ...stats, pool: undefined },
      {
        datagramsReceived: LARGE_SIZES.length,
        bytesReceived: total,
        truncated: 0,
        datagramsSent: LARGE_SIZES.length,
        bytesSent: total,
        sendErrors: 0,
        dropped: 0,
        handlerErrors: 0,
        receiveDrops: 0,
        pool: undefined,
      },
    );
    assert.equal(stats.pool.buffersLeased, 0, "every echoed buffer went back to the pool");
  } finally {
    server.close();
    await closeLoop(loop);
  }
}, { skip: !probeFeatures().multishotRecv && "kernel lacks multishot recvmsg (6.0+)" });

test("bindUdp maxDatagramSize 100: larger datagrams arrive truncated to 100 bytes and are counted", async () => {
  const loop = new IoLoop();
  const got: { length: number; truncated: boolean; bytes: Uint8Array }[] = [];
  const server = bindUdp({
    loop,
    maxDatagramSize: 100,
    handlers: {
      message(_sock, d) {
        got.push({ length: d.payload.length, truncated: d.truncated, bytes: d.payload.slice() });
        d.lease.release();
      },
    },
  });
  const sizes = [100, 101, 500];
  try {
    assert.equal(server.pool.bufferSize, datagramBufferSize(100));
    assert.equal(server.maxDatagramSize, 100);
    const client = await dgramClient();
    for (const [i, size] of sizes.entries()) await sendTo(client, server.port, patternBytes(i + 1, size));
    for (let t = 0; t < 200 && got.length < sizes.length; t++) await new Promise((r) => setTimeout(r, 5));
    client.close();
    assert.deepEqual(got.map((g) => [g.length, g.truncated]), [[100, false], [100, true], [100, true]]);
    for (const [i, g] of got.entries()) {
      assert.ok(Buffer.from(g.bytes).equals(Buffer.from(patternBytes(i + 1, 100))), `datagram ${i}: its first bytes`);
    }
    const stats = server.stats();
    assert.equal(stats.truncated, 2);
    assert.equal(stats.datagramsReceived, 3);
    assert.equal(stats.bytesReceived, 300);
  } finally {
    server.close();
    await closeLoop(loop);
  }
}, { skip: !probeFeatures().multishotRecv && "kernel lacks multishot recvmsg (6.0+)" });

test("bindUdp options: maxDatagramSize limits, and an explicit pool decides the buffer size", async () => {
  const loop = new IoLoop();
  const handlers = { message: (_s: unknown, d: Datagram) => d.lease.release() };
  for (const bad of [0, 65508, 1.5, NaN, "100" as unknown as number]) {
    assert.throws(
      () => bindUdp({ loop, handlers, maxDatagramSize: bad }),
      (e: Error) =>
        e instanceof (typeof bad === "number" ? RangeError : TypeError) &&
        /maxDatagramSize must be an integer in \[1, 65507\]/.test(e.message),
      `maxDatagramSize ${bad}`,
    );
  }
  assert.throws(() => datagramBufferSize(0), RangeError);
  const pool = new BufferPool(loop.reactor, { bufferSize: 2048, count: 4 });
  assert.throws(
    () => bindUdp({ loop, handlers, pool, maxDatagramSize: 9000 }),
    (e: Error) => e instanceof RangeError && /datagramBufferSize\(9000\) = 9044/.test(e.message),
  );
  assert.throws(
    () => bindUdp({ loop, handlers, pool: { bufferSize: 2048 }, maxDatagramSize: 2005 }),
    (e: Error) => e instanceof RangeError && /needs datagramBufferSize\(2005\) = 2049 bytes/.test(e.message),
  );
  assert.throws(
    () => bindUdp({ loop, handlers, pool: { bufferSize: 44 } }),
    (e: Error) => e instanceof RangeError && /io_uring_recvmsg_out/.test(e.message),
  );
  const shared = bindUdp({ loop, handlers, pool });
  assert.equal(shared.maxDatagramSize, 2048 - 44, "an existing pool wins");
  const fromOptions = bindUdp({ loop, handlers, pool: { bufferSize: 4096, count: 8 } });
  assert.equal(fromOptions.maxDatagramSize, 4096 - 44, "pool options win");
  assert.equal(fromOptions.pool.stats().buffersTotal, 8);
  const exact = bindUdp({ loop, handlers, pool: { bufferSize: 2049 }, maxDatagramSize: 2005 });
  assert.equal(exact.maxDatagramSize, 2005);
  for (const s of [shared, fromOptions, exact]) s.close();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fromOptions.pool.closed, true);
  assert.equal(pool.closed, false, "a pool the socket did not make stays open");
  pool.close();
  await closeLoop(loop);
  assert.equal(loop.driver.refs, 0, "refused sockets hold no reference on the loop");
}, { skip: !probeFeatures().multishotRecv && "kernel lacks multishot recvmsg (6.0+)" });

test("examples/udp-echo.ts with its defaults echoes datagrams of 2,005 to 65,507 bytes whole", async () => {
  const script = fileURLToPath(new URL("../examples/udp-echo.ts", import.meta.url));
  const [cmd, argv] = runtimeCommand(script, ["--port", "0"]);
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
  const exited = new Promise((resolve) => child.on("close", resolve));
  try {
    for (let t = 0; t < 3000 && !/listening on \S*:\d+/.test(stderr); t++) await new Promise((r) => setTimeout(r, 5));
    const port = Number(/listening on \S*:(\d+)/.exec(stderr)?.[1]);
    assert.ok(port > 0, `the example's port (stderr: ${stderr})`);
    assertEchoedWhole(await echoed(port, LARGE_SIZES), LARGE_SIZES);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
  assert.match(stderr, /"truncated":0/, "the stats it prints on SIGTERM");
}, { skip: !probeFeatures().multishotRecv && "kernel lacks multishot recvmsg (6.0+)", timeoutMs: 60_000 });

/**
 * A socket whose message handler fails on every datagram: by throwing for a first byte of 1, else by
 * rejecting; it releases the datagram first when `releases`.
 */
function failingSocket(loop: IoLoop, releases: boolean) {
  return bindUdp({
    loop,
    handlers: {
      message(_s, d) {
        const sync = d.payload[0] === 1;
        if (releases) d.lease.release();
        if (sync) throw new Error("sync failure");
        return Promise.reject(new Error("async failure")) as never;
      },
    },
  });
}

test("bindUdp: a message handler that throws on every datagram is logged once with its stack, then as a count (it was a stack per datagram)", async () => {
  const loop = new IoLoop();
  const console_ = captureConsoleErrors();
  try {
    const failing = failingSocket(loop, true);
    const client = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
    for (let i = 0; i < 30; i++) client.send(new Uint8Array([i % 2]), { hostname: "127.0.0.1", port: failing.port });
    assert.ok(await waitFor(() => failing.stats().handlerErrors === 30, 5000));
    assert.equal(console_.errors.length, 1, "the first failure only, so far");
    assert.match(
      String(console_.errors[0][0]),
      /message handler of UDP socket fd \d+ threw \(later failures are counted/,
    );
    assert.ok((console_.errors[0][1] as Error).stack?.includes("failure"));
    // The rest come as one line within a second; closing flushes a count still pending.
    assert.ok(await waitFor(() => console_.errors.length === 2, 3000));
    assert.match(String(console_.errors[1][0]), /threw 29 more times \(last: message handler: (a)?sync failure\)/);
    client.send(new Uint8Array([1]), { hostname: "127.0.0.1", port: failing.port });
    assert.ok(await waitFor(() => failing.stats().handlerErrors === 31, 5000));
    await failing.close();
    assert.equal(console_.errors.length, 3);
    assert.match(String(console_.errors[2][0]), /threw 1 more time \(last: message handler: sync failure\)/);
    await client.close();
  } finally {
    console_.restore();
    loop.close();
  }
});

test("bindUdp: a message handler that throws before releasing its datagram does not dry the pool (the lease is released for it)", async () => {
  // The lease stayed out until the leak net found it: after 256 such datagrams every buffer was leased
  // and the next ones were dropped by the kernel.
  const loop = new IoLoop();
  const console_ = captureConsoleErrors();
  try {
    const failing = failingSocket(loop, false); // keeps its leases
    const client = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
    const total = 600;
    for (let i = 0; i < total; i++) {
      client.send(new Uint8Array([i % 2]), { hostname: "127.0.0.1", port: failing.port });
      if (i % 50 === 49) await waitFor(() => failing.stats().handlerErrors === i + 1, 2000);
    }
    assert.ok(await waitFor(() => failing.stats().handlerErrors === total, 5000), `${failing.stats().handlerErrors}`);
    assert.equal(failing.stats().pool.leasesActive, 0);
    await failing.close();
    await client.close();
  } finally {
    console_.restore();
    loop.close();
  }
});

test("UdpSocket.close() frees the port before it returns: binding it again at once works (shared and dedicated loops)", async () => {
  // The socket stayed bound until the receive's cancel completed, a turn later: binding the port
  // again right after close() failed with EADDRINUSE every other time.
  const loops = [new IoLoop()];
  if (probeFeatures().deferTaskrun) loops.push(new IoLoop({ mode: "dedicated" }));
  for (const loop of loops) {
    const handlers = { message: (_s: unknown, d: Datagram) => d.lease.release() };
    const first = bindUdp({ loop, handlers });
    const port = first.port;
    const closed = [first.close()];
    for (let i = 0; i < 50; i++) {
      const again = bindUdp({ loop, port, handlers }); // threw EADDRINUSE before
      closed.push(again.close());
    }
    await Promise.all(closed);
    loop.close();
  }
});

test("a datagram sent just before close() leaves from its own socket, not from the one that reuses its fd number", async () => {
  // close() closed the fd before the SENDMSG queued in the SQ reached the kernel (the receive was not
  // armed, so nothing was submitted): the datagram then went out through the next socket given that
  // fd number, a new UDP socket here (a TCP stream in the reviewer's case).
  const loop = new IoLoop();
  const rx = dgram.createSocket("udp4");
  const arrivals: number[] = [];
  rx.on("message", (_m: Uint8Array, r: { port: number }) => void arrivals.push(r.port));
  await new Promise<void>((resolve) => rx.bind(0, "127.0.0.1", () => resolve()));
  const target = { hostname: "127.0.0.1", port: (rx.address() as { port: number }).port };
  const held: Lease[] = [];
  const old = bindUdp({
    loop,
    pool: { count: 4, bufferSize: datagramBufferSize(64) },
    handlers: { message: (_s, d) => void held.push(d.lease) }, // keeps every lease: the receive stops
  });
  const tx = dgram.createSocket("udp4");
  for (let i = 0; i < 8; i++) tx.send("x", old.port, "127.0.0.1");
  assert.ok(await waitFor(() => old.stats().pool.enobufs > 0, 3000), "the pool ran dry");
  old.send(new TextEncoder().encode("from the old socket"), target);
  const closed = old.close();
  const reuser = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  assert.equal(reuser.fd, old.fd, "the new socket got the old fd number");
  await closed;
  assert.ok(await waitFor(() => arrivals.length > 0, 2000), "the datagram arrived");
  assert.deepEqual(arrivals, [old.port]);
  assert.equal(reuser.stats().sendErrors + reuser.stats().datagramsSent, 0);
  for (const l of held) l.release();
  await reuser.close();
  rx.close();
  tx.close();
  loop.close();
});

test("UDP: maxDatagramSize null is the default, as for every number option (it was a RangeError)", async () => {
  const loop = new IoLoop();
  const sock = bindUdp({ loop, maxDatagramSize: null as never, handlers: { message: (_s, d) => d.lease.release() } });
  try {
    assert.equal(sock.maxDatagramSize, MAX_UDP_PAYLOAD);
  } finally {
    await sock.close();
    loop.close();
  }
});

test("UdpSocket.close() right after 300 send()s delivers all 300, then closes (it dropped all but the one in flight)", async () => {
  const loop = new IoLoop();
  const sink = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  setReceiveBuffer(sink.fd, 4 << 20);
  const sender = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  for (let i = 0; i < 300; i++) sender.send(new Uint8Array(32), { hostname: "127.0.0.1", port: sink.port });
  await sender.close();
  assert.equal(sender.stats().datagramsSent, 300);
  assert.ok(await waitFor(() => sink.stats().datagramsReceived === 300, 3000), `${sink.stats().datagramsReceived}`);
  assert.throws(() => sender.send(new Uint8Array(1), { hostname: "127.0.0.1", port: sink.port }), /closed/i);
  await sink.close();
  await loop.close();
});

test("UDP: stats().receiveDrops counts the datagrams the kernel dropped, as /proc/net/udp does", async () => {
  const loop = new IoLoop();
  const kept: Datagram[] = [];
  // A sink that keeps every datagram: once its 4 buffers are leased, the kernel drops what comes.
  const sink = bindUdp({
    loop,
    pool: { count: 4, bufferSize: 2048 },
    handlers: { message: (_s, d) => void kept.push(d) },
  });
  setReceiveBuffer(sink.fd, 4096);
  const sender = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  for (let i = 0; i < 200; i++) sender.send(new Uint8Array(100), { hostname: "127.0.0.1", port: sink.port });
  await sender.flushed();
  assert.ok(await waitFor(() => sink.stats().datagramsReceived === 4, 3000));
  const { receiveDrops, datagramsReceived } = sink.stats();
  // Before: nothing in stats() saw them (the README pointed at /proc/net/udp).
  assert.ok(receiveDrops > 0, `${receiveDrops}`);
  assert.equal(receiveDrops, procUdpDrops(sink.port));
  assert.ok(receiveDrops + datagramsReceived <= 200);
  for (const d of kept) d.lease.release();
  await sink.close();
  assert.equal(sink.stats().receiveDrops, receiveDrops, "the count at the close stays");
  await sender.close();
  await loop.close();
});

test("bindUdp({ receiveBufferSize }) sets the socket's receive buffer: a tiny one drops what the default holds", async () => {
  const loop = new IoLoop();
  const kept: Datagram[] = [];
  const keep = { message: (_s: UdpSocket, d: Datagram) => void kept.push(d) };
  const roomy = bindUdp({ loop, pool: { count: 4, bufferSize: 2048 }, handlers: keep });
  const tiny = bindUdp({ loop, pool: { count: 4, bufferSize: 2048 }, receiveBufferSize: 1, handlers: keep });
  const sender = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  for (const sink of [roomy, tiny]) {
    for (let i = 0; i < 20; i++) sender.send(new Uint8Array(100), { hostname: "127.0.0.1", port: sink.port });
  }
  await sender.flushed();
  assert.ok(await waitFor(() => kept.length === 8, 3000), `${kept.length}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(roomy.stats().receiveDrops, 0, "the kernel's default holds 16 small datagrams");
  assert.ok(tiny.stats().receiveDrops > 0, `${tiny.stats().receiveDrops}`); // the option did nothing before: refused
  assert.throws(
    () => bindUdp({ loop, receiveBufferSize: -1, handlers: keep }),
    /RangeError: receiveBufferSize must be an integer in \[1, 2\^31 - 1\], got number -1/,
  );
  for (const d of kept) d.lease.release();
  await Promise.all([roomy.close(), tiny.close(), sender.close()]);
  await loop.close();
});

/** The drops column of /proc/net/udp for the IPv4 socket bound to `port`. */
function procUdpDrops(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const line = readFileSync("/proc/net/udp", "utf8").split("\n").find((l) =>
    l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`)
  );
  assert.ok(line, `port ${port} in /proc/net/udp`);
  return Number(line.trim().split(/\s+/).at(-1));
}

test("UdpSocket.flushed() resolves once the kernel has taken every datagram queued before it", async () => {
  const loop = new IoLoop();
  const sink = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  const sender = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  await sender.flushed(); // nothing queued: at once
  for (let i = 0; i < 100; i++) sender.send(new Uint8Array(16), { hostname: "127.0.0.1", port: sink.port });
  const first = sender.flushed();
  for (let i = 0; i < 50; i++) sender.send(new Uint8Array(16), { hostname: "127.0.0.1", port: sink.port });
  await first;
  const sent = sender.stats().datagramsSent;
  assert.ok(sent >= 100 && sent < 150, `${sent}`);
  await sender.flushed();
  assert.equal(sender.stats().datagramsSent, 150);
  await sender.close();
  await sink.close();
  await loop.close();
});

test("bindUdp: an error handler that throws on every failure is logged once with its stack, then as a count (it was a stack per failure)", async () => {
  const loop = new IoLoop();
  const console_ = captureConsoleErrors();
  try {
    const failing = bindUdp({
      loop,
      handlers: {
        message(_s, d) {
          d.lease.release();
          throw new Error("bad request");
        },
        error(_s, e) {
          throw e;
        },
      },
    });
    const client = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
    for (let i = 0; i < 30; i++) client.send(new Uint8Array(1), { hostname: "127.0.0.1", port: failing.port });
    assert.ok(await waitFor(() => failing.stats().handlerErrors === 30, 5000));
    assert.equal(console_.errors.length, 1, "the first failure only, so far");
    assert.match(String(console_.errors[0][0]), /error handler of UDP socket fd \d+ threw \(later failures/);
    await failing.close();
    assert.equal(console_.errors.length, 2);
    assert.match(String(console_.errors[1][0]), /threw 29 more times \(last: error handler: bad request\)/);
    await client.close();
  } finally {
    console_.restore();
    await loop.close();
  }
});

test("UdpSocket.send() with node:dgram's (bytes, port, host) arguments says the destination is { hostname, port }", async () => {
  const loop = new IoLoop();
  const sock = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  assert.throws(
    () => sock.send(new Uint8Array(1), 9 as never),
    /destination is an object \{ hostname, port \}, got number 9/,
  );
  assert.throws(() => sock.send(new Uint8Array(1), "127.0.0.1:9" as never), /destination is an object/);
  await sock.close();
  await loop.close();
});

test('bindUdp({ hostname: "localhost" }).hostname is "localhost", as a listen() server\'s is (it was 127.0.0.1)', async () => {
  const loop = new IoLoop();
  const sock = bindUdp({ loop, hostname: "localhost", handlers: { message: (_s, d) => d.lease.release() } });
  const plain = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  assert.equal(sock.hostname, "localhost");
  assert.equal(plain.hostname, "127.0.0.1");
  await sock.close();
  await plain.close();
  await loop.close();
});

test("UdpSocket: sends that close() still makes report their failures to the error handler (they were only counted)", async () => {
  const loop = new IoLoop();
  const errors: Error[] = [];
  const sock = bindUdp({
    loop,
    handlers: { message: (_s, d) => d.lease.release(), error: (_s, e) => void errors.push(e) },
  });
  for (let i = 0; i < 5; i++) sock.send(new Uint8Array(10), { hostname: "::1", port: 9 }); // an IPv6 peer from IPv4
  await sock.close();
  assert.equal(sock.stats().sendErrors, 5);
  assert.equal(errors.length, 5);
  assert.match(errors[0].message, /EAFNOSUPPORT/);
  await loop.close();
});
