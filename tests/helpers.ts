/** Test-side helpers: a TCP pair, a ring-driven writer and byte-stream generators. */
import assert from "node:assert/strict";
import { abi, NativeMemory, prepAccept, prepSend, type Reactor, type Ring } from "../ring.ts";
import { closeFd, localAddress, tcpConnect, tcpListen } from "../sys.ts";

/** A connected TCP pair on 127.0.0.1, accepted through the ring: [client, server]. */
export function tcpPair(ring: Ring): [number, number] {
  const listener = tcpListen();
  const client = tcpConnect("127.0.0.1", localAddress(listener).port);
  const slot = ring.getSqe();
  prepAccept(ring.sqes, slot, listener, 0, 0, abi.SOCK_CLOEXEC);
  ring.sqes.setUserData(slot, 0xacce);
  ring.submitAndWait(1, 2000);
  let server = -1;
  ring.reap((ud, res) => {
    if (ud === 0xacce) server = res;
  });
  closeFd(listener);
  assert.ok(server >= 0, `accept: ${server}`);
  return [client, server];
}

/** Sends queued bytes on one fd through the reactor, one send in flight, resuming partial sends. */
export class RingWriter {
  readonly #reactor: Reactor;
  readonly #fd: number;
  readonly #mem = new NativeMemory(1 << 16);
  readonly #token: number;
  readonly #queue: Uint8Array[] = [];
  #inFlight = 0;
  sent = 0;
  error = 0;

  constructor(reactor: Reactor, fd: number) {
    this.#reactor = reactor;
    this.#fd = fd;
    this.#token = reactor.register({ complete: (res) => this.#complete(res) });
  }

  write(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    if (this.#inFlight === 0) this.#next();
  }

  get idle(): boolean {
    return this.#inFlight === 0 && this.#queue.length === 0;
  }

  #next(): void {
    const head = this.#queue[0];
    if (!head) return;
    const n = Math.min(head.length, this.#mem.length);
    this.#mem.bytes.set(head.subarray(0, n));
    const ring = this.#reactor.ring;
    const slot = ring.getSqe();
    prepSend(ring.sqes, slot, this.#fd, this.#mem.address, n, 0);
    ring.sqes.setUserData(slot, this.#token);
    this.#inFlight = n;
  }

  #complete(res: number): void {
    this.#inFlight = 0;
    if (res < 0) {
      this.error = -res;
      this.#queue.length = 0;
      return;
    }
    this.sent += res;
    const head = this.#queue[0];
    if (res >= head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(res);
    this.#next();
  }

  close(): void {
    this.#reactor.unregister(this.#token);
    this.#mem.free();
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so senders and checkers agree without storing streams. */
export function patternBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Splits `bytes` into random-sized chunks of 1..max bytes. */
export function randomChunks(bytes: Uint8Array, max: number, rand = Math.random): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = Math.min(bytes.length - i, 1 + Math.floor(rand() * max));
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers that must bind a fixed one, workers). */
export function freePort(): number {
  const probe = tcpListen({ port: 0 });
  const port = localAddress(probe).port;
  closeFd(probe);
  return port;
}
