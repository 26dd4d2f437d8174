/**
 * cat through the ring: reads FILE with IORING_OP_READ and buffer selection (the kernel picks a
 * buffer from a BufferPool for each read) and writes the bytes to stdout in order, then prints the
 * pool's stats to stderr.
 *
 *   deno run --allow-ffi --allow-read examples/cat.ts FILE
 *   bun examples/cat.ts FILE
 *
 * Memory stays bounded for any file size: one read is in flight at a time, each lease's bytes are
 * copied out for stdout and the lease released at once, and reading stops while stdout is behind
 * until its writes have been flushed. "Behind" is counted here (bytes handed to stdout whose write
 * callback has not run yet) as well as taken from write() returning false: Deno's process.stdout
 * queues pipe writes without ever returning false.
 * Exit codes: 0 done, 1 an I/O error, 2 bad arguments.
 */
import process from "node:process";
import { BufferPool, type UringError } from "../mod.ts";
import { Reactor, StreamReceiver } from "../ring.ts";
import { closeFd, openFile } from "../sys.ts";
import { parseExampleArgs } from "./args.ts";

const BUFFER_SIZE = 64 * 1024;
const BUFFERS = 4;
/** Stop reading while this many bytes are written but not yet flushed. */
const MAX_UNFLUSHED = 256 * 1024;

// No options: FILE is the one positional argument ("--" before a FILE that starts with "-").
const { values: path } = parseExampleArgs(
  "cat.ts FILE\n  writes FILE to stdout, reading it through io_uring with provided buffers",
  {},
  (_values, fail, positionals) => {
    if (positionals.length === 0) fail("missing FILE");
    if (positionals.length > 1) fail(`one FILE only, got ${positionals.length}: ${positionals.join(" ")}`);
    const [file] = positionals;
    if (file === "") fail("FILE must not be empty");
    if (file === "-") fail("FILE must be a path (cat.ts does not read stdin)");
    return file;
  },
);

/** stdout failed (e.g. EPIPE: the reader went away). */
let outputError: Error | undefined;
/** Settles when stdout fails: Deno then never calls back the writes it had queued. */
const outputFailed = new Promise<void>((resolve) =>
  process.stdout.on("error", (e: Error) => {
    outputError ??= e;
    resolve();
  })
);

let unflushed = 0;
/** Writes a chunk; `flushed` resolves once the runtime has written it out. */
function writeOut(chunk: Uint8Array): { accepted: boolean; flushed: Promise<void> } {
  // After a failure Deno's stdout takes writes without ever calling them back: write no more.
  if (outputError) return { accepted: true, flushed: Promise.resolve() };
  let accepted = true;
  unflushed += chunk.length;
  const flushed = new Promise<void>((resolve) => {
    const done = (e?: Error | null) => {
      unflushed -= chunk.length;
      if (e) outputError ??= e;
      resolve();
    };
    try {
      accepted = process.stdout.write(chunk, done);
    } catch (e) {
      done(e as Error); // Deno writes a file or device at once and throws its error (ENOSPC on /dev/full)
    }
  });
  return { accepted: accepted && unflushed < MAX_UNFLUSHED, flushed };
}

let fd: number;
try {
  fd = openFile(path);
} catch (e) {
  console.error(`cat.ts: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}

const reactor = new Reactor({ entries: 16 });
const pool = new BufferPool(reactor, { bufferSize: BUFFER_SIZE, count: BUFFERS });
let ended = false;
let readError: UringError | undefined;
let bytes = 0;
let reads = 0;
let lastWrite: Promise<void> = Promise.resolve();
let behind: Promise<void> | undefined; // set while stdout is above its high-water mark

const receiver = new StreamReceiver(pool, fd, {
  data(lease) {
    // stdout may write later: give it a copy and hand the buffer back to the kernel now.
    const chunk = lease.bytes.slice();
    lease.release();
    bytes += chunk.length;
    reads++;
    const { accepted, flushed } = writeOut(chunk);
    lastWrite = flushed;
    if (!accepted) behind = flushed;
  },
  end(error) {
    ended = true;
    readError = error;
  },
}, { op: "read", offset: 0 });
receiver.start();

// runUntil blocks the JS thread, so stdout only makes progress when we come back out of it: turn the
// ring until the file ends or stdout falls behind, then let the event loop flush.
while (!ended && !outputError) {
  reactor.runUntil(() => ended || behind !== undefined || outputError !== undefined, 1000);
  if (behind && !outputError) {
    await Promise.race([behind, outputFailed]);
    behind = undefined;
  }
}
await Promise.race([lastWrite, outputFailed]);

if (!receiver.finished) {
  receiver.stop();
  reactor.runUntil(() => receiver.finished, 1000);
}
const stats = pool.stats();
pool.close();
closeFd(fd);
reactor.close();

console.error(`cat.ts: ${bytes} bytes in ${reads} reads; pool ${JSON.stringify(stats)}`);
if (readError) {
  console.error(`cat.ts: ${path}: ${readError.message}`);
  process.exitCode = 1;
} else if (outputError) {
  if ((outputError as { code?: string }).code !== "EPIPE") console.error(`cat.ts: stdout: ${outputError.message}`);
  process.exitCode = 1;
}
