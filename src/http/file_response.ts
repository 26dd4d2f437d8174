/**
 * Responses whose body is a file. serve() recognises them and sends the file with ring reads into
 * provided buffers (IORING_OP_READ with buffer selection), each buffer written to the socket as it
 * is: the bytes never pass through JavaScript. Anywhere else (Deno.serve, `await response.text()`)
 * the same Response reads the file as an ordinary stream.
 */
import { open, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Errno, UringError } from "../errors.ts";
import { describe, numberError } from "../options.ts";

/** A file body serve() sends from the ring. */
export interface FileSource {
  readonly path: string;
  /**
   * Bytes sent: the file's size when the response was made; -1 for a file whose size reads 0 (/proc:
   * made when read), read whole again at each send.
   */
  readonly size: number;
}

const fileSources = new WeakMap<Response, FileSource>();

/** The file behind a Response made by fileResponse(), if it is one. */
export function fileSourceOf(response: Response): FileSource | undefined {
  return fileSources.get(response);
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  ts: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  wasm: "application/wasm",
  pdf: "application/pdf",
  xml: "application/xml",
  csv: "text/csv; charset=utf-8",
  log: "text/plain; charset=utf-8",
  map: "application/json",
  avif: "image/avif",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  mp4: "video/mp4",
  webm: "video/webm",
  gz: "application/gzip",
  zip: "application/zip",
  tar: "application/x-tar",
};

/**
 * A Content-Type for a file name, by its extension; application/octet-stream when unknown.
 *
 * @throws {TypeError} for a path that is not a string.
 */
export function contentTypeOf(path: string): string {
  if (typeof path !== "string") throw new TypeError(`contentTypeOf() takes a file name, got ${describe(path)}`);
  const dot = path.lastIndexOf(".");
  return (dot >= 0 && TYPES[path.slice(dot + 1).toLowerCase()]) || "application/octet-stream";
}

const READ_SIZE = 64 * 1024;
/**
 * The most a file whose size reads 0 (/proc, /sys: made when read) may hold: it is read whole into
 * memory, and some never end in practice (/proc/self/pagemap yields 8 bytes per page of the address space).
 */
const MAX_GENERATED_FILE_SIZE = 16 * 1024 * 1024;

/** Reads a file of unknown size to its end, refusing one longer than MAX_GENERATED_FILE_SIZE. */
export async function readGenerated(path: string): Promise<Uint8Array<ArrayBuffer>> {
  const handle = await open(path, "r").catch((e) => fail(e, "open", path));
  try {
    let bytes = new Uint8Array(READ_SIZE);
    let length = 0;
    for (;;) {
      if (length === bytes.length) {
        // One read past the limit at most: enough to tell the file is longer. (Whole 64 KiB reads, not a
        // byte: some of these files refuse reads of sizes they do not expect, pagemap's EINVAL for one.)
        const bigger = new Uint8Array(Math.min(length * 2, MAX_GENERATED_FILE_SIZE + READ_SIZE));
        bigger.set(bytes);
        bytes = bigger;
      }
      const { bytesRead } = await handle.read(bytes, length, bytes.length - length, null)
        .catch((e) => fail(e, "read", path));
      if (bytesRead === 0) return bytes.slice(0, length);
      length += bytesRead;
      if (length > MAX_GENERATED_FILE_SIZE) {
        throw new RangeError(
          `${path} reads more than ${MAX_GENERATED_FILE_SIZE} bytes: a file whose size reads 0 is read whole into memory`,
        );
      }
    }
  } finally {
    await handle.close();
  }
}

/** `path` as a file system path: a non-empty string without NUL, or a file: URL. */
function checkPath(path: string | URL): string {
  if (path instanceof URL) return fileURLToPath(path); // a TypeError for another scheme
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError(`path must be a non-empty string or a file: URL, got ${describe(path)}`);
  }
  if (path.includes("\0")) throw new TypeError(`path must not contain NUL bytes`);
  return path;
}

/** A node:fs failure as the UringError the rest of the module throws for a failed call (same `code`). */
function fail(e: unknown, op: string, path: string): never {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string" && Object.hasOwn(Errno, code)) {
    throw new UringError(op, Errno[code as keyof typeof Errno], path);
  }
  throw e;
}

/**
 * A Response with the file at `path` as its body, `Content-Length` its size and `Content-Type` from
 * its extension (unless `init.headers` sets one). Returned from a serve() handler, the file goes
 * from the page cache to the socket through the ring's provided buffers without a copy in JS.
 *
 * @example
 * ```ts
 * import { fileResponse, serve } from "uring-buffers";
 *
 * serve({ port: 8080, hostname: "127.0.0.1" }, () => fileResponse("README.md"));
 * ```
 *
 * @param path A path (a string is always one, "file:///..." included), or a `file:` URL object.
 * @param init Status, status text and headers, as for `new Response(body, init)`.
 * @throws {UringError} (rejects) when the file cannot be stat'ed (`ENOENT`, `EACCES`: the error's `code`).
 * @throws {TypeError} (rejects) when `path` is not a regular file, an empty string, holds a NUL or is another URL;
 *   for a status that carries no body (204, 205, 304).
 * @throws {RangeError} (rejects) for a status outside [200, 599] (serve() sends no 1xx of a handler's).
 * @throws {RangeError} (rejects) for a file whose size reads 0 (/proc) that holds more than 16 MiB.
 */
export async function fileResponse(path: string | URL, init: ResponseInit = {}): Promise<Response> {
  init ??= {}; // null, as the Response constructor takes it
  const status = init.status;
  if (status !== undefined) {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw numberError(status, `status must be an integer in [200, 599], got ${describe(status)}`);
    }
    if (status === 204 || status === 205 || status === 304) {
      // Deno's Response refuses such a status with a body and Bun's takes it: refused alike on both.
      throw new TypeError(`a ${status} response carries no body: make it with new Response(null, { status, headers })`);
    }
  }
  const file = checkPath(path);
  const info = await stat(file).catch((e) => fail(e, "stat", file));
  if (!info.isFile()) throw new TypeError(`${file} is not a regular file`);
  const headers = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]);
  if (!headers.has("content-type")) headers.set("content-type", contentTypeOf(file));
  if (info.size === 0) {
    // Empty, or generated when read (/proc, /sys: their stat size is 0): read it to the end now.
    // serve() reads it again at each send (its content is made when read); the body is for anyone else.
    const bytes = await readGenerated(file);
    headers.set("content-length", String(bytes.length));
    const response = new Response(bytes, { status: init.status, statusText: init.statusText, headers });
    fileSources.set(response, { path: file, size: -1 });
    return response;
  }
  const size = info.size;
  headers.set("content-length", String(size));
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  let sent = 0;
  // Read only if someone other than serve() consumes the body.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      handle ??= await open(file, "r").catch((e) => fail(e, "open", file));
      const want = Math.min(READ_SIZE, size - sent);
      const { bytesRead, buffer } = want > 0
        ? await handle.read(new Uint8Array(want), 0, want, sent)
        : { bytesRead: 0, buffer: new Uint8Array(0) };
      if (bytesRead === 0) {
        await handle.close();
        controller.close();
        return;
      }
      sent += bytesRead;
      controller.enqueue(buffer.subarray(0, bytesRead));
    },
    async cancel() {
      await handle?.close();
    },
  }, { highWaterMark: 0 });
  const response = new Response(body, { status: init.status, statusText: init.statusText, headers });
  fileSources.set(response, { path: file, size });
  return response;
}
