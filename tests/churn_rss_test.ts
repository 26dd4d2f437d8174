/**
 * Memory under connection churn: RSS after 100,000 connect/close cycles is back within 10% of its
 * level after the first 10,000. Measured on examples/echo.ts as users run it (a child process, no
 * forced GC) on Deno; and, on both runtimes, on its server in this process with a GC forced before
 * each reading. (Bun's collector runs lazily: without a forced GC the child's RSS drifts up by about
 * 0.3 KiB per connection ever accepted while the heap after a GC stays flat.)
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { closeFd, tcpConnect } from "../sys.ts";
import { startEchoServer } from "../examples/echo_server.ts";
import { collectGarbage, runtime, runtimeCommand, test } from "./harness.ts";
import { sleep } from "./clients.ts";

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

/** Connects and closes at once, `count` times, in batches the server drains; `at(i)` after cycle i. */
async function churn(port: number, count: number, batch: number, at: (i: number) => Promise<void>) {
  for (let i = 1; i <= count; i++) {
    closeFd(tcpConnect("127.0.0.1", port));
    if (i % batch === 0) await sleep(1); // let the server accept (a full backlog stalls connect)
    await at(i);
  }
}

test("examples/echo.ts (child process): RSS after 100,000 connect/close cycles within 10% of after 10,000", async () => {
  const [cmd, args] = runtimeCommand(fileURLToPath(new URL("../examples/echo.ts", import.meta.url)), ["--port", "0"]);
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  try {
    while (!/listening on \S+:(\d+)/.test(err)) {
      assert.equal(child.exitCode, null, err);
      await sleep(20);
    }
    const port = Number(/listening on \S+:(\d+)/.exec(err)![1]);
    let after10k = 0, after100k = 0;
    await churn(port, 100_000, 250, async (i) => {
      if (i !== 10_000 && i !== 100_000) return;
      await sleep(500); // the server sees the last EOFs and closes those connections
      if (i === 10_000) after10k = rssKiB(child.pid!);
      else after100k = rssKiB(child.pid!);
    });
    assert.ok(after100k <= after10k * 1.1, `RSS ${after10k} KiB after 10,000 cycles, ${after100k} KiB after 100,000`);
  } finally {
    child.kill("SIGKILL");
  }
}, { timeoutMs: 180_000, skip: runtime === "bun" && "Bun collects lazily without a forced GC (see the file comment)" });

test("the echo server in this process: RSS after 100,000 cycles within 10% of after 10,000 (GC forced)", async () => {
  const server = startEchoServer({
    host: "127.0.0.1",
    port: 0,
    buffers: 4096,
    maxBuffers: 16384,
    bufferSize: 4096,
    backend: "auto",
    safe: false,
    reusePort: false,
    dedicated: false,
  });
  const rss = async () => {
    while (server.connections > 0) await sleep(10);
    collectGarbage();
    await sleep(10);
    return process.memoryUsage().rss;
  };
  let after10k = 0, after100k = 0;
  await churn(server.port, 100_000, 50, async (i) => {
    if (i === 10_000) after10k = await rss();
    if (i === 100_000) after100k = await rss();
  });
  assert.ok(after100k <= after10k * 1.1, `RSS ${after10k >> 10} KiB after 10,000 cycles, ${after100k >> 10} KiB after 100,000`);
  await server.stop();
  server.loop.close();
}, { timeoutMs: 180_000 });
