/**
 * A raw HTTP/1.1 client over node:net for the serve() tests: it writes exactly the bytes it is given
 * (split as it is told) and parses what comes back into responses, so a test sees the server's
 * framing, not a client library's interpretation of it.
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import { concat, sleep } from "./clients.ts";

export interface RawResponse {
  status: number;
  reason: string;
  /** Header names lower-cased; repeated names joined with ", ". */
  headers: Map<string, string>;
  body: Uint8Array;
  text: string;
  /** The body was chunked. */
  chunked: boolean;
}

const decoder = new TextDecoder();

export class RawClient {
  readonly socket: net.Socket;
  #buffer: Uint8Array = new Uint8Array(0);
  #chunks: Uint8Array[] = []; // arrived since #buffer was last flattened (a long body stays linear)
  /** Bytes received in all. */
  received = 0;
  closed = false;
  error: Error | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true); // each send() goes out as written, split where the test splits it
    socket.on("data", (d: Uint8Array) => {
      this.#chunks.push(new Uint8Array(d));
      this.received += d.length;
      this.#wake?.();
    });
    socket.on("error", (e) => {
      this.error = e;
      this.closed = true;
      this.#wake?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  static open(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  #flat(): Uint8Array {
    if (this.#chunks.length > 0) {
      this.#buffer = concat([this.#buffer, ...this.#chunks]);
      this.#chunks = [];
    }
    return this.#buffer;
  }

  /** Bytes received and not yet parsed into responses. */
  get pending(): string {
    return Buffer.from(this.#flat()).toString("latin1");
  }

  async #waitData(deadline: number, what: string): Promise<void> {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.pending)}`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  /**
   * Parses the next response (`head` true for a response to HEAD: no body whatever the headers say).
   * Waits up to `ms`; throws on timeout or when the connection closes before a whole response.
   */
  async response(ms = 5000, head = false): Promise<RawResponse> {
    const deadline = Date.now() + ms;
    for (;;) {
      const parsed = parseResponse(this.#flat(), head);
      if (parsed) {
        this.#buffer = this.#buffer.subarray(parsed.used);
        return parsed.response;
      }
      if (this.closed) throw new Error(`closed before a whole response; have ${JSON.stringify(this.pending)}`);
      await this.#waitData(deadline, "a response");
    }
  }

  /** Waits until the server closes the connection (EOF or reset); returns whether it did within `ms`. */
  async waitClosed(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) return false;
      await this.#waitData(deadline, "the close").catch(() => {});
    }
    return true;
  }

  /** Waits until `text` has arrived (unparsed bytes), up to `ms`. */
  async waitFor(text: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.pending.includes(text)) await this.#waitData(deadline, JSON.stringify(text));
  }

  /** Removes `text` from the start of the unparsed bytes (asserting it is there). */
  take(text: string): void {
    if (!this.pending.startsWith(text)) {
      throw new Error(`expected ${JSON.stringify(text)}, have ${JSON.stringify(this.pending)}`);
    }
    this.#buffer = this.#buffer.subarray(text.length);
  }

  close(): void {
    this.socket.destroy();
  }
}

function indexOfCrlfCrlf(b: Uint8Array, from = 0): number {
  for (let i = from; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

function indexOfCrlf(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}

/** One response from the start of `b`, or undefined while incomplete. */
export function parseResponse(b: Uint8Array, head = false): { response: RawResponse; used: number } | undefined {
  const end = indexOfCrlfCrlf(b);
  if (end < 0) return undefined;
  const lines = Buffer.from(b.subarray(0, end)).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(lines[0]);
  if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  const status = Number(m[1]);
  let at = end + 4;
  let body: Uint8Array = new Uint8Array(0);
  const chunked = headers.get("transfer-encoding") === "chunked";
  if (head || status === 204 || status === 304 || status < 200) {
    // no body
  } else if (chunked) {
    const pieces: Uint8Array[] = [];
    for (;;) {
      const lineEnd = indexOfCrlf(b, at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(Buffer.from(b.subarray(at, lineEnd)).toString("latin1"), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size");
      if (size === 0) {
        if (b.length < lineEnd + 4) return undefined;
        at = lineEnd + 4; // no trailers from our server
        break;
      }
      if (b.length < lineEnd + 2 + size + 2) return undefined;
      pieces.push(b.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = concat(pieces);
  } else if (headers.has("content-length")) {
    const n = Number(headers.get("content-length"));
    if (b.length < at + n) return undefined;
    body = b.slice(at, at + n);
    at += n;
  } else {
    return undefined; // read to EOF: not used by our server on 1.1
  }
  return {
    response: { status, reason: m[2], headers, body, text: decoder.decode(body), chunked },
    used: at,
  };
}

/** Sends `request` on a fresh connection and returns the first response and whether the server then closed. */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  options: { head?: boolean; ms?: number } = {},
): Promise<{ response: RawResponse; closed: boolean }> {
  const client = await RawClient.open(port);
  try {
    client.send(request);
    const response = await client.response(options.ms ?? 5000, options.head);
    const closed = await client.waitClosed(300);
    return { response, closed };
  } finally {
    client.close();
  }
}

/** Sends `data` in the given pieces, each after a short pause so the server receives them apart. */
export async function sendInPieces(client: RawClient, pieces: (string | Uint8Array)[], gapMs = 2): Promise<void> {
  for (const p of pieces) {
    client.send(p);
    await sleep(gapMs);
  }
}
