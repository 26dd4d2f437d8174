/**
 * `StallWatchdog`: warns once per pool when receives have waited for buffers that never come back
 * (leases not released). At most one timer runs, started when receives begin to wait with no buffer
 * left for the kernel; it is unref'd, so it never keeps the process alive.
 */
import { native } from "../../ffi/mod.ts";

/** What the watchdog asks its pool. */
export interface StallSource {
  /** Receives wait and the kernel has no buffer to give them: only a release (or a reclaim) helps. */
  stalled(): boolean;
  /** Receives re-armed so far: one since the stall began means it moved. */
  rearms(): number;
  /** The warning, for a stall of `waitedMs`. */
  describe(waitedMs: number): string;
}

/** One pool's stall watchdog (see BufferPoolOptions.watchdogMs). */
export class StallWatchdog {
  readonly #ms: number;
  readonly #source: StallSource;
  #timer: unknown; // while one runs
  #stalledSince = 0;
  #rearmsAtStall = 0;
  #warned = false;
  readonly #onTimer = () => this.#check();

  /** @param ms How long a stall may last before the warning; 0 turns the watchdog off. */
  constructor(ms: number, source: StallSource) {
    this.#ms = ms;
    this.#source = source;
  }

  /**
   * A receive began to wait: start the timer if the pool is stalled and none runs. With one running,
   * a re-arm since the stall began ended that stall: this one is timed from now (the check would
   * otherwise have timed it from its own run, up to a whole period late).
   */
  waiting(): void {
    if (this.#ms === 0 || this.#warned || !this.#source.stalled()) return;
    if (this.#timer !== undefined) {
      const rearms = this.#source.rearms();
      if (rearms !== this.#rearmsAtStall) {
        this.#stalledSince = performance.now();
        this.#rearmsAtStall = rearms;
      }
      return;
    }
    this.#stalledSince = performance.now();
    this.#rearmsAtStall = this.#source.rearms();
    this.#start(this.#ms);
  }

  #start(ms: number): void {
    this.#timer = setTimeout(this.#onTimer, ms);
    native.unrefTimer(this.#timer);
  }

  /**
   * Warns if the pool has stalled since the stall the timer was started for, with no re-arm in
   * between; a stall that began later gets its own full period. No timer runs after the warning.
   */
  #check(): void {
    this.#timer = undefined;
    if (!this.#source.stalled()) return;
    const now = performance.now();
    const rearms = this.#source.rearms();
    if (rearms !== this.#rearmsAtStall) {
      this.#stalledSince = now;
      this.#rearmsAtStall = rearms;
    }
    const waited = now - this.#stalledSince;
    if (waited < this.#ms) {
      this.#start(this.#ms - waited);
      return;
    }
    this.#warned = true;
    console.warn(this.#source.describe(waited));
  }

  /** Stops the timer (the pool closed). */
  stop(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer as number);
    this.#timer = undefined;
  }
}
