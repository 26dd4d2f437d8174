/**
 * `PullQueue`: values produced by completions, consumed by `for await` (a server's accepted
 * connections, a connection's leases). One pending reader at a time; values wait in order; an end
 * (with or without an error) reaches the reader after every value queued before it.
 */
export interface PullQueueEvents {
  /** A value was handed to the reader (the owner may resume production below a limit). */
  taken?(): void;
  /** A reader was told `done` for the first time. */
  finished?(error: Error | undefined): void;
}

export class PullQueue<T> {
  readonly #events: PullQueueEvents;
  #items: T[] = [];
  #head = 0;
  #reader: ((r: IteratorResult<T>) => void) | undefined;
  #ended = false;
  #error: Error | undefined;
  #finished = false;

  constructor(events: PullQueueEvents = {}) {
    this.#events = events;
  }

  /** Values waiting for a reader. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A reader is waiting for the next value. */
  get waiting(): boolean {
    return this.#reader !== undefined;
  }

  /** Hands `value` to a waiting reader, or queues it. Ignored after end(). */
  push(value: T): boolean {
    if (this.#ended) return false;
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = undefined;
      reader({ value, done: false });
      this.#events.taken?.();
      return true;
    }
    this.#items.push(value);
    return true;
  }

  /** The oldest queued value, taken out (for owners that deliver values themselves). */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const value = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    }
    return value;
  }

  /** Takes out every queued value for `each` (e.g. to release them). */
  clear(each: (value: T) => void): void {
    for (let v = this.shift(); v !== undefined; v = this.shift()) each(v);
  }

  /** Removes `value` if it is queued (O(queued)). */
  remove(value: T): void {
    const i = this.#items.indexOf(value, this.#head);
    if (i < 0) return;
    this.#items.splice(i, 1);
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    }
  }

  /** No more values: readers get `done` once the queue is empty. Idempotent; the first error is kept. */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#reader && this.length === 0) {
      const reader = this.#reader;
      this.#reader = undefined;
      this.#finish(reader);
    }
  }

  /** The iterator protocol's next(). */
  next(): Promise<IteratorResult<T>> {
    if (this.length > 0) {
      const value = this.shift()!;
      this.#events.taken?.();
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return new Promise((resolve) => this.#finish(resolve));
    if (this.#reader) return Promise.reject(new TypeError("another read of this queue is pending"));
    return new Promise((resolve) => (this.#reader = resolve));
  }

  #finish(reader: (r: IteratorResult<T>) => void): void {
    reader({ value: undefined, done: true });
    if (this.#finished) return;
    this.#finished = true;
    this.#events.finished?.(this.#error);
  }
}
