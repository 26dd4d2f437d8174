/**
 * Memory under connection churn: RSS late in 100,000 connect/close cycles is back within 10% of its
 * level early in them (the highest of three early readings against the lowest of three late ones, so
 * that one reading taken as the collector grows its heap cannot fail it). Measured on examples/echo.ts as users run it (a child process, no
 * forced GC) on Deno; on Bun, whose collector runs lazily (without a forced GC the child's RSS drifts
 * up by about 0.3 KiB per connection ever accepted while the heap after a GC stays flat), on its server
 * and a client in one fresh process with a GC forced before each reading.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { closeFd, tcpConnect } from "../sys.ts";
import { listen } from "../mod.ts";
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

test(
  "examples/echo.ts (child process): RSS late in 100,000 connect/close cycles within 10% of early",
  async () => {
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
      const early: number[] = [], late: number[] = [];
      await churn(port, 100_000, 250, async (i) => {
        if (i % 5_000 !== 0 || i < 10_000 || (i > 20_000 && i < 90_000)) return;
        await sleep(500); // the server sees the last EOFs and closes those connections
        (i <= 20_000 ? early : late).push(rssKiB(child.pid!));
      });
      assert.ok(
        Math.min(...late) <= Math.max(...early) * 1.1,
        `RSS ${early.join(", ")} KiB after 10,000-20,000 cycles, ${late.join(", ")} KiB after 90,000-100,000`,
      );
    } finally {
      child.kill("SIGKILL");
    }
  },
  { timeoutMs: 180_000, skip: runtime === "bun" && "Bun collects lazily without a forced GC (see the file comment)" },
);

test(
  "the echo server and a client in one process: RSS late in 100,000 cycles within 10% of early (GC forced)",
  async () => {
    const script = fileURLToPath(new URL("./fixtures/churn_in_process.ts", import.meta.url));
    const [cmd, args] = runtimeCommand(script);
    const argv = runtime === "deno" ? ["run", "-A", "--v8-flags=--expose-gc", script] : args;
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, out);
    const [early, late] = /rss (\d+) (\d+)/.exec(out)!.slice(1).map(Number);
    assert.ok(
      late <= early * 1.1,
      `RSS ${early} KiB at most over cycles 10,000-30,000, ${late} KiB at least over 80,000-100,000`,
    );
  },
  {
    timeoutMs: 180_000,
    // With client and server in one thread, V8 grows its young generation with the allocation rate
    // (heapTotal 11 -> 66 MiB while heapUsed stays at 6 MiB): RSS then measures V8's sizing, not what
    // is kept. The child-process test above covers Deno.
    skip: runtime === "deno" &&
      "V8 sizes its heap by allocation rate here (see the comment); covered by the test above",
  },
);

test(
  "an idle connection of listen() costs under 850 bytes of JS heap (4,000 connections, GC forced)",
  async () => {
    const COUNT = 4000;
    const server = listen({ port: 0, handlers: { data: (conn, lease) => void conn.write(lease) } });
    const fds: number[] = [];
    try {
      assert.ok(collectGarbage(), "the test runner exposes the garbage collector");
      await sleep(50);
      collectGarbage();
      const before = process.memoryUsage().heapUsed;
      while (fds.length < COUNT) {
        for (let i = 0; i < 250; i++) fds.push(tcpConnect("127.0.0.1", server.port));
        while (server.connections < fds.length) await sleep(5);
      }
      collectGarbage();
      const perConnection = (process.memoryUsage().heapUsed - before) / COUNT;
      // Measured here: 870 B on Deno and 918 B on Bun before a connection's settings moved to one
      // object its listener's connections share and its flags into one number; 656 and 768 after.
      assert.ok(perConnection < 850, `${perConnection.toFixed(0)} B of heap per idle connection`);
    } finally {
      for (const fd of fds) closeFd(fd);
      await server.stop();
    }
  },
  { timeoutMs: 60_000 },
);
