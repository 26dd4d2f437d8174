/**
 * `Driver`: brings a Reactor's completions into JavaScript without freezing the event loop and
 * without burning a core while idle. While busy it polls: one turn (flush, submit, reap, dispatch) per
 * macrotask, so timers and other I/O interleave. When a few turns in a row find nothing, it parks: on
 * Bun the runtime's own loop watches an eventfd the ring signals; on Deno a native wait for one
 * completion runs off the JS thread (a nonblocking FFI call; on Bun too, in a waiter Worker, if no
 * eventfd can be set up) and wakes the loop.
 *
 * The parked waiter only waits (IORING_ENTER_GETEVENTS, no submit). Because it may run on another
 * thread, the ring must not use SINGLE_ISSUER or DEFER_TASKRUN. COOP_TASKRUN is fine: its task work
 * notification (TWA_SIGNAL_NO_IPI) skips the IPI to a running thread but still wakes the JS thread
 * from its event-loop sleep, and the thread then runs the task work that posts the CQE the waiter is
 * waiting for. Without COOP_TASKRUN every completion interrupts the busy JS thread (measured: about
 * 2x the server CPU per echoed message). `Driver.ringFlags` is what to create the ring with.
 *
 * The driver keeps the process alive while it has references (servers, connections); at zero it
 * stops parking (waking the waiter with a NOP) so the process can exit.
 */
import {
  IORING_SETUP_COOP_TASKRUN,
  IORING_SETUP_DEFER_TASKRUN,
  IORING_SETUP_SINGLE_ISSUER,
  IORING_SETUP_TASKRUN_FLAG,
} from "./abi.ts";
import { ClosedError, Errno } from "./errors.ts";
import { kOnIdle, kSettled, kTurn, kWhenUnreferenced } from "./internal.ts";
import { describe, numberError } from "./options.ts";
import { Reactor } from "./reactor.ts";

/** `Driver.stats()`: counters since the driver was made. */
export interface DriverStats {
  /** Turns run (flush, submit, reap, dispatch). */
  turns: number;
  /** Times it went idle and parked (waited for a completion off the JS thread, or in the kernel). */
  parks: number;
  /**
   * How it waits when idle: "thread" (without blocking the JS thread: Bun's loop on the ring's eventfd,
   * or a native wait off the JS thread) or "blocking" (dedicated mode: the JS thread waits in the kernel).
   */
  parkMode: "thread" | "blocking";
}

/**
 * How long the loop keeps polling after the last completion before it parks. Waking a parked waiter
 * costs 20-50 us (a thread hand-off), so a peer that answers within this window is served without
 * one; past it, the loop stops burning the CPU.
 */
const SPIN_BEFORE_PARK_MS = 0.1;
/**
 * An idle gap (from the last completion to the wake after a park, wake-up included) shorter than this
 * means polling would have caught the next completion, so the loop polls before its next park; a
 * longer one means the peer is slower than polling pays for, so it parks at once. A park costs 50-70 us
 * of CPU through a thread hand-off on our test VM (about 20 us in Bun's own loop): with a client sending
 * every millisecond, polling before each park doubled the server's CPU (12% -> 26%).
 */
const SPIN_IF_GAP_BELOW_MS = SPIN_BEFORE_PARK_MS;
/** Completions dispatched per turn: bounds how long one turn holds the JS thread. */
const TURN_BUDGET = 256;

const setImmediateFn = (globalThis as unknown as { setImmediate: (fn: () => void) => unknown }).setImmediate;

/**
 * Runs a {@link Reactor} from the event loop. While busy it runs one turn (flush, submit, reap at
 * most 256 completions, dispatch) per macrotask (`setImmediate`), so timers, promises and other I/O
 * run between turns. After 0.1 ms without a completion it parks without blocking the JS thread: on
 * Bun its own event loop watches the ring's eventfd; on Deno a native wait for one completion runs
 * off the JS thread (a nonblocking FFI call; a waiter Worker on Bun where no eventfd can be set up).
 * In dedicated mode (`blockMs > 0`) the JS thread itself waits in the kernel for up to `blockMs`
 * per idle turn instead. References (ref/unref: servers, connections) keep the process alive; at
 * zero it stops waiting so the process can exit.
 *
 * A parked ring is waited on from another thread, so it must not use SINGLE_ISSUER or
 * DEFER_TASKRUN (create it with `Driver.ringFlags`); dedicated mode allows them.
 *
 * @example Running a reactor of your own without blocking
 * ```ts
 * import { Driver, prepNop, Reactor } from "uring-buffers/ring";
 *
 * const reactor = new Reactor({ entries: 256, flags: Driver.ringFlags });
 * const driver = new Driver(reactor, (e) => console.error("a completion handler threw:", e));
 * driver.ref(); // keep turning (and the process alive) until unref()
 * const token = reactor.register({
 *   complete(res) {
 *     console.log("nop done:", res);
 *     driver.unref();
 *     driver.close(); // closes the reactor too
 *   },
 * });
 * prepNop(reactor.ring.sqes, reactor.prepare(token)); // prepare() wakes the driver
 * ```
 */
export class Driver {
  /** Setup flags for a ring this driver parks on: COOP_TASKRUN | TASKRUN_FLAG. */
  static readonly ringFlags: number = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;

  /** The reactor it runs. */
  readonly reactor: Reactor;
  #refs = 0;
  #scheduled = false;
  #parked = false;
  #turning = false; // inside a turn's reap and dispatch
  #parking: Promise<void> | undefined; // the park's wait and its handlers, until they have run
  #idleSince = -1; // when the current run of empty turns began, -1 while busy
  #spin = true; // poll before parking: the last idle gap was short (see SPIN_IF_GAP_BELOW_MS)
  #turns = 0;
  #parks = 0;
  #error: ((e: unknown) => void) | undefined;
  readonly #turn = () => this.#runTurn();

  readonly #blockMs: number;
  readonly #blockingTurn = () => this.#runTurn(this.#blockMs);

  /**
   * `blockMs` > 0 selects dedicated mode: when idle, the JS thread itself waits in the kernel for up
   * to that long per turn (timers still run between turns, late by at most blockMs). For a worker whose
   * only job is its sockets; it allows SINGLE_ISSUER | DEFER_TASKRUN rings (see IoLoop's "dedicated" mode).
   *
   * @param reactor The reactor to run; the driver becomes its work listener (Reactor.onWork).
   * @param onError Gets what a turn throws (a completion handler's exception), and turns go on;
   *   without it the exception propagates from the turn's macrotask.
   * @param blockMs Dedicated mode's longest wait per idle turn, in ms; 0 (default) parks off-thread.
   * @throws {RangeError} for a negative blockMs.
   * @throws {TypeError} for a reactor that is not a Reactor, an onError that is not a function (or
   *   undefined), and a ring made with SINGLE_ISSUER or DEFER_TASKRUN when blockMs is 0.
   */
  constructor(reactor: Reactor, onError?: (e: unknown) => void, blockMs = 0) {
    if (!(reactor instanceof Reactor)) throw new TypeError(`reactor must be a Reactor, got ${describe(reactor)}`);
    if (onError !== undefined && typeof onError !== "function") {
      throw new TypeError(`onError must be a function, got ${describe(onError)}`);
    }
    if (typeof blockMs !== "number" || !(blockMs >= 0)) {
      throw numberError(blockMs, `blockMs must be a number >= 0, got ${describe(blockMs)}`);
    }
    if (blockMs === 0 && (reactor.ring.setupFlags & (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)) !== 0) {
      // Its first park would fail with EEXIST from another thread, losing the ring's completions.
      throw new TypeError(
        "a Driver that parks (blockMs 0) waits on the ring from another thread, which a SINGLE_ISSUER or " +
          "DEFER_TASKRUN ring refuses: make the ring with Driver.ringFlags, or pass blockMs > 0 (dedicated mode)",
      );
    }
    this.reactor = reactor;
    reactor.onWork(() => this.wake());
    this.#error = onError;
    this.#blockMs = blockMs;
  }

  /**
   * Something (a server, a connection) needs the loop running; keeps the process alive.
   *
   * @throws {ClosedError} After `close()`: a closed driver turns no more, so the reference would hold nothing.
   */
  ref(): void {
    if (this.reactor.ring.closed) throw new ClosedError("Driver");
    this.#refs++;
    this.wake();
  }

  /** Drop a reference; at zero the driver stops waiting so the process can exit. */
  unref(): void {
    if (--this.#refs > 0) return;
    this.#refs = 0;
    // A NOP completion (user_data 0, dropped by the reactor) ends the parked wait. In a turn (one runs
    // while parked when work comes), not before the turn ends: its next round of reaping would take
    // the NOP, and the waiter, which returns only for a completion it sees, would wait for ever.
    if (this.#parked && !this.#turning && !this.reactor.ring.closed) this.reactor.ring.wakeWaiters();
    if (this.#whenUnreferenced) this.#unreferencedSoon();
    if (this.#onIdle) queueMicrotask(this.#idleCheck);
  }

  #onIdle: (() => void) | undefined;
  readonly #idleCheck = (): void => {
    if (this.#refs === 0 && !this.reactor.ring.closed) this.#onIdle!();
  };

  /** @ignore See kOnIdle: `fn` runs each time the last reference is dropped. */
  [kOnIdle](fn: () => void): void {
    this.#onIdle = fn;
  }

  #whenUnreferenced: (() => void) | undefined;

  /** @ignore See kSettled: resolves once unreferenced and no park is outstanding (a park that fails resolves it too). */
  [kSettled](): Promise<void> {
    const parking = this.#parking;
    if (this.#refs > 0 || parking === undefined) return Promise.resolve();
    return parking.then(undefined, () => {});
  }

  /** @ignore Turns run so far. */
  get [kTurn](): number {
    return this.#turns;
  }

  /**
   * @ignore Calls `fn` once no references are held: at once if none are, else after the turn in
   * which the last one is dropped (its owner's close path may still use the ring in that turn).
   */
  [kWhenUnreferenced](fn: () => void): void {
    this.#whenUnreferenced = fn;
    if (this.#refs === 0) fn();
  }

  #unreferencedSoon(): void {
    queueMicrotask(() => {
      const fn = this.#whenUnreferenced;
      if (fn === undefined || this.#refs > 0) return;
      this.#whenUnreferenced = undefined;
      fn();
    });
  }

  /** Wakes a parked waiter, then closes the reactor (a waiter blocked on a closed ring would never return). */
  close(): void {
    if (this.reactor.ring.closed) return;
    this.#refs = 0;
    if (this.#parked) this.reactor.ring.wakeWaiters();
    this.reactor.close();
  }

  /** References held now (ref() calls not yet matched by unref()). */
  get refs(): number {
    return this.#refs;
  }

  /** Run a turn soon (new SQEs were queued, e.g. by a write from a timer). Cheap to call often. */
  wake(): void {
    this.#idleSince = -1;
    if (this.#scheduled || this.reactor.ring.closed) return;
    this.#scheduled = true;
    setImmediateFn(this.#turn);
  }

  /** Turns and parks so far, and how it parks (a new object each call). */
  stats(): DriverStats {
    return { turns: this.#turns, parks: this.#parks, parkMode: this.#blockMs > 0 ? "blocking" : "thread" };
  }

  #runTurn(waitMs = 0): void {
    // #scheduled stays true for the whole turn: wake() calls from handlers must not queue a second
    // turn (duplicate turns pile up as immediates and starve timers); the end of the turn reschedules.
    const reactor = this.reactor;
    // Parked with no reference left, the wait ends on the NOP unref() posted. A turn now could reap
    // that NOP before the waiting thread is in the kernel, which would then wait for ever (and keep
    // the process alive): the turn after the wait returns does the work instead.
    if (reactor.ring.closed || (this.#parked && this.#refs === 0)) {
      this.#scheduled = false;
      return;
    }
    this.#turns++;
    let n = 0;
    this.#turning = true;
    try {
      n = reactor.runOnce(waitMs, TURN_BUDGET);
    } catch (e) {
      if (!this.#error) {
        this.#scheduled = false; // so the next wake() schedules turns again
        throw e;
      }
      this.#error(e);
    } finally {
      this.#turning = false;
      // A turn runs while parked only with references held (see above): none left means the last went
      // in this turn, and unref() left the NOP to now.
      if (this.#parked && this.#refs === 0 && !reactor.ring.closed) reactor.ring.wakeWaiters();
    }
    const again = reactor.takeTurnRequest();
    const busy = again || n > 0 || reactor.ring.pending > 0 || reactor.ring.cqReady > 0;
    if (!busy && this.#refs === 0) {
      this.#scheduled = false;
      reactor.ring.releaseSignal(); // nothing holds the loop: neither may a watch of the ring's eventfd
      return;
    }
    if (busy) {
      this.#idleSince = -1;
      // A macrotask, not a microtask: timers and other I/O run between turns. (setTimeout(0) would
      // interleave timers more tightly but idles 1-4 ms per turn: measured 2x slower.)
      setImmediateFn(this.#turn);
      return;
    }
    const now = performance.now();
    if (this.#idleSince < 0) this.#idleSince = now;
    if (this.#spin && now - this.#idleSince < SPIN_BEFORE_PARK_MS) {
      setImmediateFn(this.#turn);
      return;
    }
    this.#scheduled = false;
    this.#park();
  }

  #park(): void {
    if (this.#refs === 0) return;
    if (this.#blockMs > 0) {
      this.#scheduled = true;
      this.#parks++;
      setImmediateFn(this.#blockingTurn);
      return;
    }
    if (this.#parked) return;
    this.#parked = true;
    this.#parks++;
    const ring = this.reactor.ring;
    // On the runtime's own event loop where it can watch an eventfd (no thread hand-off), else off-thread.
    this.#parking = (ring.waitSignaled() ?? ring.waitOffThread()).then(
      () => {
        this.#parked = false;
        this.#parking = undefined;
        if (this.#idleSince >= 0) this.#spin = performance.now() - this.#idleSince < SPIN_IF_GAP_BELOW_MS;
        this.wake();
      },
      (e) => {
        this.#parked = false;
        this.#parking = undefined;
        if ((e as { errno?: number }).errno === Errno.EBADF || this.reactor.ring.closed) return;
        if (this.#error) this.#error(e);
        else throw e;
      },
    );
  }
}
