import assert from "node:assert/strict";
import {
  BufferPool,
  closeFd,
  connectSocket,
  type Datagram,
  DatagramReceiver,
  type Lease,
  localAddress,
  NativeMemory,
  prepSend,
  probeFeatures,
  Reactor,
  udpBind,
} from "../mod.ts";
import { test } from "./harness.ts";
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
      got.push({ port: d.from!.port, address: d.from!.address, bytes: d.payload.slice(), truncated: d.truncated });
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
    client.send(new TextEncoder().encode(text), { address: "127.0.0.1", port: echo.port });
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5)); // stay under the socket's receive queue
  }
  for (let i = 0; i < 200 && got.length < sent.length; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, sent);
  assert.throws(() => client.send(new Uint8Array(70000), { address: "127.0.0.1", port: echo.port }), RangeError);
  assert.throws(() => client.send(new Uint8Array(1), { address: "bad", port: 1 }), TypeError);
  echo.close();
  client.close();
  for (let i = 0; i < 50 && loop.driver.refs > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(loop.driver.refs, 0, "both sockets fully closed");
  assert.equal(echo.pool.closed && client.pool.closed, true);
  loop.close();
});

test("sending a received datagram on a closed socket throws ClosedError and returns its buffer", async () => {
  const { bindUdp, ClosedError, IoLoop } = await import("../mod.ts");
  const loop = new IoLoop();
  let kept: Datagram | undefined;
  const receiver = bindUdp({ loop, handlers: { message: (_s, d) => void (kept = d) } });
  const sender = bindUdp({ loop, handlers: { message: (_s, d) => d.lease.release() } });
  sender.send(new TextEncoder().encode("keep me"), { address: "127.0.0.1", port: receiver.port });
  for (let i = 0; i < 200 && !kept; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(kept);
  receiver.close();
  assert.throws(() => receiver.send(kept!), ClosedError); // threw "already released" before
  assert.equal(kept.lease.released, true);
  sender.close();
  for (let i = 0; i < 50 && loop.driver.refs > 0; i++) await new Promise((r) => setTimeout(r, 10));
  loop.close();
});
