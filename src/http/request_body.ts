/**
 * A request's body as the ReadableStream its Request carries, fed with copies of the received bytes
 * (the leases go back to the pool at once; only what the handler may keep is copied). Reading
 * pauses the connection when the handler falls behind and resumes it when the handler reads again.
 */

/** Bytes a body may hold unread before the connection stops reading. */
const BODY_HIGH_WATER = 64 * 1024;

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
  /** The handler asked for bytes at least once. */
  wanted = false;
  /** Closed, errored or cancelled: later bytes are dropped. */
  #done = false;

  constructor(owner: BodyOwner) {
    this.#owner = owner;
    // highWaterMark 0: pull() runs only when a reader waits, which is what a 100 Continue needs.
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => void (this.#controller = controller),
      pull: () => {
        this.wanted = true;
        owner.bodyWanted(this);
      },
      cancel: () => {
        this.#done = true;
        owner.bodyWanted(this); // a cancelled body is discarded as it arrives: read on
      },
    }, { highWaterMark: 0, size: (chunk) => chunk.byteLength });
  }

  /** Whether bytes still go to the handler. */
  get open(): boolean {
    return !this.#done;
  }

  /** Queues a copy of `bytes` (a view valid only during the call). */
  push(bytes: Uint8Array): void {
    if (this.#done) return;
    this.#controller.enqueue(bytes.slice());
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

  /** The response is sent: nobody reads what still arrives. */
  discard(): void {
    this.#done = true;
  }
}
