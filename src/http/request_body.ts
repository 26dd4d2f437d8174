/**
 * A request's body as the ReadableStream its Request carries, fed with copies of the received bytes
 * (the leases go back to the pool at once; only what the handler may keep is copied). Reading
 * pauses the connection when the handler falls behind and resumes it when the handler reads again.
 */

/** Bytes a body may hold unread before the connection stops reading. */
const BODY_HIGH_WATER = 64 * 1024;
/** Copies go into slabs of up to this many bytes, each chunk a view of one. */
const SLAB_SIZE = 64 * 1024;

/** What a body tells its connection. */
export interface BodyOwner {
  /** The handler wants bytes (first read: time for a 100 Continue) or has caught up. */
  bodyWanted(body: RequestBody): void;
  /** The body holds more than BODY_HIGH_WATER unread bytes. */
  bodyFull(body: RequestBody): void;
}

export class RequestBody {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #owner: BodyOwner;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Closed, errored or cancelled: later bytes are dropped. */
  #done = false;
  /** Bytes still to come by Content-Length, or -1 (chunked). */
  #remaining: number;
  // The chunks handed to the reader are views of a slab: one allocation per slab instead of one per
  // receive (an ArrayBuffer costs about 1 us to make; a 16 KiB body came in four).
  #slab: Uint8Array | undefined;
  #slabUsed = 0;

  /** `length`: the body's Content-Length, or -1 for a chunked body. */
  constructor(owner: BodyOwner, length: number) {
    this.#owner = owner;
    this.#remaining = length;
    // highWaterMark 0: pull() runs only when a reader waits, which is what a 100 Continue needs.
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => void (this.#controller = controller),
      pull: () => owner.bodyWanted(this),
      cancel: () => {
        this.#done = true;
        owner.bodyWanted(this); // a cancelled body is discarded as it arrives: read on
      },
    }, { highWaterMark: 0, size: (chunk?: Uint8Array) => chunk?.byteLength ?? 0 });
  }

  /** A reader may still take what arrives (not closed, errored, cancelled or discarded). */
  get open(): boolean {
    return !this.#done;
  }

  /** Queues a copy of `bytes` (a view valid only during the call). */
  push(bytes: Uint8Array): void {
    if (this.#remaining > 0) this.#remaining -= bytes.length;
    if (this.#done) return;
    let slab = this.#slab;
    if (!slab || slab.length - this.#slabUsed < bytes.length) {
      // Sized to what is still to come when that is known, so a body of up to SLAB_SIZE is one allocation.
      const want = this.#remaining >= 0 ? this.#remaining + bytes.length : SLAB_SIZE;
      slab = this.#slab = new Uint8Array(Math.max(bytes.length, Math.min(want, SLAB_SIZE)));
      this.#slabUsed = 0;
    }
    const copy = slab.subarray(this.#slabUsed, this.#slabUsed + bytes.length);
    copy.set(bytes);
    this.#slabUsed += bytes.length;
    this.#controller.enqueue(copy);
    if (this.#controller.desiredSize! <= -BODY_HIGH_WATER) this.#owner.bodyFull(this);
  }

  /** The whole body arrived. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller.close();
  }

  /** The body will not complete (the client went away, the request was refused). */
  fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller.error(error);
  }

  /**
   * The response is out before the body was all here: what still arrives is dropped, and a reader
   * that comes late gets an error rather than waiting for ever.
   */
  discard(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller.error(new Error("the response was sent before the request body was read"));
  }
}
