/**
 * What the README promises for kernels older than this machine's, and for one without io_uring:
 * tests/oracle/fake_kernel.c stands in for liburing (URING_LIB) and refuses what those kernels
 * refuse; tests/fixtures/fake_kernel_program.ts is the program that meets it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runFixture, test } from "./harness.ts";

function gccMissing(): string | false {
  try {
    execFileSync("gcc", ["--version"], { stdio: "ignore" });
    return false;
  } catch {
    return "gcc not found";
  }
}
const missing = gccMissing();
// Reached with a missing compiler only under CI, which installs it: that is a failure, not a skip.
const skip = process.env.CI ? false : missing;

let built: string | undefined;
function fakeLibrary(): string {
  assert.ok(!missing, `${missing}; CI is set, so the stand-in library must be built`);
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "fake_kernel-"));
  const lib = join(dir, "liburing-fake.so");
  const source = fileURLToPath(new URL("./oracle/fake_kernel.c", import.meta.url));
  execFileSync("gcc", ["-O1", "-Wall", "-shared", "-fPIC", "-o", lib, source, "-ldl"]);
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return built = lib;
}

async function run(kernel: string, program: string, lib = fakeLibrary()): Promise<Record<string, unknown>> {
  const { out } = await runFixture("fake_kernel_program.ts", 30_000, {
    URING_LIB: lib,
    FAKE_KERNEL: kernel,
    CASE: program,
  });
  const line = out.trim().split("\n").at(-1)!;
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`the program printed no result:\n${out}`);
  }
}

test("a kernel before 5.19 (no COOP_TASKRUN, no buffer rings): servers and clients run on the legacy op", async () => {
  const result = await run("5.15", "echo");
  assert.deepEqual(result, {
    ok: true,
    reply: "hello",
    serverBackend: "legacy",
    // incremental asked for with backend "auto" falls back to whole buffers, as on 6.10
    backend: "legacy",
    incremental: false,
    bufferRing: false,
    coopTaskrun: false,
    deferTaskrun: false,
  });
}, { skip, timeoutMs: 60_000 });

test('IoLoop mode "dedicated" on a kernel before 6.1 is an UnsupportedError naming DEFER_TASKRUN', async () => {
  const result = await run("6.0", "dedicated");
  assert.equal(result.name, "UnsupportedError", String(result.message));
  assert.equal(result.feature, "IORING_SETUP_DEFER_TASKRUN");
  assert.equal(result.since, "6.1");
  const echo = await run("6.0", "echo");
  assert.equal(echo.reply, "hello", "the shared mode runs there");
  assert.equal(echo.deferTaskrun, false);
}, { skip, timeoutMs: 60_000 });

test(
  "zeroCopyMin on a kernel without SEND_ZC (before 6.0) is an UnsupportedError, not a send the kernel refuses",
  async () => {
    const result = await run("5.15", "zeroCopy");
    assert.deepEqual([result.name, result.feature, result.since], ["UnsupportedError", "IORING_OP_SEND_ZC", "6.0"]);
  },
  { skip, timeoutMs: 60_000 },
);

test("a kernel without io_uring: the ring's error says so", async () => {
  const result = await run("enosys", "ring");
  assert.equal(result.name, "UringError");
  assert.match(String(result.message), /ENOSYS.*this kernel has no io_uring/);
}, { skip, timeoutMs: 60_000 });

test("URING_LIB naming a library that is not liburing says so, not that it is too old", async () => {
  const result = await run("", "ring", "libc.so.6");
  assert.equal(result.ok, false);
  assert.match(String(result.message), /libc\.so\.6 is not liburing: it lacks io_uring_queue_init_params/);
  assert.doesNotMatch(String(result.message), /older than/);
}, { timeoutMs: 60_000 });
