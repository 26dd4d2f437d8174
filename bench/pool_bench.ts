/**
 * Benchmarks of BufferPool on a Reactor. Runs unchanged on both runtimes:
 *   deno run -A --v8-flags=--expose-gc bench/pool_bench.ts   |   bun bench/pool_bench.ts
 *
 * 1. Lease + release cycle, ns/op, with no network: `pool.take(res, flags)` is fed synthetic
 *    completion flags `(bid << 16) | IORING_CQE_F_BUFFER` for buffers the pool believes are with the
 *    kernel, in the order they were provided; each lease is released at once, and every K releases
 *    the pool flushes. Matrix: backend ring/legacy x detachOnRelease x leakTracking warn/off x K 1/32.
 *    - ring: flush is pool.flush() (a tail store). The kernel never consumed those buffers, so each
 *      re-add writes a slot that already holds the same (addr, len, bid) (ids are taken in slot
 *      order) and the tail runs ahead of the kernel's head by more than the ring size. That is
 *      harmless here: the kernel reads a buffer ring only when a receive selects from it, and no
 *      receive is ever armed on these groups; the tail is u16 and wraps by design.
 *    - legacy: flush is reactor.runOnce(0), i.e. the pool's PROVIDE_BUFFERS SQEs are submitted and
 *      their CQEs reaped inside the timed loop. The kernel appends every provided buffer to the group's
 *      list (it cannot tell they are duplicates; 6.x caps a list at 65535), so after each sample an
 *      untimed REMOVE_BUFFERS empties the list, and its count is checked against what was re-provided.
 * 2. Heap bytes allocated per take+release in steady state: process.memoryUsage().heapUsed before and
 *    after a short burst of cycles, with a forced full GC before (globalThis.gc under
 *    --v8-flags=--expose-gc, Bun.gc(true) on Bun). Approximate: a young-generation GC inside the burst
 *    hides allocations (hence short bursts and the median of many). Two controls (nothing; one small
 *    object per op) show what the method reads; where heapUsed does not move for the control (JSC
 *    updates it only at GC), the pool figures are reported as n/a rather than as 0.
 * 3. Receive throughput through the pool on one TCP pair on 127.0.0.1: a sender (prepSend from one
 *    64 KiB NativeMemory, one send in flight) and a multishot StreamReceiver whose handler checks the
 *    first and last byte of each lease against the stream pattern and releases it at once. Both ends
 *    run on this one JS thread. Each pool config has its own reactor and pair; runs go round-robin.
 * 4. Idle connections: N TCP pairs, each server side with a multishot StreamReceiver armed on one
 *    pool. Buffer bytes (buffersTotal x bufferSize) and buffers with the kernel before and after show
 *    that an idle connection pins no buffer; RSS (VmRSS) and heap deltas per connection are printed.
 *
 * Prints a table per section and a final `RESULT {json}` line. Each timed figure is the median of
 * several runs after untimed warm-up runs.
 */
import { readFileSync } from "node:fs";
import { benchContext } from "./machine.ts";
import process from "node:process";
import { BufferPool, type BufferPoolOptions, type Lease } from "../mod.ts";
import {
  abi,
  NativeMemory,
  prepAccept,
  prepRemoveBuffers,
  prepSend,
  Reactor,
  type Ring,
  type StreamHandler,
  StreamReceiver,
} from "../ring.ts";
import { closeFd, localAddress, tcpConnect, tcpListen } from "../sys.ts";
import { patternBytes } from "../tests/helpers.ts";

// --- common ------------------------------------------------------------------------------------

interface Stats {
  median: number;
  min: number;
  max: number;
}

function summarize(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

const loose = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
/** Forces a full GC where the runtime exposes one; false otherwise (feature detection only). */
function forceGc(): boolean {
  if (loose.Bun && typeof loose.Bun.gc === "function") {
    loose.Bun.gc(true);
    return true;
  }
  if (typeof loose.gc === "function") {
    loose.gc();
    return true;
  }
  return false;
}
const canGc = forceGc();

function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

/** Resident set size in bytes, from /proc/self/status. */
function vmRss(): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return !m || m[1] === "unlimited" ? 1 << 20 : Number(m[1]);
  } catch {
    return 1024;
  }
}

/** Accepts `clients.length` pending connections on `listener` through the ring, in order of completion. */
function acceptAll(ring: Ring, listener: number, count: number): number[] {
  const ACCEPT = 0xacce97;
  const servers: number[] = [];
  let errors = 0;
  for (let i = 0; i < count; i++) {
    const slot = ring.getSqe();
    prepAccept(ring.sqes, slot, listener, 0, 0, abi.SOCK_CLOEXEC);
    ring.sqes.setUserData(slot, ACCEPT);
  }
  const deadline = performance.now() + 5000;
  while (servers.length + errors < count && performance.now() < deadline) {
    ring.submitAndWait(1, 100);
    ring.reap((ud, res) => {
      if (ud !== ACCEPT) return;
      if (res >= 0) servers.push(res);
      else errors++;
    });
  }
  if (servers.length !== count) throw new Error(`accept: ${servers.length} of ${count} (${errors} errors)`);
  return servers;
}

/** One connected TCP pair on 127.0.0.1: [client, server]. */
function tcpPair(ring: Ring): [number, number] {
  const listener = tcpListen();
  try {
    const client = tcpConnect("127.0.0.1", localAddress(listener).port);
    return [client, acceptAll(ring, listener, 1)[0]];
  } finally {
    closeFd(listener);
  }
}

/** 1/5/15-minute load averages: other work on the machine skews the throughput figures most. */
function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

const started = performance.now();
const loadAtStart = loadAverage();
const { runtime, version, machine, date } = benchContext();

const fmt = (x: number, digits: number) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "n/a";
const round = (x: number, d: number) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);

// --- 1. lease + release cycle ------------------------------------------------------------------

const CYCLE_BUFFERS = 1024;
const CYCLE_BUFFER_SIZE = 4096;
const CYCLE_LEN = 1000; // the "received" length each synthetic completion reports
// Per sample. A multiple of 32; for legacy it also keeps the kernel's list (initial 1024 + re-provided)
// below its 65535 cap between the untimed drains.
const CYCLE_OPS = 32_768;
const CYCLE_WARMUP = 3;
const CYCLE_RUNS = 9;
const CQE_FLAGS = new Int32Array(CYCLE_BUFFERS);
for (let bid = 0; bid < CYCLE_BUFFERS; bid++) {
  CQE_FLAGS[bid] = (bid << abi.IORING_CQE_BUFFER_SHIFT) | abi.IORING_CQE_F_BUFFER;
}

let sink = 0; // consumed bytes, so the JIT cannot drop the reads

/**
 * take + read one byte + release, then `flush()` every `every` releases: pool.flush() for a ring (one
 * tail store); for the legacy op a reactor turn that submits and reaps the PROVIDE_BUFFERS. ns/op.
 * `forward`: read the lease's address instead of a byte, as a write of the lease (echo, proxy) does.
 */
function cycles(pool: BufferPool, ops: number, every: number, flush: () => void, forward = false): number {
  let bid = 0;
  let left = every;
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    const lease = pool.take(CYCLE_LEN, CQE_FLAGS[bid]);
    sink = (sink + (forward ? lease.address : lease.bytes[CYCLE_LEN - 1])) | 0;
    lease.release();
    if (++bid === CYCLE_BUFFERS) bid = 0;
    if (--left === 0) {
      left = every;
      flush();
    }
  }
  return ((performance.now() - t0) * 1e6) / ops;
}

interface CycleConfig {
  backend: "ring" | "legacy";
  detach: boolean;
  leak: "warn" | "off";
  reactor: Reactor;
  pool: BufferPool;
  /** Hands released buffers to the kernel: pool.flush() (ring) or a reactor turn (legacy op). */
  flush: () => void;
  /** legacy: buffers the kernel's list holds (it never consumes any here). */
  inKernel: number;
  removeToken: number;
  removed: number;
  samples: Map<number, number[]>; // K -> ns/op samples
  bytesPerOp: number[];
  opsDone: number;
}

function makeCycleConfig(backend: "ring" | "legacy", detach: boolean, leak: "warn" | "off"): CycleConfig {
  const reactor = new Reactor({ entries: 256 });
  const pool = new BufferPool(reactor, {
    backend,
    bufferSize: CYCLE_BUFFER_SIZE,
    count: CYCLE_BUFFERS,
    detachOnRelease: detach,
    leakTracking: leak,
  });
  if (backend === "legacy") reactor.runUntil(() => reactor.ring.pending === 0 && reactor.ring.cqReady === 0, 1000);
  const cfg: CycleConfig = {
    backend,
    detach,
    leak,
    reactor,
    pool,
    flush: backend === "ring" ? () => pool.flush() : () => void reactor.runOnce(0),
    inKernel: backend === "legacy" ? CYCLE_BUFFERS : 0,
    removeToken: 0,
    removed: -1,
    samples: new Map([[1, []], [32, []]]),
    bytesPerOp: [],
    opsDone: 0,
  };
  cfg.removeToken = reactor.register({ complete: (res) => (cfg.removed = res) });
  return cfg;
}

function runCycles(cfg: CycleConfig, ops: number, every: number): number {
  const ns = cycles(cfg.pool, ops, every, cfg.flush);
  cfg.opsDone += ops;
  if (cfg.backend === "legacy") drainLegacy(cfg, ops);
  return ns;
}

/** Untimed: REMOVE_BUFFERS empties the kernel's list; the count proves every release was re-provided. */
function drainLegacy(cfg: CycleConfig, reprovided: number): void {
  cfg.inKernel += reprovided;
  cfg.removed = -1;
  // Straight to the pool's group: a second ProvidedBufferGroup object may not take the pool's id.
  prepRemoveBuffers(cfg.reactor.ring.sqes, cfg.reactor.prepare(cfg.removeToken), 65536, cfg.pool.groupId);
  if (!cfg.reactor.runUntil(() => cfg.removed >= 0, 2000)) throw new Error("REMOVE_BUFFERS did not complete");
  if (cfg.removed !== cfg.inKernel) {
    throw new Error(
      `legacy: kernel list held ${cfg.removed} buffers, expected ${cfg.inKernel} (provideErrors ${cfg.pool.stats().provideErrors})`,
    );
  }
  cfg.inKernel = 0;
}

function checkCyclePool(cfg: CycleConfig): void {
  const s = cfg.pool.stats();
  if (
    s.leasesMade !== cfg.opsDone || s.leasesActive !== 0 || s.buffersFree !== s.buffersTotal || s.provideErrors !== 0
  ) {
    throw new Error(`${cfg.backend} pool after cycles: ${JSON.stringify(s)} (ops ${cfg.opsDone})`);
  }
}

const cycleConfigs: CycleConfig[] = [];
for (const backend of ["ring", "legacy"] as const) {
  for (const detach of [true, false]) {
    for (const leak of ["warn", "off"] as const) cycleConfigs.push(makeCycleConfig(backend, detach, leak));
  }
}
const FLUSH_EVERY = [1, 32];
// Round-robin over every (config, K), so JIT state and machine noise spread evenly over all of them.
for (let round = 0; round < CYCLE_WARMUP + CYCLE_RUNS; round++) {
  for (const cfg of cycleConfigs) {
    for (const k of FLUSH_EVERY) {
      const ns = runCycles(cfg, CYCLE_OPS, k);
      if (round >= CYCLE_WARMUP) cfg.samples.get(k)!.push(ns);
    }
  }
}

// --- 2. heap bytes per take + release ----------------------------------------------------------

// Short bursts: a young-generation GC inside one would hide allocations (and V8's nursery starts at ~1 MB).
const ALLOC_OPS = 2048;
const ALLOC_SAMPLES = 15;
const objectSink: ({ a: number; b: number } | undefined)[] = new Array(1024).fill(undefined);

function bytesPerOp(run: (ops: number) => void, after?: () => void): number[] {
  const out: number[] = [];
  for (let s = 0; s < ALLOC_SAMPLES; s++) {
    forceGc();
    const h0 = heapUsed();
    run(ALLOC_OPS);
    const h1 = heapUsed();
    after?.();
    out.push((h1 - h0) / ALLOC_OPS);
  }
  return out;
}

let allocControlEmpty: Stats | undefined, allocControlObject: Stats | undefined;
let forwardBytesPerOp: number[] = []; // ring, no detach, no leak net; the lease's bytes never read
let heapUsedCounts = false;
if (canGc) {
  const empty = (ops: number) => {
    for (let i = 0; i < ops; i++) sink = (sink + i) | 0;
  };
  const object = (ops: number) => {
    for (let i = 0; i < ops; i++) objectSink[i & 1023] = { a: i, b: sink };
  };
  empty(ALLOC_OPS);
  object(ALLOC_OPS);
  allocControlEmpty = summarize(bytesPerOp(empty));
  allocControlObject = summarize(bytesPerOp(object));
  // A small object is >= 16 bytes in every engine: if the control reads less, heapUsed does not count
  // allocations between GCs in this runtime (JSC reports the size found by the last collection).
  heapUsedCounts = allocControlObject.median >= 8;
}
if (heapUsedCounts) {
  for (const cfg of cycleConfigs) {
    const k = 32;
    const run = (ops: number) => cycles(cfg.pool, ops, k, cfg.flush);
    const after = () => {
      cfg.opsDone += ALLOC_OPS;
      if (cfg.backend === "legacy") drainLegacy(cfg, ALLOC_OPS);
    };
    cfg.bytesPerOp = bytesPerOp(run, after);
  }
  const echoLike = cycleConfigs.find((c) => c.backend === "ring" && !c.detach && c.leak === "off")!;
  forwardBytesPerOp = bytesPerOp(
    (ops) => cycles(echoLike.pool, ops, 32, echoLike.flush, true),
    () => echoLike.opsDone += ALLOC_OPS,
  );
}
objectSink.fill(undefined);

for (const cfg of cycleConfigs) {
  checkCyclePool(cfg);
  cfg.pool.close();
  cfg.reactor.close();
}
const cyclesDoneS = (performance.now() - started) / 1000;

// --- 3. receive throughput ---------------------------------------------------------------------

const SEND_CHUNK = 64 * 1024; // power of two: stream byte at offset o is PATTERN[o & (SEND_CHUNK - 1)]
const PATTERN = patternBytes(0x5eed, SEND_CHUNK);
const STREAM_TOTAL = 256 * 1024 * 1024;
const STREAM_WARMUP = 32 * 1024 * 1024;
const STREAM_RUNS = 5;

// One handler for every receiver: distinct handlers would make the call site in the receiver polymorphic.
let rxBytes = 0;
let rxBad = 0;
let rxEnded = false;
let rxError: unknown;
const rxHandler: StreamHandler = {
  data(lease: Lease) {
    const b = lease.bytes;
    const n = b.length;
    if (b[0] !== PATTERN[rxBytes & (SEND_CHUNK - 1)] || b[n - 1] !== PATTERN[(rxBytes + n - 1) & (SEND_CHUNK - 1)]) {
      rxBad++;
    }
    rxBytes += n;
    lease.release();
  },
  end(error) {
    rxEnded = true;
    rxError = error;
  },
};

/** Sends `total` bytes of the repeating pattern, one send in flight, resuming partial sends. */
class Sender {
  readonly #reactor: Reactor;
  readonly #fd: number;
  readonly #mem = new NativeMemory(SEND_CHUNK);
  readonly #token: number;
  #target = 0;
  sent = 0;
  error = 0;

  constructor(reactor: Reactor, fd: number) {
    this.#reactor = reactor;
    this.#fd = fd;
    this.#mem.bytes.set(PATTERN);
    this.#token = reactor.register({ complete: (res) => this.#complete(res) });
  }

  send(total: number): void {
    this.#target = this.sent + total;
    this.#next();
  }

  #next(): void {
    if (this.sent >= this.#target) return;
    const off = this.sent & (SEND_CHUNK - 1);
    const n = Math.min(SEND_CHUNK - off, this.#target - this.sent);
    const ring = this.#reactor.ring;
    const slot = ring.getSqe();
    prepSend(ring.sqes, slot, this.#fd, this.#mem.address + off, n, 0);
    ring.sqes.setUserData(slot, this.#token);
  }

  #complete(res: number): void {
    if (res < 0) {
      this.error = -res;
      return;
    }
    this.sent += res;
    this.#next();
  }

  close(): void {
    this.#reactor.unregister(this.#token);
    this.#mem.free();
  }
}

interface Stream {
  name: string;
  options: BufferPoolOptions;
  reactor: Reactor;
  client: number;
  server: number;
  pool: BufferPool;
  receiver: StreamReceiver;
  sender: Sender;
  received: number; // this stream's byte offset, swapped into rxBytes while it runs
  samples: number[];
}

interface ThroughputResult {
  name: string;
  mibPerS: Stats;
  bytesPerLease: number;
  enobufs: number;
}

function openStream(name: string, options: BufferPoolOptions): Stream {
  const reactor = new Reactor({ entries: 256 });
  const [client, server] = tcpPair(reactor.ring);
  const pool = new BufferPool(reactor, options);
  const receiver = new StreamReceiver(pool, server, rxHandler).start();
  const sender = new Sender(reactor, client);
  return { name, options, reactor, client, server, pool, receiver, sender, received: 0, samples: [] };
}

/** Streams `total` bytes through `st`; returns MiB/s from the first send to the last byte released. */
function runStream(st: Stream, total: number): number {
  rxBytes = st.received;
  rxBad = 0;
  const goal = rxBytes + total;
  const t0 = performance.now();
  st.sender.send(total);
  const done = st.reactor.runUntil(() => rxBytes >= goal || rxEnded || st.sender.error !== 0, 30_000);
  const ms = performance.now() - t0;
  st.received = rxBytes;
  if (!done || rxBytes !== goal || st.sender.error || rxEnded) {
    throw new Error(
      `${st.name}: received ${rxBytes} of ${goal} (sender errno ${st.sender.error}, ended ${rxEnded}, ${rxError})`,
    );
  }
  if (rxBad !== 0) throw new Error(`${st.name}: ${rxBad} leases did not hold the bytes sent at their stream offset`);
  return total / (1024 * 1024) / (ms / 1000);
}

function closeStream(st: Stream): ThroughputResult {
  rxEnded = false;
  rxError = undefined;
  rxBytes = st.received;
  closeFd(st.client);
  if (!st.reactor.runUntil(() => rxEnded, 5000) || rxError) throw new Error(`${st.name}: no clean EOF (${rxError})`);
  st.reactor.runOnce(0);
  const s = st.pool.stats();
  if (
    s.leasesActive !== 0 || s.buffersFree !== s.buffersTotal || s.bytesReceived !== st.received || st.receiver.active
  ) {
    throw new Error(`${st.name}: pool after stream: ${JSON.stringify(s)}`);
  }
  st.sender.close();
  st.pool.close();
  closeFd(st.server);
  st.reactor.close();
  return {
    name: st.name,
    mibPerS: summarize(st.samples),
    bytesPerLease: s.bytesReceived / s.leasesMade,
    enobufs: s.enobufs,
  };
}

const openStreams: Stream[] = [
  openStream("ring, 4096 B x 1024", { backend: "ring", bufferSize: 4096, count: 1024 }),
  openStream("ring, 65536 B x 64", { backend: "ring", bufferSize: 65536, count: 64 }),
  openStream("legacy, 4096 B x 1024", { backend: "legacy", bufferSize: 4096, count: 1024 }),
  openStream("ring, 4096 B x 1024, no detach, no leak net", {
    backend: "ring",
    bufferSize: 4096,
    count: 1024,
    detachOnRelease: false,
    leakTracking: "off",
  }),
];
// Round-robin again: this machine's throughput drifts by tens of percent over seconds.
for (const st of openStreams) runStream(st, STREAM_WARMUP);
for (let run = 0; run < STREAM_RUNS; run++) {
  for (const st of openStreams) st.samples.push(runStream(st, STREAM_TOTAL));
}
const streams = openStreams.map(closeStream);
const streamsDoneS = (performance.now() - started) / 1000;

// --- 4. idle connections -----------------------------------------------------------------------

// Two fds per pair plus a margin for the rings, the listener and the runtime's own.
const IDLE_PAIRS = Math.max(1, Math.min(1000, Math.floor((openFileLimit() - 200) / 2)));
const ACCEPT_BATCH = 128;

let idleDelivered = 0;
const idleHandler: StreamHandler = {
  data(lease: Lease) {
    idleDelivered++;
    lease.release();
  },
  end() {},
};

function idleConnections(n: number) {
  const reactor = new Reactor({ entries: 1024 });
  const pool = new BufferPool(reactor, { backend: "ring", bufferSize: 4096, count: 1024 });
  const bufferBytes = () => pool.stats().buffersTotal * pool.bufferSize;
  forceGc();
  const before = { bufferBytes: bufferBytes(), buffersFree: pool.stats().buffersFree, rss: vmRss(), heap: heapUsed() };

  const listener = tcpListen();
  const port = localAddress(listener).port;
  const clients: number[] = [];
  const servers: number[] = [];
  for (let i = 0; i < n; i += ACCEPT_BATCH) {
    const m = Math.min(ACCEPT_BATCH, n - i);
    for (let j = 0; j < m; j++) clients.push(tcpConnect("127.0.0.1", port));
    servers.push(...acceptAll(reactor.ring, listener, m));
  }
  closeFd(listener);
  forceGc();
  const sockets = { rss: vmRss(), heap: heapUsed() };

  const receivers = servers.map((fd) => new StreamReceiver(pool, fd, idleHandler).start());
  reactor.runOnce(0);
  reactor.runOnce(0);
  forceGc();
  const armed = {
    bufferBytes: bufferBytes(),
    buffersFree: pool.stats().buffersFree,
    rss: vmRss(),
    heap: heapUsed(),
    active: receivers.filter((r) => r.active).length,
  };

  // Liveness: the receives really are armed (one byte on the first and the last pair arrives).
  const one = new NativeMemory(4096);
  for (const fd of [clients[0], clients[n - 1]]) {
    const slot = reactor.ring.getSqe();
    prepSend(reactor.ring.sqes, slot, fd, one.address, 1, 0);
    reactor.ring.sqes.setUserData(slot, 0);
  }
  const live = reactor.runUntil(() => idleDelivered >= Math.min(2, n), 2000);
  reactor.runOnce(0);
  const afterLive = { bufferBytes: bufferBytes(), buffersFree: pool.stats().buffersFree };

  // Stop every receive: each yields two CQEs (the cancel's and the recv's -ECANCELED).
  for (const r of receivers) r.stop();
  let cqes = 0;
  const deadline = performance.now() + 5000;
  while (cqes < 2 * n && performance.now() < deadline) cqes += reactor.runOnce(10);
  for (const fd of clients) closeFd(fd);
  for (const fd of servers) closeFd(fd);
  one.free();
  pool.close();
  reactor.close();
  forceGc();
  const closed = { rss: vmRss(), heap: heapUsed() };
  return { n, before, sockets, armed, live, delivered: idleDelivered, afterLive, stopCqes: cqes, closed };
}

const idle = idleConnections(IDLE_PAIRS);
if (!idle.live) throw new Error(`idle: the test bytes did not arrive (${idle.delivered} of 2)`);
if (idle.armed.active !== idle.n) throw new Error(`idle: ${idle.armed.active} of ${idle.n} receivers active`);
const elapsedS = (performance.now() - started) / 1000;

// --- report ------------------------------------------------------------------------------------

console.log(`machine  ${machine.cpu} (${machine.cpus} CPUs), kernel ${machine.kernel}`);
console.log(`runtime  ${runtime} ${version}`);
console.log(`date     ${date}`);
console.log(`load     ${loadAtStart} at start, ${loadAverage()} at end (1/5/15 min; this bench keeps one CPU busy)`);
console.log();

const cell = (s: Stats, d: number) =>
  `${fmt(s.median, d).padStart(8)} ${`(${fmt(s.min, d)}..${fmt(s.max, d)})`.padEnd(17)}`;
const label = (c: CycleConfig) => `${c.backend.padEnd(8)}${(c.detach ? "on" : "off").padEnd(8)}${c.leak.padEnd(6)}`;

console.log(
  `1. lease + release cycle (take + read 1 byte + release), ${CYCLE_BUFFERS} buffers, synthetic CQEs, no I/O`,
);
console.log(
  `${"backend".padEnd(8)}${"detach".padEnd(8)}${"leak".padEnd(6)}${"flush every 1".padEnd(27)}${
    "flush every 32".padEnd(27)
  }unit`,
);
for (const c of cycleConfigs) {
  console.log(`${label(c)}${cell(summarize(c.samples.get(1)!), 1)}  ${cell(summarize(c.samples.get(32)!), 1)}  ns/op`);
}
console.log(
  `(medians of ${CYCLE_RUNS} runs of ${CYCLE_OPS} cycles, min..max; ring flush = pool.flush(); ` +
    `legacy flush = reactor.runOnce(0): PROVIDE_BUFFERS submitted + reaped in the timed loop)`,
);
console.log();

console.log(`2. heap bytes allocated per take + release (flush every 32; approximate, see header)`);
if (canGc) {
  console.log(`${"".padEnd(22)}${"median".padStart(8)} ${"(min..max)".padEnd(17)}  unit`);
  console.log(`${"control: empty loop".padEnd(22)}${cell(allocControlEmpty!, 1)}  B/op`);
  console.log(`${"control: {a, b} / op".padEnd(22)}${cell(allocControlObject!, 1)}  B/op`);
  if (heapUsedCounts) {
    for (const c of cycleConfigs) console.log(`${label(c)}${cell(summarize(c.bytesPerOp), 1)}  B/op`);
    console.log(
      `${"ring off off, fwd".padEnd(22)}${cell(summarize(forwardBytesPerOp), 1)}  B/op  (address read, not bytes)`,
    );
    console.log(`(heapUsed delta over ${ALLOC_OPS} cycles after a forced GC; median of ${ALLOC_SAMPLES} bursts)`);
  } else {
    console.log(
      `(n/a: heapUsed did not move for the control allocation, so it does not count allocations between GCs ` +
        `in this runtime; pool figures skipped rather than printed as 0)`,
    );
  }
} else {
  console.log(`(skipped: no GC to force; run Deno with --v8-flags=--expose-gc)`);
}
console.log();

console.log(`3. receive throughput, one TCP pair on 127.0.0.1, multishot recv, leases released at once`);
console.log(`${"pool".padEnd(44)}${"median".padStart(8)} ${"(min..max)".padEnd(17)}  unit    B/lease  ENOBUFS`);
for (const r of streams) {
  console.log(
    `${r.name.padEnd(44)}${cell(r.mibPerS, 0)}  MiB/s ${fmt(r.bytesPerLease, 0).padStart(9)} ${
      String(r.enobufs).padStart(8)
    }`,
  );
}
console.log(
  `(${STREAM_TOTAL / 2 ** 20} MiB per run in ${
    SEND_CHUNK / 1024
  } KiB sends, one in flight; median of ${STREAM_RUNS} runs after ` +
    `${STREAM_WARMUP / 2 ** 20} MiB warm-up; sender and receiver share this JS thread)`,
);
console.log();

const perConn = (a: number, b: number) => (b - a) / idle.n;
console.log(`4. ${idle.n} idle TCP pairs, each with a multishot StreamReceiver armed on one ring pool (4096 B x 1024)`);
console.log(
  `${"pool buffer bytes (buffersTotal x bufferSize)".padEnd(52)}${fmt(idle.before.bufferBytes, 0).padStart(12)} -> ${
    fmt(idle.armed.bufferBytes, 0)
  } B`,
);
console.log(
  `${"buffers with the kernel (buffersFree)".padEnd(52)}${fmt(idle.before.buffersFree, 0).padStart(12)} -> ${
    fmt(idle.armed.buffersFree, 0)
  }`,
);
console.log(
  `${"buffer bytes per idle connection".padEnd(52)}${
    fmt(perConn(idle.before.bufferBytes, idle.armed.bufferBytes), 0).padStart(12)
  } B`,
);
console.log(
  `${"RSS per connection (2 fds + armed receiver)".padEnd(52)}${
    fmt(perConn(idle.before.rss, idle.armed.rss), 0).padStart(12)
  } B`,
);
console.log(
  `${"  of which: opening the sockets".padEnd(52)}${fmt(perConn(idle.before.rss, idle.sockets.rss), 0).padStart(12)} B`,
);
console.log(
  `${"  of which: arming the receivers".padEnd(52)}${fmt(perConn(idle.sockets.rss, idle.armed.rss), 0).padStart(12)} B`,
);
console.log(
  `${"JS heap per armed receiver (after forced GC)".padEnd(52)}${
    fmt(perConn(idle.sockets.heap, idle.armed.heap), 0).padStart(12)
  } B`,
);
console.log(
  `(liveness: 1 byte sent on 2 pairs arrived as ${idle.delivered} leases, buffersFree then ${idle.afterLive.buffersFree}; ` +
    `stop: ${idle.stopCqes}/${2 * idle.n} CQEs)`,
);
console.log(
  `(RSS is VmRSS after a forced GC, page- and GC-granular: a few hundred B/connection is within its noise; ` +
    `kernel memory for the sockets and the armed receives is not in RSS)`,
);
console.log(
  `(elapsed: cycles+alloc ${cyclesDoneS.toFixed(1)} s, streams ${(streamsDoneS - cyclesDoneS).toFixed(1)} s, total ${
    elapsedS.toFixed(1)
  } s)`,
);

const cycleKey = (c: CycleConfig) =>
  `${c.backend}_detach${c.detach ? "On" : "Off"}_leak${c.leak === "warn" ? "Warn" : "Off"}`;
console.log(
  "RESULT " +
    JSON.stringify({
      runtime,
      version,
      ...machine,
      date,
      loadAtStart,
      cycleNsPerOp: Object.fromEntries(
        cycleConfigs.map((c) => [cycleKey(c), {
          flush1: round(summarize(c.samples.get(1)!).median, 1),
          flush32: round(summarize(c.samples.get(32)!).median, 1),
        }]),
      ),
      heapBytesPerOp: heapUsedCounts
        ? {
          controlEmpty: round(allocControlEmpty!.median, 1),
          controlObject: round(allocControlObject!.median, 1),
          ...Object.fromEntries(cycleConfigs.map((c) => [cycleKey(c), round(summarize(c.bytesPerOp).median, 1)])),
        }
        : null,
      receiveMiBPerS: Object.fromEntries(streams.map((r) => [r.name, round(r.mibPerS.median, 0)])),
      idle: {
        pairs: idle.n,
        bufferBytesBefore: idle.before.bufferBytes,
        bufferBytesAfter: idle.armed.bufferBytes,
        buffersFreeBefore: idle.before.buffersFree,
        buffersFreeAfter: idle.armed.buffersFree,
        rssPerConnBytes: Math.round(perConn(idle.before.rss, idle.armed.rss)),
        rssPerReceiverBytes: Math.round(perConn(idle.sockets.rss, idle.armed.rss)),
        heapPerReceiverBytes: Math.round(perConn(idle.sockets.heap, idle.armed.heap)),
      },
      elapsedS: round(elapsedS, 2),
    }),
);
