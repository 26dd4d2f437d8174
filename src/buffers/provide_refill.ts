/**
 * `ProvideRefill`: the Refill of a pool's legacy backend (IORING_OP_PROVIDE_BUFFERS, 5.7). Buffer ids
 * freed since the last flush are sorted and go out as one PROVIDE_BUFFERS SQE per run of consecutive
 * ids whose memory is contiguous, submitted with the reactor's next submit.
 */
import type { Reactor } from "../reactor.ts";
import { ProvidedBufferGroup } from "./provided_group.ts";
import type { Refill } from "./refill.ts";

/** Gives a pool's buffers to the kernel with PROVIDE_BUFFERS SQEs. */
export class ProvideRefill implements Refill {
  readonly window = 0;
  readonly bytesTrimmed = 0; // the kernel holds every free buffer: none sits idle on our side
  readonly #reactor: Reactor;
  readonly #group: ProvidedBufferGroup;
  readonly #token: number;
  readonly #addr: readonly number[]; // the pool's: address of each buffer id
  readonly #bufferSize: number;
  readonly #pending: Uint16Array; // ids to provide at the next flush
  #pendingCount = 0;
  #available = 0; // queued or provided, and not carried out by a completion since
  #errors = 0;

  /**
   * Takes group `groupId` on `reactor`'s ring (until close()). `addr` is the pool's table of buffer
   * addresses, read at each flush; `maxCount` bounds the ids.
   *
   * @throws {RangeError} for a groupId outside [0, 65535].
   * @throws {UringError} `EEXIST` when another group of the ring holds `groupId`.
   */
  constructor(reactor: Reactor, addr: readonly number[], bufferSize: number, groupId: number, maxCount: number) {
    this.#reactor = reactor;
    this.#group = new ProvidedBufferGroup(reactor.ring, groupId);
    this.#addr = addr;
    this.#bufferSize = bufferSize;
    this.#pending = new Uint16Array(maxCount);
    // The completions of our PROVIDE_BUFFERS SQEs: 0, or -errno.
    this.#token = reactor.register({
      complete: (res: number): void => {
        if (res < 0) this.#errors++;
      },
    });
  }

  queue(bid: number): void {
    this.#pending[this.#pendingCount++] = bid;
    this.#available++;
  }

  flush(): void {
    const n = this.#pendingCount;
    if (n === 0) return;
    // A typed array sorts numerically without a comparator (and without garbage).
    const bids = this.#pending.subarray(0, n).sort();
    const addr = this.#addr;
    const size = this.#bufferSize;
    // One PROVIDE_BUFFERS per run of consecutive ids whose memory is contiguous.
    let start = 0;
    for (let i = 1; i <= n; i++) {
      const contiguous = i < n && bids[i] === bids[i - 1] + 1 && addr[bids[i]] === addr[bids[i - 1]] + size;
      if (contiguous) continue;
      this.#group.provide(addr[bids[start]], size, i - start, bids[start], this.#token);
      start = i;
    }
    this.#pendingCount = 0;
  }

  start(): void {
    this.flush();
    this.#reactor.submit(); // PROVIDE_BUFFERS acts only once submitted
  }

  consumed(): void {
    this.#available--;
  }

  available(): number {
    return this.#available;
  }

  widen(): boolean {
    return false; // every buffer is with the kernel as soon as it is free
  }

  grow(): void {}

  settle(): void {}

  get errors(): number {
    return this.#errors;
  }

  trimIdle(): void {
    // Nothing to do: the kernel holds every free buffer.
  }

  close(): void {
    this.#group.close(); // takes back the buffers before the pool unmaps them
    this.#reactor.unregister(this.#token);
  }
}
