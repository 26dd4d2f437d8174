/**
 * `PullQueue`: values produced by completions, consumed by `for await` (a server's accepted
 * connections, a connection's leases). Values wait in order, and so do readers (next() called again
 * before the last one settled, as an async generator takes it); an end (with or without an error)
 * reaches the readers after every value queued before it. Values are
 * distinct objects, kept in an insertion-ordered Set, so one that goes away while queued (a
 * connection that closed) leaves in O(1).
 */
export interface PullQueueEvents {
  /** A value was handed to the reader (the owner may resume production below a limit). */
  taken?(): void;
  /** A reader found nothing queued and waits (the owner may resume production it held back). */
  waiting?(): void;
  /** A reader was told `done` for the first time. */
  finished?(error: Error | undefined): void;
}

export class PullQueue<T> {
  readonly #events: PullQueueEvents;
  readonly #items = new Set<T>();
  #reader: ((r: IteratorResult<T>) => void) | undefined; // the first waiting reader
  #laterReaders: ((r: IteratorResult<T>) => void)[] | undefined; // made only when a second one waits
  #ended = false;
  #error: Error | undefined;
  #finished = false;

  constructor(events: PullQueueEvents = {}) {
    this.#events = events;
  }

  /** Values waiting for a reader. */
  get length(): number {
    return this.#items.size;
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
    const reader = this.#takeReader();
    if (reader) {
      reader({ value, done: false });
      this.#events.taken?.();
      return true;
    }
    this.#items.add(value);
    return true;
  }

  #takeReader(): ((r: IteratorResult<T>) => void) | undefined {
    const reader = this.#reader;
    this.#reader = this.#laterReaders?.shift();
    return reader;
  }

  /** The oldest queued value, taken out (for owners that deliver values themselves). */
  shift(): T | undefined {
    const first = this.#items.values().next();
    if (first.done) return undefined;
    this.#items.delete(first.value);
    return first.value;
  }

  /** Takes out every queued value for `each` (e.g. to release them). */
  clear(each: (value: T) => void): void {
    for (let v = this.shift(); v !== undefined; v = this.shift()) each(v);
  }

  /** `value` is queued. */
  has(value: T): boolean {
    return this.#items.has(value);
  }

  /** Takes `value` out if it is queued. */
  remove(value: T): void {
    this.#items.delete(value);
  }

  /** Pending readers are told `done` (their loop was left); the queue itself goes on. */
  cancelRead(): void {
    for (let reader = this.#takeReader(); reader; reader = this.#takeReader()) reader({ value: undefined, done: true });
  }

  /** No more values: readers get `done` once the queue is empty. Idempotent; the first error is kept. */
  end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.length === 0) {
      for (let reader = this.#takeReader(); reader; reader = this.#takeReader()) this.#finish(reader);
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
    const waited = new Promise<IteratorResult<T>>((resolve) => {
      if (this.#reader) (this.#laterReaders ??= []).push(resolve);
      else this.#reader = resolve;
    });
    this.#events.waiting?.();
    return waited;
  }

  #finish(reader: (r: IteratorResult<T>) => void): void {
    reader({ value: undefined, done: true });
    if (this.#finished) return;
    this.#finished = true;
    this.#events.finished?.(this.#error);
  }
}
