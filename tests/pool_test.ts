import assert from "node:assert/strict";
import { BufferPool, Errno, type Lease, probeFeatures, UringError } from "../mod.ts";
import {
  abi,
  NativeMemory,
  prepRecv,
  prepSend,
  prepWrite,
  ProvidedBufferGroup,
  Reactor,
  Ring,
  setBufferSelect,
  StreamReceiver,
} from "../ring.ts";
import { closeFd, setReceiveBuffer } from "../sys.ts";
import { ReceiveReservations, WaitQueue } from "../src/buffers/wait_queue.ts";
import { readFileSync } from "node:fs";
import { concat } from "./clients.ts";
import { collectGarbage, test } from "./harness.ts";
import { patternBytes, randomChunks, RingWriter, tcpPair } from "./helpers.ts";

const features = probeFeatures();

/** Seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** One raw CQE after submitting, bounded in time. */
function oneCqe(ring: Ring): { userData: number; res: number; flags: number } {
  let got: { userData: number; res: number; flags: number } | undefined;
  const deadline = Date.now() + 2000;
  while (!got) {
    ring.submitAndWait(1, Math.max(1, deadline - Date.now()));
    ring.reap((userData, res, flags) => {
      got ??= { userData, res, flags };
    }, 1);
    if (!got && Date.now() > deadline) throw new Error("no completion within 2 s");
  }
  return got;
}

test("legacy group: close() takes back what the kernel holds, so a new group under its id starts empty", () => {
  // Before: close() only freed the id; the kernel kept the buffers (and their addresses) in the group,
  // and the next group under that id received into the closed group's memory.
  using ring = new Ring({ entries: 16 });
  const [client, server] = tcpPair(ring);
  const mem = new NativeMemory(4096);
  try {
    const old = new ProvidedBufferGroup(ring, 9);
    old.provide(mem.address, 64, 4, 0, 1);
    assert.deepEqual(oneCqe(ring), { userData: 1, res: 0, flags: 0 });
    old.close();
    assert.deepEqual(oneCqe(ring), { userData: 0, res: 4, flags: 0 }, "REMOVE_BUFFERS took the 4 back");
    using fresh = new ProvidedBufferGroup(ring, 9);
    const send = ring.getSqe();
    prepSend(ring.sqes, send, client, mem.address + 2048, 10, 0);
    ring.sqes.setUserData(send, 2);
    assert.equal(oneCqe(ring).res, 10);
    const recv = ring.getSqe();
    prepRecv(ring.sqes, recv, server, 0, 64, 0);
    setBufferSelect(ring.sqes, recv, fresh.groupId);
    ring.sqes.setUserData(recv, 3);
    assert.deepEqual(oneCqe(ring), { userData: 3, res: -Errno.ENOBUFS, flags: 0 });
  } finally {
    mem.free();
    closeFd(client);
    closeFd(server);
  }
});

test("legacy PROVIDE_BUFFERS group: ids in order, -ENOBUFS when empty, re-provide revives recv", () => {
  using ring = new Ring({ entries: 16 });
  const [client, server] = tcpPair(ring);
  const mem = new NativeMemory(8192);
  try {
    const group = new ProvidedBufferGroup(ring, 7);
    group.provide(mem.address, 64, 4, 0, 1);
    assert.deepEqual(oneCqe(ring), { userData: 1, res: 0, flags: 0 });

    const payload = patternBytes(5, 300);
    mem.bytes.set(payload, 4096);
    const slot = ring.getSqe();
    prepSend(ring.sqes, slot, client, mem.address + 4096, payload.length, 0);
    ring.sqes.setUserData(slot, 2);
    assert.equal(oneCqe(ring).res, 300);

    const recvOnce = () => {
      const s = ring.getSqe();
      prepRecv(ring.sqes, s, server, 0, 64, 0);
      setBufferSelect(ring.sqes, s, 7);
      ring.sqes.setUserData(s, 3);
      return oneCqe(ring);
    };
    const received: number[] = [];
    for (let expectId = 0; expectId < 4; expectId++) {
      const c = recvOnce();
      assert.equal(c.res, 64);
      assert.ok(c.flags & abi.IORING_CQE_F_BUFFER);
      assert.equal(c.flags >>> 16, expectId, "buffer ids are handed out in order");
      received.push(...mem.bytes.subarray(expectId * 64, expectId * 64 + 64));
    }
    const empty = recvOnce();
    assert.equal(empty.res, -Errno.ENOBUFS, "an empty group fails the recv with -ENOBUFS");
    assert.equal(empty.flags & abi.IORING_CQE_F_BUFFER, 0);

    group.provide(mem.address + 2 * 64, 64, 1, 2, 4);
    assert.deepEqual(oneCqe(ring), { userData: 4, res: 0, flags: 0 });
    const revived = recvOnce();
    assert.equal(revived.res, 300 - 256, "the data stayed in the socket across ENOBUFS");
    assert.equal(revived.flags >>> 16, 2);
    received.push(...mem.bytes.subarray(128, 128 + revived.res));
    assert.deepEqual(new Uint8Array(received), payload);

    group.remove(16, 5);
    assert.deepEqual(oneCqe(ring), { userData: 5, res: 0, flags: 0 }, "nothing left to remove: all 4 were used");
  } finally {
    mem.free();
    closeFd(client);
    closeFd(server);
  }
});

/** Streams `total` bytes in random chunks from client to server through a pool; checks every byte. */
function streamThroughPool(
  poolOptions: ConstructorParameters<typeof BufferPool>[1],
  receiverOptions: ConstructorParameters<typeof StreamReceiver>[3],
  total: number,
  holdLeases: number,
  seed: number,
) {
  using reactor = new Reactor({ entries: 256 });
  const [client, server] = tcpPair(reactor.ring);
  const pool = new BufferPool(reactor, poolOptions);
  const expected = patternBytes(seed, total);
  const got = new Uint8Array(total);
  let at = 0;
  let ended = false;
  const outstanding = new Set<number>();
  const held: Lease[] = [];
  const rand = rng(seed);
  const receiver = new StreamReceiver(pool, server, {
    data(lease) {
      if (!pool.incremental) {
        assert.ok(!outstanding.has(lease.bufferId), `buffer ${lease.bufferId} leased twice at once`);
        outstanding.add(lease.bufferId);
      }
      got.set(lease.bytes, at);
      at += lease.length;
      held.push(lease);
      // Hold a few leases for a while so the pool runs dry and must re-arm.
      while (held.length > holdLeases || (held.length > 0 && rand() < 0.3)) {
        const l = held.shift()!;
        outstanding.delete(l.bufferId);
        l.release();
      }
    },
    end(error) {
      assert.equal(error, undefined);
      ended = true;
    },
  }, receiverOptions).start();
  const writer = new RingWriter(reactor, client);
  for (const chunk of randomChunks(expected, 3000, rand)) writer.write(chunk);
  assert.ok(reactor.runUntil(() => writer.idle, 10_000), "writer finished");
  closeFd(client);
  assert.ok(reactor.runUntil(() => ended, 10_000), `EOF seen (got ${at} of ${total} bytes)`);
  for (const l of held.splice(0)) l.release();
  reactor.runOnce(0);
  assert.equal(at, total);
  assert.ok(Buffer.from(got).equals(Buffer.from(expected)), "stream arrives byte-exact and in order");
  const stats = pool.stats();
  assert.equal(stats.leasesActive, 0);
  assert.equal(stats.buffersLeased, 0);
  assert.equal(stats.buffersFree, stats.buffersTotal);
  assert.equal(stats.bytesReceived, total);
  assert.ok(!receiver.active);
  writer.close();
  pool.close();
  closeFd(server);
  return stats;
}

for (const backend of ["ring", "ring-mmap", "legacy"] as const) {
  const missing = backend === "ring"
    ? !features.bufferRing
    : backend === "ring-mmap"
    ? !features.bufferRingMmap
    : !features.provideBuffers;
  test(`${backend} pool: a stream in random chunks arrives byte-exact through multishot recv`, () => {
    const stats = streamThroughPool({ backend, bufferSize: 512, count: 16 }, {}, 300_000, 12, 11);
    assert.equal(stats.backend, backend);
    assert.ok(stats.leasesMade >= 300_000 / 512);
  }, { skip: missing && `kernel lacks the ${backend} backend` });
}

test("single-shot recv through a ring pool also arrives byte-exact", () => {
  const stats = streamThroughPool({ bufferSize: 1024, count: 8 }, { multishot: false }, 100_000, 4, 12);
  assert.ok(stats.leasesMade >= 100);
});

test("incremental ring: small reads share one big buffer", () => {
  const stats = streamThroughPool({ bufferSize: 64 * 1024, count: 4, incremental: true }, {}, 400_000, 3, 13);
  assert.equal(stats.incremental, true);
  assert.ok(stats.leasesMade > 30, `many pieces from ~7 buffer fills (${stats.leasesMade} leases)`);
}, { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)" });

test("incremental requested on a kernel without it falls back cleanly (or is used where present)", () => {
  using reactor = new Reactor({ entries: 8 });
  const pool = new BufferPool(reactor, { count: 2, incremental: true });
  assert.equal(pool.stats().incremental, features.incremental);
  pool.close();
});

test("bundles: one completion spanning several buffers becomes one lease per buffer, in order", () => {
  const stats = streamThroughPool({ bufferSize: 256, count: 64 }, { bundle: true }, 200_000, 40, 14);
  assert.ok(stats.leasesMade >= 200_000 / 256);
  assert.ok(stats.bundleCompletions > 0, "some completions spanned several buffers");
}, { skip: !features.bundles && "kernel lacks IORING_RECVSEND_BUNDLE (6.10+)" });

test("pool of 4 buffers, 32 sockets sending at once: every byte arrives, stalls counted, nothing leaks", () => {
  for (const backend of ["ring", "legacy"] as const) {
    using reactor = new Reactor({ entries: 512 });
    const pool = new BufferPool(reactor, { backend, bufferSize: 256, count: 4 });
    const n = 32, size = 20_000;
    const pairs = Array.from({ length: n }, () => tcpPair(reactor.ring));
    const got = pairs.map(() => [] as number[]);
    const done = new Array(n).fill(false);
    const pending: Lease[] = [];
    const receivers = pairs.map(([, server], i) =>
      new StreamReceiver(pool, server, {
        data(lease) {
          for (const b of lease.bytes) got[i].push(b);
          pending.push(lease); // released on the next turn, so the pool stays empty for a while
        },
        end(error) {
          assert.equal(error, undefined);
          done[i] = true;
        },
      }).start()
    );
    const writers = pairs.map(([client], i) => {
      const w = new RingWriter(reactor, client);
      w.write(patternBytes(100 + i, size));
      return w;
    });
    const closed = new Array(n).fill(false);
    const ok = reactor.runUntil(() => {
      for (const l of pending.splice(0)) l.release();
      writers.forEach((w, i) => {
        if (w.idle && !closed[i]) {
          closed[i] = true;
          closeFd(pairs[i][0]);
        }
      });
      return done.every(Boolean);
    }, 20_000);
    assert.ok(ok, `${backend}: all streams ended (${done.filter(Boolean).length}/${n})`);
    for (let i = 0; i < n; i++) {
      assert.ok(
        Buffer.from(got[i]).equals(Buffer.from(patternBytes(100 + i, size))),
        `${backend}: socket ${i} byte-exact`,
      );
    }
    const stats = pool.stats();
    assert.ok(stats.enobufs > 0, `${backend}: ENOBUFS stalls were counted`);
    assert.ok(stats.rearms > 0, `${backend}: parked receives were re-armed`);
    assert.equal(stats.waiting, 0);
    assert.equal(stats.buffersFree, 4, `${backend}: all buffers back`);
    assert.equal(stats.leasesActive, 0);
    assert.ok(receivers.every((r) => !r.active));
    writers.forEach((w) => w.close());
    pool.close();
    pairs.forEach(([, s]) => closeFd(s));
  }
});

test("incremental pool run dry: receives are capped at 32 KiB so one backlog cannot take a whole buffer", () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { bufferSize: 64 * 1024, count: 2, incremental: true });
  const [client, server] = tcpPair(reactor.ring);
  const total = 1 << 20;
  const writer = new RingWriter(reactor, client);
  writer.write(patternBytes(7, total));
  const held: Lease[] = [];
  const sizes: number[] = [];
  const received = new Uint8Array(total);
  let got = 0;
  const receiver = new StreamReceiver(pool, server, {
    data(lease) {
      received.set(lease.bytes, got);
      got += lease.length;
      sizes.push(lease.length);
      held.push(lease);
    },
    end() {},
  }).start();
  // Hold every lease until the pool runs dry: the first receives take whole buffers' worth.
  assert.ok(reactor.runUntil(() => pool.stats().enobufs > 0, 5_000), "the pool ran dry");
  const before = sizes.length;
  assert.ok(sizes.some((n) => n > 32 * 1024), `uncapped receives take big bursts (${sizes.join(",")})`);
  assert.equal(pool.receiveCap, 32 * 1024);
  // Buffers come back while it is dry: what is received next comes in pieces of at most 32 KiB.
  assert.ok(reactor.runUntil(() => {
    for (const l of held.splice(0)) l.release();
    return sizes.length >= before + 8;
  }, 5_000));
  const capped = sizes.slice(before, before + 8);
  assert.ok(capped.every((n) => n <= 32 * 1024), `capped receives (${capped.join(",")})`);
  // Once nothing runs dry for a few turns, receives take bursts again.
  assert.ok(
    reactor.runUntil(() => {
      for (const l of held.splice(0)) l.release();
      return got === total;
    }, 10_000),
    `all ${total} bytes arrived (${got})`,
  );
  for (const l of held.splice(0)) l.release();
  assert.ok(Buffer.from(received).equals(Buffer.from(patternBytes(7, total))), "byte-exact");
  assert.equal(pool.receiveCap, 0);
  receiver.stop();
  writer.close();
  closeFd(client);
  closeFd(server);
  reactor.runOnce(0);
  pool.close();
}, { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)" });

test(
  "receives held behind idle ones: runUntil serves the one with data at once; holds alone do not grow the pool",
  () => {
    // Found in review: under the blocking runUntil each hand-off waited out a 50 ms kernel wait (454 ms
    // for 10 idle receives ahead), and every hold counted as a stall that grew a pool with maxCount.
    using reactor = new Reactor({ entries: 256 });
    const pool = new BufferPool(reactor, { bufferSize: 16384, count: 2, maxCount: 64, incremental: true });
    const fds: number[] = [];
    const pair = () => {
      const p = tcpPair(reactor.ring);
      fds.push(...p);
      return p;
    };
    // One whole buffer leased: the pool is scarce, so receives are capped and rationed.
    const [c0, s0] = pair();
    let kept: Lease | undefined;
    const first = new StreamReceiver(pool, s0, {
      data(lease) {
        if (kept) lease.release();
        else kept = lease;
        first.pause();
      },
      end() {},
    }).start();
    new RingWriter(reactor, c0).write(new Uint8Array(16384));
    assert.ok(reactor.runUntil(() => kept !== undefined, 2000));
    assert.ok(pool.scarce && pool.receiveCap > 0, "rationing is on");
    const idle = Array.from({ length: 10 }, () => {
      const [, s] = pair();
      return new StreamReceiver(pool, s, { data: (l) => l.release(), end() {} }).start();
    });
    const [c1, s1] = pair();
    let got = 0;
    new StreamReceiver(pool, s1, {
      data(lease) {
        got += lease.length;
        lease.release();
      },
      end() {},
    }).start();
    new RingWriter(reactor, c1).write(new Uint8Array(100));
    const t0 = performance.now();
    assert.ok(reactor.runUntil(() => got === 100, 5000), "the receive with data was served");
    const ms = performance.now() - t0;
    assert.ok(ms < 150, `served after ${ms.toFixed(1)} ms behind 10 idle receives`);
    const stats = pool.stats();
    assert.ok(stats.holds > 0, "receives were held");
    assert.equal(stats.growthEvents, 0, `holds with bytes in the ring are no stall: ${JSON.stringify(stats)}`);
    for (const r of [first, ...idle]) r.stop();
    kept!.release();
    reactor.runOnce(0);
    for (const fd of fds) closeFd(fd);
    pool.close();
  },
  { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)" },
);

test("reservations of rationed receives lapse two polls after they were made; a late done() leaves newer ones", () => {
  const clock = { polls: 10 };
  const r = new ReceiveReservations(clock as unknown as Reactor);
  const a = r.add();
  const b = r.add();
  assert.equal(r.count(), 2);
  clock.polls++; // the submit after them, and the poll that reaps what they found
  assert.equal(r.count(), 2, "still counted until that poll is over");
  r.done(a);
  assert.equal(r.count(), 1);
  clock.polls++; // a and b are two polls old: b (never done: an idle socket) stops counting
  assert.equal(r.count(), 0);
  const c = r.add(); // same parity as b's stamp
  assert.equal(r.count(), 1);
  r.done(b); // late: must not take c's reservation
  assert.equal(r.count(), 1, "a lapsed receive's done() leaves c's reservation");
  clock.polls += 5;
  assert.equal(r.count(), 0);
  r.done(c);
  assert.equal(r.count(), 0, "never below zero");
});

test("wait queue: FIFO, a cancelled waiter is skipped, a waiter queued twice waits once", () => {
  const q = new WaitQueue<string>();
  assert.equal(q.push("a"), true);
  assert.equal(q.push("b"), true);
  assert.equal(q.push("a"), false);
  q.push("c");
  q.cancel("b");
  assert.equal(q.size, 2);
  assert.equal(q.shift(), "a");
  assert.equal(q.shift(), "c");
  assert.equal(q.shift(), undefined);
  q.push("b");
  assert.equal(q.shift(), "b", "a cancelled waiter can wait again");
});

test("wait queue: once no receive waits, the cancelled ones are not kept reachable", async () => {
  // Found in review: receives of closed connections stayed in the queue's entries until another
  // receive waited and was served.
  const q = new WaitQueue<object>();
  const refs: WeakRef<object>[] = [];
  (() => {
    for (let i = 0; i < 3; i++) {
      const receiver = { closed: i };
      refs.push(new WeakRef(receiver));
      q.push(receiver);
    }
  })();
  for (const r of refs) q.cancel(r.deref()!);
  await new Promise((r) => setTimeout(r, 0)); // WeakRef targets live to the end of the job that read them
  assert.ok(collectGarbage(), "needs --expose-gc on Deno");
  assert.deepEqual(refs.map((r) => r.deref()), [undefined, undefined, undefined]);
});

test("growth: a pool may add buffers on ENOBUFS up to maxCount, in steps of count", () => {
  const stats = streamThroughPool({ bufferSize: 256, count: 4, maxCount: 16 }, {}, 100_000, 10, 15);
  assert.ok(stats.growthEvents > 0);
  assert.ok(stats.buffersTotal > 4 && stats.buffersTotal <= 16);
  // Before: a step was as many buffers as the first mapping's page-rounded length held (4 -> 16 at once).
  assert.equal(
    stats.buffersTotal,
    4 + 4 * stats.growthEvents,
    `${stats.growthEvents} growths to ${stats.buffersTotal}`,
  );
});

/** Receives one message into a lease and returns it with its pool (caller closes). */
function oneLease(options: ConstructorParameters<typeof BufferPool>[1] = {}) {
  const reactor = new Reactor({ entries: 16 });
  const [client, server] = tcpPair(reactor.ring);
  const pool = new BufferPool(reactor, { bufferSize: 128, count: 2, ...options });
  const leases: Lease[] = [];
  const receiver = new StreamReceiver(pool, server, { data: (l) => leases.push(l), end() {} }).start();
  const writer = new RingWriter(reactor, client);
  writer.write(new TextEncoder().encode("hello"));
  assert.ok(reactor.runUntil(() => leases.length > 0, 2000));
  const cleanup = () => {
    receiver.stop();
    reactor.runOnce(10);
    writer.close();
    pool.close();
    closeFd(client);
    closeFd(server);
    reactor.close();
  };
  return { reactor, pool, lease: leases[0], cleanup };
}

test("use after release throws; double release throws; a lease goes back to its own pool only", () => {
  const a = oneLease();
  const b = oneLease();
  try {
    const bytes = a.lease.bytes;
    assert.equal(new TextDecoder().decode(bytes), "hello");
    // No public method takes a lease back but lease.release(), which returns it to the pool that made it.
    assert.equal("releaseLease" in b.pool, false);
    a.lease.release();
    assert.equal(a.lease.released, true);
    assert.throws(() => a.lease.bytes, /released/);
    // Before: the address still read, for a prepSend of a buffer the kernel may be filling again.
    assert.throws(() => a.lease.address, { name: "TypeError", message: /released/ });
    assert.equal(bytes.length, 0, "the old view is detached: it can no longer read the buffer");
    assert.throws(() => a.lease.release(), /already released/);
    assert.equal(a.pool.stats().buffersFree, 2);
    assert.equal(b.pool.stats().buffersLeased, 1, "the other pool is untouched");
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test(
  "incremental + detachOnRelease: pieces' views read their own bytes until their buffer goes back, then nothing",
  () => {
    using reactor = new Reactor({ entries: 32 });
    const pool = new BufferPool(reactor, { bufferSize: 4096, count: 4, incremental: true });
    const [client, server] = tcpPair(reactor.ring);
    const leases: Lease[] = [];
    const receiver = new StreamReceiver(pool, server, { data: (l) => leases.push(l), end() {} }).start();
    const writer = new RingWriter(reactor, client);
    // 3 KiB then 1 KiB fill the first buffer in two pieces; 1 KiB more starts the second.
    for (const n of [3072, 1024, 1024]) {
      writer.write(patternBytes(n, n));
      const before = leases.length;
      assert.ok(reactor.runUntil(() => leases.length > before, 2000));
    }
    assert.equal(leases[0].bufferId, leases[1].bufferId, "the first two pieces share a buffer");
    assert.notEqual(leases[2].bufferId, leases[0].bufferId);
    const views = leases.map((l) => l.bytes);
    leases[0].release();
    assert.throws(() => leases[0].bytes, /released/);
    assert.deepEqual(views[0], patternBytes(3072, 3072), "its buffer is still out: the view reads its own bytes");
    leases[1].release(); // the first buffer is whole again and goes back to the kernel
    assert.equal(views[0].length, 0, "detached once the buffer went back");
    assert.equal(views[1].length, 0);
    leases[2].release(); // the kernel still holds the rest of the second buffer
    assert.deepEqual(views[2], patternBytes(1024, 1024));
    receiver.stop();
    reactor.runOnce(10);
    writer.close();
    closeFd(client);
    closeFd(server);
    pool.close();
    assert.equal(views[2].length, 0, "and every view is detached before the pool unmaps its memory");
  },
  { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)" },
);

test("using: a lease is released at the end of its block", () => {
  const a = oneLease();
  try {
    {
      using lease = a.lease;
      assert.equal(lease.length, 5);
      assert.equal(a.pool.stats().buffersLeased, 1);
    }
    assert.equal(a.lease.released, true);
    assert.equal(a.pool.stats().buffersLeased, 0);
  } finally {
    a.cleanup();
  }
});

test("detachOnRelease: false keeps views alive (documented fast mode)", () => {
  const a = oneLease({ detachOnRelease: false });
  try {
    const bytes = a.lease.bytes;
    a.lease.release();
    assert.equal(bytes.length, 5, "view still attached in fast mode");
    assert.throws(() => a.lease.bytes, /released/);
  } finally {
    a.cleanup();
  }
});

test("a lease's view is made on its first read; after close() it reads as empty, never the unmapped memory", () => {
  const a = oneLease();
  const b = oneLease();
  try {
    // Read before close: the view is detached by close().
    const early = a.lease.bytes;
    assert.equal(new TextDecoder().decode(early), "hello");
    assert.equal(a.lease.bytes, early, "one view per lease");
    a.pool.close();
    assert.equal(early.length, 0);
    // Never read before close: its first read gives an empty view instead of one over unmapped memory.
    b.pool.close();
    assert.equal(b.lease.released, false);
    assert.equal(b.lease.bytes.length, 0);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test("the leak net reclaims a dropped lease and warns once", async () => {
  const reactor = new Reactor({ entries: 16 });
  const [client, server] = tcpPair(reactor.ring);
  const pool = new BufferPool(reactor, { bufferSize: 128, count: 2, leakTracking: "debug" });
  let count = 0;
  const receiver = new StreamReceiver(pool, server, { data: (l) => void (count += l.bytes[0]), end() {} }).start();
  const writer = new RingWriter(reactor, client);
  writer.write(new Uint8Array([1, 2, 3]));
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (msg: string) => warnings.push(msg);
  try {
    assert.ok(reactor.runUntil(() => count === 1, 2000));
    assert.equal(pool.stats().buffersLeased, 1);
    for (let i = 0; i < 50 && pool.stats().leaksReclaimed === 0; i++) {
      assert.ok(collectGarbage(), "tests run with a GC the harness can force");
      await new Promise((r) => setTimeout(r, 10));
    }
    const stats = pool.stats();
    assert.equal(stats.leaksReclaimed, 1);
    assert.equal(stats.buffersLeased, 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /garbage-collected without release/);
    // Debug mode names the program's frames: where it read the bytes, and its call that ran the turn
    // the lease was made in (only the library's frames were shown when the bytes had been read).
    assert.match(warnings[0], /last read its bytes at:\n.*pool_test\.ts/);
    assert.match(warnings[0], /handed over in a turn run from:\n.*pool_test\.ts/);
  } finally {
    console.warn = warn;
    receiver.stop();
    reactor.runOnce(10);
    writer.close();
    pool.close();
    closeFd(client);
    closeFd(server);
    reactor.close();
  }
});

/** Whether `address` lies in a mapping (/proc/self/maps). */
function mappedAt(address: number): boolean {
  return readFileSync("/proc/self/maps", "utf8").split("\n").some((line) => {
    const [start, end] = line.split(" ")[0].split("-").map((h) => parseInt(h, 16));
    return start <= address && address < end;
  });
}

test("a lease out at close() and then dropped lets the pool's memory go: by the net, or with the pool", async () => {
  const reactor = new Reactor({ entries: 16 });
  const [client, server] = tcpPair(reactor.ring);
  const writer = new RingWriter(reactor, client);
  const size = 64 << 20;
  const warn = console.warn;
  const warnings: unknown[] = [];
  console.warn = (message: unknown) => void warnings.push(message);
  /** A closed pool of `size` bytes whose one lease, out at close, is dropped now; and where it was. */
  const closedWithLeaseOut = (): { pool: BufferPool; address: number } => {
    const pool = new BufferPool(reactor, { bufferSize: size / 4, count: 4 });
    let address = 0;
    const receiver = new StreamReceiver(pool, server, { data: (lease) => void (address = lease.address), end() {} })
      .start();
    writer.write(new Uint8Array([1]));
    assert.ok(reactor.runUntil(() => address !== 0, 2000));
    receiver.stop();
    reactor.runUntil(() => receiver.finished, 2000);
    pool.close();
    assert.equal(pool.stats().leasesActive, 1);
    assert.ok(mappedAt(address), "mapped while the lease is out");
    return { pool, address };
  };
  const settle = async (done: () => boolean) => {
    for (let i = 0; i < 50 && !done(); i++) {
      assert.ok(collectGarbage(), "tests run with a GC the harness can force");
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    // Before: the net did not take back a lease of a closed pool, and its memory stayed mapped for good.
    const kept = closedWithLeaseOut();
    await settle(() => kept.pool.stats().leasesActive === 0);
    // Its lease read as empty already: taken back without a leak warning (before a later fix: warned and counted).
    assert.equal(kept.pool.stats().leaksReclaimed, 0);
    assert.deepEqual(warnings, []);
    assert.equal(mappedAt(kept.address), false, "the net's reclaim unmapped the closed pool");
    // The pool dropped too: its net goes with it, so the memory goes with the pool.
    const addresses: number[] = [];
    for (let i = 0; i < 4; i++) addresses.push(closedWithLeaseOut().address);
    await settle(() => addresses.every((a) => !mappedAt(a)));
    assert.deepEqual(addresses.filter((a) => mappedAt(a)), [], "collected pools unmapped");
  } finally {
    console.warn = warn;
    writer.close();
    closeFd(client);
    closeFd(server);
    reactor.close();
  }
});

test("bad input: sizes, counts, group ids, closed pool", () => {
  using reactor = new Reactor({ entries: 8 });
  for (const bufferSize of [0, -1, 1.5, 2 ** 31]) {
    assert.throws(() => new BufferPool(reactor, { bufferSize }), RangeError, `bufferSize ${bufferSize}`);
  }
  for (const count of [0, 65537, 2.5]) assert.throws(() => new BufferPool(reactor, { count }), RangeError);
  assert.throws(() => new BufferPool(reactor, { count: 8, maxCount: 4 }), RangeError);
  assert.throws(
    () => new BufferPool(reactor, { backend: "ring", count: 40000 }),
    RangeError,
    "ring holds at most 32768",
  );
  assert.throws(() => new BufferPool(reactor, { backend: "bogus" as "ring" }), TypeError);
  assert.throws(() => new BufferPool(reactor, { leakTracking: "loud" as "warn" }), TypeError);
  assert.throws(() => new BufferPool(reactor, { backend: "legacy", incremental: true }), TypeError);
  const p = new BufferPool(reactor, { count: 2, groupId: 9 });
  assert.throws(
    () => new BufferPool(reactor, { count: 2, groupId: 9 }),
    (e: unknown) => e instanceof UringError && e.code === "EEXIST" && /buffer group 9 is in use/.test(e.message),
  );
  assert.throws(
    () => new BufferPool(reactor, { count: 2, groupId: 9, backend: "legacy" }),
    // The op named a class ("ProvidedBufferGroup"), where every other UringError names the operation.
    (e: unknown) => e instanceof UringError && e.code === "EEXIST" && e.op === "IORING_OP_PROVIDE_BUFFERS",
  );
  assert.throws(() => new BufferPool(reactor, { backend: "ring-mmap", count: 2, groupId: 4000 }), RangeError);
  p.close();
  p.close();
  assert.throws(() => p.take(5, abi.IORING_CQE_F_BUFFER), /closed/);
  assert.throws(() => new StreamReceiver(p, 3, { data() {}, end() {} }), /closed/);
  const q = new BufferPool(reactor, { count: 2 });
  assert.throws(() => q.take(5, 0), /no buffer/);
  assert.throws(() => q.take(5, (7 << 16) | abi.IORING_CQE_F_BUFFER), RangeError);
  assert.throws(() => new StreamReceiver(q, -1, { data() {}, end() {} }), RangeError);
  assert.throws(() => new StreamReceiver(undefined as never, 3, { data() {}, end() {} }), /pool must be a BufferPool/);
  assert.throws(() => new BufferPool(undefined as never), /reactor must be a Reactor, got undefined/);
  assert.throws(() => new NativeMemory("10" as never), /got string "10"/);
  assert.throws(() => new StreamReceiver(q, 3, { data() {}, end() {} }, { op: "write" as "read" }), TypeError);
  q.close();
});

test("a receive on a bad fd ends with an error event; the pool keeps working", () => {
  using reactor = new Reactor({ entries: 16 });
  const pool = new BufferPool(reactor, { count: 4 });
  let error: UringError | undefined;
  new StreamReceiver(pool, 1_000_000, { data() {}, end: (e) => (error = e) }).start();
  assert.ok(reactor.runUntil(() => error !== undefined, 2000));
  assert.equal(error!.code, "EBADF");
  assert.equal(pool.stats().buffersFree, 4);
  pool.close();
});

test("small receive buffers on the socket still deliver everything (kernel-side backpressure)", () => {
  using reactor = new Reactor({ entries: 64 });
  const [client, server] = tcpPair(reactor.ring);
  setReceiveBuffer(server, 4096);
  const pool = new BufferPool(reactor, { bufferSize: 2048, count: 2 });
  let total = 0, ended = false;
  const held: Lease[] = [];
  new StreamReceiver(pool, server, {
    data: (l) => {
      total += l.length;
      held.push(l);
    },
    end: () => (ended = true),
  }).start();
  const w = new RingWriter(reactor, client);
  w.write(patternBytes(3, 40_000));
  reactor.runUntil(() => {
    for (const l of held.splice(0)) l.release();
    if (w.idle) closeFd(client);
    return w.idle;
  }, 10_000);
  assert.ok(reactor.runUntil(() => {
    for (const l of held.splice(0)) l.release();
    return ended;
  }, 10_000));
  assert.equal(total, 40_000);
  w.close();
  pool.close();
  closeFd(server);
});

/** Runs `fn` with a temporary file holding `content` (removed after). */
async function withFile(content: Uint8Array, fn: (path: string) => void | Promise<void>): Promise<void> {
  const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "uring-read-"));
  const path = join(dir, "f.bin");
  writeFileSync(path, content);
  try {
    await fn(path);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

test("read with buffer select: a file arrives whole, in order, through a legacy and a ring pool", async () => {
  const { openFile } = await import("../sys.ts");
  const content = patternBytes(21, 123_457);
  await withFile(content, (path) => {
    for (const backend of ["ring", "legacy"] as const) {
      using reactor = new Reactor({ entries: 16 });
      const pool = new BufferPool(reactor, { backend, bufferSize: 4096, count: 4 });
      const fd = openFile(path);
      const parts: Uint8Array[] = [];
      let ended = false;
      new StreamReceiver(pool, fd, {
        data(lease) {
          parts.push(lease.bytes.slice());
          lease.release();
        },
        end(error) {
          assert.equal(error, undefined);
          ended = true;
        },
      }, { op: "read", offset: 0 }).start();
      assert.ok(reactor.runUntil(() => ended, 5000));
      assert.ok(Buffer.concat(parts).equals(Buffer.from(content)), `${backend}: file content`);
      assert.equal(parts.length, Math.ceil(content.length / 4096));
      // The 0-byte read at EOF hands a buffer back: it is re-provided without counting as a lease.
      assert.equal(pool.stats().leasesMade, parts.length);
      assert.equal(pool.stats().buffersFree, 4);
      // Every lease released at once: no read waited for buffers. Before: a re-arm counted per read.
      assert.equal(pool.stats().enobufs, 0);
      assert.equal(pool.stats().rearms, 0, `${backend}: rearms`);
      pool.close();
      closeFd(fd);
    }
  });
});

test("openFile takes abi's O_* flags to create and write a file; flags that are not flags are a TypeError, a mode out of range a RangeError", async () => {
  const { openFile } = await import("../sys.ts");
  await withFile(new Uint8Array(0), (path) => {
    const created = `${path}.new`;
    // Before: abi had only O_RDONLY and O_CLOEXEC, so O_WRONLY | O_CREAT was 0 and opened read-only (ENOENT).
    const fd = openFile(created, abi.O_WRONLY | abi.O_CREAT | abi.O_TRUNC, 0o600);
    using reactor = new Reactor({ entries: 4 });
    const data = new NativeMemory(5);
    data.bytes.set(new TextEncoder().encode("hello"));
    let written = -1;
    prepWrite(
      reactor.ring.sqes,
      reactor.prepare(reactor.register({ complete: (res) => void (written = res) })),
      fd,
      data.address,
      5,
      0,
    );
    assert.ok(reactor.runUntil(() => written !== -1, 2000));
    assert.equal(written, 5);
    closeFd(fd);
    data.free();
    assert.equal(readFileSync(created, "utf8"), "hello");
    assert.throws(() => openFile(path, "w" as unknown as number), { name: "TypeError", message: /O_\* flags/ });
    assert.throws(() => openFile(path, abi.O_RDONLY, 0o10000), { name: "RangeError", message: /mode/ });
  });
});

test("a receiver whose data handler throws goes on: the next completion still comes (single-shot read too)", async () => {
  const { openFile } = await import("../sys.ts");
  const content = patternBytes(22, 50_000);
  await withFile(content, (path) => {
    using reactor = new Reactor({ entries: 16 });
    const pool = new BufferPool(reactor, { bufferSize: 4096, count: 4 });
    const fd = openFile(path);
    let got = 0;
    let ended = false;
    let thrown = 0;
    new StreamReceiver(pool, fd, {
      data(lease) {
        using l = lease;
        got += l.length;
        if (got === 3 * 4096) throw new Error("a bug in the handler");
      },
      end: () => void (ended = true),
    }, { op: "read", offset: 0 }).start();
    // The reactor hands a handler's exception to whoever turns it (a Driver's onError).
    const t0 = performance.now();
    while (!ended && performance.now() - t0 < 5000) {
      try {
        reactor.runOnce(10);
      } catch (e) {
        assert.match(String(e), /a bug in the handler/);
        thrown++;
      }
    }
    // Before: the read was never armed again; no more data, no end().
    assert.equal(thrown, 1);
    assert.ok(ended, `ended after ${got} of ${content.length} bytes`);
    assert.equal(got, content.length);
    pool.close();
    closeFd(fd);
  });
});

test("ring window by default: the buffers that hold 256 KiB (at least 2, at most all)", () => {
  using reactor = new Reactor({ entries: 8 });
  for (
    const [options, window] of [
      [{ bufferSize: 64 * 1024, count: 128 }, 4],
      [{ bufferSize: 4096, count: 1024 }, 64],
      [{ bufferSize: 4000, count: 1024 }, 66],
      [{ bufferSize: 256, count: 512 }, 512],
      [{ bufferSize: 1 << 20, count: 8 }, 2],
      [{ bufferSize: 1 << 20, count: 1 }, 1],
    ] as const
  ) {
    const pool = new BufferPool(reactor, options);
    assert.equal(pool.stats().ringWindow, window, JSON.stringify(options));
    pool.close();
  }
}, { skip: !features.bufferRing && "kernel lacks buffer rings" });

test("ring window: a short pool lets every free buffer in; growth widens it for at least a second", () => {
  using reactor = new Reactor({ entries: 8 });
  // Incremental 64 KiB buffers, half of them leased (completions made up: bookkeeping only): the pool
  // is scarce, so receives are capped at 32 KiB and rationed by what the ring can serve.
  const pool = new BufferPool(reactor, { bufferSize: 64 * 1024, count: 128, incremental: true });
  assert.equal(pool.stats().ringWindow, 4);
  const leases = Array.from({ length: 64 }, (_, bid) => pool.take(64 * 1024, (bid << 16) | abi.IORING_CQE_F_BUFFER));
  assert.equal(pool.receiveCap, 32 * 1024);
  let armed = 0;
  const receiver = { rearm: () => void (pool.armCapped(), armed++) };
  for (let holds = 0; holds < 1000; holds++) {
    while (pool.admitsReceive()) receiver.rearm();
    const before = armed;
    pool.holdReceive(receiver);
    if (armed === before) break;
  }
  // 64 free buffers serve 128 receives of 32 KiB: the window (4 buffers, 8 receives) does not ration them.
  assert.equal(armed, 128);
  assert.ok(pool.stats().ringWindow >= 64, `window ${pool.stats().ringWindow}`);
  for (const l of leases) l.release();
  pool.close();

  while (performance.now() < 1100); // a process older than a period, where a stale clock would shrink at once
  const growing = new BufferPool(reactor, { bufferSize: 64 * 1024, count: 4, maxCount: 64 });
  assert.equal(growing.stats().ringWindow, 4);
  const all = Array.from({ length: 4 }, (_, bid) => growing.take(100, (bid << 16) | abi.IORING_CQE_F_BUFFER));
  let rearms = 0;
  growing.waitForBuffers({ rearm: () => void rearms++ }); // -ENOBUFS with nothing left: the pool grows
  assert.equal(growing.stats().buffersTotal, 8);
  assert.equal(rearms, 1);
  for (const l of all) l.release();
  growing.flush();
  assert.equal(growing.stats().ringWindow, 8, "the grown buffers stay in the ring");
  growing.close();
}, { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)" });

/** The process's resident set, in bytes (VmRSS). */
function residentBytes(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

test("ring window: the spares a burst touched give their pages back once they sit unused", async () => {
  using reactor = new Reactor({ entries: 64 });
  const [client, server] = tcpPair(reactor.ring);
  const SIZE = 64 * 1024;
  const pool = new BufferPool(reactor, { bufferSize: SIZE, count: 256, ringWindow: 4 });
  const received: Uint8Array[] = [];
  const held: Lease[] = [];
  let got = 0;
  new StreamReceiver(pool, server, {
    data(lease) {
      got += lease.length;
      held.push(lease);
    },
    end() {},
  }).start();
  const writer = new RingWriter(reactor, client);
  const pump = async (until: () => boolean) => {
    const t0 = performance.now();
    while (!until() && performance.now() - t0 < 10_000) {
      reactor.runOnce(0);
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.ok(until(), "timed out");
  };
  // A burst held whole: the window widens and the kernel writes into 192 of the 256 buffers.
  const burst = patternBytes(3, 192 * SIZE);
  writer.write(burst);
  await pump(() => got === burst.length);
  const burstRss = residentBytes();
  for (const l of held.splice(0)) l.release();
  reactor.runOnce(0);
  assert.equal(pool.stats().bytesTrimmed, 0, "nothing given back while the burst's buffers were in use");
  // Quiet traffic, released at once: the spares below the stack's top sit unused and are given back.
  const quiet = patternBytes(5, 1000);
  const t0 = performance.now();
  while (pool.stats().bytesTrimmed < 128 * SIZE && performance.now() - t0 < 10_000) {
    const before = got;
    writer.write(quiet);
    await pump(() => got === before + quiet.length);
    for (const l of held.splice(0)) {
      received.push(l.bytes.slice());
      l.release();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const trimmed = pool.stats().bytesTrimmed;
  assert.ok(trimmed >= 128 * SIZE, `${trimmed} bytes given back after ${(performance.now() - t0).toFixed(0)} ms`);
  const drop = burstRss - residentBytes();
  assert.ok(drop >= 64 * SIZE, `resident set ${(drop / 2 ** 20).toFixed(1)} MiB smaller after the trim`);
  // Buffers given back work as before: the next burst arrives whole and intact.
  const again = patternBytes(9, 200 * SIZE);
  got = 0;
  writer.write(again);
  await pump(() => got === again.length);
  let offset = 0;
  for (const l of held.splice(0)) {
    assert.deepEqual(l.bytes, again.subarray(offset, offset + l.length));
    offset += l.length;
    l.release();
  }
  const quietBytes = concat(received);
  for (let at = 0; at < quietBytes.length; at += quiet.length) {
    assert.deepEqual(quietBytes.subarray(at, at + quiet.length), quiet);
  }
  writer.close();
  pool.close();
  closeFd(client);
  closeFd(server);
}, { timeoutMs: 30_000 });

test("ring window: a quiet stream rotates through few buffers; ENOBUFS widens the window, quiet shrinks it", () => {
  using reactor = new Reactor({ entries: 64 });
  const [client, server] = tcpPair(reactor.ring);
  const pool = new BufferPool(reactor, { bufferSize: 256, count: 1024, ringWindow: 8 });
  assert.equal(pool.stats().ringWindow, 8);
  const seen = new Set<number>();
  let got = 0;
  const held: Lease[] = [];
  new StreamReceiver(pool, server, {
    data(lease) {
      seen.add(lease.bufferId);
      got += lease.length;
      held.push(lease);
    },
    end() {},
  }).start();
  const writer = new RingWriter(reactor, client);
  // One small message at a time, released at once: only the window's buffers are ever used.
  for (let i = 0; i < 200; i++) {
    writer.write(patternBytes(i + 1, 100));
    assert.ok(reactor.runUntil(() => got === (i + 1) * 100, 2000));
    for (const l of held.splice(0)) l.release();
  }
  assert.ok(seen.size <= 9, `${seen.size} distinct buffers for 200 sequential messages`);
  // Hold everything: the 8-buffer window runs dry and doubles while spares remain.
  writer.write(patternBytes(7, 256 * 40));
  assert.ok(reactor.runUntil(() => got === 200 * 100 + 256 * 40, 5000));
  const stats = pool.stats();
  assert.ok(stats.enobufs > 0 && stats.ringWindow >= 32, `window ${stats.ringWindow} after ${stats.enobufs} stalls`);
  for (const l of held.splice(0)) l.release();
  reactor.runOnce(0);
  assert.equal(pool.stats().buffersFree, 1024);
  // The burst is over: a second of quiet traffic at a time halves the window, back to where it began,
  // and the stream rotates through few buffers again.
  const t0 = performance.now();
  let sent = 0;
  const quietMessage = () => {
    const before = got;
    writer.write(patternBytes(++sent, 100));
    assert.ok(reactor.runUntil(() => got === before + 100, 2000));
    for (const l of held.splice(0)) l.release();
  };
  while (pool.stats().ringWindow > 8 && performance.now() - t0 < 10_000) {
    quietMessage();
    reactor.runUntil(() => false, 20); // quiet: turns without traffic
  }
  assert.equal(pool.stats().ringWindow, 8, `window after ${(performance.now() - t0).toFixed(0)} ms of quiet`);
  // Buffers above the new window leave the ring as the kernel takes them, then wait with the spares.
  for (let i = 0; i < 100; i++) quietMessage();
  seen.clear();
  for (let i = 0; i < 200; i++) quietMessage();
  assert.ok(seen.size <= 9, `${seen.size} distinct buffers for 200 sequential messages after the shrink`);
  assert.throws(() => new BufferPool(reactor, { ringWindow: 0 }), RangeError);
  writer.close();
  pool.close();
  closeFd(client);
  closeFd(server);
});

test("file reads share a short pool in turn: a reader waiting for buffers is not passed by those re-armed after it", async () => {
  const { openFile, closeFd } = await import("../sys.ts");
  const content = new Uint8Array(64 * 1024).map((_, i) => i & 255);
  await withFile(content, (path) => {
    using reactor = new Reactor({ entries: 64 });
    const pool = new BufferPool(reactor, { bufferSize: 4096, count: 2 });
    const order: number[] = [];
    let ended = 0;
    const fds: number[] = [];
    for (let r = 0; r < 4; r++) {
      const fd = openFile(path);
      fds.push(fd);
      new StreamReceiver(pool, fd, {
        data(lease) {
          order.push(r);
          lease.release();
        },
        end: () => void ended++,
      }, { op: "read", offset: 0 }).start();
    }
    assert.ok(reactor.runUntil(() => ended === 4, 10_000), `${ended} of 4 readers ended`);
    assert.equal(order.length, 4 * 16);
    // Before: the readers that had buffers re-armed ahead of those waiting, so some read the whole
    // file before the others read anything.
    const firstOf = [0, 1, 2, 3].map((r) => order.indexOf(r));
    assert.ok(
      Math.max(...firstOf) < 16,
      `each reader's first lease came at ${firstOf.join(", ")} of ${order.length}: ${JSON.stringify(pool.stats())}`,
    );
    pool.close();
    for (const fd of fds) closeFd(fd);
  });
});
