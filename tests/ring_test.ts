import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClosedError, Errno, errnoName, probeFeatures } from "../mod.ts";
import {
  abi,
  BufferRing,
  NativeMemory,
  prepAccept,
  prepCancel64,
  prepNop,
  prepRead,
  prepRecv,
  prepSend,
  prepTimeout,
  Reactor,
  Ring,
} from "../ring.ts";
import { closeFd, localAddress, openFile, tcpConnect, tcpListen } from "../sys.ts";
import { libraryNotFound } from "../ffi/candidates.ts";
import { readU64, writeU64 } from "../src/sqe.ts";
import { runFixture, runtime, test } from "./harness.ts";

interface Cqe {
  userData: number;
  res: number;
  flags: number;
}

/** Waits (bounded) until `n` completions have been reaped. */
function collect(ring: Ring, n: number, timeoutMs = 2000): Cqe[] {
  const out: Cqe[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    ring.reap((userData, res, flags) => out.push({ userData, res, flags }));
    if (out.length >= n) break;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`expected ${n} completions, got ${out.length}`);
    ring.submitAndWait(1, left);
  }
  return out;
}

test("the ring fd is registered (5.18+): submits and waits go through the registered index, the waiter through the fd", async () => {
  using ring = new Ring({ entries: 8 });
  const [major, minor] = (await import("node:os")).release().split(".").map(Number);
  assert.equal(ring.ringFdRegistered, major > 5 || (major === 5 && minor >= 18));
  prepNop(ring.sqes, ring.getSqe());
  assert.equal(ring.submitAndWait(1, 1000), 1);
  assert.equal(collect(ring, 1).length, 1);
  prepNop(ring.sqes, ring.getSqe());
  ring.submit();
  await ring.waitOffThread(); // another thread, the plain fd
  assert.equal(collect(ring, 1).length, 1);
});

test("close() during an off-thread wait: the wait ends, and the ring's fd is not reused under the waiter", async () => {
  // Before: close() closed the fd at once. A waiter that entered the kernel only after that, by fd
  // number, found a newer ring there and waited on it for ever (a process that never exits).
  for (let i = 0; i < 20; i++) {
    const ring = new Ring({ entries: 8 });
    const fd = ring.fd;
    let settled = false;
    const wait = ring.waitOffThread().then(() => (settled = true), () => (settled = true));
    ring.close();
    const next = new Ring({ entries: 8 });
    assert.notEqual(next.fd, fd, "the closing ring keeps its fd until its waiter has returned");
    const ended = await Promise.race([wait.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    next.close();
    assert.ok(ended && settled, `round ${i}: the wait ended`);
  }
  // With the waiter gone, the fd is free again.
  const a = new Ring({ entries: 8 });
  const fd = a.fd;
  a.close();
  using b = new Ring({ entries: 8 });
  assert.equal(b.fd, fd);
});

test("a BufferRing used after close() throws ClosedError instead of writing into unmapped memory", () => {
  using ring = new Ring({ entries: 8 });
  const memory = new NativeMemory(4 * 4096);
  try {
    const group = new BufferRing(ring, { groupId: 3, entries: 4 });
    group.add(memory.address, 4096, 0);
    group.publish(1);
    group.close();
    // Before: add() wrote through views of the unmapped ring and the process died (SIGSEGV).
    assert.throws(() => group.add(memory.address, 4096, 1), ClosedError);
    assert.throws(() => group.publish(1), ClosedError);
    // Before: bidAt() read the emptied view and returned undefined, typed as a number.
    assert.throws(() => group.bidAt(group.slotAt(0)), ClosedError);
  } finally {
    memory.free();
  }
});

test("NOP round trips echo 53-bit user_data in order", () => {
  using ring = new Ring({ entries: 64 });
  const sent: number[] = [];
  for (let i = 0; i < 64; i++) {
    const slot = ring.getSqe();
    prepNop(ring.sqes, slot);
    const ud = i === 0 ? Number.MAX_SAFE_INTEGER : Math.floor(Math.random() * 2 ** 53);
    ring.sqes.setUserData(slot, ud);
    sent.push(ud);
  }
  assert.equal(ring.pending, 64);
  assert.equal(ring.submit(), 64);
  const got = collect(ring, 64);
  assert.deepEqual(got.map((c) => c.userData), sent);
  assert.ok(got.every((c) => c.res === 0 && c.flags === 0));
});

test("a full SQ submits and retries instead of failing", () => {
  using ring = new Ring({ entries: 4 });
  for (let i = 0; i < 10; i++) {
    const slot = ring.getSqe();
    prepNop(ring.sqes, slot);
    ring.sqes.setUserData(slot, i);
  }
  ring.submit();
  assert.deepEqual(collect(ring, 10).map((c) => c.userData), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("a file is read through the ring", () => {
  const dir = mkdtempSync(join(tmpdir(), "uring-test-"));
  const path = join(dir, "data.bin");
  const content = new Uint8Array(10_000).map((_, i) => (i * 7 + 3) & 0xff);
  writeFileSync(path, content);
  const fd = openFile(path);
  using ring = new Ring({ entries: 8 });
  const buf = new NativeMemory(16384);
  try {
    const slot = ring.getSqe();
    prepRead(ring.sqes, slot, fd, buf.address + 100, 5000, 3000);
    ring.sqes.setUserData(slot, 7);
    ring.submit();
    const [c] = collect(ring, 1);
    assert.equal(c.userData, 7);
    assert.equal(c.res, 5000);
    assert.deepEqual(buf.bytes.slice(100, 5100), content.slice(3000, 8000));
  } finally {
    buf.free();
    closeFd(fd);
    rmSync(dir, { recursive: true });
  }
});

test("TCP accept, send and recv on 127.0.0.1 through the ring", () => {
  using ring = new Ring({ entries: 16 });
  const listener = tcpListen({ hostname: "127.0.0.1", port: 0 });
  const { port } = localAddress(listener);
  assert.ok(port > 0);
  const client = tcpConnect("127.0.0.1", port);
  const mem = new NativeMemory(8192);
  let server = -1;
  try {
    let slot = ring.getSqe();
    prepAccept(ring.sqes, slot, listener, 0, 0, abi.SOCK_CLOEXEC);
    ring.sqes.setUserData(slot, 1);
    ring.submit();
    const [acc] = collect(ring, 1);
    assert.ok(acc.res >= 0, `accept res ${acc.res}`);
    server = acc.res;

    const payload = new TextEncoder().encode("hello through io_uring");
    mem.bytes.set(payload, 0);
    slot = ring.getSqe();
    prepSend(ring.sqes, slot, client, mem.address, payload.length, 0);
    ring.sqes.setUserData(slot, 2);
    slot = ring.getSqe();
    prepRecv(ring.sqes, slot, server, mem.address + 4096, 4096, 0);
    ring.sqes.setUserData(slot, 3);
    ring.submit();
    const cqes = collect(ring, 2).sort((a, b) => a.userData - b.userData);
    assert.deepEqual(cqes.map((c) => [c.userData, c.res]), [[2, payload.length], [3, payload.length]]);
    assert.deepEqual(mem.bytes.slice(4096, 4096 + payload.length), payload);
  } finally {
    mem.free();
    if (server >= 0) closeFd(server);
    closeFd(client);
    closeFd(listener);
  }
});

test("timeout fires with -ETIME; cancel ends a pending recv with -ECANCELED", () => {
  using ring = new Ring({ entries: 16 });
  const ts = new NativeMemory(4096);
  const listener = tcpListen();
  const client = tcpConnect("127.0.0.1", localAddress(listener).port);
  try {
    ts.view.setBigInt64(0, 0n, true);
    ts.view.setBigInt64(8, 20_000_000n, true); // 20 ms
    let slot = ring.getSqe();
    prepTimeout(ring.sqes, slot, ts.address, 0, 0);
    ring.sqes.setUserData(slot, 10);
    const t0 = performance.now();
    ring.submit();
    const [t] = collect(ring, 1);
    const elapsed = performance.now() - t0;
    assert.equal(t.userData, 10);
    assert.equal(t.res, -Errno.ETIME);
    assert.ok(elapsed >= 15, `timeout fired after ${elapsed} ms`);

    slot = ring.getSqe();
    prepRecv(ring.sqes, slot, client, ts.address + 64, 64, 0);
    ring.sqes.setUserData(slot, 11);
    ring.submit();
    assert.equal(ring.submitAndWait(1, 30), 0, "recv on an idle socket must not complete");
    slot = ring.getSqe();
    prepCancel64(ring.sqes, slot, 11, 0);
    ring.sqes.setUserData(slot, 12);
    ring.submit();
    const got = collect(ring, 2).sort((a, b) => a.userData - b.userData);
    assert.deepEqual(got.map((c) => [c.userData, c.res]), [[11, -Errno.ECANCELED], [12, 0]]);
  } finally {
    ts.free();
    closeFd(client);
    closeFd(listener);
  }
});

test("close is idempotent and every later call throws ClosedError", () => {
  const ring = new Ring({ entries: 8 });
  const slot = ring.getSqe();
  prepNop(ring.sqes, slot);
  ring.close();
  ring.close();
  assert.equal(ring.closed, true);
  assert.throws(() => ring.getSqe(), ClosedError);
  assert.throws(() => ring.submit(), ClosedError);
  assert.throws(() => ring.submitAndWait(1, 1), ClosedError);
  assert.throws(() => ring.reap(() => {}), ClosedError);
  assert.throws(() => ring.unsafePointer, ClosedError);
  assert.throws(() => ring.registerBufRing(1, 8, 0, 0), ClosedError);
  assert.throws(() => ring.unregisterBufRing(1), ClosedError);
  assert.throws(() => ring.mapBufRing(1, 8), ClosedError);
  assert.equal(ring.cqReady, 0);
});

test("a slot used after close() finds the SQE views detached instead of faulting the process", async () => {
  // Before: close() left ring.sqes over the unmapped rings, and a prep into a slot taken before the
  // close (or a read of one) ended the process with SIGSEGV, on Deno and on Bun. Detached views drop
  // writes and read undefined: the prep does nothing.
  const { code, signal, out } = await runFixture("ring_after_close.ts", 20_000);
  assert.equal(signal, null, out);
  assert.equal(code, 0, out);
  assert.equal(out, "prepNop: no error\ngetUserData: NaN\nprepRecv: no error\nsqes: 0 bytes\nsurvived\n");
});

test("a timed wait sleeps for its timeout, across a whole second", () => {
  using ring = new Ring({ entries: 4 });
  for (const ms of [30, 1_005]) {
    const t0 = performance.now();
    assert.equal(ring.submitAndWait(1, ms), 0);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= ms - 5 && elapsed < ms + 500, `waited ${elapsed} ms for a ${ms} ms timeout`);
  }
});

test("waitOffThread waits for the next completion while the event loop keeps turning", async () => {
  using ring = new Ring({ entries: 4 });
  const ts = new NativeMemory(4096);
  try {
    ts.view.setBigInt64(8, 30_000_000n, true); // 30 ms
    const slot = ring.getSqe();
    prepTimeout(ring.sqes, slot, ts.address, 0, 0);
    ring.sqes.setUserData(slot, 5);
    ring.submit();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 2);
    const t0 = performance.now();
    await ring.waitOffThread();
    const elapsed = performance.now() - t0;
    clearInterval(ticker);
    assert.ok(elapsed >= 25, `returned after ${elapsed} ms, before the 30 ms timeout completed`);
    assert.ok(ticks > 0, "timers ran while the ring waited");
    assert.deepEqual(collect(ring, 1).map((c) => [c.userData, c.res]), [[5, -Errno.ETIME]]);
  } finally {
    ts.free();
  }
});

test("the ring registers, rejects twice and unregisters a buffer ring group", () => {
  using ring = new Ring({ entries: 4 });
  const mem = new NativeMemory(4096);
  try {
    assert.equal(ring.registerBufRing(77, 8, 0, mem.address), 0);
    assert.equal(ring.registerBufRing(77, 8, 0, mem.address), -Errno.EEXIST);
    assert.equal(ring.unregisterBufRing(77), 0);
    assert.ok(ring.unregisterBufRing(77) < 0, "a group that is gone cannot be unregistered");
    if (probeFeatures().bufferRingMmap) {
      assert.equal(ring.registerBufRing(78, 8, abi.IOU_PBUF_RING_MMAP, 0), 0);
      const mapped = ring.mapBufRing(78, 8);
      assert.equal(mapped.length, 4096);
      mapped.free();
      assert.equal(ring.unregisterBufRing(78), 0);
    }
  } finally {
    mem.free();
  }
}, { skip: !probeFeatures().bufferRing && "kernel lacks IORING_REGISTER_PBUF_RING (5.19)" });

test("writeU64 / readU64 keep every safe integer; negatives wrap to two's complement", () => {
  const u32 = new Uint32Array(2);
  for (const v of [0, 1, 0xffffffff, 2 ** 32, 2 ** 32 + 5, 0x7fffdeadbeef, Number.MAX_SAFE_INTEGER]) {
    writeU64(u32, 0, v);
    assert.equal(readU64(u32, 0), v);
    assert.deepEqual([...u32], [v % 2 ** 32, Math.floor(v / 2 ** 32)]);
  }
  writeU64(u32, 0, -1);
  assert.deepEqual([...u32], [0xffffffff, 0xffffffff]);
  writeU64(u32, 0, -(2 ** 32) - 2);
  assert.deepEqual([...u32], [0xfffffffe, 0xfffffffe]);
});

test("Errno names every errno it holds, and errnoName falls back to E<n>", () => {
  for (const [name, errno] of Object.entries(Errno)) assert.equal(errnoName(errno), name);
  assert.equal(new Set(Object.values(Errno)).size, Object.keys(Errno).length, "one name per errno");
  assert.equal(errnoName(4095), "E4095");
  // A CQE's res is negative: before, errnoName(-105) was "E-105".
  assert.deepEqual([errnoName(-105), errnoName(-4095)], ["ENOBUFS", "E4095"]);
  // The code's type is the names (or E<number>): a misspelt comparison is a compile error (deno check).
  const code = errnoName(111);
  // @ts-expect-error "ECONREFUSED" is no errno name
  assert.equal(code === "ECONREFUSED", false);
  assert.equal(code === "ECONNREFUSED", true);
  // Before: "EENOBUFS", "Eundefined", "E1.5".
  assert.throws(() => errnoName("ENOBUFS" as never), { name: "TypeError", message: /got string "ENOBUFS"/ });
  assert.throws(() => errnoName(undefined as never), TypeError);
  assert.throws(() => errnoName(1.5), RangeError);
  // Before: 46 of them; openFile("/dev/tty") without a terminal was code "E6".
  const unnamed = [];
  for (let errno = 1; errno <= 133; errno++) if (errnoName(errno).startsWith("E" + errno)) unnamed.push(errno);
  assert.deepEqual(unnamed, [41, 58], "every Linux errno but the two numbers it leaves unused");
  assert.deepEqual([errnoName(6), errnoName(39), errnoName(92), errnoName(133)], [
    "ENXIO",
    "ENOTEMPTY",
    "ENOPROTOOPT",
    "EHWPOISON",
  ]);
});

test("tcpListen() refuses an unknown option key and a missing options object", () => {
  // Before: { prot } bound a random port, and null failed inside the engine.
  assert.throws(
    () => tcpListen({ prot: 22150 } as never),
    /tcpListen\(\): unknown option "prot" \(did you mean "port"\?\)/,
  );
  assert.throws(() => tcpListen(null as never), /tcpListen\(\) needs an options object, got null/);
  assert.throws(() => tcpListen({ reusePort: "yes" } as never), /reusePort must be a boolean, got string "yes"/);
});

test("new Reactor(options) names Reactor in its option errors, new Ring(options) names Ring", () => {
  // Before: the Reactor's own options were refused as "Ring: unknown option".
  assert.throws(
    () => new Reactor({ entries: 8, flag: 0 } as never),
    /^TypeError: Reactor: unknown option "flag" \(did you mean "flags"\?\)/,
  );
  assert.throws(() => new Reactor(null as never), /Reactor needs an options object, got null/);
  assert.throws(() => new Ring({ entries: 8, flag: 0 } as never), /^TypeError: Ring: unknown option "flag"/);
});

test("Ring flags beyond 32 bits are refused; bit 31 is reported unsigned", () => {
  assert.throws(
    () => new Ring({ entries: 2, flags: 2 ** 32 }),
    /flags must be IORING_SETUP_\* bits .*got number 4294967296/,
  );
  // Before: flags=0x-7ffffff8. The kernel refuses the bit (EINVAL); the message shows it as given.
  assert.throws(() => new Ring({ entries: 2, flags: 0x80000000 }), /flags=0x80000008\b/);
});

test("a liburing without a 2.3 symbol is reported as too old, in both runtimes' dlopen wording", () => {
  const denoError = "Failed to register symbol io_uring_get_events: Could not obtain symbol from the library: " +
    "/opt/liburing.so.2: undefined symbol: io_uring_get_events";
  const bunError = 'Symbol "io_uring_enter" not found in "/opt/liburing.so.2"';
  const missingFile = "Could not open library: /usr/lib/liburing.so.2: cannot open shared object file";
  for (const [error, symbol] of [[denoError, "io_uring_get_events"], [bunError, "io_uring_enter"]]) {
    const message = libraryNotFound(["/opt/liburing.so.2", "/usr/lib/liburing.so.2"], [error, missingFile]).message;
    assert.match(message, /liburing >= 2\.3/);
    assert.ok(message.includes(`/opt/liburing.so.2 is older than liburing 2.3: it lacks ${symbol}.`), message);
    assert.ok(!message.includes("/usr/lib/liburing.so.2 is older"), message);
  }
  // Deno without env access never sees URING_LIB: the hint says so.
  const note = " (Deno reads it only with --allow-env=URING_LIB)";
  assert.ok(
    libraryNotFound(["liburing.so.2"], ["missing"], note).message.endsWith(`URING_LIB at the library file${note}.`),
  );
});

test("URING_LIB that fails to load is an error naming it, not a silent fall-back to the system's liburing", async () => {
  const missing = await runFixture("nop_ring.ts", 20_000, { URING_LIB: "/nonexistent/liburing.so.2" });
  assert.notEqual(missing.code, 0, missing.out);
  assert.match(missing.out, /URING_LIB names \/nonexistent\/liburing\.so\.2: point it at a liburing 2\.3 library/);
  assert.doesNotMatch(missing.out, /nop 7 0/, "before: it loaded the system's library and ran");
  const given = await runFixture("nop_ring.ts", 20_000, { URING_LIB: probeFeatures().liburing });
  assert.equal(given.code, 0, given.out);
  assert.match(given.out, /nop 7 0/);
});

test("a handler that throws consumes its CQE and leaves the rest", () => {
  using ring = new Ring({ entries: 8 });
  for (let i = 0; i < 3; i++) {
    const slot = ring.getSqe();
    prepNop(ring.sqes, slot);
    ring.sqes.setUserData(slot, i);
  }
  ring.submitAndWait(3, 1000);
  assert.throws(() =>
    ring.reap((ud) => {
      if (ud === 1) throw new Error("boom");
    }), /boom/);
  assert.deepEqual(collect(ring, 1).map((c) => c.userData), [2]);
});

test("rings of every power-of-two size work; bad sizes are RangeErrors", () => {
  for (let entries = 1; entries <= 32768; entries *= 2) {
    const ring = new Ring({ entries });
    assert.equal(ring.entries, entries);
    assert.ok(ring.cqEntries >= entries);
    const slot = ring.getSqe();
    prepNop(ring.sqes, slot);
    ring.sqes.setUserData(slot, entries);
    ring.submit();
    assert.deepEqual(collect(ring, 1).map((c) => c.userData), [entries]);
    ring.close();
  }
  for (const entries of [0, 3, 100, 65536, -2, 1.5, NaN]) {
    assert.throws(() => new Ring({ entries }), RangeError, `entries=${entries}`);
  }
  assert.throws(() => new Ring({ entries: 64, cqEntries: 32 }), RangeError);
  assert.throws(() => new Ring({ entries: 64, cqEntries: 100 }), RangeError);
  assert.throws(() => new Ring({ entries: 8, flags: -1 }), RangeError);
});

test("explicit setup flags: SINGLE_ISSUER | DEFER_TASKRUN completes through the flush path", () => {
  using ring = new Ring({ entries: 8, flags: abi.IORING_SETUP_SINGLE_ISSUER | abi.IORING_SETUP_DEFER_TASKRUN });
  assert.ok(ring.setupFlags & abi.IORING_SETUP_DEFER_TASKRUN);
  const slot = ring.getSqe();
  prepNop(ring.sqes, slot);
  ring.sqes.setUserData(slot, 99);
  ring.submit();
  assert.deepEqual(collect(ring, 1).map((c) => c.userData), [99]);
});

test("probe reports opcodes and buffer features as one printable object", () => {
  const f = probeFeatures();
  assert.ok(f.opcodes.includes("NOP") && f.opcodes.includes("RECV"));
  assert.equal(f.provideBuffers, f.opcodes.includes("PROVIDE_BUFFERS"));
  assert.equal(typeof f.bufferRing, "boolean");
  assert.ok(!f.bufferRingMmap || f.bufferRing);
  assert.ok(!f.incremental || f.bufferRing);
  assert.equal(probeFeatures(), f, "probed once, cached");
  assert.doesNotThrow(() => JSON.stringify(f));
});

test("a completion reaped after its target unregistered never reaches the slot's next owner", () => {
  using reactor = new Reactor({ entries: 8 });
  const got: string[] = [];
  const first = reactor.register({ complete: () => got.push("first") });
  const slot = reactor.ring.getSqe();
  prepNop(reactor.ring.sqes, slot);
  reactor.ring.sqes.setUserData(slot, first);
  reactor.ring.submit(); // the NOP completes at once; its CQE waits in the CQ
  reactor.unregister(first);
  const second = reactor.register({ complete: () => got.push("second") });
  assert.notEqual(second, first, "a reused slot gets a new token");
  reactor.runOnce(100);
  assert.deepEqual(got, []);
  const s2 = reactor.ring.getSqe();
  prepNop(reactor.ring.sqes, s2);
  reactor.ring.sqes.setUserData(s2, second);
  reactor.runOnce(100);
  assert.deepEqual(got, ["second"]);
  const s3 = reactor.ring.getSqe(); // user_data 0 is "nobody": dropped quietly
  prepNop(reactor.ring.sqes, s3);
  reactor.ring.sqes.setUserData(s3, 0);
  assert.doesNotThrow(() => reactor.runOnce(100));
  assert.deepEqual(got, ["second"]);
});

test("waitSignaled: on Bun a wait in the runtime's own loop ends when a completion is posted; Deno has none", async () => {
  using ring = new Ring({ entries: 8 });
  const wait = ring.waitSignaled();
  if (runtime === "deno") {
    assert.equal(wait, undefined, "Deno cannot watch an fd in its event loop: parks go off-thread");
    return;
  }
  assert.ok(wait instanceof Promise);
  let woke = false;
  void wait.then(() => (woke = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(woke, false, "nothing completed: still waiting");
  prepNop(ring.sqes, ring.getSqe());
  ring.submit();
  await Promise.race([wait, new Promise((_, reject) => setTimeout(() => reject(new Error("no wake in 2 s")), 2000))]);
  assert.equal(ring.cqReady, 1);
  ring.reap(() => {});
  // Between waits the kernel does not signal the eventfd: a completion then does not end the next wait early.
  prepNop(ring.sqes, ring.getSqe());
  ring.submit();
  ring.reap(() => {});
  let early = false;
  const next = ring.waitSignaled()!;
  void next.then(() => (early = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(early, false, "a completion reaped before the wait must not end it");
  prepNop(ring.sqes, ring.getSqe());
  ring.submit();
  await next;
  ring.releaseSignal();
});

test("NativeMemory.free() detaches its views: a read after it finds nothing instead of faulting the process", () => {
  // The views stayed over unmapped memory: reading one killed the process with SIGSEGV on both runtimes.
  const mem = new NativeMemory(1 << 20);
  const part = mem.bytes.subarray(100, 200);
  mem.bytes[100] = 7;
  assert.equal(part[0], 7);
  mem.free();
  mem.free(); // idempotent
  assert.equal(mem.open, false);
  assert.equal(mem.bytes.length, 0);
  assert.equal(part.length, 0);
  assert.equal(part[0], undefined);
  assert.throws(() => mem.view.getUint8(0), TypeError);
  assert.throws(() => mem.assertOpen("NativeMemory"), ClosedError);
});
