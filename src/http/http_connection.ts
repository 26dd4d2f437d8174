/**
 * One HTTP/1.1 connection of serve(): parses requests out of the received leases, runs the handler
 * for each (pipelined requests run concurrently), writes the responses in request order, and keeps
 * the timeouts and the backpressure of both directions.
 */
import type { Connection } from "../net/connection.ts";
import type { Lease } from "../buffers/lease.ts";
import type { BufferPool } from "../buffers/pool.ts";
import { kCork, kFinish, kUncork } from "../internal.ts";
import { StreamReceiver } from "../receiver.ts";
import { UringError } from "../errors.ts";
import { openFile } from "../fs/file.ts";
import { closeFd } from "../net/socket.ts";
import { fileSourceOf, readGenerated } from "./file_response.ts";
import { httpDate } from "./date.ts";
import { HttpParseError, type ParserLimits, type ParserSink, type RequestHead, RequestParser } from "./parser.ts";
import { type BodyOwner, RequestBody } from "./request_body.ts";
import { ServeInfo, type ServeServer } from "./serve_info.ts";
import { hasNoBody, statusLine } from "./status.ts";
import { requestedRange, UNSATISFIABLE } from "./byte_range.ts";

/**
 * A serve() handler: the Web fetch API's Request in, a Response (or a promise of one) out. `this` is
 * the second argument, as in Bun.serve (where both are the server).
 */
export type ServeHandler = (this: ServeInfo, request: Request, info: ServeInfo) => Response | Promise<Response>;

/** What a server shares with its connections. */
export interface HttpContext {
  readonly handler: ServeHandler;
  /** `this` of the handler, and the server side of ServeInfo (set once the server exists). */
  server: ServeServer | undefined;
  /** stop() has begun: a connection closed from now on was closed by the server, not its client. */
  stopping: boolean;
  readonly onError: ((error: unknown, request?: Request) => Response | void | Promise<Response | void>) | undefined;
  readonly limits: ParserLimits;
  /** Seconds; 0 = none. */
  readonly idleTimeout: number;
  readonly headerTimeout: number;
  /** Bytes per second a body must average once it has taken longer than BODY_RATE_GRACE_MS. */
  readonly minBodyRate: number;
  /** Authority for requests without a Host (HTTP/1.0). */
  readonly defaultHost: string;
  /** The pool file responses are read into (made on first use). */
  filePool(): BufferPool;
  readonly counters: HttpCounters;
}

/** Counters serve() keeps (HttpServer.stats()). */
export interface HttpCounters {
  /** Requests parsed and given to the handler. */
  requests: number;
  /** Requests answered by the server itself (see HttpServerStats.refused). */
  refused: number;
  /** Handlers that failed (see HttpServerStats.handlerErrors). */
  handlerErrors: number;
}

/**
 * Requests parsed ahead of their responses: beyond this the rest of what arrived waits unparsed (one
 * receive's worth, copied) and the connection stops reading until responses go out.
 */
const MAX_PIPELINED = 16;
/**
 * A request body of known length up to this size is gathered before the handler runs and given to
 * the Request as bytes: text(), json() and arrayBuffer() then take the runtimes' fast paths instead
 * of reading a JS stream (16 KiB POST echo, server CPU per request, Bun: about 53 -> 45 us).
 */
const SMALL_BODY = 64 * 1024;
/**
 * Gathering buffers of small bodies, reused: both runtimes copy a Request's body out of the bytes it
 * is given (a test pins that), so a buffer is free again once its Request is made. A body then costs
 * no allocation and no zero-filling (the 16 KiB POST echo on Deno spent 6% of its CPU in memset). One
 * list per thread, each buffer as long as the first body it gathered.
 */
const spareGathers: Uint8Array<ArrayBuffer>[] = [];
const MAX_SPARE_GATHERS = 16;

/** A buffer for a small body of `length` bytes: a spare one that fits, else a new one. */
function takeGather(length: number): Uint8Array<ArrayBuffer> {
  for (let i = spareGathers.length - 1; i >= 0; i--) {
    const spare = spareGathers[i];
    if (spare.length < length) continue;
    spareGathers[i] = spareGathers[spareGathers.length - 1];
    spareGathers.pop();
    return spare.subarray(0, length);
  }
  return new Uint8Array(length);
}

/** A gathered body's Request is made: its buffer serves the next body. */
function giveGather(whole: Uint8Array<ArrayBuffer>): void {
  if (spareGathers.length < MAX_SPARE_GATHERS) spareGathers.push(new Uint8Array(whole.buffer));
}
/** Bodies slower than minBodyRate are refused only after this long. */
const BODY_RATE_GRACE_MS = 5000;
/**
 * A body that had ended when read is written in slices of this size, each after the last was taken:
 * written in place, a slice costs no memory of ours, only a send and a turn of the loop.
 */
const WRITE_SLICE = 1024 * 1024;
/**
 * Body pieces up to this size are copied next to their head or chunk framing and written once; larger
 * ones are written beside it (corked: one send), copied into the send arena when under 16 KiB and
 * sent in place when larger. (A framed copy of each 2 MiB piece Bun hands out made 8 MiB of garbage
 * per 8 MiB response.)
 */
const FRAME_COPY_MAX = 2048;
/**
 * How the pieces of a body that had ended when read (a string, bytes, a Blob: the runtime's own copy,
 * made when the Response was) are written: in place, not copied again (pieces of 16 KiB and more).
 */
const IN_PLACE = { copy: false } as const;
/** Microtask turns to wait for a body's next chunk: a body from a string or bytes ends within them. */
const STATIC_BODY_TICKS = 8;
/** A body that keeps coming at once is gathered for a Content-Length up to this size (views, not copies). */
const STATIC_BODY_MAX = 1024 * 1024;

const encoder = new TextEncoder();
// Heads (and small bodies) are assembled here and copied out by Connection.write(); one per thread.
let scratch = new Uint8Array(16 * 1024);

/** Writes `text` (a head: ByteString, one byte per char) and then `body` into scratch; returns the length. */
function assemble(text: string, body: Uint8Array | undefined): number {
  const need = text.length + (body ? body.length : 0);
  if (need > scratch.length) scratch = new Uint8Array(Math.max(need, scratch.length * 2));
  const { read, written } = encoder.encodeInto(text, scratch);
  if (read !== written) {
    // A header value with bytes 0x80-0xFF: send them as they are (latin1), not UTF-8.
    for (let i = 0; i < text.length; i++) scratch[i] = text.charCodeAt(i);
  }
  if (body) scratch.set(body, text.length);
  return need;
}

const NO_ERROR = Symbol("no error");

/** One request and its response. */
class Exchange {
  readonly head: RequestHead;
  readonly info: ServeInfo;
  request: Request | undefined;
  body: RequestBody | undefined;
  response: Response | undefined;
  error: unknown = NO_ERROR;
  /** The handler returned (or failed): the response can be written once earlier ones are. */
  settled = false;
  /** The whole request has been received. */
  received = false;
  /** A 100 Continue is owed (the handler reads a body the client holds back) or was sent. */
  continuePending = false;
  continued = false;
  /** Refused by the server: this status is written instead of the handler's answer, then the connection closes. */
  refusal: number;
  /** A small body, gathered whole before the handler runs (wholeUsed bytes of it so far). */
  whole: Uint8Array<ArrayBuffer> | undefined;
  wholeUsed = 0;
  /** request.signal's controller, made when the handler first reads request.signal. */
  abort: AbortController | undefined;
  /** Why the connection closed before the response was out (request.signal aborts with it), or undefined. */
  abandoned: string | undefined;

  constructor(head: RequestHead, info: ServeInfo, refusal = 0) {
    this.head = head;
    this.info = info;
    this.refusal = refusal;
  }
}

const kExchange = Symbol("exchange");

/**
 * The Request a handler gets: a Web Request whose `signal` aborts when the client goes away before
 * its response is out (as Deno.serve and Bun.serve do). The controller is made on first use of
 * `signal`: a signal given to the Request constructor costs 3-4 us per request on Deno.
 */
class ServeRequest extends Request {
  [kExchange]: Exchange | undefined;

  /** A clone's signal follows this request's (the runtime's clone() would give it one that never aborts). */
  override clone(): Request {
    const copy = super.clone() as ServeRequest;
    Object.setPrototypeOf(copy, ServeRequest.prototype);
    copy[kExchange] = this[kExchange];
    return copy;
  }
}

/**
 * Bun gives the blob of a streamed body an empty type whatever the Content-Type (fetch: the type is
 * the request's MIME type); the slice carries it, without a copy. Defined on the prototype: Bun's
 * types declare `blob` as a property, which a method in the class body could not override.
 */
const requestBlob = Request.prototype.blob as (this: Request) => Promise<Blob>;
Object.defineProperty(ServeRequest.prototype, "blob", {
  configurable: true,
  writable: true,
  value: async function blob(this: Request): Promise<Blob> {
    const blob = await requestBlob.call(this);
    const type = blob.type === "" ? this.headers.get("content-type") : null;
    return type === null ? blob : blob.slice(0, blob.size, type);
  },
});

// `signal` as an accessor over the runtime's: defined on the prototype, because a class accessor
// over what some typings (bun-types) declare as a Request property does not type-check there.
const runtimeSignal = Object.getOwnPropertyDescriptor(Request.prototype, "signal")!.get!;
Object.defineProperty(ServeRequest.prototype, "signal", {
  configurable: true,
  get(this: ServeRequest): AbortSignal {
    const ex = this[kExchange];
    if (!ex) return runtimeSignal.call(this);
    if (!ex.abort) {
      ex.abort = new AbortController();
      if (ex.abandoned) ex.abort.abort(abandonedError(ex.abandoned));
    }
    return ex.abort.signal;
  },
});

const CLIENT_LEFT = "the client closed the connection";

/**
 * A handler's response that will not be sent: its stream is cancelled, so that its producer stops
 * (a timer feeding it would otherwise run for ever), as Deno.serve and Bun.serve do. A file's is left
 * as it is (serve() reads the file, and a kept one is sent again); a stream being read is locked.
 */
function discardBody(response: Response | undefined): void {
  if (!(response instanceof Response) || response.bodyUsed || response.body === null) return;
  if (response.body.locked || fileSourceOf(response)) return;
  void response.body.cancel().catch(() => {});
}

/** What request.signal aborts with, and `info.completed` rejects with: `why` the response will never be sent. */
function abandonedError(why: string): Error {
  return new DOMException(`${why} before the response was sent`, "AbortError");
}

/** `ex` will get no answer from its handler, `why`: its request.signal aborts (now, or once made). */
function abandon(ex: Exchange, why: string): void {
  ex.abandoned = why;
  ex.abort?.abort(abandonedError(why));
}

/**
 * Errors a request body fails with because of its client (it left, or broke the framing). A response
 * that fails with one (a body streamed from the request's) is the client's doing: it is not logged.
 */
const clientFailures = new WeakSet<Error>();

function clientFailure(message: string): Error {
  const error = new Error(message);
  clientFailures.add(error);
  return error;
}

/** Failures serve() itself finds (a file that shrank under its response): logged by their message, their stack being ours. */
const ownFailures = new WeakSet<Error>();

function ownFailure(message: string): Error {
  const error = new Error(message);
  ownFailures.add(error);
  return error;
}

/** The head of a request the server refuses before (or without) parsing one. */
const REFUSED_HEAD: RequestHead = {
  method: "GET",
  target: "",
  minor: 1,
  headers: [],
  host: undefined,
  contentLength: 0,
  keepAlive: false,
  expectContinue: false,
};

export class HttpConnection implements ParserSink, BodyOwner {
  readonly #conn: Connection<HttpConnection>;
  readonly #ctx: HttpContext;
  readonly #parser: RequestParser;
  readonly #queue: Exchange[] = [];
  /** The exchange whose body is arriving. */
  #receiving: Exchange | undefined;
  #writing = false;
  /** No more requests are served: one asked to close, the server stops, or the client ended. */
  #last = false;
  #refused = false;
  #closed = false;
  #bodyPaused = false;
  #readingPaused = false;
  /** The stream being written: cancelled if the connection closes under it. */
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #closeWhy: string | undefined; // set when the server itself closes it (a timeout, a refusal)
  /** The file being sent: stopped if the connection closes under it. */
  #fileStop: (() => void) | undefined;
  /** Runs at the next `drain` (a file send waiting for the socket). */
  #onDrain: (() => void) | undefined;
  #timerSeconds = -1;
  /** The current response has begun to go out (a failure after this can only close the connection). */
  #headSent = false;
  /** The current response's body runs to the close (HTTP/1.0, streamed): only a reset can show it cut. */
  #bodyToClose = false;
  /** Received bytes not parsed yet: the requests before them fill MAX_PIPELINED. */
  #held: Uint8Array | undefined;
  #peerEnded = false;
  #headStart = 0;
  // minBodyRate's clock: the ms counted so far, and when it last started (-1: stopped while the
  // handler works on bytes it read, until it asks for more).
  #bodyTime = 0;
  #bodyClockFrom = 0;
  #bodyBytes = 0;

  constructor(conn: Connection<HttpConnection>, ctx: HttpContext) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#parser = new RequestParser(ctx.limits);
    this.#updateTimer();
  }

  // --- Connection events (serve()'s handlers call these) ---

  received(lease: Lease): void {
    if (this.#last && this.#receiving === undefined && !this.#parser.inHead) {
      lease.release(); // after the last request: discard until the connection closes
      return;
    }
    try {
      this.#feed(lease.bytes);
    } finally {
      lease.release();
    }
    this.#afterInput();
  }

  /** Parses bytes; what the parser left (MAX_PIPELINED reached) is copied and waits in #held. */
  #feed(bytes: Uint8Array): void {
    let used: number;
    try {
      used = this.#parser.feed(bytes, this);
    } catch (e) {
      if (!(e instanceof HttpParseError)) throw e;
      if (!this.#last || this.#receiving) this.#refuse(e.status);
      return;
    }
    if (used < bytes.length) this.#held = bytes.slice(used);
  }

  #afterInput(): void {
    if (this.#receiving && this.#parser.inBody) this.#checkBodyRate();
    this.#updateReading();
    this.#updateTimer();
  }

  /** The client half-closed: what is queued is answered, then the connection closes. */
  peerEnded(): void {
    this.#peerEnded = true;
    const receiving = this.#receiving;
    if (receiving) {
      if (receiving.whole && receiving.request === undefined) {
        // Gathered before its handler runs: the handler never sees it, and the client gets a 400.
        this.#receiving = undefined;
        const at = this.#queue.indexOf(receiving);
        if (at >= 0) this.#queue.splice(at, 1);
        receiving.info[kFinish](abandonedError(CLIENT_LEFT));
        this.#refuse(400);
      } else {
        // Its body can never be whole: the 400 replaces the handler's answer (or cuts a response already
        // going out), and its request.signal aborts now, as on Deno.serve and Bun.serve.
        this.#refuse(400, true);
      }
    }
    this.#last = true;
    this.#endIfDone();
    this.#updateTimer();
  }

  /**
   * A hard stop: the connection closes now, with a reset (RST) if a response was being written, so
   * that its client does not take the part it got (an unframed HTTP/1.0 body, a stream) for the whole.
   */
  closeNow(): void {
    if (this.#writing) void this.#conn.reset();
    else void this.#conn.close();
  }

  /** The server stops gracefully: requests in flight are answered, then the connection closes. */
  stopGracefully(): void {
    this.#last = true;
    if (this.#receiving === undefined) this.#endIfDone();
  }

  timedOut(): void {
    this.#closeWhy ??= "a timeout closed the connection";
    if (this.#refused) return void this.#conn.close();
    // A 408 cannot follow a response whose head went out (a body echoed back to a client that
    // stopped both sending and reading): it would only wait another idleTimeout behind that response.
    const answering = this.#writing && this.#headSent;
    if (!answering && (this.#parser.inHead || (this.#receiving && this.#parser.inBody))) {
      this.#refuse(408);
    } else {
      // Idle between requests, a client that stopped reading, or one that ended its side and has
      // waited idleTimeout for a handler that does not answer (its request.signal aborts).
      void this.#conn.close();
    }
  }

  closed(): void {
    this.#closed = true;
    this.#held = undefined;
    // A body its client cut off by leaving (a reset: a FIN mid-body is refused with a 400 before this),
    // streamed to the handler or still being gathered for it, whose request has not had its answer.
    const receiving = this.#receiving;
    if (receiving && this.#queue.includes(receiving) && this.#whyClosed() === CLIENT_LEFT) this.#ctx.counters.refused++;
    receiving?.body?.fail(clientFailure("the connection closed before the request body was complete"));
    this.#receiving = undefined;
    this.#abandonQueue(this.#whyClosed());
    void this.#reader?.cancel().catch(() => {});
    this.#fileStop?.();
  }

  /** Why the connection closes (or did) under the exchanges still queued. */
  #whyClosed(): string {
    if (this.#closeWhy) return this.#closeWhy;
    // While the server stops, a close it did not make (a reset, an error, or after the client's EOF) is
    // still the client leaving.
    const error = this.#conn.error;
    if (this.#ctx.stopping && !this.#peerEnded && error === undefined) return "the server stopped";
    // A failure of ours (a bound such as the loop's maxQueuedBytes) is not the client leaving.
    if (error && !(error instanceof UringError)) return `the connection failed (${error.message})`;
    return CLIENT_LEFT;
  }

  /** The send queue emptied after a write returned false. */
  drained(): void {
    const resume = this.#onDrain;
    this.#onDrain = undefined;
    resume?.();
    this.#updateTimer();
  }

  // --- ParserSink ---

  onHead(head: RequestHead): void {
    if (this.#last) return;
    head.method = fetchMethod(head.method); // from here on, the method the handler's Request has
    this.#ctx.counters.requests++;
    if (!head.keepAlive) this.#last = true;
    const ex = new Exchange(head, new ServeInfo(this.#conn as Connection<unknown>, this.#ctx.server));
    this.#queue.push(ex);
    if (this.#queue.length >= MAX_PIPELINED) this.#parser.stop();
    if (head.contentLength !== 0) {
      this.#receiving = ex;
      this.#restartBodyClock();
      if (head.method !== "GET" && head.method !== "HEAD") {
        if (head.contentLength > 0 && head.contentLength <= SMALL_BODY && !head.expectContinue) {
          ex.whole = takeGather(head.contentLength);
          return; // the handler runs once the body is here (onMessageEnd)
        }
        ex.body = new RequestBody(this, head.contentLength);
      }
    } else {
      ex.received = true;
    }
    this.#start(ex);
  }

  /** Makes the exchange's Request and runs the handler on it. */
  #start(ex: Exchange): void {
    let request: Request | undefined;
    try {
      request = this.#makeRequest(ex);
    } catch {
      // The Request constructor refused it (a method it forbids, TRACE on Deno; a Host the URL parser
      // rejects): 400 below.
    }
    if (ex.whole) {
      giveGather(ex.whole); // the Request has its own copy
      ex.whole = undefined;
    }
    // Or it made it another method (Bun turns ones it does not know into GET, and upper-cases more
    // than the Fetch standard's six, `connect` and `patch` too): answering it as that method would be
    // wrong (501). Either way the handler gets nothing. head.method has the six upper-cased already.
    if (!request || request.method !== ex.head.method) {
      this.#queue.pop();
      this.#receiving = undefined;
      this.#ctx.counters.requests--;
      this.#refuse(request ? 501 : 400);
      return;
    }
    ex.request = request;
    let result: Response | Promise<Response>;
    try {
      // `this` is the second argument, as in Bun.serve (where both are the server): what a handler uses of its
      // server (requestIP(), port, stop(), ...) is there.
      result = this.#ctx.handler.call(ex.info, request, ex.info);
    } catch (e) {
      this.#settle(ex, undefined, e);
      return;
    }
    if (result instanceof Response) {
      this.#settle(ex, result, NO_ERROR);
    } else {
      Promise.resolve(result).then((r) => this.#settle(ex, r, NO_ERROR), (e) => this.#settle(ex, undefined, e));
    }
  }

  onBody(bytes: Uint8Array): void {
    const ex = this.#receiving;
    if (!ex) return;
    this.#bodyBytes += bytes.length;
    if (ex.whole) {
      ex.whole.set(bytes, ex.wholeUsed);
      ex.wholeUsed += bytes.length;
    } else if (ex.body) {
      ex.body.push(bytes);
      // Until the handler asks for more, the time is its own (an interactive upload waits for its answer).
      // A body nobody will read (cancelled, or dropped after the answer) keeps its clock running.
      if (ex.body.open) this.#stopBodyClock();
      else if (this.#bodyClockFrom < 0) this.#bodyClockFrom = Date.now();
    }
  }

  onMessageEnd(): void {
    const ex = this.#receiving;
    if (!ex) return;
    this.#receiving = undefined;
    ex.received = true;
    ex.body?.end();
    // The whole body is in: holding the connection back for its reader would only stall the next request.
    this.#bodyPaused = false;
    if (ex.whole) this.#start(ex);
    if (this.#last) this.#endIfDone();
  }

  // --- BodyOwner ---

  bodyWanted(body: RequestBody): void {
    const ex = this.#receiving;
    if (ex?.body === body && this.#bodyClockFrom < 0) this.#bodyClockFrom = Date.now();
    if (ex?.body === body && ex.head.expectContinue && !ex.continued) {
      ex.continuePending = true;
      if (this.#writing && this.#queue[0] === ex && !this.#headSent) {
        this.#sendContinue(ex); // its response waits for this body: nothing of it is out yet
      } else {
        this.#pump();
      }
    }
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      this.#restartBodyClock(); // the time the handler was not reading is not the client's
      this.#updateReading();
      // The timer was off while the handler held the body back: the client's silence counts again
      // (a client that stalled meanwhile sends nothing that would re-aim it).
      this.#updateTimer();
    }
  }

  bodyFull(): void {
    this.#bodyPaused = true;
    this.#updateReading();
    this.#updateTimer();
  }

  // --- requests ---

  #makeRequest(ex: Exchange): Request {
    const head = ex.head;
    const target = head.target;
    let url: string;
    if (target.charCodeAt(0) === 47 /* "/" */) url = `http://${head.host || this.#ctx.defaultHost}${target}`;
    else if (target === "*") url = `http://${head.host || this.#ctx.defaultHost}/*`;
    else url = target; // absolute-form
    const request = ex.whole
      ? new ServeRequest(url, { method: head.method, body: ex.whole })
      : ex.body
      ? new ServeRequest(url, { method: head.method, body: ex.body.stream, duplex: "half" } as RequestInit)
      : head.method === "GET"
      ? new ServeRequest(url)
      : new ServeRequest(url, { method: head.method });
    request[kExchange] = ex;
    // Appended one by one: measured 1.5-2x cheaper than a headers init (no pair arrays, no second copy).
    appendHeaders(request.headers, head.headers);
    return request;
  }

  #settle(ex: Exchange, response: Response | undefined, error: unknown): void {
    if (ex.refusal !== 0) return discardBody(response); // its request was refused while the handler worked on it
    if (error === NO_ERROR && !(response instanceof Response)) {
      error = new TypeError(`the handler returned ${describeValue(response)} instead of a Response`);
    } else if (error === NO_ERROR && response!.bodyUsed) {
      error = new TypeError("the body of the Response the handler returned was already read (bodyUsed)");
    }
    ex.response = response;
    ex.error = error;
    ex.settled = true;
    if (this.#closed || ex.abandoned) return discardBody(response); // nobody to answer: a failure here is the client leaving
    if (error !== NO_ERROR) this.#ctx.counters.handlerErrors++;
    this.#pump();
  }

  /**
   * Queues a refusal: `status` is written after the responses before it, then the connection closes.
   * `clientLeft`: the client ended its side mid-body, which is what the request being received is told.
   */
  #refuse(status: number, clientLeft = false): void {
    if (this.#refused || this.#closed) return;
    const receiving = this.#receiving;
    // A FIN that cuts short a body whose request was answered, or whose answer is going out, leaves
    // that answer alone: the client reads it (a half-close), and nothing was refused.
    const answered = clientLeft && receiving !== undefined &&
      (!this.#queue.includes(receiving) || (this.#writing && this.#queue[0] === receiving && this.#headSent));
    this.#refused = true;
    if (!answered) {
      this.#closeWhy ??= `the server refused a request (status ${status}) and closed the connection`;
      this.#ctx.counters.refused++;
    }
    this.#last = true;
    this.#receiving = undefined;
    this.#bodyPaused = false; // what still arrives is read and dropped
    this.#updateTimer();
    if (receiving) {
      // Its body broke the framing: the handler reading it sees an error. The refusal replaces the
      // handler's answer when that has not begun to go out (also when the response is being written
      // but waits for that body: see #respond); otherwise the connection closes after it.
      if (!answered) {
        receiving.refusal = status;
        // Its handler (running, or about to) will not be answered: its request.signal aborts now.
        if (receiving.request) {
          abandon(receiving, clientLeft ? CLIENT_LEFT : `the server refused the request (status ${status})`);
        }
      }
      receiving.body?.fail(
        clientFailure(
          clientLeft
            ? "the client closed the connection before the request body was complete"
            : `the request was refused with status ${status}`,
        ),
      );
      receiving.received = true;
      if (this.#queue.includes(receiving) && !(this.#writing && this.#queue[0] === receiving)) {
        receiving.settled = true;
        this.#pump();
      } else {
        this.#endIfDone();
      }
      return;
    }
    const ex = new Exchange(REFUSED_HEAD, new ServeInfo(this.#conn as Connection<unknown>, this.#ctx.server), status);
    ex.settled = true;
    ex.received = true;
    this.#queue.push(ex);
    this.#pump();
  }

  /** minBodyRate is measured from now. */
  #restartBodyClock(): void {
    this.#bodyTime = 0;
    this.#bodyClockFrom = Date.now();
    this.#bodyBytes = 0;
  }

  #stopBodyClock(): void {
    if (this.#bodyClockFrom < 0) return;
    this.#bodyTime += Date.now() - this.#bodyClockFrom;
    this.#bodyClockFrom = -1;
  }

  #checkBodyRate(): void {
    const elapsed = this.#bodyTime + (this.#bodyClockFrom < 0 ? 0 : Date.now() - this.#bodyClockFrom);
    if (this.#ctx.minBodyRate > 0 && !this.#bodyPaused && elapsed > BODY_RATE_GRACE_MS) {
      if (this.#bodyBytes / (elapsed / 1000) < this.#ctx.minBodyRate) this.#refuse(408);
      // A body nobody reads (cancelled, or left after the answer) is measured in 5 s windows: bytes that
      // came fast before buy it no time later.
      else if (this.#receiving?.body?.open === false) this.#restartBodyClock();
    }
  }

  // --- responses ---

  /** Writes settled responses in request order, one at a time. */
  #pump(): void {
    if (this.#writing || this.#closed) return;
    const ex = this.#queue[0];
    if (ex === undefined) return;
    if (!ex.settled) {
      if (ex.continuePending && !ex.continued) this.#sendContinue(ex);
      return;
    }
    this.#writing = true;
    this.#updateTimer();
    void this.#write(ex);
  }

  #sendContinue(ex: Exchange): void {
    ex.continued = true;
    this.#conn.write(CONTINUE);
    this.#updateTimer(); // the client's turn to send the body: its silence counts from here
  }

  async #write(ex: Exchange): Promise<void> {
    let close = true;
    let error: Error | undefined;
    try {
      close = await this.#respond(ex);
      // The next response waits until the socket has taken this one: a client that pipelines and
      // does not read holds one response's worth queued, not one per request.
      if (!this.#closed && this.#conn.bufferedAmount >= this.#conn.highWaterMark) {
        await this.#conn.flushed().catch(() => {}); // rejects only once the connection dropped a write
      }
    } catch (e) {
      // The connection closed under the response, or the response's body failed after its head
      // went out: the only honest thing left is to end the connection.
      const byClient = e instanceof Error && clientFailures.has(e);
      if (!this.#closed && !byClient) {
        logResponseError(e, ex);
        // A body that runs to the close (HTTP/1.0) would look whole to a client that sees a clean end:
        // a reset. Chunks or a Content-Length show the cut by themselves, and the FIN that ends the
        // connection comes after the responses queued before this one, which a reset would destroy.
        if (this.#bodyToClose) void this.#conn.reset();
      }
      error = e instanceof Error ? e : new Error(String(e));
      // The connection failed under the response (a write past a bound, a send the peer reset) before
      // closed() could tell this exchange, which leaves the queue now: its stream and handler are told here.
      void this.#reader?.cancel().catch(() => {});
      if (byClient && !ex.abandoned) abandon(ex, this.#whyClosed());
    }
    this.#written(ex, close, error);
  }

  #written(ex: Exchange, close: boolean, error?: Error): void {
    this.#writing = false;
    this.#reader = undefined;
    // A request refused in place of its handler's answer did not get that answer.
    ex.info[kFinish](error ?? (ex.refusal !== 0 && ex.request ? new Error(`refused with ${ex.refusal}`) : undefined));
    if (this.#queue[0] === ex) this.#queue.shift();
    if (!ex.received) {
      ex.body?.discard(); // the rest of its body is read and dropped, still at minBodyRate at least
      if (this.#receiving === ex) {
        if (this.#bodyPaused) {
          this.#bodyPaused = false;
          this.#restartBodyClock();
        } else if (this.#bodyClockFrom < 0) {
          this.#bodyClockFrom = Date.now(); // the time the handler held it was its own; from now on it runs
        }
      }
    }
    if (this.#closed) return;
    if (close) {
      this.#last = true;
      this.#abandonQueue("the server closed the connection after an earlier response");
      this.#end();
      return;
    }
    if (this.#held && this.#queue.length < MAX_PIPELINED) {
      const held = this.#held;
      this.#held = undefined;
      this.#feed(held);
      if (this.#closed) return;
      this.#afterInput();
    }
    this.#updateReading();
    this.#pump();
    this.#endIfDone();
    this.#updateTimer();
  }

  /** Every exchange still queued will get no response: its signal aborts, its `completed` rejects. */
  #abandonQueue(why: string): void {
    for (const ex of this.#queue) {
      if (ex.refusal !== 0 && !ex.request) continue; // the server's own refusal: no handler, no request
      abandon(ex, why);
      ex.info[kFinish](abandonedError(why));
      discardBody(ex.response); // settled, waiting behind another (the one being written is cancelled by closed())
    }
    this.#queue.length = 0;
  }

  /** Closes once nothing is left to answer after the last request. */
  #endIfDone(): void {
    if (
      this.#last && this.#queue.length === 0 && !this.#writing && this.#receiving === undefined &&
      this.#held === undefined
    ) {
      this.#end();
    }
  }

  #end(): void {
    // A refusal's linger discards what the client still sends for the full LINGER_SECONDS: the
    // timer may hold the last sliver of a header deadline, which would cut the linger to as much.
    if (this.#refused) this.#conn.idleTimeout = 0;
    this.#conn.end();
  }

  /** Whether the connection closes after this exchange's response. */
  #closesAfter(ex: Exchange): boolean {
    if (!ex.head.keepAlive || ex.refusal !== 0) return true;
    // A client that waits for 100 Continue before sending its body would leave us waiting for it.
    if (!ex.received && ex.head.expectContinue && !ex.continued) return true;
    // stop() tells the connections from a microtask: a handler that called it and answered at once
    // must still say that this is the last answer.
    return (this.#last || this.#ctx.stopping) && this.#queue[this.#queue.length - 1] === ex &&
      this.#receiving === undefined;
  }

  /**
   * Writes one response; resolves to whether the connection must close after it. A handler's failure,
   * or a response of its that fails before a byte went out, is answered by onError, or with a plain
   * 500 when onError does not answer or its answer fails the same way.
   */
  async #respond(ex: Exchange): Promise<boolean> {
    if (ex.refusal !== 0) return this.#sendRefusal(ex.refusal);
    let failure = ex.error;
    let what = Failed.Handler;
    if (failure === NO_ERROR) {
      const sent = await this.#tryResponse(ex, ex.response!);
      if (!(sent instanceof Unsent)) return sent;
      this.#ctx.counters.handlerErrors++;
      failure = sent.error;
      what = Failed.Response;
    }
    const answer = await this.#errorResponse(failure, ex.request, what);
    if (answer !== undefined) {
      const sent = await this.#tryResponse(ex, answer);
      if (!(sent instanceof Unsent)) return sent;
      logHandlerError(what, failure, sent.error);
    }
    const sent = await this.#tryResponse(ex, internalServerError());
    if (sent instanceof Unsent) throw sent.error;
    return sent;
  }

  /**
   * Writes `response`; resolves to whether the connection must close after it, or to Unsent when it
   * failed before a byte went out (a body already used, a stream that fails at once or yields
   * something other than bytes), so that something else can answer.
   */
  async #tryResponse(ex: Exchange, response: Response): Promise<boolean | Unsent> {
    this.#headSent = false;
    this.#bodyToClose = false;
    try {
      return await this.#writeResponse(ex, response);
    } catch (error) {
      if (this.#headSent || this.#closed) throw error;
      // The response waited for a request body that broke the framing or that its client cut short
      // (a body streamed back): the client gets the refusal, not a 500.
      if (ex.refusal !== 0) return this.#sendRefusal(ex.refusal);
      return new Unsent(error);
    }
  }

  /** The server's refusal of a request (no handler's answer): a status, no body, then close. */
  #sendRefusal(status: number): boolean {
    this.#send(`${statusLine(status, "")}content-length: 0\r\nconnection: close\r\ndate: ${httpDate()}\r\n\r\n`);
    return true;
  }

  async #writeResponse(ex: Exchange, response: Response): Promise<boolean> {
    // Bun marks a 101 Response's type "error" too: the status is checked first.
    if (response.status === 101) {
      throw new TypeError("the handler returned status 101: serve() does not switch protocols (no WebSockets)");
    }
    if (response.type === "error") throw new TypeError("the handler returned Response.error()");
    const status = response.status;
    collected.head = statusLine(status, response.statusText);
    collected.length = null;
    collected.dated = false;
    collected.close = false;
    response.headers.forEach(collectHeader); // measured 5x cheaper than for-of on Deno
    let head = collected.head;
    if (!collected.dated) head += `date: ${httpDate()}\r\n`;
    // A handler's `Connection: close` is honoured, as Bun.serve and node:http do (RFC 9112 9.6).
    let close = collected.close || this.#closesAfter(ex);
    const file = fileSourceOf(response);
    // Where a GET would be served a range; a HEAD says it as the GET would.
    const acceptRanges = file === undefined ? null : response.headers.get("accept-ranges");
    const ranged = file !== undefined && file.size > 0 && status === 200 && !response.headers.has("content-range") &&
      (acceptRanges === null || acceptRanges.trim().toLowerCase() === "bytes");
    if (ranged && acceptRanges === null) head += "accept-ranges: bytes\r\n";

    if (hasNoBody(status, ex.head.method)) {
      // RFC 9110 8.6: none in a 1xx or 204; a 304 may carry the handler's (the representation's); a
      // 205's content is empty (15.3.6), and it says so (as Bun.serve does) for a client reading to a close.
      let length: string | null = status < 200 || status === 204 ? null : status === 205 ? "0" : collected.length;
      if (ex.head.method === "HEAD" && status >= 200 && status !== 204 && status !== 205 && status !== 304) {
        // The length a GET would send where the body's own is known; a null body or a stream still
        // running keeps the handler's (a HEAD answer may declare a size without making the body).
        const known = file
          ? String(file.size >= 0 ? file.size : (await readGenerated(file.path)).length)
          : response.body === null
          ? null
          : await staticLength(response);
        length = known ?? length ?? (response.body === null ? "0" : null);
      }
      if (length !== null) head += `content-length: ${length}\r\n`;
      // A file's Response is left as it is: serve() reads the file, not its body, so it can be sent again.
      if (!file && !response.bodyUsed && response.body !== null) void response.body.cancel().catch(() => {});
      this.#send(head + connectionHeader(ex, close) + "\r\n");
      return close;
    }
    if (file && file.size < 0) {
      // Made when read (/proc): read anew, as a file with a size is opened anew, so a kept Response sends it as it is now.
      const bytes = await readGenerated(file.path);
      await this.#sendBody(head + connectionHeader(ex, close) + `content-length: ${bytes.length}\r\n\r\n`, [bytes]);
      return close;
    }
    if (file) {
      let start = 0, length = file.size;
      if (file.size > 0) {
        // The handler's own Content-Range, or an Accept-Ranges other than `bytes`, leaves the Range alone.
        const range = ranged && ex.head.method === "GET" ? requestedRange(ex.head.headers, file.size) : undefined;
        if (range === UNSATISFIABLE) {
          head = statusLine(416, "") + head.slice(head.indexOf("\r\n") + 2);
          this.#send(
            head + connectionHeader(ex, close) + `content-range: bytes */${file.size}\r\ncontent-length: 0\r\n\r\n`,
          );
          return close;
        }
        if (range) {
          start = range.start;
          length = range.end - range.start + 1;
          head = statusLine(206, "") + head.slice(head.indexOf("\r\n") + 2) +
            `content-range: bytes ${range.start}-${range.end}/${file.size}\r\n`;
        }
      }
      // Opened before the head goes out: a file gone since fileResponse() stat'ed it gets a 500.
      const fd = length > 0 ? openFile(file.path) : -1;
      this.#send(head + connectionHeader(ex, close) + `content-length: ${length}\r\n\r\n`);
      if (fd >= 0) await this.#sendFile(file.path, fd, start, length, length < file.size);
      return close;
    }
    const body = response.body;
    if (body === null) {
      this.#send(head + connectionHeader(ex, close) + "content-length: 0\r\n\r\n");
      return close;
    }
    const reader = this.#reader = body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const first = await reader.read();
    if (first.done) {
      this.#send(head + connectionHeader(ex, close) + "content-length: 0\r\n\r\n");
      return close;
    }
    // A body made from a string, bytes or a Blob has ended by now (Bun hands out a large one in
    // 16 KiB pieces, each at once): it goes with Content-Length. A stream still running is sent
    // chunked, so its first bytes are not held back waiting for the rest.
    const pieces = [chunkBytes(first.value)];
    let total = pieces[0].length;
    let next = await settledSoon(reader.read());
    while (next.result && !next.result.done && total < STATIC_BODY_MAX) {
      const piece = chunkBytes(next.result.value);
      pieces.push(piece);
      total += piece.length;
      next = await settledSoon(reader.read());
    }
    if (next.failed !== NO_ERROR) throw next.failed;
    if (next.result?.done) {
      await this.#sendBody(head + connectionHeader(ex, close) + `content-length: ${total}\r\n\r\n`, pieces);
      return close;
    }
    // Streaming: chunked on HTTP/1.1; HTTP/1.0 has no chunks, so the end of the body is our close.
    const chunked = ex.head.minor === 1;
    if (!chunked) close = this.#bodyToClose = true;
    this.#send(head + connectionHeader(ex, close) + (chunked ? "transfer-encoding: chunked\r\n\r\n" : "\r\n"));
    for (const piece of pieces) {
      if (piece.length > WRITE_SLICE) await this.#writeSliced(piece, chunked);
      else if (piece.length > 0 && !this.#writePiece(piece, chunked)) await this.#drained();
    }
    let result = next.result;
    let pending = next.promise;
    for (;;) {
      if (this.#closed) throw new Error("the connection closed while the response body was being sent");
      const r = result ?? await pending;
      result = undefined;
      if (r.done) break;
      const bytes = chunkBytes(r.value);
      // write() copies the bytes, so the stream may reuse its buffer once asked for the next chunk.
      let queued = true;
      if (bytes.length > WRITE_SLICE) await this.#writeSliced(bytes, chunked);
      else queued = bytes.length === 0 || this.#writePiece(bytes, chunked);
      pending = reader.read();
      // Read ahead while the write drains: a stream that fails meanwhile (or whose connection closes
      // first) must not leave an unhandled rejection behind, which would end the process.
      pending.catch(() => {});
      if (!queued) await this.#drained();
    }
    if (chunked) this.#conn.write(LAST_CHUNK);
    return close;
  }

  /** A piece of a response body, framed as a chunk when `chunked`; false once the queue is past highWaterMark. */
  #writePiece(piece: Uint8Array, chunked: boolean): boolean {
    if (!chunked) return this.#conn.write(piece);
    if (piece.length <= FRAME_COPY_MAX) return this.#conn.write(frameChunk(piece));
    const conn = this.#conn;
    const sizeLine = assemble(`${piece.length.toString(16)}\r\n`, undefined); // first: it may replace scratch
    conn[kCork]();
    conn.write(scratch.subarray(0, sizeLine));
    conn.write(piece);
    const below = conn.write(CRLF);
    conn[kUncork]();
    return below;
  }

  /**
   * A stream's chunk larger than WRITE_SLICE, copied a slice at a time as the socket takes the one before:
   * written whole it could pass the connection's maxBuffered (16 MiB), which fails the connection.
   */
  async #writeSliced(piece: Uint8Array, chunked: boolean): Promise<void> {
    const conn = this.#conn;
    if (this.#closed) throw new Error("the connection closed while the response body was being sent");
    if (chunked) {
      conn[kCork](); // the size line goes out with the first slice
      conn.write(scratch.subarray(0, assemble(`${piece.length.toString(16)}\r\n`, undefined)));
    }
    for (let at = 0; at < piece.length; at += WRITE_SLICE) {
      if (at > 0 && this.#closed) throw new Error("the connection closed while the response body was being sent");
      const below = conn.write(piece.subarray(at, at + WRITE_SLICE));
      if (chunked && at === 0) conn[kUncork]();
      if (!below) await this.#drained();
    }
    if (chunked && !conn.write(CRLF)) await this.#drained();
  }

  /** Head plus a body of known length: one write when small, slices with backpressure when large. */
  async #sendBody(head: string, pieces: Uint8Array[]): Promise<void> {
    if (pieces.length === 1 && pieces[0].length <= FRAME_COPY_MAX) return void this.#send(head, pieces[0]);
    // The head goes out with the first slice (corked: one send).
    this.#conn[kCork]();
    this.#send(head);
    let corked = true;
    for (const body of pieces) {
      for (let at = 0; at < body.length; at += WRITE_SLICE) {
        if (this.#closed) throw new Error("the connection closed while the response body was being sent");
        const below = this.#conn.write(body.subarray(at, at + WRITE_SLICE), IN_PLACE);
        if (corked) {
          corked = false;
          this.#conn[kUncork]();
        }
        if (!below) await this.#drained();
      }
    }
    if (corked) this.#conn[kUncork]();
  }

  /** Waits for the socket to take the response so far; a write the connection dropped (it is closing) ends the response. */
  async #drained(): Promise<void> {
    try {
      await this.#conn.flushed();
    } catch {
      throw clientFailure("the connection closed while the response body was being sent");
    }
  }

  /**
   * Sends `size` bytes of the file from `offset`: ring reads with buffer selection from the file pool,
   * each lease written to the socket as it is (the send releases it), reading paused while the socket
   * is behind. A file that shrank since it was stat'ed breaks the framing: the connection closes.
   */
  #sendFile(path: string, fd: number, offset: number, size: number, range: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let sent = 0;
      const finish = (error?: Error) => {
        this.#fileStop = undefined;
        this.#onDrain = undefined;
        this.#updateTimer();
        closeFd(fd);
        if (error) reject(error);
        else resolve();
      };
      const receiver = new StreamReceiver(this.#ctx.filePool(), fd, {
        data: (lease) => {
          const left = size - sent;
          if (lease.length >= left) {
            // The last piece (and a file that grew since it was stat'ed stops at its old size).
            if (lease.length === left) {
              this.#conn.write(lease);
            } else {
              this.#conn.write(lease.bytes.subarray(0, left));
              lease.release();
            }
            sent = size;
            receiver.stop(() => finish());
            return;
          }
          sent += lease.length;
          if (!this.#conn.write(lease)) {
            receiver.pause();
            this.#onDrain = () => receiver.resume();
            this.#updateTimer(); // the client's turn: its reading is what the timer watches now
          }
        },
        end: (error) =>
          finish(
            error ??
              ownFailure(
                `${path} ended after ${sent} of ${range ? "the" : "its"} ${size} bytes` +
                  (range ? ` from offset ${offset}` : ""),
              ),
          ),
      }, { op: "read", offset });
      this.#fileStop = () => receiver.stop(() => finish(new Error("the connection closed during a file response")));
      receiver.start();
      this.#updateTimer();
    });
  }

  #send(head: string, body?: Uint8Array): void {
    this.#headSent = true;
    const length = assemble(head, body); // first: it may replace scratch with a larger buffer
    this.#conn.write(scratch.subarray(0, length));
  }

  /** onError's answer to a handler's failure; undefined (and the failure logged) when it gives none. */
  async #errorResponse(error: unknown, request: Request | undefined, what: Failed): Promise<Response | undefined> {
    const onError = this.#ctx.onError;
    if (!onError) return void logHandlerError(what, error);
    try {
      const r: unknown = await onError(error, request);
      if (r instanceof Response && !r.bodyUsed) return r;
      if (r === undefined) return undefined; // the program took the error and leaves the answer to us: 500
      const given = r instanceof Response ? "a Response whose body was already read" : describeValue(r);
      logHandlerError(what, error, new TypeError(`onError returned ${given} instead of a Response to send`));
    } catch (e) {
      logHandlerError(what, error, e);
    }
    return undefined;
  }

  // --- flow control and timers ---

  #updateReading(): void {
    const pause = this.#bodyPaused || this.#held !== undefined || this.#queue.length >= MAX_PIPELINED;
    if (pause === this.#readingPaused) return;
    this.#readingPaused = pause;
    if (pause) this.#conn.pause();
    else this.#conn.resume();
  }

  /**
   * One timer per connection, re-aimed at each state change: the header deadline while a head
   * arrives, `idleTimeout` between requests, while a body arrives and while a response is sent;
   * none while the handler works on a request.
   */
  #updateTimer(): void {
    if (this.#closed) return;
    let seconds: number;
    if (this.#parser.inHead && !this.#refused) { // a refusal's head deadline is spent: what follows gets idleTimeout
      const now = Date.now();
      if (this.#headStart === 0) this.#headStart = now;
      const left = this.#ctx.headerTimeout - (now - this.#headStart) / 1000;
      // Past the deadline already (bytes arrived at the timeout's check): a timer of 1 ms aimed then,
      // pushed on by each arrival, would never fire against a client that trickles in step with it.
      if (this.#ctx.headerTimeout > 0 && left <= 0) return this.timedOut();
      seconds = this.#ctx.headerTimeout === 0 ? this.#ctx.idleTimeout : Math.max(0.001, left);
    } else {
      this.#headStart = 0;
      // A handler at work is not timed, unless the client has ended its side: then it waits at most
      // idleTimeout for the answer (a client that closed for good would otherwise pin the connection).
      // So is a body its client holds back for our 100 Continue, which goes out once the handler reads.
      const receiving = this.#receiving;
      const held = receiving !== undefined && receiving.head.expectContinue && !receiving.continued &&
        this.#bodyBytes === 0;
      const handlerBusy = this.#queue.length > 0 && !this.#writing &&
        (receiving === undefined || this.#bodyPaused || held);
      // A file response waiting on its own reads (the file pool's buffers, shared by every download)
      // is the server's time too; paused until the client takes what was sent, it is the client's.
      const fileReads = this.#fileStop !== undefined && this.#onDrain === undefined;
      seconds = (handlerBusy || fileReads) && !this.#peerEnded ? 0 : this.#ctx.idleTimeout;
    }
    if (seconds === this.#timerSeconds && !this.#parser.inHead) return;
    this.#timerSeconds = seconds;
    this.#conn.idleTimeout = seconds;
  }
}

const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const CRLF = encoder.encode("\r\n");
const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

/** Waits up to STATIC_BODY_TICKS microtask turns for `read`: its result, its failure, or neither yet. */
async function settledSoon(
  read: Promise<ReadResult>,
): Promise<{ result: ReadResult | undefined; failed: unknown; promise: Promise<ReadResult> }> {
  const state = { result: undefined as ReadResult | undefined, failed: NO_ERROR as unknown, promise: read };
  read.then((r) => (state.result = r), (e) => (state.failed = e));
  for (let i = 0; i < STATIC_BODY_TICKS && state.result === undefined && state.failed === NO_ERROR; i++) await null;
  return state;
}

/** The length of a body that has ended within a few microtask turns (a string, bytes, a Blob), else null. */
async function staticLength(response: Response): Promise<string | null> {
  if (response.bodyUsed || response.body === null) return response.body === null ? "0" : null;
  const reader = response.body.getReader();
  let total = 0;
  try {
    // The rule a GET's body follows (#writeResponse): pieces that come at once, up to STATIC_BODY_MAX,
    // then its end; past that a GET goes chunked, and a HEAD pulls no further (a stream that makes
    // its chunks on demand would otherwise make them all, for nothing).
    for (;;) {
      const { result } = await settledSoon(reader.read());
      if (!result) return null; // still running: a stream, whose length nobody knows yet
      if (result.done) return String(total);
      if (total >= STATIC_BODY_MAX) return null;
      total += chunkBytes(result.value).length;
    }
  } catch {
    return null;
  } finally {
    void reader.cancel().catch(() => {});
  }
}

/** The methods whose case a Request normalizes (the Fetch standard's list): their handler sees them upper-cased. */
const FETCH_NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

/**
 * `method` as the handler's Request will have it, so that the framing (HEAD, a body dropped with GET)
 * follows what the handler sees: `head` is HEAD. Other tokens stay as sent (methods are case-sensitive).
 */
function fetchMethod(method: string): string {
  if (FETCH_NORMALIZED.has(method)) return method;
  const upper = method.toUpperCase();
  return FETCH_NORMALIZED.has(upper) ? upper : method;
}

/** What collectHeader() gathers from a response's headers (one per thread: used synchronously). */
const collected = { head: "", length: null as string | null, dated: false, close: false };

/** A `close` token in a Connection header's list. */
const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;

/** Appends a response header to collected.head; framing is ours (the body decides Content-Length or chunked, keep-alive decides Connection). */
function collectHeader(value: string, name: string): void {
  if (name === "content-length") collected.length = value;
  else if (name === "connection") collected.close ||= CLOSE_TOKEN.test(value);
  else if (name === "transfer-encoding" || name === "keep-alive") return;
  else {
    if (name === "date") collected.dated = true;
    collected.head += `${name}: ${value}\r\n`;
  }
}

function frameChunk(bytes: Uint8Array): Uint8Array {
  const size = bytes.length.toString(16);
  const out = new Uint8Array(size.length + 2 + bytes.length + 2);
  for (let i = 0; i < size.length; i++) out[i] = size.charCodeAt(i);
  out[size.length] = 13;
  out[size.length + 1] = 10;
  out.set(bytes, size.length + 2);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

function connectionHeader(ex: Exchange, close: boolean): string {
  if (close) return "connection: close\r\n";
  return ex.head.minor === 0 ? "connection: keep-alive\r\n" : "";
}

function chunkBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`a response body stream yielded ${describeValue(value)}, not bytes`);
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value === "string" ? "a string" : String(value);
}

/**
 * Appends a head's fields (name, value, name, value...) to `headers`. Repeated `Cookie` fields are
 * joined with "; " (RFC 6265 5.4, as Deno.serve and Bun.serve do), where Deno's `append` would use ", ".
 */
function appendHeaders(headers: Headers, flat: string[]): void {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i];
    const earlier = name.length === 6 && name.toLowerCase() === "cookie" ? headers.get("cookie") : null;
    if (earlier === null) headers.append(name, flat[i + 1]);
    else headers.set("cookie", `${earlier}; ${flat[i + 1]}`);
  }
}

/** A response that failed before a byte of it went out, and why. */
class Unsent {
  constructor(readonly error: unknown) {}
}

/** What failed before a byte of the answer went out. */
const enum Failed {
  Handler, // it threw, or its promise rejected
  Response, // the Response it returned (a body stream that failed before its first byte was sent)
}

/** Logs a handler's failure, and onError's own where onError failed to answer it. */
function logHandlerError(what: Failed, error: unknown, onErrorFailure?: unknown): void {
  const failed = what === Failed.Handler
    ? "the handler failed"
    : "the handler's response failed before a byte of it went out";
  if (onErrorFailure === undefined) console.error(`serve(): ${failed}; answered 500:`, error);
  else console.error(`serve(): ${failed}:`, error, "\nand so did onError; answered 500:", onErrorFailure);
}

function internalServerError(): Response {
  return new Response("Internal Server Error", {
    status: 500,
    headers: { "content-type": "text/plain;charset=utf-8" },
  });
}

function logResponseError(error: unknown, ex: Exchange): void {
  const what = error instanceof Error && ownFailures.has(error) ? error.message : error;
  console.error(
    `serve(): the response to ${ex.head.method} ${ex.head.target} failed after its head was sent; ended the connection:`,
    what,
  );
}
