/**
 * Pool safety: a leak reclaim re-arms the receive it starved, the stall watchdog, where a leaked lease
 * was last read (leakTracking "debug"), and per-holder lease accounting for fair shares, on real receives.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BufferPool,
  type BufferPoolOptions,
  connect,
  type Connection,
  IoLoop,
  type Lease,
  listen,
  probeFeatures,
  type Server,
} from "../mod.ts";
import { type LeaseHolder, Reactor, StreamReceiver } from "../ring.ts";
import { closeFd } from "../sys.ts";
import { collectGarbage, runtimeCommand, test } from "./harness.ts";
import { patternBytes, RingWriter, tcpPair } from "./helpers.ts";

const features = probeFeatures();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` with console.warn captured into an array. */
async function withWarnings<T>(fn: (warnings: string[]) => T | Promise<T>): Promise<T> {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.join(" "));
  try {
    return await fn(warnings);
  } finally {
    console.warn = warn;
  }
}

/**
 * Sends `count` messages to an echo server one at a time, each after the previous reply. A reply late
 * by 20 ms gets garbage collections forced while waiting (so leases the server dropped are reclaimed);
 * a reply missing after 2 s fails. Returns the bytes echoed.
 */
async function lockstepEcho(server: Server, count: number): Promise<Uint8Array> {
  const replies: Uint8Array[] = [];
  let got = 0;
  const client = await connect({
    port: server.port,
    handlers: {
      data(_conn, lease) {
        replies.push(lease.bytes.slice());
        got += lease.length;
        lease.release();
      },
    },
  });
  try {
    for (let i = 0; i < count; i++) {
      const want = got + 100;
      client.write(patternBytes(i + 1, 100));
      const started = performance.now();
      while (got < want) {
        const waited = performance.now() - started;
        if (waited > 2000) {
          assert.fail(`message ${i} unanswered after 2 s; server pool: ${JSON.stringify(server.stats().pool)}`);
        }
        if (waited > 20) assert.ok(collectGarbage(), "tests run with a GC the harness can force");
        await sleep(waited > 20 ? 5 : 1);
      }
    }
  } finally {
    client.close();
  }
  return new Uint8Array(Buffer.concat(replies));
}

function expectedEcho(count: number): Uint8Array {
  return new Uint8Array(Buffer.concat(Array.from({ length: count }, (_, i) => patternBytes(i + 1, 100))));
}

// --- Part 1: a reclaim re-arms like a release; the watchdog; where a leak was last read -----------

test(
  "a server that never releases: each reclaim by the leak net re-arms its starved receive (200 lockstep messages, pool of 8)",
  async () => {
    await withWarnings(async (warnings) => {
      const server = listen({
        pool: { count: 8, bufferSize: 4096 },
        handlers: {
          data(conn, lease) {
            conn.write(lease.bytes.slice()); // the lease is never released
          },
        },
      });
      try {
        const echoed = await lockstepEcho(server, 200);
        assert.deepEqual(echoed, expectedEcho(200), "every message answered, in order");
        const stats = server.stats().pool;
        assert.ok(stats.leaksReclaimed >= 200 - 8, `${stats.leaksReclaimed} leaks reclaimed`);
        assert.ok(
          stats.enobufs > 0 && stats.rearms > 0,
          `the receive starved and was re-armed: ${JSON.stringify(stats)}`,
        );
        assert.ok(warnings.some((w) => /garbage-collected without release/.test(w)), "the leak was reported");
        assert.ok(!warnings.some((w) => /are leases released/.test(w)), "no stall lasted long enough for the watchdog");
      } finally {
        await server.stop();
      }
    });
  },
  { timeoutMs: 30_000 },
);

/** A pool, a socket pair and a receiver that keeps every lease, for stalling the pool on purpose. */
function stallRig(options: BufferPoolOptions) {
  const reactor = new Reactor({ entries: 64 });
  const [client, server] = tcpPair(reactor.ring);
  const pool = new BufferPool(reactor, { count: 8, bufferSize: 4096, ...options });
  const held: Lease[] = [];
  const receiver = new StreamReceiver(pool, server, { data: (l) => void held.push(l), end() {} }).start();
  const writer = new RingWriter(reactor, client);
  let sent = 0;
  return {
    pool,
    held,
    /** One message, received into one more held lease. */
    receiveOne() {
      const n = held.length;
      writer.write(patternBytes(++sent, 100));
      assert.ok(reactor.runUntil(() => held.length === n + 1, 2000), "message received");
    },
    /** One more message than there are free buffers: the receive parks in the pool. */
    stall() {
      while (pool.stats().buffersFree > 0) this.receiveOne();
      writer.write(patternBytes(++sent, 100));
      assert.ok(reactor.runUntil(() => pool.stats().waiting === 1, 2000), "the receive waits for a buffer");
    },
    /** Releases one lease: the parked receive is re-armed and takes it for the waiting message. */
    unstall() {
      const n = held.length;
      held.shift()!.release();
      assert.ok(reactor.runUntil(() => held.length === n && pool.stats().waiting === 0, 2000), "re-armed");
    },
    close() {
      for (const l of held.splice(0)) l.release();
      receiver.stop();
      reactor.runOnce(10);
      writer.close();
      pool.close();
      closeFd(client);
      closeFd(server);
      reactor.close();
    },
  };
}

test("watchdog: receives waiting while every buffer is leased warn once per pool, with the pool's numbers", async () => {
  const rig = stallRig({ watchdogMs: 150 });
  try {
    await withWarnings(async (warnings) => {
      rig.stall();
      await sleep(50);
      assert.equal(warnings.length, 0, "nothing before watchdogMs");
      await sleep(300);
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0], /8\/8 buffers leased, 1 receive waiting: are leases released\?/);
      assert.match(warnings[0], /garbage collector/);
      rig.unstall();
      rig.stall();
      await sleep(400);
      assert.equal(warnings.length, 1, "once per pool");
    });
  } finally {
    rig.close();
  }
});

test("watchdog: a stall that began after a re-arm warns watchdogMs after it began, not a period later", async () => {
  const rig = stallRig({ watchdogMs: 400 });
  try {
    await withWarnings(async (warnings) => {
      rig.stall();
      await sleep(60);
      rig.unstall();
      rig.stall(); // the stall that lasts: from about 60 ms, so the warning is due at about 460 ms
      await sleep(300);
      assert.equal(warnings.length, 0, "not before watchdogMs");
      await sleep(350); // about 710 ms: before, the timer's run at 400 ms restarted the count, to warn at 800
      assert.equal(warnings.length, 1, "watchdogMs after the stall began");
    });
  } finally {
    rig.close();
  }
});

test("watchdog: only a stall that lasts watchdogMs warns; 0 turns it off; bad values are refused", async () => {
  const rig = stallRig({ watchdogMs: 200 });
  const off = stallRig({ watchdogMs: 0, groupId: 5 });
  try {
    await withWarnings(async (warnings) => {
      rig.stall();
      off.stall();
      await sleep(60);
      rig.unstall(); // a buffer came back...
      await sleep(40);
      rig.stall(); // ... and the next stall began about 100 ms after the first
      await sleep(180);
      assert.equal(warnings.length, 0, "two short stalls are not one long one");
      await sleep(420);
      assert.equal(warnings.length, 1, "the second stall outlasted watchdogMs");
      assert.ok(!warnings.some((w) => w.includes("pool group 5:")), "0 is off");
    });
  } finally {
    rig.close();
    off.close();
  }
  using reactor = new Reactor({ entries: 8 });
  for (const watchdogMs of [-1, Number.NaN, 2 ** 31, "5" as unknown as number]) {
    assert.throws(
      () => new BufferPool(reactor, { count: 1, watchdogMs }),
      (e: unknown) =>
        (typeof watchdogMs === "number" ? e instanceof RangeError : e instanceof TypeError) &&
        /watchdogMs/.test((e as Error).message),
    );
  }
});

test("watchdog: its timer does not keep the process alive", () => {
  const dir = mkdtempSync(join(tmpdir(), "uring-watchdog-"));
  try {
    const script = join(dir, "stalled.ts");
    const mod = decodeURIComponent(new URL("../mod.ts", import.meta.url).pathname);
    const ring = decodeURIComponent(new URL("../ring.ts", import.meta.url).pathname);
    writeFileSync(
      script,
      `import { BufferPool } from ${JSON.stringify(mod)};
import { abi, Reactor } from ${JSON.stringify(ring)};
const pool = new BufferPool(new Reactor({ entries: 8 }), { count: 1, watchdogMs: 60_000 });
const lease = pool.take(1, abi.IORING_CQE_F_BUFFER); // the only buffer, leased
pool.waitForBuffers({ rearm() {} }); // a receive waits: the watchdog's timer runs
console.log("waiting", pool.stats().waiting, lease.length);
`,
    );
    const [command, args] = runtimeCommand(script);
    const started = performance.now();
    const child = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), "waiting 1 1");
    assert.ok(seconds < 20, `exited after ${seconds.toFixed(1)} s, not after the 60 s timer`);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

/** Reads a lease's bytes and says where, as "file:line" of this very line. */
function readBytes(lease: Lease): { bytes: Uint8Array; at: string } {
  return { bytes: lease.bytes, at: /pool_safety_test\.ts:\d+:/.exec(new Error().stack!.split("\n")[1])![0] };
}

test('leakTracking "debug": the leak warning names the program\'s frame that last read the lease', async () => {
  await withWarnings(async (warnings) => {
    let readAt = "";
    const server = listen({
      pool: { count: 8, bufferSize: 4096, leakTracking: "debug" },
      handlers: {
        data(conn, lease) {
          const { bytes, at } = readBytes(lease);
          readAt = at;
          conn.write(bytes.slice()); // never released
        },
      },
    });
    try {
      await lockstepEcho(server, 12); // past 8 buffers only through the leak net
      const leak = warnings.find((w) => /garbage-collected without release/.test(w));
      assert.ok(leak, warnings.join("\n"));
      const lines = leak.split("\n");
      const i = lines.findIndex((l) => /Your code last read its bytes at:$/.test(l));
      assert.ok(i >= 0, leak);
      assert.ok(lines[i + 1].includes(readAt), `the first frame shown is the program's read (${readAt}):\n${leak}`);
      assert.match(leak, /It was made at:\nError: lease made here/);
    } finally {
      await server.stop();
    }
  });
}, { timeoutMs: 30_000 });

// --- Part 2: per-holder lease accounting -------------------------------------------------------

/** A socket receiving into a pool holder's leases; with `pauseOverQuota` it backs off as a Connection does. */
class Holder implements LeaseHolder {
  readonly id: number;
  readonly leases: Lease[] = [];
  readonly receiver: StreamReceiver;
  bytes = 0;
  underQuotaCalls = 0;
  pauses = 0;
  readonly #pauseOverQuota: boolean;

  constructor(readonly pool: BufferPool, fd: number, options: { bundle?: boolean; pauseOverQuota?: boolean } = {}) {
    this.#pauseOverQuota = options.pauseOverQuota ?? false;
    this.id = pool.addHolder(this);
    this.receiver = new StreamReceiver(pool, fd, {
      data: (lease) => {
        this.leases.push(lease);
        this.bytes += lease.length;
        if (this.#pauseOverQuota && !this.receiver.paused && pool.overQuota(this.id)) {
          this.pauses++;
          this.receiver.pause();
        }
      },
      end() {},
    }, { bundle: options.bundle, holder: this.id }).start();
  }

  underQuota(): void {
    this.underQuotaCalls++;
    if (this.#pauseOverQuota) this.receiver.resume();
  }

  release(n = this.leases.length): void {
    for (const l of this.leases.splice(0, n)) l.release();
  }
}

/** A TCP pair on `reactor`: the server side receives, a RingWriter sends from the client side. */
function pair(reactor: Reactor) {
  const [client, server] = tcpPair(reactor.ring);
  const writer = new RingWriter(reactor, client);
  let sent = 0;
  return {
    server,
    writer,
    /** Sends one 100-byte message and runs the reactor until `holder` has it as one more lease. */
    sendTo(holder: Holder, messages = 1) {
      for (let i = 0; i < messages; i++) {
        const n = holder.leases.length;
        writer.write(patternBytes(++sent, 100));
        assert.ok(reactor.runUntil(() => holder.leases.length === n + 1, 2000), "message received");
      }
    },
    close() {
      writer.close();
      closeFd(client);
      closeFd(server);
    },
  };
}

test("holders: leases from real receives count per holder; overQuota past the share, underQuota once at half; removeHolder; ids reused", () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { count: 64, bufferSize: 256, fairShare: 6 });
  const a = pair(reactor), b = pair(reactor);
  const ha = new Holder(pool, a.server), hb = new Holder(pool, b.server);
  try {
    assert.ok(ha.id >= 1 && hb.id >= 1 && ha.id !== hb.id);
    a.sendTo(ha, 6);
    assert.equal(pool.held(ha.id), 6);
    assert.equal(pool.held(hb.id), 0);
    assert.equal(pool.held(0), 0, "0 is nobody");
    assert.equal(pool.overQuota(ha.id), false, "6 of a share of 6");
    a.sendTo(ha);
    assert.equal(pool.overQuota(ha.id), true, "7 of 6");
    b.sendTo(hb, 2);
    assert.equal(pool.held(hb.id), 2);
    assert.equal(pool.overQuota(hb.id), false);
    ha.release(3); // 4 left
    assert.equal(ha.underQuotaCalls, 0, "not above half the share");
    ha.release(1); // 3: half of 6
    assert.equal(ha.underQuotaCalls, 1);
    ha.release();
    assert.equal(ha.underQuotaCalls, 1, "once");
    assert.equal(pool.held(ha.id), 0);

    // Over again, then removed with its leases out: they stay valid and counted, but notify nobody.
    a.sendTo(ha, 7);
    assert.equal(pool.overQuota(ha.id), true);
    ha.receiver.stop();
    reactor.runOnce(10);
    pool.removeHolder(ha.id);
    assert.equal(pool.held(ha.id), 7);
    assert.equal(pool.overQuota(ha.id), false, "a removed holder is nobody's to pause");
    const other = pool.addHolder({ underQuota() {} });
    assert.notEqual(other, ha.id, "an id is not reused while its leases are out");
    assert.equal(ha.leases[0].bytes.length, 100);
    ha.release();
    assert.equal(ha.underQuotaCalls, 1, "no notification after removeHolder");
    assert.equal(pool.held(ha.id), 0);
    assert.equal(pool.addHolder({ underQuota() {} }), ha.id, "the id is reused once its leases are back");
    pool.removeHolder(other);
    assert.equal(pool.addHolder({ underQuota() {} }), other, "a holder with no lease out frees its id at once");

    for (const id of [-1, 1.5, 10_000]) assert.throws(() => pool.held(id), RangeError);
    assert.throws(() => pool.overQuota(10_000), RangeError);
    assert.throws(() => pool.addHolder({} as LeaseHolder), TypeError);
    hb.release();
    assert.equal(pool.stats().buffersFree, 64);
  } finally {
    hb.receiver.stop();
    reactor.runOnce(10);
    a.close();
    b.close();
    pool.close();
  }
});

test('fairShare "auto": max(8, maxCount / (2 x holders holding)) while under half the pool is leased, 8 from half', () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { count: 64, bufferSize: 256 });
  const a = pair(reactor), b = pair(reactor), c = pair(reactor);
  const ha = new Holder(pool, a.server), hb = new Holder(pool, b.server), hc = new Holder(pool, c.server);
  try {
    a.sendTo(ha, 16);
    assert.equal(pool.overQuota(ha.id), false, "alone: a share of 64 / 2 = 32");
    b.sendTo(hb);
    assert.equal(pool.overQuota(ha.id), false, "two holders: 64 / 4 = 16");
    a.sendTo(ha);
    assert.equal(pool.overQuota(ha.id), true, "17 of 16");
    ha.release(8); // 9
    assert.equal(ha.underQuotaCalls, 0);
    ha.release(1); // 8: half of 16
    assert.equal(ha.underQuotaCalls, 1);

    a.sendTo(ha, 23); // ha 31 + hb 1: half of the pool is leased
    c.sendTo(hc, 9);
    assert.equal(pool.overQuota(hb.id), false, "1 lease: never held back below 8");
    assert.equal(pool.overQuota(hc.id), true, "9 of 8 once half the pool is leased (10 otherwise)");
    ha.release(); // 10 of 64 leased again
    assert.equal(pool.overQuota(hc.id), false, "two holders, under half: 64 / 4 = 16");
    assert.equal(hc.underQuotaCalls, 0, "notified on its own releases only");
    hc.release(1);
    assert.equal(hc.underQuotaCalls, 1, "8: half of 16");
    hb.release();
    hc.release();
  } finally {
    for (const h of [ha, hb, hc]) h.receiver.stop();
    reactor.runOnce(10);
    a.close();
    b.close();
    c.close();
    pool.close();
  }
  for (const fairShare of [-1, 1.5]) {
    assert.throws(
      () => new BufferPool(reactor, { count: 1, fairShare }),
      (e: unknown) => e instanceof RangeError && /fairShare/.test(e.message),
    );
  }
  for (const fairShare of ["fair", true, {}]) {
    assert.throws(
      () => new BufferPool(reactor, { count: 1, fairShare: fairShare as false }),
      (e: unknown) => e instanceof TypeError && /fairShare/.test(e.message),
    );
  }
});

test("fairShare false: holders are counted but never over quota", () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { count: 16, bufferSize: 256, fairShare: false });
  const a = pair(reactor);
  const ha = new Holder(pool, a.server);
  try {
    a.sendTo(ha, 12);
    assert.equal(pool.held(ha.id), 12);
    assert.equal(pool.overQuota(ha.id), false);
    ha.release();
  } finally {
    ha.receiver.stop();
    reactor.runOnce(10);
    a.close();
    pool.close();
  }
});

/** Forces collections until `done()` or 50 tries. */
async function collectUntil(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 50 && !done(); i++) {
    assert.ok(collectGarbage(), "tests run with a GC the harness can force");
    await sleep(10);
  }
  return done();
}

test("leak net and holders: a reclaimed lease leaves its holder's count (underQuota fires); a removed holder's id comes free", async () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { count: 16, bufferSize: 256, fairShare: 2 });
  const a = pair(reactor);
  const ha = new Holder(pool, a.server);
  try {
    await withWarnings(async () => {
      a.sendTo(ha, 3);
      assert.equal(pool.overQuota(ha.id), true);
      ha.leases.length = 0; // dropped without release
      assert.ok(await collectUntil(() => pool.stats().leaksReclaimed === 3), "3 leaks reclaimed");
      assert.equal(pool.held(ha.id), 0);
      assert.equal(ha.underQuotaCalls, 1);

      a.sendTo(ha, 2);
      ha.receiver.stop();
      reactor.runOnce(10);
      pool.removeHolder(ha.id);
      ha.leases.length = 0;
      assert.ok(await collectUntil(() => pool.stats().leaksReclaimed === 5), "5 leaks reclaimed");
      assert.equal(pool.held(ha.id), 0);
      assert.equal(ha.underQuotaCalls, 1);
      assert.equal(pool.addHolder({ underQuota() {} }), ha.id, "reclaims free a removed holder's id too");
      assert.equal(pool.stats().buffersFree, 16);
    });
  } finally {
    ha.receiver.stop();
    reactor.runOnce(10);
    a.close();
    pool.close();
  }
});

test("bundles: every lease of a bundle counts against the receive's holder", () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { count: 128, bufferSize: 256, fairShare: false });
  const a = pair(reactor);
  const ha = new Holder(pool, a.server, { bundle: true });
  try {
    a.writer.write(patternBytes(1, 256 * 32));
    assert.ok(reactor.runUntil(() => ha.bytes === 256 * 32, 2000));
    assert.ok(pool.stats().bundleCompletions > 0, "a completion filled several buffers");
    assert.equal(pool.held(ha.id), ha.leases.length);
    assert.ok(ha.leases.length >= 32);
    ha.release();
    assert.equal(pool.held(ha.id), 0);
  } finally {
    ha.receiver.stop();
    reactor.runOnce(10);
    a.close();
    pool.close();
  }
}, { skip: !features.bundles && "kernel lacks IORING_RECVSEND_BUNDLE (6.10+)" });

test("incremental: pieces of one buffer count against their own holders; leaked pieces are all reclaimed", async () => {
  using reactor = new Reactor({ entries: 64 });
  const pool = new BufferPool(reactor, { count: 2, bufferSize: 64 * 1024, incremental: true, fairShare: false });
  const a = pair(reactor), b = pair(reactor);
  const ha = new Holder(pool, a.server), hb = new Holder(pool, b.server);
  let pieceOfA: Uint8Array = new Uint8Array(0);
  try {
    await withWarnings(async () => {
      for (let i = 0; i < 10; i++) {
        a.sendTo(ha);
        b.sendTo(hb);
      }
      const shared = ha.leases.some((l) => hb.leases.some((m) => m.bufferId === l.bufferId));
      assert.ok(shared, "the two sockets' pieces share a buffer");
      assert.equal(pool.held(ha.id), 10);
      assert.equal(pool.held(hb.id), 10);
      // A piece weighs its length against the share, and at least a 32nd of a buffer (100 bytes here).
      assert.equal(pool.heldBuffers(hb.id), 10 / 32);
      const big = patternBytes(9, 40_000);
      a.writer.write(big);
      assert.ok(reactor.runUntil(() => ha.leases.slice(10).reduce((n, l) => n + l.length, 0) === big.length, 2000));
      const weight = (l: Lease) => Math.max(128, Math.ceil(l.length * 4096 / (64 * 1024))) / 4096;
      const bigWeight = ha.leases.slice(10).reduce((n, l) => n + weight(l), 0);
      assert.ok(bigWeight > 0.6 && bigWeight < 0.65, `40,000 bytes of 64 KiB weigh ${bigWeight}`);
      assert.equal(pool.heldBuffers(ha.id), 10 / 32 + bigWeight);
      const pieces = pool.stats().leaksReclaimed;
      ha.leases.length = 10; // the big message's pieces dropped: reclaimed, they give their weight back
      assert.ok(await collectUntil(() => pool.stats().leaksReclaimed > pieces), "the big message reclaimed");
      assert.ok(await collectUntil(() => pool.held(ha.id) === 10), "all of it");
      assert.equal(pool.heldBuffers(ha.id), 10 / 32);
      pieceOfA = ha.leases[0].bytes;
      const bytesOfA = pieceOfA.slice();
      ha.leases.length = 0; // dropped: 10 pieces, only the newest of them the newest of its buffer
      assert.ok(await collectUntil(() => pool.held(ha.id) === 0), "every leaked piece reclaimed");
      assert.equal(pool.heldBuffers(ha.id), 0);
      assert.equal(pool.held(hb.id), 10);
      // The kernel writes only past the pieces it handed out: until the buffer comes back, an old view reads its own bytes.
      assert.deepEqual(pieceOfA, bytesOfA, "a view that outlived its leaked piece reads its own bytes, nothing newer");
      assert.ok(pool.stats().buffersLeased > 0, "b's pieces still hold the shared buffer");
      hb.release();
      assert.equal(pool.held(hb.id), 0);
      assert.equal(pool.stats().buffersLeased, 0);
    });
  } finally {
    ha.receiver.stop();
    hb.receiver.stop();
    reactor.runOnce(10);
    a.close();
    b.close();
    pool.close();
  }
  assert.equal(pieceOfA.length, 0, "detached before the pool's memory was unmapped");
}, { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)" });

/**
 * 4 flooding holders that never release (as a client that sends and never reads pins its echoes in
 * the send queue) and one well-behaved holder doing 50 round trips, on one pool of 128 buffers.
 * Returns the round trips done and the flooders' leases at the end of them.
 */
function flood(fairShare: "auto" | false, boundMs: number) {
  using reactor = new Reactor({ entries: 256 });
  const pool = new BufferPool(reactor, { count: 128, bufferSize: 256, fairShare });
  const pairs = Array.from({ length: 5 }, () => pair(reactor));
  const flooders = pairs.slice(0, 4).map((p) => new Holder(pool, p.server, { pauseOverQuota: true }));
  const good = new Holder(pool, pairs[4].server, { pauseOverQuota: true });
  const chunk = patternBytes(7, 256);
  for (const p of pairs.slice(0, 4)) for (let i = 0; i < 200; i++) p.writer.write(chunk);
  let roundTrips = 0;
  for (; roundTrips < 50; roundTrips++) {
    pairs[4].writer.write(patternBytes(roundTrips + 1, 100));
    if (!reactor.runUntil(() => good.leases.length > 0, boundMs)) break;
    good.release();
  }
  const flooderLeases = flooders.reduce((n, h) => n + pool.held(h.id), 0);
  const pauses = flooders.map((h) => h.pauses);
  // The flood stops pinning: released as they come, the flooders' data all arrives.
  const recovered = fairShare === false || reactor.runUntil(() => {
    for (const h of flooders) h.release();
    return flooders.every((h) => h.bytes === 200 * 256);
  }, 10_000);
  for (const h of [...flooders, good]) {
    h.release();
    h.receiver.stop();
  }
  reactor.runOnce(10);
  const buffersFree = pool.stats().buffersFree;
  for (const p of pairs) p.close();
  pool.close();
  return { roundTrips, flooderLeases, pauses, recovered, buffersFree };
}

test(
  "fair share: flooders that never release keep to about half the pool; a well-behaved holder keeps its round trips; all recover",
  () => {
    const fair = flood("auto", 2000);
    assert.equal(fair.roundTrips, 50, `every round trip made: ${JSON.stringify(fair)}`);
    assert.ok(fair.flooderLeases <= 64 + 4 * 4, `flooders hold ${fair.flooderLeases} of 128 buffers`);
    assert.ok(fair.pauses.every((n) => n > 0), "every flooder was held back");
    assert.ok(fair.recovered, "the flooders' data all arrived once their leases were released");
    assert.equal(fair.buffersFree, 128);
    const unfair = flood(false, 500);
    assert.ok(unfair.roundTrips < 50, `without fairShare the flooders take every buffer: ${JSON.stringify(unfair)}`);
  },
  { timeoutMs: 30_000 },
);

test("fair share: a burst already in the socket when a multishot receive is armed stops at the holder's share", () => {
  using reactor = new Reactor({ entries: 64 });
  // The whole pool in the kernel's ring, as a small pool's window is: a burst can reach every buffer.
  const pool = new BufferPool(reactor, { count: 64, bufferSize: 4096, ringWindow: 64 });
  const keeper = pair(reactor);
  const other = pair(reactor);
  keeper.writer.write(patternBytes(3, 256 * 1024));
  assert.ok(reactor.runUntil(() => keeper.writer.idle, 2000), "the burst waits in the socket");
  const holder = new Holder(pool, keeper.server, { pauseOverQuota: true });
  const polite = new Holder(pool, other.server, { pauseOverQuota: true });
  try {
    reactor.runUntil(() => false, 100);
    // Before: the multishot receive took all 64 buffers before the first completion was reaped.
    const share = 64 / 2 / 1; // maxCount / (2 x holders holding leases), one holder so far
    assert.ok(pool.held(holder.id) <= share + 2, `the keeper holds ${pool.held(holder.id)} of 64 buffers`);
    other.sendTo(polite, 3);
    polite.release();
  } finally {
    for (const h of [holder, polite]) {
      h.release();
      h.receiver.stop();
    }
    reactor.runOnce(10);
    keeper.close();
    other.close();
    pool.close();
  }
}, { skip: !features.multishotLimit && "kernel lacks the multishot receive byte limit (6.17+)" });

test(
  "fair share: keepers whose bursts wait in their sockets when their receives are armed together leave buffers to others",
  () => {
    using reactor = new Reactor({ entries: 64 });
    const pool = new BufferPool(reactor, { count: 64, bufferSize: 4096, ringWindow: 64 });
    const pairs = Array.from({ length: 5 }, () => pair(reactor));
    for (const p of pairs.slice(0, 4)) p.writer.write(patternBytes(5, 256 * 1024));
    assert.ok(reactor.runUntil(() => pairs.every((p) => p.writer.idle), 2000), "the bursts wait in the sockets");
    // Armed in one batch, each keeper counted alone in its share: before, each could take half the pool.
    const keepers = pairs.slice(0, 4).map((p) => new Holder(pool, p.server, { pauseOverQuota: true }));
    const polite = new Holder(pool, pairs[4].server, { pauseOverQuota: true });
    try {
      reactor.runUntil(() => false, 100);
      // The first alone takes its share, half the pool; the others, armed while it held that, one buffer
      // each, then 8 apiece once half the pool is leased (the share's floor). Before: 32, 32, 0, 0.
      const held = keepers.map((h) => pool.held(h.id)).sort((a, b) => b - a);
      assert.ok(held[0] <= 33 && held.slice(1).every((n) => n <= 10), `the keepers hold ${held} of 64 buffers`);
      pairs[4].sendTo(polite, 3);
    } finally {
      for (const h of [...keepers, polite]) {
        h.release();
        h.receiver.stop();
      }
      reactor.runOnce(10);
      for (const p of pairs) p.close();
      pool.close();
    }
  },
  { skip: !features.multishotLimit && "kernel lacks the multishot receive byte limit (6.17+)" },
);

test("fair share: flooders arriving one after another cannot pin the half the pool that is left (8 each once half is leased)", () => {
  using reactor = new Reactor({ entries: 256 });
  const pool = new BufferPool(reactor, { count: 128, bufferSize: 256 });
  const good = pair(reactor);
  const goodHolder = new Holder(pool, good.server, { pauseOverQuota: true });
  const pairs = [good];
  const flooders: Holder[] = [];
  const chunk = patternBytes(7, 256);
  try {
    for (let k = 0; k < 6; k++) {
      const p = pair(reactor);
      pairs.push(p);
      const h = new Holder(pool, p.server, { pauseOverQuota: true });
      flooders.push(h);
      for (let i = 0; i < 200; i++) p.writer.write(chunk);
      assert.ok(reactor.runUntil(() => h.pauses > 0, 2000), `flooder ${k} held back`);
      good.writer.write(patternBytes(k + 1, 100));
      assert.ok(reactor.runUntil(() => goodHolder.leases.length > 0, 2000), `round trip after flooder ${k}`);
      goodHolder.release();
    }
    // The first took half the pool alone; after it, 8 each. (Shares of 128 / (2 x holders) alone, 64,
    // 32, 21, 16..., let four flooders that come one after another take every buffer.)
    const held = flooders.map((h) => pool.held(h.id));
    assert.ok(held[0] <= 64 + 2, `${held}`);
    assert.ok(held.slice(1).every((n) => n <= 8 + 2), `${held}`);
  } finally {
    for (const h of [...flooders, goodHolder]) {
      h.release();
      h.receiver.stop();
    }
    reactor.runOnce(10);
    for (const p of pairs) p.close();
    pool.close();
  }
});

test(
  "fair share: a client that keeps small pieces, each in a buffer the others filled, is held back in buffers; the others keep receiving",
  async () => {
    const loop = new IoLoop();
    const pool = new BufferPool(loop.reactor, { count: 32, bufferSize: 64 * 1024, incremental: true });
    const subscribers = new Set<Connection>();
    const server = listen({
      loop,
      handlers: {
        open: (c) => void subscribers.add(c),
        close: (c) => void subscribers.delete(c),
        data: (_c, lease) => lease.release(),
      },
    });
    const received = new Array(12).fill(0);
    const kept: Lease[] = [];
    const clients = await Promise.all(received.map((_, i) =>
      connect({
        loop,
        port: server.port,
        pool,
        handlers: {
          data(_conn, lease) {
            received[i] += lease.length;
            if (i === 0) kept.push(lease); // the naive one keeps everything
            else lease.release();
          },
        },
      })
    ));
    const line = new Uint8Array(1500).fill(120);
    let sent = 0;
    try {
      while (subscribers.size < clients.length) await sleep(5);
      // 150 lines of 1,500 bytes to each of 12: 2.7 MB through a pool of 2 MiB, each of the keeper's
      // pieces in a buffer the others filled.
      for (let round = 0; round < 150; round++) {
        for (const s of subscribers) s.write(line);
        sent += line.length;
        await sleep(5);
      }
      const deadline = performance.now() + 5000;
      while (received.slice(1).some((n) => n < sent) && performance.now() < deadline) await sleep(10);
      // Before: the keeper's 1,500-byte pieces weighed 1/32 of a buffer each, so within its share of 8 it
      // pinned all 32 buffers, and every other client stopped receiving for good.
      assert.deepEqual(
        received.slice(1),
        new Array(11).fill(sent),
        `kept ${kept.length} pieces; ${JSON.stringify(pool.stats())}`,
      );
      assert.ok(received[0] < sent, "the keeper was held back");
      assert.ok(pool.stats().buffersLeased <= 16 + 2, `the keeper pins ${pool.stats().buffersLeased} of 32 buffers`);
    } finally {
      for (const lease of kept) lease.release();
      await Promise.all(clients.map((c) => c.close()));
      await server.stop();
      pool.close();
      await loop.close();
    }
  },
  { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)", timeoutMs: 30_000 },
);

test(
  "fair share: a message kept whole, each piece in a buffer another client filled, completes while the pool is not scarce",
  async () => {
    const loop = new IoLoop();
    const pool = new BufferPool(loop.reactor, { count: 32, bufferSize: 4096, incremental: true, fairShare: 4 });
    const accepted: Connection[] = [];
    const server = listen({
      loop,
      handlers: { open: (c) => void accepted.push(c), data: (_c, lease) => lease.release() },
    });
    const kept: Lease[] = [];
    let line = false, keeperBytes = 0, fillerBytes = 0;
    const keeper = await connect({
      loop,
      port: server.port,
      pool,
      handlers: {
        data(_c, lease) {
          keeperBytes += lease.length;
          kept.push(lease); // the pieces of one line, kept until its newline
          if (lease.bytes.includes(10)) {
            line = true;
            for (const l of kept.splice(0)) l.release();
          }
        },
      },
    });
    while (accepted.length < 1) await sleep(2);
    const filler = await connect({
      loop,
      port: server.port,
      pool,
      handlers: { data: (_c, lease) => void (fillerBytes += lease.length, lease.release()) },
    });
    while (accepted.length < 2) await sleep(2);
    const until = async (done: () => boolean, ms: number) => {
      for (const end = performance.now() + ms; !done() && performance.now() < end;) await sleep(2);
      return done();
    };
    try {
      for (let i = 0; i < 12; i++) {
        const want = keeperBytes + 200;
        accepted[0].write(new Uint8Array(200).fill(97));
        assert.ok(await until(() => keeperBytes >= want, 2000), `piece ${i} received`);
        const wantFiller = fillerBytes + 4096;
        accepted[1].write(new Uint8Array(4096).fill(98)); // fills the rest of the buffer the piece is in
        assert.ok(await until(() => fillerBytes >= wantFiller, 2000), `filler ${i}`);
      }
      assert.equal(new Set(kept.map((l) => l.bufferId)).size, 12, "12 pieces in 12 buffers");
      accepted[0].write(new TextEncoder().encode("end\n"));
      // Before (the pins' first rule, counted whatever the pool's state): held back at 9 buffers, twice the
      // share of 4, with 23 of 32 free, and the line never came.
      assert.ok(await until(() => line, 3000), `the line came: ${keeperBytes} bytes, ${kept.length} pieces kept`);
    } finally {
      for (const l of kept.splice(0)) l.release();
      await Promise.all([keeper.close(), filler.close()]);
      await server.stop();
      pool.close();
      await loop.close();
    }
  },
  { skip: !features.incremental && "kernel lacks IOU_PBUF_RING_INC (6.12+)", timeoutMs: 30_000 },
);

test(
  "fair share: 20 clients sending 60 KB messages in 1 KB pieces, each kept until whole, are all answered",
  async () => {
    const loop = new IoLoop();
    const server = listen<{ kept: Lease[]; bytes: number }>({
      loop,
      handlers: {
        open(conn) {
          conn.data = { kept: [], bytes: 0 };
        },
        data(conn, lease) {
          conn.data.kept.push(lease);
          conn.data.bytes += lease.length;
          if (conn.data.bytes < 60_000) return;
          for (const l of conn.data.kept) l.release();
          conn.data = { kept: [], bytes: 0 };
          conn.write(new TextEncoder().encode("ok"));
        },
      },
    });
    let answered = 0;
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect({ loop, port: server.port })));
    try {
      await Promise.all(clients.map(async (client) => {
        for (let sent = 0; sent < 60_000; sent += 1024) {
          client.write(new Uint8Array(Math.min(1024, 60_000 - sent)).fill(65));
          await sleep(2);
        }
        const replies = client[Symbol.asyncIterator]();
        const reply = await Promise.race([replies.next(), sleep(5000).then(() => undefined)]);
        if (reply?.value) {
          reply.value.release();
          answered++;
        }
      }));
      // Before (pins counted whatever the pool's state): the 20 messages' pieces, mixed in the same 17 of
      // 128 buffers, were 17 pins for each connection, past twice the share of 8: all 20 stalled for good.
      assert.equal(answered, 20, `answered ${answered}; ${JSON.stringify(server.pool.stats())}`);
    } finally {
      for (const client of clients) client.reset();
      await server.stop();
      await loop.close();
    }
  },
  { timeoutMs: 30_000 },
);
