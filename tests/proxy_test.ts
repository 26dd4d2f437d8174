/**
 * examples/proxy.ts run as users run it, in front of a node:net target: half-closes passed on, every
 * fd released, resets contained, bad arguments refused at start-up.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { connect, IoLoop, UringError } from "../mod.ts";
import { runtime, runtimeCommand, test } from "./harness.ts";
import { dial, sendAndHalfClose, sleep, waitFor } from "./clients.ts";
import { patternBytes } from "./helpers.ts";

const script = fileURLToPath(new URL("../examples/proxy.ts", import.meta.url));

/** Starts the proxy; resolves with its port once it prints "listening on HOST:PORT". */
async function startProxy(args: string[]): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const [cmd, argv] = runtimeCommand(script, args);
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start: ${err}`)), 15_000);
    const check = () => {
      const m = /listening on \S+:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      } else setTimeout(check, 20);
    };
    check();
    child.on("exit", (code) => reject(new Error(`proxy exited with ${code}: ${err}`)));
  });
  return { child, port, stderr: () => err };
}

/** startProxy() on a free port in front of `target`. */
function proxyTo(target: net.Server): ReturnType<typeof startProxy> {
  return startProxy(["--port", "0", "--target", `127.0.0.1:${(target.address() as net.AddressInfo).port}`]);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** SIGTERM, then the exit code (Deno's child_process reports a handled SIGTERM as the signal: 0 then). */
async function stopProxy(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) =>
    child.on("exit", (code, signal) => r(runtime === "deno" && code === null && signal === "SIGTERM" ? 0 : code))
  );
  child.kill("SIGTERM");
  return await exited;
}

function echoTarget(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** A target that streams to every client until it goes away. */
function streamingTarget(): Promise<net.Server> {
  const block = patternBytes(3, 64 * 1024);
  const server = net.createServer((s) => {
    s.on("error", () => {});
    let open = true;
    s.on("close", () => (open = false));
    const pump = () => {
      while (open && s.write(block));
      if (open) s.once("drain", pump);
    };
    pump();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("proxy: 100 normal closes leave no fd behind; data and half-closes pass through", async () => {
  const target = await echoTarget();
  const { child, port } = await proxyTo(target);
  try {
    const hello = new TextEncoder().encode("hello");
    await sendAndHalfClose(port, hello, 5000); // the runtime opens its own fds on first use
    await sleep(100);
    const baseline = fdCount(child.pid!);
    for (let i = 0; i < 100; i++) {
      const reply = await sendAndHalfClose(port, hello, 5000);
      assert.equal(new TextDecoder().decode(reply), "hello");
    }
    const big = patternBytes(5, 3 * 1024 * 1024);
    assert.deepEqual(await sendAndHalfClose(port, big, 20_000), big);
    assert.ok(
      await waitFor(() => fdCount(child.pid!) <= baseline, 5000),
      `proxy holds ${fdCount(child.pid!) - baseline} more fds than before`,
    );
    assert.equal(await stopProxy(child), 0);
  } finally {
    child.kill("SIGKILL");
    target.close();
  }
}, { timeoutMs: 60_000 });

test("proxy: 200 clients that reset while the target streams to them do not bring it down", async () => {
  const target = await streamingTarget();
  const { child, port, stderr } = await proxyTo(target);
  try {
    const warm = await dial(port);
    await new Promise<void>((r) => warm.once("data", () => r()));
    warm.destroy();
    await sleep(100);
    const baseline = fdCount(child.pid!);
    for (let batch = 0; batch < 4; batch++) {
      await Promise.all(Array.from({ length: 50 }, async () => {
        const s = await dial(port);
        s.on("error", () => {});
        await new Promise<void>((r) => s.once("data", () => r()));
        if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
        else s.destroy();
      }));
    }
    await sleep(200);
    assert.equal(child.exitCode, null, `the proxy is still running: ${stderr()}`);
    assert.doesNotMatch(stderr(), /Uncaught|ClosedError/);
    assert.ok(await waitFor(() => fdCount(child.pid!) <= baseline, 5000), "every fd released");
    assert.equal(await stopProxy(child), 0);
  } finally {
    child.kill("SIGKILL");
    target.close();
  }
}, { timeoutMs: 60_000 });

test("proxy: a malformed --target or an unknown flag is refused at start-up with the usage", async () => {
  for (const args of [["--target", "127.0.0.1"], ["--target", "host:99999"], ["--prot", "9000"], ["--port"]]) {
    const [cmd, argv] = runtimeCommand(script, args);
    const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 2, `${args.join(" ")}: exit code`);
    assert.match(err, /usage: proxy\.ts/, `${args.join(" ")}: ${err}`);
    assert.doesNotMatch(err, /\n\s+at /, "no stack trace");
  }
});

test("proxy: SIGTERM with clients still connected stops it cleanly (exit 0)", async () => {
  // A target that echoes and stays at the proxy's FIN: the upstream connections are still ending
  // (lingering) when the proxy's server has stopped.
  const target = await new Promise<net.Server>((resolve) => {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => {});
      s.on("data", (d) => s.write(d));
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
  const { child, port, stderr } = await proxyTo(target);
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const socket = await dial(port);
      socket.on("error", () => {});
      socket.write("hello");
      await new Promise((r) => socket.once("data", r));
      clients.push(socket);
    }
    // Before: its shutdown closed the loop with the upstream connections still lingering, and the
    // loop's close threw ("sockets are still open"): exit 1.
    assert.equal(await stopProxy(child), 0, stderr());
    assert.doesNotMatch(stderr(), /Uncaught|IoLoop/); // Deno reports a handled SIGTERM as the signal, whatever the code
  } finally {
    for (const c of clients) c.destroy();
    target.close();
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("proxy: SIGTERM while a client floods it without reading exits within moments", async () => {
  const target = await echoTarget();
  const { child, port, stderr } = await proxyTo(target);
  const flooder = await dial(port);
  flooder.on("error", () => {});
  flooder.pause(); // never reads its echo: both directions back up and pause
  try {
    const chunk = patternBytes(5, 1 << 20);
    for (let i = 0; i < 64; i++) flooder.write(chunk);
    await sleep(1000);
    const t0 = performance.now();
    const exited = stopProxy(child);
    // Before: the upstream, paused for the client, could never drain its end(): the proxy stayed up
    // until its 60 s idle timeout.
    const code = await Promise.race([exited, sleep(8000).then(() => "still running")]);
    assert.equal(code, 0, `after ${(performance.now() - t0).toFixed(0)} ms: ${stderr()}`);
  } finally {
    flooder.destroy();
    target.close();
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}, { timeoutMs: 30_000 });

test(
  "proxy: SIGTERM resets a client whose stream is still flowing (it got a clean EOF, a cut stream taken for whole)",
  async () => {
    const target = await streamingTarget();
    const { child, port, stderr } = await proxyTo(target);
    const loop = new IoLoop();
    try {
      const client = await connect({ loop, port });
      let got = 0;
      let stopped: Promise<number | null> | undefined;
      for await (const lease of client) {
        got += lease.length;
        lease.release();
        if (got > 1 << 20 && !stopped) stopped = stopProxy(child);
      }
      assert.equal(await stopped, 0, stderr());
      assert.equal(client.peerEnded, false, `a clean EOF after ${got} bytes`);
      assert.ok(client.error instanceof UringError && client.error.code === "ECONNRESET", `error: ${client.error}`);
      await client.close();
    } finally {
      target.close();
      if (child.exitCode === null) child.kill("SIGKILL");
      await loop.close();
    }
  },
  { timeoutMs: 30_000 },
);
