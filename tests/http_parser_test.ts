/**
 * The HTTP/1.1 request parser: parsed heads and bodies, framing of pipelined requests, identical
 * results for every way of splitting the input, and the refusal (with its status) of every malformed,
 * ambiguous or oversized request, smuggling attempts included.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_PARSER_LIMITS,
  HttpParseError,
  type ParserLimits,
  type ParserSink,
  type RequestHead,
  RequestParser,
} from "../src/http/parser.ts";
import { test } from "./harness.ts";

/** latin1 bytes of `s` (one byte per char). */
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);

type Event = ["head", RequestHead] | ["body", string] | ["end"];

/** A sink logging events, adjacent body pieces joined (a split may cut a body into more pieces). */
class Log implements ParserSink {
  readonly events: Event[] = [];
  readonly pieces: Uint8Array[] = [];

  onHead(head: RequestHead): void {
    this.events.push(["head", head]);
  }

  onBody(piece: Uint8Array): void {
    assert.ok(piece.length > 0, "empty onBody");
    this.pieces.push(piece);
    const last = this.events.at(-1);
    if (last?.[0] === "body") last[1] += text(piece);
    else this.events.push(["body", text(piece)]);
  }

  onMessageEnd(): void {
    this.events.push(["end"]);
  }
}

/** Feeds `chunks` to a fresh parser; returns the log. */
function parse(chunks: (string | Uint8Array)[], limits?: Partial<ParserLimits>): Event[] {
  const parser = new RequestParser(limits);
  const log = new Log();
  for (const chunk of chunks) parser.feed(typeof chunk === "string" ? bytes(chunk) : chunk, log);
  return log.events;
}

/** The status `raw` is refused with, fed whole or `step` bytes at a time; undefined if accepted. */
function refusal(raw: string | Uint8Array, limits?: Partial<ParserLimits>, step = Infinity): number | undefined {
  const data = typeof raw === "string" ? bytes(raw) : raw;
  const parser = new RequestParser(limits);
  const log = new Log();
  try {
    for (let i = 0; i < data.length; i += step) parser.feed(data.subarray(i, i + step), log);
  } catch (e) {
    assert.ok(e instanceof HttpParseError, `not an HttpParseError: ${e}`);
    return e.status;
  }
  return undefined;
}

/** The head of a request parsed alone (asserting it is complete and has no body). */
function headOf(raw: string): RequestHead {
  const events = parse([raw]);
  assert.equal(events.length, 2, `events: ${JSON.stringify(events)}`);
  assert.equal(events[0][0], "head");
  assert.deepEqual(events[1], ["end"]);
  return events[0][1] as RequestHead;
}

test("a simple GET", () => {
  const head = headOf("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  assert.deepEqual(head, {
    method: "GET",
    target: "/",
    minor: 1,
    headers: ["Host", "example.com"],
    host: "example.com",
    contentLength: 0,
    keepAlive: true,
    expectContinue: false,
  });
});

test("bytes above 0x7F in the target (a raw UTF-8 path) are taken, percent-encoded as Bun.serve does", () => {
  // Before: 400, where Deno.serve and Bun.serve answer (curl sends a non-ASCII URL's path as raw bytes).
  assert.equal(headOf("GET /caf\xc3\xa9?q=\xff HTTP/1.1\r\nHost: a\r\n\r\n").target, "/caf%C3%A9?q=%FF");
  assert.equal(headOf("GET /a%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n").target, "/a%C3%A9", "escapes stay as sent");
});

test("a GET with a query keeps the target as sent", () => {
  const head = headOf("GET /search?q=a%20b&x=%2F#?/ HTTP/1.1\r\nHost: h:8080\r\n\r\n");
  assert.equal(head.target, "/search?q=a%20b&x=%2F#?/");
  assert.equal(head.host, "h:8080");
});

test("HTTP/1.0 defaults: Host optional, no keep-alive unless asked", () => {
  const head = headOf("GET /old HTTP/1.0\r\n\r\n");
  assert.equal(head.minor, 0);
  assert.equal(head.host, undefined);
  assert.equal(head.keepAlive, false);
  assert.equal(headOf("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive, true);
  assert.equal(headOf("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keepAlive, false);
  assert.equal(headOf("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expectContinue, false);
});

test("HTTP/1.2 to 1.9 are treated as 1.1", () => {
  assert.equal(headOf("GET / HTTP/1.2\r\nHost: a\r\n\r\n").minor, 1);
  assert.equal(headOf("GET / HTTP/1.9\r\nHost: a\r\n\r\n").minor, 1);
  assert.equal(refusal("GET / HTTP/1.5\r\n\r\n"), 400, "Host is required as in 1.1");
});

test("Connection tokens: close in a list, any case; keep-alive; other tokens ignored", () => {
  const conn = (value: string) => headOf(`GET / HTTP/1.1\r\nHost: a\r\nConnection: ${value}\r\n\r\n`).keepAlive;
  assert.equal(conn("foo, Close"), false);
  assert.equal(conn("CLOSE"), false);
  assert.equal(conn(" ,, upgrade ,keep-alive,"), true);
  assert.equal(conn("closed, xclose"), true);
  const twoFields = headOf("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n");
  assert.equal(twoFields.keepAlive, false);
});

test("a POST with a Content-Length body: views of the chunk, end right after the last byte", () => {
  const chunk = bytes("POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
  const parser = new RequestParser();
  const log = new Log();
  parser.feed(chunk, log);
  assert.equal(log.events.length, 3);
  assert.equal((log.events[0][1] as RequestHead).contentLength, 11);
  assert.deepEqual(log.events.slice(1), [["body", "hello world"], ["end"]]);
  assert.equal(log.pieces[0].buffer, chunk.buffer, "onBody gets a view, not a copy");
  assert.equal(log.pieces[0].byteOffset, chunk.length - 11);

  // Split: the end comes with the last byte, not before.
  const split = new RequestParser();
  const splitLog = new Log();
  split.feed(chunk.subarray(0, chunk.length - 1), splitLog);
  assert.deepEqual(splitLog.events.slice(1), [["body", "hello worl"]]);
  split.feed(chunk.subarray(chunk.length - 1), splitLog);
  assert.deepEqual(splitLog.events.slice(1), [["body", "hello world"], ["end"]]);
});

test("Content-Length: 0 and a body-less request end right after the head", () => {
  const events = parse(["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"]);
  assert.deepEqual(events.map((e) => e[0]), ["head", "end"]);
  assert.equal((events[0][1] as RequestHead).contentLength, 0);
  assert.equal(headOf("DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length:  000\r\n\r\n").contentLength, 0);
});

test("a chunked body with extensions and trailers", () => {
  const events = parse([
    "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n" +
    "5;name=value\r\nhello\r\n" +
    'A ; q="a \\"quoted\\" ;\tvalue" ; flag\r\n, chunked!\r\n' +
    "1;a = b;c\r\n.\r\n" +
    "0\r\nX-Checksum: 1234\r\nX-Other: x\r\n\r\n",
  ]);
  const head = events[0][1] as RequestHead;
  assert.equal(head.contentLength, -1);
  assert.deepEqual(head.headers, ["Host", "a", "Transfer-Encoding", "Chunked"], "trailers are not headers");
  assert.deepEqual(events.slice(1), [["body", "hello, chunked!."], ["end"]]);
});

test("a chunked body: one onBody per chunk data piece, views of the chunk", () => {
  const chunk = bytes(
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
  );
  const parser = new RequestParser();
  const log = new Log();
  parser.feed(chunk, log);
  assert.deepEqual(log.pieces.map(text), ["abc", "de"]);
  assert.ok(log.pieces.every((p) => p.buffer === chunk.buffer));
  assert.deepEqual(log.events.at(-1), ["end"]);
  assert.ok(parser.idle);
});

test("leading zeros in a Content-Length or a chunk size do not count toward the digit limit", () => {
  // Before: 413 for a 16-digit Content-Length of value 5, 400 "chunk size too long" for 17 hex digits of 5.
  const length = parse([post("Content-Length: 0000000000000005\r\n", "hello")]);
  assert.deepEqual(length.slice(1), [["body", "hello"], ["end"]]);
  const chunk = parse([chunked("00000000000000005\r\nhello\r\n0000000000000000000\r\n\r\n")]);
  assert.deepEqual(chunk.slice(1), [["body", "hello"], ["end"]]);
  assert.equal(refusal(post("Content-Length: 0001000000000000000\r\n")), 413, "16 significant digits");
  assert.equal(refusal(chunked("00001000000000000000\r\n")), 400, "16 significant hex digits");
});

test("HEAD, OPTIONS *, absolute-form", () => {
  assert.equal(headOf("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n").method, "HEAD");
  const options = headOf("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.deepEqual([options.method, options.target], ["OPTIONS", "*"]);
  assert.equal(headOf("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n").target, "/x");
  const absolute = headOf("GET http://example.com/x?y HTTP/1.1\r\nHost: other\r\n\r\n");
  assert.equal(absolute.target, "http://example.com/x?y");
  assert.equal(headOf("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n").target, "HTTPS://h");
  assert.equal(headOf("GET http://[::1]:8080?q HTTP/1.1\r\nHost: h\r\n\r\n").target, "http://[::1]:8080?q");
  assert.equal(headOf("get / HTTP/1.1\r\nHost: a\r\n\r\n").method, "get", "methods are case-sensitive tokens");
});

test("Expect: 100-continue on 1.1 only, any case, other expectations ignored", () => {
  const expect = (value: string) => headOf(`GET / HTTP/1.1\r\nHost: a\r\nExpect: ${value}\r\n\r\n`).expectContinue;
  assert.equal(expect("100-continue"), true);
  assert.equal(expect("  100-Continue \t"), true);
  assert.equal(expect("100-continue-x"), false);
  assert.equal(expect("200-ok"), false);
  assert.equal(headOf("GET / HTTP/1.1\r\nHost: a\r\n\r\n").expectContinue, false);
});

test("headers: names as sent, values trimmed, inner whitespace and obs-text kept", () => {
  const head = headOf(
    "GET / HTTP/1.1\r\nhOsT:a\r\nX-Empty:\r\nX-Blank: \t \r\nX-Inner:  a \t b  \r\nX-Obs: caf\xe9 \xff\r\n" +
      "x-dup: 1\r\nX-Dup: 2\r\n\r\n",
  );
  assert.deepEqual(head.headers, [
    "hOsT",
    "a",
    "X-Empty",
    "",
    "X-Blank",
    "",
    "X-Inner",
    "a \t b",
    "X-Obs",
    "caf\xe9 \xff",
    "x-dup",
    "1",
    "X-Dup",
    "2",
  ]);
  assert.equal(head.host, "a");
  assert.equal(headOf("GET / HTTP/1.1\r\nHost:\r\n\r\n").host, "", "an empty Host is present");
  // A long value with every visible and obs-text byte decodes byte for byte.
  let long = "";
  for (let c = 0x21; c < 0x100; c++) if (c !== 0x7f) long += String.fromCharCode(c) + " ";
  long = long.repeat(4).trim();
  assert.equal(headOf(`GET / HTTP/1.1\r\nHost: a\r\nX-Long: ${long}\r\n\r\n`).headers[3], long);
});

test("pipelined requests in one chunk give the exact sequence of events", () => {
  const events = parse([
    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
    "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
    "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
    "GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  ]);
  const summary = events.map((e) => e[0] === "head" ? `head ${e[1].method} ${e[1].target}` : e.join(" "));
  assert.deepEqual(summary, [
    "head GET /1",
    "end",
    "head POST /2",
    "body abc",
    "end",
    "head POST /3",
    "body de",
    "end",
    "head GET /4",
    "end",
  ]);
  assert.equal((events.at(-2)![1] as RequestHead).keepAlive, false);
});

test("empty lines before a request line are ignored, up to a few", () => {
  assert.equal(headOf("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").target, "/");
  const after = parse([
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
  ]);
  assert.deepEqual(after.map((e) => e[0]), ["head", "body", "end", "head", "end"]);
  assert.equal(refusal("\r\n".repeat(5) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
});

const splitCases: [string, string][] = [
  ["GET with fields", "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n"],
  [
    "POST with a Content-Length body",
    "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\nhello world",
  ],
  [
    "chunked with extensions and trailers, then pipelined requests",
    "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
    '5;ext=1\r\nhello\r\n6 ;a="b\\"c" ; d\r\n world\r\n0\r\nX-Trailer: yes\r\nY: z\r\n\r\n' +
    "GET /next HTTP/1.1\r\nHost: h\r\n\r\n" +
    "\r\nGET /after-empty-line HTTP/1.0\r\n\r\n",
  ],
  [
    "HTTP/1.0 after empty lines, with obs-text and whitespace to trim",
    "\r\n\r\nGET / HTTP/1.0\r\nX-Obs: \tcaf\xe9 \t\r\nConnection: keep-alive\r\n\r\n",
  ],
  ["Expect with a body", "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"],
];

test("a request split at every byte, or fed byte by byte, gives the same events as in one piece", () => {
  for (const [name, raw] of splitCases) {
    const data = bytes(raw);
    const whole = parse([data]);
    assert.ok(whole.length >= 2 && whole.at(-1)![0] === "end", name);
    for (let k = 1; k < data.length; k++) {
      assert.deepEqual(parse([data.subarray(0, k), data.subarray(k)]), whole, `${name}: split at ${k}`);
    }
    const oneByOne = Array.from({ length: data.length }, (_, k) => data.subarray(k, k + 1));
    assert.deepEqual(parse(oneByOne), whole, `${name}: byte by byte`);
  }
});

test("a head split across chunks parses from copies: later changes to the chunks do not matter", () => {
  const parser = new RequestParser();
  const log = new Log();
  const first = bytes("GET /abc HTTP/1.1\r\nHo");
  parser.feed(first, log);
  first.fill(0x21);
  parser.feed(bytes("st: h\r\n\r\n"), log);
  assert.equal((log.events[0][1] as RequestHead).target, "/abc");
});

const H = "Host: a\r\n";
const post = (fields: string, body = "") => `POST / HTTP/1.1\r\n${H}${fields}\r\n${body}`;
const chunked = (body: string) => post("Transfer-Encoding: chunked\r\n", body);
const clientHello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x11, 0x00];

const refusals: [string, string | Uint8Array, number, Partial<ParserLimits>?][] = [
  // Content-Length
  ["two different Content-Lengths", post("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"), 400],
  ["two equal Content-Lengths", post("Content-Length: 3\r\nContent-Length: 3\r\n", "abc"), 400],
  ["Content-Length list", post("Content-Length: 3, 3\r\n", "abc"), 400],
  ["space before the colon of Content-Length", post("Content-Length : 34\r\n"), 400],
  ["Content-Length: +3", post("Content-Length: +3\r\n", "abc"), 400],
  ["Content-Length: -1", post("Content-Length: -1\r\n"), 400],
  ["Content-Length: 0x10", post("Content-Length: 0x10\r\n"), 400],
  ["Content-Length with a space inside", post("Content-Length: 1 0\r\n"), 400],
  ["empty Content-Length", post("Content-Length: \r\n"), 400],
  ["Content-Length of 16 digits", post("Content-Length: 1000000000000000\r\n"), 413],
  ["Content-Length of 16 characters, not all digits", post("Content-Length: 100000000000000x\r\n"), 400],
  ["Content-Length over the body limit", post("Content-Length: 134217729\r\n"), 413],
  ["Content-Length over a configured body limit", post("Content-Length: 11\r\n"), 413, { maxRequestBodySize: 10 }],
  // Transfer-Encoding
  ["space before the colon of Transfer-Encoding", post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400],
  ["HTAB before the colon of Transfer-Encoding", post("Transfer-Encoding\t: chunked\r\n", "0\r\n\r\n"), 400],
  ["Transfer-Encoding with Content-Length", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400],
  ["Content-Length with Transfer-Encoding", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400],
  ["Transfer-Encoding: chunked, gzip", post("Transfer-Encoding: chunked, gzip\r\n"), 400],
  ["Transfer-Encoding: gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n"), 501],
  [
    "Transfer-Encoding: gzip then chunked in two fields",
    post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
    501,
  ],
  ["Transfer-Encoding: chunked, chunked", post("Transfer-Encoding: chunked, chunked\r\n"), 400],
  [
    "Transfer-Encoding: chunked in two fields",
    post("Transfer-Encoding: chunked\r\nTransfer-Encoding: CHUNKED\r\n"),
    400,
  ],
  ["Transfer-Encoding: gzip", post("Transfer-Encoding: gzip\r\n"), 400],
  ["empty Transfer-Encoding", post("Transfer-Encoding: \r\n"), 400],
  ["Transfer-Encoding with a parameter", post("Transfer-Encoding: chunked;q=1\r\n"), 400],
  ["Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
  // Control bytes
  ["NUL in a field value", post("X: a\0b\r\n"), 400],
  ["NUL in the target", "GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["NUL in the method", "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["NUL in a field name", post("X\0: a\r\n"), 400],
  ["DEL in a field value", post("X: a\x7fb\r\n"), 400],
  ["vertical tab in a field value", post("X: \x0bb\r\n"), 400],
  ["a TLS ClientHello", new Uint8Array(clientHello), 400],
  // Host
  ["HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400],
  ["two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400],
  ["two Hosts in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400],
  ["Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400],
  ["Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
  ["Host with a space inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
  // Field lines
  ["obs-fold", post("X: a\r\n b\r\n"), 400],
  ["whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400],
  ["field line without a colon", post("X-No-Colon\r\n"), 400],
  ["empty field name", post(": a\r\n"), 400],
  ["field name with a non-token byte", post("X(y): a\r\n"), 400],
  // Line endings
  ["bare LF request", "GET / HTTP/1.1\nHost: a\n\n", 400],
  ["bare LF after a field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400],
  ["bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400],
  ["bare LF before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["bare CR in the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400],
  ["bare CR in a field value", post("X: a\rb\r\n"), 400],
  ["bare CR before the request line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  // Request line
  ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
  ["the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505],
  ["HTTP/0.9 with a version", "GET / HTTP/0.9\r\n\r\n", 505],
  ["HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505],
  ["HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400],
  ["lowercase http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n", 400],
  ["HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400],
  ["missing version (HTTP/0.9)", "GET /\r\n\r\n", 400],
  ["space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400],
  ["two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["two spaces before the version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["HTAB as a separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["non-token byte in the method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["target without a leading slash", "GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["* target with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["authority-form with GET", "GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["CONNECT with origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["CONNECT without a port", "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["CONNECT with userinfo", "CONNECT u@a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  // serve() opens no tunnels: before, Bun's Request took CONNECT and the connection went on as HTTP
  // after a 2xx, which a proxy in front takes for a tunnel (a reviewer's smuggling test).
  ["CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501],
  ["CONNECT to an IPv6 literal", "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", 501],
  // absolute-form the URL parser would read into another host or path (before: all taken).
  ["absolute-form without a host", "GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["absolute-form with four slashes", "GET http:////a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["absolute-form with a backslash in the host", "GET http://evil.com\\@x/a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["absolute-form with userinfo", "GET http://u@x/a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["absolute-form https without a host", "GET https:///a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["absolute-form of another scheme", "GET ftp://other/a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["absolute-form ws", "GET ws://x/a HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  // Sizes
  ["target too long", `GET /${"a".repeat(DEFAULT_PARSER_LIMITS.maxTargetLength)} HTTP/1.1\r\n${H}\r\n`, 414],
  ["target over a configured limit", "GET /abcdefghi HTTP/1.1\r\nHost: a\r\n\r\n", 414, { maxTargetLength: 9 }],
  ["head too large", `GET / HTTP/1.1\r\n${H}${"X-Big: 0123456789abcdef\r\n".repeat(700)}\r\n`, 431],
  ["one field too large", `GET / HTTP/1.1\r\n${H}X: ${"v".repeat(16384)}\r\n\r\n`, 431],
  ["method over both limits", `${"M".repeat(20000)} / HTTP/1.1\r\n\r\n`, 501],
  ["method over the target limit", "ABCDEFGHIJ / HTTP/1.1\r\nHost: a\r\n\r\n", 501, { maxTargetLength: 9 }],
  // Chunked framing
  ["chunks over the body limit", chunked("6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"), 413, { maxRequestBodySize: 10 }],
  ["one chunk over the body limit", chunked("8000001\r\n"), 413],
  ["chunk size not hex", chunked("zz\r\n"), 400],
  ["empty chunk size", chunked("\r\n"), 400],
  ["chunk size with a sign", chunked("+5\r\nhello\r\n0\r\n\r\n"), 400],
  ["chunk size overflow (17 f)", chunked(`${"f".repeat(17)}\r\n`), 400],
  ["chunk size of 16 significant digits", chunked(`1${"0".repeat(15)}\r\nx\r\n0\r\n\r\n`), 400],
  ["chunk size over 2^53", chunked(`${"f".repeat(15)}\r\n`), 400],
  ["chunk data not followed by CRLF", chunked("5\r\nhelloX\r\n0\r\n\r\n"), 400],
  ["chunk data followed by LF only", chunked("5\r\nhello\n0\r\n\r\n"), 400],
  ["chunk data followed by another byte and LF", chunked("5\r\nhelloX\n0\r\n\r\n"), 400],
  ["bare LF after a chunk size", chunked("5\nhello\r\n0\r\n\r\n"), 400],
  ["bare CR after a chunk size", chunked("5\rhello\r\n0\r\n\r\n"), 400],
  ["space after a chunk size, no extension", chunked("5 \r\nhello\r\n0\r\n\r\n"), 400],
  ["chunk extension without a name", chunked("5;=x\r\nhello\r\n0\r\n\r\n"), 400],
  ["chunk extension with an empty value", chunked("5;a=\r\nhello\r\n0\r\n\r\n"), 400],
  ["chunk extension with an unterminated quote", chunked('5;a="b\r\nhello\r\n0\r\n\r\n'), 400],
  ["chunk extension with a space inside", chunked("5;a b\r\nhello\r\n0\r\n\r\n"), 400],
  ["chunk extension with a control byte", chunked("5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400],
  ["chunk-size line too long", chunked(`1;${"a".repeat(5000)}\r\nx\r\n0\r\n\r\n`), 400],
  ["last chunk without the final CRLF", chunked("0\r\nX\r\n"), 400],
  ["obs-fold in trailers", chunked("0\r\nX: a\r\n b\r\n\r\n"), 400],
  ["bare LF in trailers", chunked("0\r\nX: a\n\r\n"), 400],
  ["space before a colon in trailers", chunked("0\r\nX : a\r\n\r\n"), 400],
  ["trailer section too large", chunked(`0\r\nX: ${"t".repeat(20000)}\r\n\r\n`), 431],
];

test("every malformed request is refused with its status, fed whole or byte by byte", () => {
  for (const [name, raw, status, limits] of refusals) {
    assert.equal(refusal(raw, limits), status, name);
    assert.equal(refusal(raw, limits, 1), status, `${name} (byte by byte)`);
  }
});

test("refusals come with the offending byte, without waiting for more input", () => {
  // A bare-LF request throws on its first LF.
  const bareLf = new RequestParser();
  bareLf.feed(bytes("GET / HTTP/1.1"), new Log());
  assert.throws(() => bareLf.feed(bytes("\n"), new Log()), { status: 400 });
  // A second SP after the method throws on that SP.
  assert.throws(() => new RequestParser().feed(bytes("GET  "), new Log()), { status: 400 });
  // Chunk data followed by anything but CR throws on that byte.
  const data = new RequestParser();
  data.feed(bytes(chunked("3\r\nabc")), new Log());
  assert.throws(() => data.feed(bytes("\n"), new Log()), { status: 400 });
  // A TLS ClientHello throws on its first byte.
  assert.throws(() => new RequestParser().feed(new Uint8Array([0x16]), new Log()), { status: 400 });
  // A CR not followed by LF throws on the byte after it.
  const cr = new RequestParser();
  cr.feed(bytes("GET / HTTP/1.1\r\nX: a\r"), new Log());
  assert.throws(() => cr.feed(bytes("X"), new Log()), { status: 400 });
  // A target one byte over the limit throws on that byte; exactly at the limit is fine.
  const target = new RequestParser({ maxTargetLength: 8 });
  target.feed(bytes("GET /1234567"), new Log());
  assert.throws(() => target.feed(bytes("8"), new Log()), { status: 414 });
  // A head one byte over the limit throws on that byte, without buffering more.
  const head = new RequestParser({ maxHeaderSize: 64 });
  const prefix = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  head.feed(bytes(prefix + "v".repeat(64 - prefix.length)), new Log());
  assert.ok(head.inHead);
  assert.throws(() => head.feed(bytes("v"), new Log()), { status: 431 });
});

test("limits hold at their exact boundaries", () => {
  const raw = "GET /12345678 HTTP/1.1\r\nHost: a\r\n\r\n";
  assert.equal(refusal(raw, { maxHeaderSize: raw.length, maxTargetLength: 9 }), undefined);
  assert.equal(refusal(raw, { maxHeaderSize: raw.length - 1 }), 431);
  assert.equal(refusal(raw, { maxTargetLength: 8 }), 414);
  assert.equal(refusal("ABCDEFGHI / HTTP/1.1\r\nHost: a\r\n\r\n", { maxTargetLength: 9 }), undefined);
  const body = post("Content-Length: 10\r\n", "0123456789");
  assert.equal(refusal(body, { maxRequestBodySize: 10 }), undefined);
  assert.equal(refusal(body, { maxRequestBodySize: 9 }), 413);
  const chunks = chunked("6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n");
  assert.equal(refusal(chunks, { maxRequestBodySize: 10 }), undefined);
  assert.equal(refusal(chunks, { maxRequestBodySize: 9 }), 413);
  // The head is 56 bytes; so is the first trailer section ("X: " + value + CRLF CRLF).
  const trailer = (n: number) => chunked(`0\r\nX: ${"v".repeat(n)}\r\n\r\n`);
  assert.equal(refusal(trailer(49), { maxHeaderSize: 56 }), undefined);
  assert.equal(refusal(trailer(50), { maxHeaderSize: 56 }), 431);
});

const smuggling: [string, string][] = [
  ["CL.TE", post("Content-Length: 13\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /x HTTP/1.1\r\n\r\n")],
  ["TE.CL", post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "8\r\nSMUGGLED\r\n0\r\n\r\n")],
  ["TE.TE with xchunked", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: xchunked\r\n", "0\r\n\r\n")],
  [
    "TE.TE with xchunked and Content-Length",
    post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: xchunked\r\n", "5c\r\n"),
  ],
  [
    "TE.TE with a space before the colon",
    post("Transfer-Encoding : chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"),
  ],
  ["TE.TE with an HTAB value", post("Transfer-Encoding:\tchunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")],
  [
    "TE.TE with an HTAB value and Content-Length",
    post("Content-Length: 6\r\nTransfer-Encoding:\tchunked\r\nTransfer-Encoding: x\r\n", "0\r\n\r\nX"),
  ],
  ["TE.TE with a vertical tab", post("Transfer-Encoding:\x0bchunked\r\n", "0\r\n\r\n")],
  ["TE.TE with obs-fold", post("Transfer-Encoding: x\r\n chunked\r\n", "0\r\n\r\n")],
  ["TE behind a bare LF", post("X: y\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")],
  ["Content-Length list with a leading space", post("Content-Length: 0, 5\r\n", "GET /")],
  ["Content-Length with a leading-space second element", post("Content-Length: 5, 5\r\n", "hello")],
  ["chunk size 0x5", chunked("0x5\r\nhello\r\n0\r\n\r\n")],
  ["chunk size with trailing garbage", chunked("5 garbage\r\nhello\r\n0\r\n\r\n")],
];

test("request smuggling attempts are refused, not read as two requests", () => {
  for (const [name, raw] of smuggling) {
    const parser = new RequestParser();
    const log = new Log();
    assert.throws(() => parser.feed(bytes(raw), log), HttpParseError, name);
    assert.ok(log.events.filter((e) => e[0] === "head").length <= 1, `${name}: a second request was read`);
    assert.ok(!log.events.some((e) => e[0] === "end"), `${name}: a request was completed`);
  }
});

test("idle, inHead and inBody at each moment", () => {
  const parser = new RequestParser();
  const log = new Log();
  const state = () => [parser.idle, parser.inHead, parser.inBody];
  const feed = (s: string) => parser.feed(bytes(s), log);
  assert.deepEqual(state(), [true, false, false]);
  feed("\r");
  assert.deepEqual(state(), [false, false, false], "half an empty line is not a clean end, nor a head");
  feed("\n");
  assert.deepEqual(state(), [true, false, false], "empty lines are not a head");
  feed("P");
  assert.deepEqual(state(), [false, true, false]);
  feed("OST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r");
  assert.deepEqual(state(), [false, true, false]);
  feed("\n");
  assert.deepEqual(state(), [false, false, true]);
  feed("ab");
  assert.deepEqual(state(), [false, false, true]);
  feed("c");
  assert.deepEqual(state(), [true, false, false]);
  feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  assert.deepEqual(state(), [false, false, true]);
  feed("1\r\nx\r\n0\r\nT");
  assert.deepEqual(state(), [false, false, true], "a trailer section is part of the body");
  feed(": 1\r\n\r\n");
  assert.deepEqual(state(), [true, false, false]);
  feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.deepEqual(state(), [true, false, false]);
  assert.deepEqual(log.events.map((e) => e[0]), ["head", "body", "end", "head", "body", "end", "head", "end"]);
  assert.throws(() => feed("\0"), HttpParseError);
  assert.equal(parser.idle, false, "a failed parser is never idle");
});

test("a failed parser throws the same error on every later feed", () => {
  const parser = new RequestParser();
  const log = new Log();
  let first: unknown;
  try {
    parser.feed(bytes("GET / HTTP/2.0\r\n"), log);
  } catch (e) {
    first = e;
  }
  assert.ok(first instanceof HttpParseError);
  assert.equal(first.status, 505);
  for (const more of ["Host: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""]) {
    assert.throws(() => parser.feed(bytes(more), log), (e) => e === first);
  }
  assert.deepEqual(log.events, []);
});

test("limits are validated and defaulted", () => {
  assert.deepEqual(DEFAULT_PARSER_LIMITS, {
    maxHeaderSize: 16384,
    maxTargetLength: 8192,
    maxRequestBodySize: 128 * 1024 * 1024,
  });
  for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => new RequestParser({ maxHeaderSize: bad }), RangeError, `maxHeaderSize ${bad}`);
    assert.throws(() => new RequestParser({ maxTargetLength: bad }), RangeError, `maxTargetLength ${bad}`);
    assert.throws(() => new RequestParser({ maxRequestBodySize: bad }), RangeError, `maxRequestBodySize ${bad}`);
  }
  assert.throws(() => new RequestParser({ maxHeaderSize: "1" as unknown as number }), TypeError);
  assert.doesNotThrow(() => new RequestParser({ maxHeaderSize: 1, maxTargetLength: undefined }));
  const error = new HttpParseError(431, "too large");
  assert.ok(error instanceof Error);
  assert.deepEqual([error.name, error.status, error.message], ["HttpParseError", 431, "too large"]);
});

test("stop(): feed returns at the next message boundary with the rest unparsed; feeding the rest goes on", () => {
  const parser = new RequestParser();
  const log = new Log();
  const get = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  const post = "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz";
  const all = bytes(post + get + get);
  let heads = 0;
  const stopping: ParserSink = {
    onHead: (h) => {
      log.onHead(h);
      if (++heads === 1) parser.stop(); // asked during the POST's head: takes effect after its body
    },
    onBody: (b) => log.onBody(b),
    onMessageEnd: () => log.onMessageEnd(),
  };
  const used = parser.feed(all, stopping);
  assert.equal(used, post.length, "stopped right after the POST's body");
  assert.deepEqual(log.events.map((e) => e[0]), ["head", "body", "end"]);
  assert.equal(parser.idle, true);
  assert.equal(parser.feed(all.subarray(used), stopping), all.length - used, "no stop asked: all of it");
  assert.deepEqual(log.events.map((e) => e[0]), ["head", "body", "end", "head", "end", "head", "end"]);
});

test("parsers share their scan table only within one feed: a split head survives other parsers' heads in between", () => {
  const a = new RequestParser();
  const b = new RequestParser();
  const logA = new Log();
  const logB = new Log();
  const headA = "GET /a HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Two: 2\r\n\r\n";
  const headB = "POST /bb HTTP/1.1\r\nHost: bb\r\nContent-Length: 0\r\nX-Other: zzz\r\nX-More: yyyy\r\n\r\n";
  a.feed(bytes(headA.slice(0, 30)), logA); // mid-head: a keeps its own copy of the table
  b.feed(bytes(headB + headB), logB); // b scans two heads into the shared table
  a.feed(bytes(headA.slice(30)), logA);
  assert.deepEqual((logA.events[0][1] as RequestHead).headers, ["Host", "a", "X-One", "1", "X-Two", "2"]);
  assert.equal((logA.events[0][1] as RequestHead).target, "/a");
  assert.deepEqual((logB.events[2][1] as RequestHead).headers, [
    "Host",
    "bb",
    "Content-Length",
    "0",
    "X-Other",
    "zzz",
    "X-More",
    "yyyy",
  ]);
});
