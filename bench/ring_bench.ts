/**
 * Micro-benchmarks of the Ring hot paths: NOP round trip, batched NOP throughput, SQE prep cost and
 * CQE reap cost; and what one empty polling turn of the Driver costs, beside a bare setImmediate
 * loop. Runs unchanged on both runtimes:
 *   deno run -A bench/ring_bench.ts   |   bun bench/ring_bench.ts
 * Prints a table and a final `RESULT {json}` line for scripts. Each figure is the median of several
 * timed runs after untimed warm-up runs (so the JIT has compiled the loops before we time them).
 */
import { benchContext } from "./machine.ts";
import { Driver, prepNop, prepRecv, Reactor, Ring } from "../ring.ts";

// One handler for every reap in this file: distinct closures would make the call site inside
// Ring.reap polymorphic and skew the reap figure against what a single-handler app sees.
let reaped = 0;
let checksum = 0;
function onCqe(userData: number, res: number): void {
  reaped++;
  // Consume the arguments so the JIT cannot drop them. Int32 on purpose: a module-level double would
  // be re-boxed on every store in V8, adding ~8 ns per CQE to Deno's figure that is not the Ring's.
  checksum = (checksum + userData + res) | 0;
}

/** Fails the run loudly rather than timing a loop that silently did less work than claimed. */
function expectReaped(before: number, expected: number, what: string): void {
  const got = reaped - before;
  if (got !== expected) throw new Error(`${what}: reaped ${got} CQEs, expected ${expected}`);
}

interface Stats {
  median: number;
  min: number;
  max: number;
}

/** Calls `run` `warmup` times untimed, then `runs` times; each call returns one sample. */
function measure(warmup: number, runs: number, run: () => number): Stats {
  for (let i = 0; i < warmup; i++) run();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(run());
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const median = samples.length % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  return { median, min: samples[0], max: samples[samples.length - 1] };
}

/** ns per round trip: one NOP, submitAndWait(1), reap; `n` times in a row. */
function nopRoundTrip(ring: Ring, n: number): number {
  const sqes = ring.sqes;
  const before = reaped;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const slot = ring.getSqe();
    prepNop(sqes, slot);
    sqes.setUserData(slot, i);
    ring.submitAndWait(1);
    ring.reap(onCqe);
  }
  const ms = performance.now() - t0;
  expectReaped(before, n, "NOP round trip");
  return (ms * 1e6) / n;
}

/** NOPs per second, submitted `batch` at a time with one submitAndWait(batch) and one reap each. */
function nopBatches(ring: Ring, batch: number, batches: number): number {
  const sqes = ring.sqes;
  const before = reaped;
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < batch; i++) {
      const slot = ring.getSqe();
      prepNop(sqes, slot);
      sqes.setUserData(slot, i);
    }
    ring.submitAndWait(batch);
    ring.reap(onCqe);
  }
  const ms = performance.now() - t0;
  expectReaped(before, batch * batches, `NOP batches of ${batch}`);
  return (batch * batches) / (ms / 1000);
}

/**
 * ns per getSqe + prepRecv + setUserData. Only the prep loop over the whole (empty) SQ is timed; the
 * submit that frees the slots for the next round happens after the clock stops.
 */
function prepCost(ring: Ring): number {
  const sqes = ring.sqes;
  const n = ring.entries;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const slot = ring.getSqe();
    prepRecv(sqes, slot, -1, 0, 0, 0);
    sqes.setUserData(slot, i);
  }
  const ms = performance.now() - t0;
  // Untimed reset. Turn the recvs into NOPs first: how a recv on a bad fd fails (and whether the
  // kernel keeps submitting after it) varies by kernel, a NOP always completes inline.
  // The SQ was empty, so this round used exactly slots 0..n-1.
  for (let slot = 0; slot < n; slot++) prepNop(sqes, slot);
  const before = reaped;
  ring.submitAndWait(n);
  ring.reap(onCqe);
  expectReaped(before, n, "prep reset");
  return (ms * 1e6) / n;
}

/** ns per CQE reaped from a full CQ of NOP completions; only the reap call is timed. */
function reapCost(ring: Ring): number {
  const sqes = ring.sqes;
  const n = ring.cqEntries;
  for (let i = 0; i < n; i++) {
    const slot = ring.getSqe();
    prepNop(sqes, slot);
    sqes.setUserData(slot, i);
  }
  ring.submitAndWait(n);
  if (ring.cqReady !== n) throw new Error(`reap: CQ holds ${ring.cqReady} CQEs, expected ${n}`);
  const before = reaped;
  const t0 = performance.now();
  ring.reap(onCqe);
  const ms = performance.now() - t0;
  expectReaped(before, n, "reap");
  return (ms * 1e6) / n;
}

const setImmediateFn = (globalThis as unknown as { setImmediate: (fn: () => void) => unknown }).setImmediate;

/**
 * ns per macrotask turn over `ms`: a Driver kept busy with nothing to reap (what each poll of an idle
 * gap costs before it parks), or a bare setImmediate loop (the runtime's part of that).
 */
function emptyTurns(ms: number, withDriver: boolean): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    if (!withDriver) {
      let turns = 0;
      let running = true;
      const next = () => {
        turns++;
        if (running) setImmediateFn(next);
      };
      setImmediateFn(next);
      setTimeout(() => {
        running = false;
        resolve(((performance.now() - t0) * 1e6) / turns);
      }, ms);
      return;
    }
    const reactor = new Reactor({ entries: 64, flags: Driver.ringFlags });
    const driver = new Driver(reactor);
    // A submit hook that asks for another turn keeps the driver polling instead of parking (no clock
    // read in it: that would be part of the figure); a timer ends the run.
    let running = true;
    reactor.addHook({ flush: () => running && reactor.requestTurn() });
    driver.ref();
    setTimeout(() => {
      running = false;
      const ns = ((performance.now() - t0) * 1e6) / driver.stats().turns;
      driver.unref();
      driver.close();
      resolve(ns);
    }, ms);
  });
}

/** measure() for an async sample. */
async function measureAsync(warmup: number, runs: number, run: () => Promise<number>): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await run());
  samples.sort((a, b) => a - b);
  return { median: samples[samples.length >> 1], min: samples[0], max: samples[samples.length - 1] };
}

// --- run ---------------------------------------------------------------------------------------

const started = performance.now();
const { runtime, version, machine, date } = benchContext();

// Sizes are picked so each timed run lasts tens of ms (or, for prep/reap, each sample covers 4096
// ops, well above timer resolution) and the whole program stays within a few seconds.
const RTT_ITERS = 50_000;
const BATCH_NOPS = 262_144; // per run, for either batch size
const RUNS = 11;
const ROUNDS = 501; // prep/reap samples, one per full ring of 4096

let rtt: Stats, batch32: Stats, batch256: Stats, prep: Stats, reap: Stats, ringFlags: number;
{
  using ring = new Ring({ entries: 256 });
  ringFlags = ring.setupFlags;
  rtt = measure(2, RUNS, () => nopRoundTrip(ring, RTT_ITERS));
  batch32 = measure(2, RUNS, () => nopBatches(ring, 32, BATCH_NOPS / 32));
  batch256 = measure(2, RUNS, () => nopBatches(ring, 256, BATCH_NOPS / 256));
}
{
  using ring = new Ring({ entries: 4096 });
  prep = measure(50, ROUNDS, () => prepCost(ring));
}
{
  // CQ the same size as the SQ, so one batch of NOPs fills it exactly.
  using ring = new Ring({ entries: 4096, cqEntries: 4096 });
  reap = measure(50, ROUNDS, () => reapCost(ring));
}
const turnBare = await measureAsync(1, 5, () => emptyTurns(200, false));
const turnDriver = await measureAsync(1, 5, () => emptyTurns(200, true));
const elapsedS = (performance.now() - started) / 1000;

const rows: [string, Stats, string, number][] = [
  ["NOP round trip (submitAndWait(1) + reap)", rtt, "ns/op", 0],
  ["NOP throughput, batches of 32", batch32, "NOP/s", 0],
  ["NOP throughput, batches of 256", batch256, "NOP/s", 0],
  ["SQE prep (getSqe + prepRecv + setUserData)", prep, "ns/op", 2],
  ["CQE reap (full CQ of 4096, trivial handler)", reap, "ns/CQE", 2],
  ["empty turn: a bare setImmediate loop", turnBare, "ns/turn", 0],
  ["empty turn: a Driver polling, nothing to reap", turnDriver, "ns/turn", 0],
];
const fmt = (x: number, digits: number) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

console.log(`machine  ${machine.cpu} (${machine.cpus} CPUs), kernel ${machine.kernel}`);
console.log(`runtime  ${runtime} ${version}`);
console.log(`date     ${date}`);
console.log(`ring     setup flags 0x${ringFlags.toString(16)}`);
console.log();
console.log(`${"figure".padEnd(44)}${"median".padStart(14)}  ${"min .. max".padEnd(26)}unit`);
for (const [name, s, unit, d] of rows) {
  const range = `${fmt(s.min, d)} .. ${fmt(s.max, d)}`;
  console.log(`${name.padEnd(44)}${fmt(s.median, d).padStart(14)}  ${range.padEnd(26)}${unit}`);
}
console.log(
  `(medians of ${RUNS} runs for the first three, of ${ROUNDS} rounds for prep/reap, of 5 runs of 200 ms for the turns; ` +
    `${elapsedS.toFixed(1)} s total)`,
);

const round = (x: number, d: number) => Number(x.toFixed(d));
console.log(
  "RESULT " +
    JSON.stringify({
      runtime,
      version,
      ...machine,
      date,
      ringFlags,
      nopRoundTripNs: round(rtt.median, 1),
      nopPerSecBatch32: Math.round(batch32.median),
      nopPerSecBatch256: Math.round(batch256.median),
      prepNsPerOp: round(prep.median, 2),
      reapNsPerCqe: round(reap.median, 2),
      setImmediateTurnNs: Math.round(turnBare.median),
      driverEmptyTurnNs: Math.round(turnDriver.median),
      elapsedS: round(elapsedS, 2),
    }),
);
