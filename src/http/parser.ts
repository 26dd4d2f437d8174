/**
 * A strict, incremental HTTP/1.1 request parser (RFC 9112, RFC 9110). Chunks may be split at any byte;
 * every violation of a MUST for requests is refused with the status to answer, as soon as the
 * offending byte arrives. A head is scanned byte by byte once, recording where its parts are; when it
 * is complete it is decoded straight from the chunk, or, when it was split, from a carry buffer that
 * holds only the partial head. Bodies are handed out as views of the caller's chunks.
 */
import { describe, numberError } from "../options.ts";

/** A parsed request head. Strings are latin1-decoded bytes (one char per byte). */
export interface RequestHead {
  /** The method token as sent (case-sensitive), e.g. "GET". */
  method: string;
  /** The request-target as sent, e.g. "/a?b=1", "*", "http://h/x", "h:443". */
  target: string;
  /** HTTP/1.0 -> 0, HTTP/1.1 (and HTTP/1.2..1.9, treated as 1.1) -> 1. */
  minor: 0 | 1;
  /** Flat [name0, value0, name1, value1, ...]: names as sent, values trimmed of SP/HTAB, in order; no trailers. */
  headers: string[];
  /** The Host value: undefined when absent, "" when present and empty. */
  host: string | undefined;
  /** Body length for Content-Length framing; 0 when there is no body; -1 for chunked. */
  contentLength: number;
  /** 1.1: true unless a Connection token "close"; 1.0: true only with a "keep-alive" token and no "close". */
  keepAlive: boolean;
  /** Expect: 100-continue (case-insensitive) on a 1.1 request. */
  expectContinue: boolean;
}

/** Size limits of a {@link RequestParser}. */
export interface ParserLimits {
  /** Bytes of a head: request line + fields + final CRLF (also the cap for a trailer section). */
  maxHeaderSize: number;
  /** Bytes of the request-target. */
  maxTargetLength: number;
  /** Bytes of a body (Content-Length, or the sum of the chunk sizes). */
  maxRequestBodySize: number;
}

/** The limits a {@link RequestParser} uses for those not given. */
export const DEFAULT_PARSER_LIMITS: ParserLimits = Object.freeze({
  maxHeaderSize: 16384,
  maxTargetLength: 8192,
  maxRequestBodySize: 128 * 1024 * 1024,
});

/** What the parser reports, in order. `bytes` in onBody is a view into the caller's chunk: valid only during the call. */
export interface ParserSink {
  /** A complete, valid request head. */
  onHead(head: RequestHead): void;
  /** The next piece of the body (never empty). */
  onBody(bytes: Uint8Array): void;
  /** The request is complete (right after onHead when it has no body). */
  onMessageEnd(): void;
}

/** A request the server must refuse; `status` is the response code, then the connection closes. */
export class HttpParseError extends Error {
  /** The status to answer with. */
  readonly status: 400 | 413 | 414 | 431 | 501 | 505;

  /** An error answered with `status`; `message` says what was wrong. */
  constructor(status: 400 | 413 | 414 | 431 | 501 | 505, message: string) {
    super(message);
    this.name = "HttpParseError";
    this.status = status;
  }
}

const HTAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DQUOTE = 0x22;
const STAR = 0x2a;
const COMMA = 0x2c;
const SLASH = 0x2f;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const QUESTION = 0x3f;
const BACKSLASH = 0x5c;

/** Empty lines tolerated before a request line (RFC 9112 §2.2 asks for at least one). */
const MAX_EMPTY_LINES = 4;
/** Longest chunk-size line (size and extensions); extensions are ignored, so they need not be long. */
const MAX_CHUNK_LINE = 4096;
/** Decimal digits of a Content-Length, hex digits of a chunk size: beyond this a number is not exact. */
const MAX_DIGITS = 15;

// Byte classes, as bits of CLASS[byte].
const TOKEN = 1; // tchar (RFC 9110 §5.6.2)
const VISIBLE = 2; // VCHAR, and obs-text as Deno.serve and Bun.serve take it: what a request-target may hold
const FIELD = 4; // field-vchar: VCHAR / obs-text
const HOST = 8; // reg-name, IP-literal and port characters
const CLASS = new Uint8Array(256);
const NOT_HEX = 255;
const HEX = new Uint8Array(256).fill(NOT_HEX);
{
  const mark = (chars: string, bit: number) => {
    for (let k = 0; k < chars.length; k++) CLASS[chars.charCodeAt(k)] |= bit;
  };
  for (let c = 0x21; c < 0x7f; c++) CLASS[c] |= VISIBLE | FIELD;
  for (let c = 0x80; c < 0x100; c++) CLASS[c] |= VISIBLE | FIELD;
  const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  mark(alnum + "!#$%&'*+-.^_`|~", TOKEN);
  mark(alnum + "-._~!$&'()*+,;=:[]%", HOST);
  for (let d = 0; d < 16; d++) {
    HEX[d.toString(16).charCodeAt(0)] = d;
    HEX[d.toString(16).toUpperCase().charCodeAt(0)] = d;
  }
}

/** "HTTP/" DIGIT "." DIGIT: the bytes to match, 0 where a digit goes. */
const VERSION = [0x48, 0x54, 0x54, 0x50, 0x2f, 0, 0x2e, 0];

// Parser states. A head and a trailer section share the field states.
const S_START = 0; // between requests: empty lines, or the first byte of a method
const S_START_LF = 1; // the CR of an empty line was seen
const S_METHOD = 2;
const S_TARGET = 3;
const S_VERSION = 4; // #version counts the bytes of it matched
const S_LINE_LF = 5; // after the CR ending the request line
const S_FIELD = 6; // the start of a field line, or of the final CRLF
const S_NAME = 7;
const S_OWS = 8; // after the colon, before the value
const S_VALUE = 9;
const S_FIELD_LF = 10;
const S_END_LF = 11; // after the CR of the final CRLF
const B_LENGTH = 12; // a Content-Length body
const C_DATA = 13; // the data of a chunk
const C_DATA_CR = 14;
const C_DATA_LF = 15;
// The chunk-size line, from its first byte to its LF (MAX_CHUNK_LINE applies to these).
const C_SIZE0 = 16; // the first hex digit
const C_SIZE = 17;
const X_AFTER = 18; // after the size, an extension name or a quoted value: ";", BWS or CR
const X_BWS = 19; // whitespace that must lead to ";"
const X_NAME0 = 20; // after ";": BWS, then a name
const X_NAME = 21;
const X_NAME_BWS = 22; // whitespace after a name: "=" or ";" next
const X_VALUE0 = 23; // after "=": BWS, then a token or quoted-string
const X_TOKEN = 24;
const X_QUOTED = 25;
const X_QUOTED_PAIR = 26;
const C_SIZE_LF = 27;

// Transfer-Encoding tallies, folded over all its fields.
const TE_CHUNKED = 1;
const TE_LAST_CHUNKED = 2;
const TE_TWICE = 4;
const TE_OTHER = 8;
// Connection tokens seen.
const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;

function fail(message: string): HttpParseError {
  return new HttpParseError(400, message);
}

function isWhite(c: number): boolean {
  return c === SP || c === HTAB;
}

const fromCharCode = String.fromCharCode;

/**
 * latin1 decode of b[start, end). Eight explicit arguments per call: measured faster on V8 and JSC than
 * fromCharCode.apply over a typed-array view or a scratch array, for the short strings of a head.
 */
function latin1(b: Uint8Array, start: number, end: number): string {
  let s = "";
  let i = start;
  for (; i + 8 <= end; i += 8) {
    s += fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
  }
  for (; i < end; i++) s += fromCharCode(b[i]);
  return s;
}

const HIGH_BYTES = /[\x80-\xff]/g;

/**
 * Bytes above 0x7F in a request-target (a raw UTF-8 path, as curl sends one) percent-encoded, as
 * Bun.serve does: RFC 9112 has the target ASCII, and a URL built from the bytes as latin-1 would
 * encode them twice.
 */
function percentEncodeHigh(target: string): string {
  HIGH_BYTES.lastIndex = 0;
  if (!HIGH_BYTES.test(target)) return target;
  return target.replace(HIGH_BYTES, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Whether b[start, end) is `word` (lowercase letters, digits, "-") in any case. OR-ing 0x20 folds case;
 * the only other bytes it maps onto those are controls, which validated tokens and values never hold.
 */
function equalsLower(b: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if ((b[start + k] | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

type ListStep = (acc: number, b: Uint8Array, start: number, end: number) => number;

/**
 * Folds `step` over the elements of the comma-separated token list in b[start, end) (RFC 9110 §5.6.1:
 * OWS around elements, empty elements ignored). An element that is not a token is a 400: for
 * Transfer-Encoding that refuses parameters, which no coding this parser accepts has.
 */
function foldList(b: Uint8Array, start: number, end: number, acc: number, step: ListStep): number {
  for (let i = start; i <= end;) {
    let j = i;
    while (j < end && b[j] !== COMMA) j++;
    let a = i;
    let z = j;
    while (a < z && isWhite(b[a])) a++;
    while (z > a && isWhite(b[z - 1])) z--;
    if (a < z) {
      for (let k = a; k < z; k++) if (!(CLASS[b[k]] & TOKEN)) throw fail("list element is not a token");
      acc = step(acc, b, a, z);
    }
    i = j + 1;
  }
  return acc;
}

function transferCoding(acc: number, b: Uint8Array, start: number, end: number): number {
  if (!equalsLower(b, start, end, "chunked")) return (acc | TE_OTHER) & ~TE_LAST_CHUNKED;
  return acc | (acc & TE_CHUNKED ? TE_TWICE : 0) | TE_CHUNKED | TE_LAST_CHUNKED;
}

function connectionOption(acc: number, b: Uint8Array, start: number, end: number): number {
  if (equalsLower(b, start, end, "close")) return acc | CONN_CLOSE;
  if (equalsLower(b, start, end, "keep-alive")) return acc | CONN_KEEP_ALIVE;
  return acc;
}

/**
 * Content-Length = 1*DIGIT; Infinity when too long to be exact (the caller answers 413). Leading
 * zeros do not count toward that length: "0005" is 5.
 */
function contentLength(b: Uint8Array, start: number, end: number): number {
  if (start === end) throw fail("empty Content-Length");
  let n = 0;
  let digits = 0;
  for (let k = start; k < end; k++) {
    const d = b[k] - 0x30;
    if (d < 0 || d > 9) throw fail("Content-Length is not a decimal number");
    if (n > 0 || d > 0) digits++;
    n = n * 10 + d;
  }
  return digits > MAX_DIGITS ? Infinity : n;
}

/** authority-form (RFC 9112 §3.2.3): uri-host ":" port, with a non-empty host and port. */
function isAuthority(b: Uint8Array, start: number, end: number): boolean {
  let colon = -1;
  for (let k = start; k < end; k++) {
    const c = b[k];
    if (!(CLASS[c] & HOST)) return false;
    if (c === COLON) colon = k;
  }
  if (colon <= start || colon === end - 1) return false;
  for (let k = colon + 1; k < end; k++) if (b[k] < 0x30 || b[k] > 0x39) return false;
  return true;
}

/**
 * absolute-form (RFC 9112 §3.2.2, what HTTP clients send to proxies): "http" or "https" (any case),
 * "://", a host as a Host field may hold it (not empty, no userinfo: RFC 9110 §4.2.1, §4.2.4), then
 * the path or query, or nothing. Anything looser would be read by the URL parser into another host
 * or path than a proxy in front of us checked (`http:///a` is host "a").
 */
function isAbsolute(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 8 || !equalsLower(b, start, start + 4, "http")) return false;
  let k = start + 4;
  if ((b[k] | 0x20) === 0x73 /* "s" */) k++;
  if (b[k] !== COLON || b[k + 1] !== SLASH || b[k + 2] !== SLASH) return false;
  k += 3;
  const host = k;
  for (; k < end && b[k] !== SLASH && b[k] !== QUESTION; k++) if (!(CLASS[b[k]] & HOST)) return false;
  return k > host;
}

/** Refuses a request-target whose form does not fit the method (RFC 9112 §3.2). */
function checkTarget(b: Uint8Array, start: number, end: number, method: string): void {
  if (method === "CONNECT") {
    // A CONNECT names only host and port, and must give the port (RFC 9110 §9.3.6). serve() opens no
    // tunnels: a 2xx would make what follows a tunnel to a proxy in front, and requests to us.
    if (!isAuthority(b, start, end)) throw fail("CONNECT needs an authority-form target (host:port)");
    throw new HttpParseError(501, "CONNECT is not implemented: serve() opens no tunnels");
  } else if (b[start] === STAR && end - start === 1) {
    if (method !== "OPTIONS") throw fail('the "*" target is for OPTIONS only');
  } else if (b[start] !== SLASH && !isAbsolute(b, start, end)) {
    throw fail("request-target is neither origin-form nor an http(s) absolute-form with a host");
  }
  if (method.length === 5 || method.length === 7) {
    // The Fetch standard's forbidden methods, in any case: no Request can carry them (Deno's refuses
    // them, Bun's takes TRACE), so both runtimes answer them alike.
    const upper = method.toUpperCase();
    if (upper === "TRACE" || upper === "TRACK" || upper === "CONNECT") {
      throw new HttpParseError(501, `${method} is not implemented: a Fetch Request cannot carry it`);
    }
  }
}

// A head that arrives whole is scanned into these, shared by every parser of the thread (the scan
// and the parse of such a head happen within one feed()); a parser whose head is split across
// chunks keeps a copy of its own until that head is done. An idle keep-alive connection then holds
// no buffers: 10,000 of them would otherwise keep 10,000 tables and carries alive.
let sharedFields = new Int32Array(64);
const NO_CARRY = new Uint8Array(0);

/** An incremental HTTP/1.1 request parser for one connection: feed it every received chunk in order. */
export class RequestParser {
  readonly #maxHeaderSize: number;
  readonly #maxTargetLength: number;
  readonly #maxBodySize: number;
  #error: HttpParseError | undefined;
  #state = S_START;
  /** Parsing a trailer section (in the field states) rather than a request head. */
  #trailer = false;
  #emptyLines = 0;
  /** Bytes of the head (or trailer section) before the current chunk. */
  #headLen = 0;
  /** The bytes of a split head so far (#headLen of them); unused while a head arrives whole. */
  #carry = NO_CARRY;
  // Positions in the head (offsets from its first byte), recorded while scanning.
  #methodEnd = 0;
  #targetEnd = 0;
  #version = 0;
  #major = 0;
  #minor = 0;
  /** Per complete field line: name start, name end (the colon), value start, value end (trimmed). */
  #fields = sharedFields;
  /** Entries of #fields for the complete field lines. */
  #fieldCount = 0;
  /** Body bytes still to come of a Content-Length body or of the current chunk. */
  #remaining = 0;
  #chunkSize = 0;
  #chunkDigits = 0;
  #chunkLine = 0;
  /** Sum of the chunk sizes of the current body. */
  #chunkTotal = 0;
  #stopRequested = false;

  /** A parser with `limits` (the rest from {@link DEFAULT_PARSER_LIMITS}); each must be a positive integer. */
  constructor(limits: Partial<ParserLimits> = {}) {
    const pick = (name: keyof ParserLimits): number => {
      const value = limits[name] ?? DEFAULT_PARSER_LIMITS[name];
      if (!Number.isSafeInteger(value) || value <= 0) {
        throw numberError(value, `${name} must be a positive integer, got ${describe(value)}`);
      }
      return value;
    };
    this.#maxHeaderSize = pick("maxHeaderSize");
    this.#maxTargetLength = pick("maxTargetLength");
    this.#maxBodySize = pick("maxRequestBodySize");
  }

  /** True between requests with nothing buffered (no partial head, no body in progress): an EOF here is a clean end. */
  get idle(): boolean {
    return this.#state === S_START && !this.#error;
  }

  /** True while a head has begun (at least one non-empty-line byte) but is not complete (the server's header timeout runs then). */
  get inHead(): boolean {
    return this.#state >= S_METHOD && this.#state <= S_END_LF && !this.#trailer;
  }

  /** True while a body (or trailers) is being received. */
  get inBody(): boolean {
    return this.#state >= B_LENGTH || this.#trailer;
  }

  /**
   * Parses `chunk`, calling the sink; returns how many bytes it used: all of them, unless the sink
   * called stop() (then up to the message boundary after that call; feed the rest later). Throws
   * HttpParseError on the first violation (the parser is then dead: every later feed throws the same error).
   */
  feed(chunk: Uint8Array, sink: ParserSink): number {
    if (this.#error) throw this.#error;
    try {
      const end = chunk.length;
      for (let i = 0; i < end;) {
        const s = this.#state;
        if (this.#stopRequested && s === S_START) {
          this.#stopRequested = false;
          return i;
        }
        if (s < B_LENGTH) i = this.#head(chunk, i, sink);
        else if (s < C_DATA_CR) i = this.#data(chunk, i, sink);
        else i = this.#chunkFraming(chunk, i);
      }
      this.#stopRequested = false;
      return end;
    } catch (e) {
      if (e instanceof HttpParseError) this.#error = e;
      throw e;
    }
  }

  /**
   * Asks the running feed() to return at the next message boundary (before the next request's first
   * byte), leaving the rest of its chunk unparsed: a sink that holds enough requests calls it.
   */
  stop(): void {
    this.#stopRequested = true;
  }

  /** Scans head (or trailer) bytes from b[i]; returns where it stopped: the chunk's end, or just past the head. */
  #head(b: Uint8Array, i: number, sink: ParserSink): number {
    const end = b.length;
    let s = this.#state;
    while (s <= S_START_LF) {
      if (i === end) {
        this.#state = s;
        return end;
      }
      const c = b[i];
      if (s === S_START_LF) {
        if (c !== LF) throw fail("CR not followed by LF");
        if (++this.#emptyLines > MAX_EMPTY_LINES) throw fail("too many empty lines before a request");
        s = S_START;
        i++;
      } else if (c === CR) {
        s = S_START_LF;
        i++;
      } else if (CLASS[c] & TOKEN) {
        s = S_METHOD;
      } else {
        throw fail(c === LF ? "bare LF" : "not an HTTP/1 request");
      }
    }
    const i0 = i;
    // Offset of b[i] in the head is i + rel.
    const rel = this.#headLen - i0;
    // Scanning stops at the size limit: a byte beyond it is refused before anything else.
    const lim = Math.min(end, i0 + this.#maxHeaderSize - this.#headLen);
    let fields = this.#fields;
    let n = this.#fieldCount;
    let v = this.#version;
    while (i < lim) {
      switch (s) {
        case S_METHOD: {
          // A method longer than the target limit is none we implement: 501 (RFC 9112 §3), not 414.
          const stop = Math.min(lim, this.#maxTargetLength - rel);
          while (i < stop && CLASS[b[i]] & TOKEN) i++;
          if (i === lim) break;
          if (i === stop && CLASS[b[i]] & TOKEN) throw new HttpParseError(501, "method too long");
          if (b[i] !== SP) throw fail("invalid method");
          this.#methodEnd = i + rel;
          s = S_TARGET;
          i++;
          break;
        }
        case S_TARGET: {
          const start = this.#methodEnd + 1 - rel;
          const tooLong = start + this.#maxTargetLength;
          const stop = Math.min(lim, tooLong);
          while (i < stop && CLASS[b[i]] & VISIBLE) i++;
          if (i === lim) break;
          const c = b[i];
          if (c === SP && i > start) {
            this.#targetEnd = i + rel;
            s = S_VERSION;
            v = 0;
            i++;
          } else if (i === tooLong && CLASS[c] & VISIBLE) {
            throw new HttpParseError(414, "request-target too long");
          } else {
            throw fail(c === SP ? "more than one SP after the method" : "invalid byte in the request-target");
          }
          break;
        }
        case S_VERSION: {
          const c = b[i++];
          if (v === 8) {
            if (c !== CR) throw fail("invalid HTTP-version");
            s = S_LINE_LF;
            break;
          }
          if (VERSION[v] === 0) {
            if (c < 0x30 || c > 0x39) throw fail("invalid HTTP-version");
            if (v === 5) this.#major = c - 0x30;
            else this.#minor = c - 0x30;
          } else if (c !== VERSION[v]) {
            throw fail("invalid HTTP-version");
          }
          v++;
          break;
        }
        case S_LINE_LF: {
          if (b[i++] !== LF) throw fail("CR not followed by LF");
          if (this.#major !== 1) throw new HttpParseError(505, "HTTP version not supported");
          s = S_FIELD;
          break;
        }
        case S_FIELD: {
          const c = b[i];
          if (c === CR) {
            s = S_END_LF;
            i++;
            break;
          }
          if (!(CLASS[c] & TOKEN)) {
            throw fail(
              isWhite(c) ? "obs-fold or whitespace before a field name" : c === LF ? "bare LF" : "invalid field name",
            );
          }
          if (n + 4 > fields.length) fields = this.#growFields();
          fields[n] = i + rel;
          s = S_NAME;
          i++;
          break;
        }
        case S_NAME: {
          while (i < lim && CLASS[b[i]] & TOKEN) i++;
          if (i === lim) break;
          if (b[i] !== COLON) throw fail("invalid field name, or whitespace before the colon");
          fields[n + 1] = i + rel;
          s = S_OWS;
          i++;
          break;
        }
        case S_OWS: {
          while (i < lim && isWhite(b[i])) i++;
          if (i === lim) break;
          const c = b[i];
          fields[n + 2] = i + rel;
          if (c === CR) {
            fields[n + 3] = i + rel;
            s = S_FIELD_LF;
          } else if (CLASS[c] & FIELD) {
            fields[n + 3] = i + 1 + rel;
            s = S_VALUE;
          } else {
            throw fail(c === LF ? "bare LF" : "control character in a field value");
          }
          i++;
          break;
        }
        case S_VALUE: {
          // Trailing whitespace is not part of the value: the end moves past visible bytes only.
          let last = -1;
          while (i < lim) {
            const c = b[i];
            if (CLASS[c] & FIELD) last = ++i;
            else if (isWhite(c)) i++;
            else break;
          }
          if (last >= 0) fields[n + 3] = last + rel;
          if (i === lim) break;
          const c = b[i++];
          if (c !== CR) throw fail(c === LF ? "bare LF" : "control character in a field value");
          s = S_FIELD_LF;
          break;
        }
        case S_FIELD_LF: {
          if (b[i++] !== LF) throw fail("CR not followed by LF");
          n += 4;
          s = S_FIELD;
          break;
        }
        case S_END_LF: {
          if (b[i++] !== LF) throw fail("CR not followed by LF");
          this.#fieldCount = n;
          return this.#headDone(b, i0, i, rel, sink);
        }
      }
    }
    if (i < end) {
      const inLine = s <= S_LINE_LF && !this.#trailer;
      throw inLine && i + rel > this.#maxTargetLength
        ? new HttpParseError(414, "request line too long")
        : new HttpParseError(431, this.#trailer ? "trailer section too large" : "request head too large");
    }
    if (!this.#trailer) this.#keep(b, i0, end);
    this.#headLen += end - i0;
    this.#state = s;
    this.#version = v;
    this.#fieldCount = n;
    if (this.#fields === sharedFields) this.#fields = sharedFields.slice(); // the head goes on in a later feed
    return end;
  }

  /** Doubles the field-position table. */
  #growFields(): Int32Array<ArrayBuffer> {
    const grown = new Int32Array(this.#fields.length * 2);
    grown.set(this.#fields);
    if (this.#fields === sharedFields) sharedFields = grown;
    return (this.#fields = grown);
  }

  /** Appends b[from, to) to the carry, after the #headLen bytes of the head already there. */
  #keep(b: Uint8Array, from: number, to: number): void {
    const need = this.#headLen + to - from;
    if (need > this.#carry.length) {
      const grown = new Uint8Array(Math.min(this.#maxHeaderSize, Math.max(need, 2 * this.#carry.length, 1024)));
      grown.set(this.#carry.subarray(0, this.#headLen));
      this.#carry = grown;
    }
    this.#carry.set(b.subarray(from, to), this.#headLen);
  }

  /** The final CRLF of a head or trailer section ended at b[stop - 1]; reports it and sets up the body. */
  #headDone(b: Uint8Array, i0: number, stop: number, rel: number, sink: ParserSink): number {
    if (this.#trailer) {
      this.#trailer = false;
      this.#reset(S_START);
      sink.onMessageEnd();
      return stop;
    }
    let src = b;
    let base = -rel;
    if (rel > 0) {
      // The head began in an earlier chunk: complete it in the carry and parse it there.
      this.#keep(b, i0, stop);
      src = this.#carry;
      base = 0;
    }
    const head = this.#parse(src, base);
    const length = head.contentLength;
    if (length < 0) {
      this.#chunkTotal = 0;
      this.#chunkLine = 0;
      this.#reset(C_SIZE0);
    } else {
      this.#remaining = length;
      this.#reset(length > 0 ? B_LENGTH : S_START);
    }
    sink.onHead(head);
    if (length === 0) sink.onMessageEnd();
    return stop;
  }

  /** Forgets the head just finished and moves to `state`. */
  #reset(state: number): void {
    this.#state = state;
    this.#headLen = 0;
    this.#fieldCount = 0;
    this.#emptyLines = 0;
    this.#fields = sharedFields;
    this.#carry = NO_CARRY;
  }

  /** Decodes and checks the complete head whose first byte is src[base] (RFC 9112 §3, §6; RFC 9110 §7.2). */
  #parse(src: Uint8Array, base: number): RequestHead {
    const methodEnd = base + this.#methodEnd;
    const method = latin1(src, base, methodEnd);
    checkTarget(src, methodEnd + 1, base + this.#targetEnd, method);
    const target = percentEncodeHigh(latin1(src, methodEnd + 1, base + this.#targetEnd));
    const minor = this.#minor === 0 ? 0 : 1;
    const headers: string[] = [];
    let host: string | undefined;
    let length = -1;
    let te = 0;
    let teFields = 0;
    let connection = 0;
    let expectContinue = false;
    const fields = this.#fields;
    for (let k = 0; k < this.#fieldCount; k += 4) {
      const nameStart = base + fields[k];
      const nameEnd = base + fields[k + 1];
      const valueStart = base + fields[k + 2];
      const valueEnd = base + fields[k + 3];
      const value = latin1(src, valueStart, valueEnd);
      headers.push(latin1(src, nameStart, nameEnd), value);
      // Only the names this parser acts on are compared, picked by length first.
      switch (nameEnd - nameStart) {
        case 4:
          if (equalsLower(src, nameStart, nameEnd, "host")) {
            if (host !== undefined) throw fail("more than one Host");
            for (let j = valueStart; j < valueEnd; j++) if (!(CLASS[src[j]] & HOST)) throw fail("invalid Host");
            host = value;
          }
          break;
        case 6:
          if (equalsLower(src, nameStart, nameEnd, "expect")) {
            expectContinue = minor === 1 && equalsLower(src, valueStart, valueEnd, "100-continue");
          }
          break;
        case 10:
          if (equalsLower(src, nameStart, nameEnd, "connection")) {
            connection = foldList(src, valueStart, valueEnd, connection, connectionOption);
          }
          break;
        case 14:
          if (equalsLower(src, nameStart, nameEnd, "content-length")) {
            // Even equal copies are refused: a list or a repeat is how framing gets disputed.
            if (length !== -1) throw fail("more than one Content-Length");
            length = contentLength(src, valueStart, valueEnd);
          }
          break;
        case 17:
          if (equalsLower(src, nameStart, nameEnd, "transfer-encoding")) {
            teFields++;
            te = foldList(src, valueStart, valueEnd, te, transferCoding);
          }
          break;
      }
    }
    if (minor === 1 && host === undefined) throw fail("HTTP/1.1 request without Host");
    if (teFields > 0) {
      // RFC 9112 §6.1, §6.3: these framings are ambiguous or unknown, and could smuggle a request.
      if (length !== -1) throw fail("both Transfer-Encoding and Content-Length");
      if (minor === 0) throw fail("Transfer-Encoding in an HTTP/1.0 request");
      if (te & TE_TWICE) throw fail("chunked applied more than once");
      if (!(te & TE_LAST_CHUNKED)) throw fail("final transfer coding is not chunked");
      if (te & TE_OTHER) throw new HttpParseError(501, "transfer coding not implemented");
    } else if (length > this.#maxBodySize) {
      throw new HttpParseError(413, "Content-Length exceeds the body size limit");
    }
    return {
      method,
      target,
      minor,
      headers,
      host,
      contentLength: teFields > 0 ? -1 : length === -1 ? 0 : length,
      keepAlive: connection & CONN_CLOSE ? false : minor === 1 || (connection & CONN_KEEP_ALIVE) !== 0,
      expectContinue,
    };
  }

  /** Hands out body bytes (a Content-Length body or a chunk's data) from b[i]; returns where it stopped. */
  #data(b: Uint8Array, i: number, sink: ParserSink): number {
    const n = Math.min(this.#remaining, b.length - i);
    const last = (this.#remaining -= n) === 0;
    const lengthBody = this.#state === B_LENGTH;
    if (last) this.#state = lengthBody ? S_START : C_DATA_CR;
    sink.onBody(b.subarray(i, i + n));
    if (last && lengthBody) sink.onMessageEnd();
    return i + n;
  }

  /** Scans the CRLF after chunk data and chunk-size lines from b[i] (RFC 9112 §7.1); returns where it stopped. */
  #chunkFraming(b: Uint8Array, i: number): number {
    const end = b.length;
    let s = this.#state;
    while (i < end && s >= C_DATA_CR) {
      const c = b[i++];
      if (s >= C_SIZE0 && ++this.#chunkLine > MAX_CHUNK_LINE) throw fail("chunk-size line too long");
      switch (s) {
        case C_DATA_CR:
          if (c !== CR) throw fail("chunk data not followed by CRLF");
          s = C_DATA_LF;
          break;
        case C_DATA_LF:
          if (c !== LF) throw fail("chunk data not followed by CRLF");
          this.#chunkLine = 0;
          s = C_SIZE0;
          break;
        case C_SIZE0:
          if (HEX[c] === NOT_HEX) throw fail("chunk size is not hexadecimal");
          this.#chunkSize = HEX[c];
          this.#chunkDigits = HEX[c] === 0 ? 0 : 1; // leading zeros do not count toward MAX_DIGITS
          s = C_SIZE;
          break;
        case C_SIZE:
          if (HEX[c] !== NOT_HEX) {
            if ((this.#chunkSize > 0 || HEX[c] !== 0) && ++this.#chunkDigits > MAX_DIGITS) {
              throw fail("chunk size too long");
            }
            this.#chunkSize = this.#chunkSize * 16 + HEX[c];
            if (this.#chunkSize > Number.MAX_SAFE_INTEGER) throw fail("chunk size overflows");
          } else {
            this.#chunkTotal += this.#chunkSize;
            if (this.#chunkTotal > this.#maxBodySize) {
              throw new HttpParseError(413, "chunked body exceeds the body size limit");
            }
            s = extension(X_AFTER, c);
          }
          break;
        case C_SIZE_LF:
          if (c !== LF) throw fail("CR not followed by LF");
          this.#chunkLine = 0;
          if (this.#chunkSize > 0) {
            this.#remaining = this.#chunkSize;
            s = C_DATA;
          } else {
            // The last chunk: a trailer section follows, scanned like a head and dropped.
            this.#trailer = true;
            this.#headLen = 0;
            this.#fieldCount = 0;
            s = S_FIELD;
          }
          break;
        default:
          s = extension(s, c);
      }
    }
    this.#state = s;
    return i;
  }
}

/**
 * The state after byte `c` of a chunk-ext in state `s` (RFC 9112 §7.1.1: BWS ";" BWS name
 * [BWS "=" BWS (token / quoted-string)]); the extensions themselves are ignored.
 */
function extension(s: number, c: number): number {
  const token = (CLASS[c] & TOKEN) !== 0;
  const white = isWhite(c);
  switch (s) {
    case X_AFTER:
      if (c === SEMICOLON) return X_NAME0;
      if (c === CR) return C_SIZE_LF;
      if (white) return X_BWS;
      break;
    case X_BWS:
      if (c === SEMICOLON) return X_NAME0;
      if (white) return X_BWS;
      break;
    case X_NAME0:
      if (token) return X_NAME;
      if (white) return X_NAME0;
      break;
    case X_NAME:
      if (token) return X_NAME;
      if (c === EQUALS) return X_VALUE0;
      if (c === SEMICOLON) return X_NAME0;
      if (c === CR) return C_SIZE_LF;
      if (white) return X_NAME_BWS;
      break;
    case X_NAME_BWS:
      if (c === EQUALS) return X_VALUE0;
      if (c === SEMICOLON) return X_NAME0;
      if (white) return X_NAME_BWS;
      break;
    case X_VALUE0:
      if (token) return X_TOKEN;
      if (c === DQUOTE) return X_QUOTED;
      if (white) return X_VALUE0;
      break;
    case X_TOKEN:
      if (token) return X_TOKEN;
      if (c === SEMICOLON) return X_NAME0;
      if (c === CR) return C_SIZE_LF;
      if (white) return X_BWS;
      break;
    case X_QUOTED:
      // qdtext: HTAB / SP / VCHAR except DQUOTE and "\" / obs-text.
      if (c === DQUOTE) return X_AFTER;
      if (c === BACKSLASH) return X_QUOTED_PAIR;
      if (white || CLASS[c] & FIELD) return X_QUOTED;
      break;
    case X_QUOTED_PAIR:
      if (white || CLASS[c] & FIELD) return X_QUOTED;
      break;
  }
  throw fail(c === LF ? "bare LF in a chunk-size line" : "invalid chunk extension");
}
