/**
 * The public vocabulary: `hostname` everywhere, unknown option keys refused with the nearest valid
 * one, values reported with their type, connect() that rejects instead of throwing, close() that
 * resolves once the fd is closed, `await using`, `signal` on every entry point, typed `conn.data`.
 */
import assert from "node:assert/strict";
import { bindUdp, connect, type Connection, IoLoop, listen, UnsupportedError } from "../mod.ts";
import { test } from "./harness.ts";
import { sleep } from "./clients.ts";

test("a typo in an option key is refused, naming the nearest valid key", () => {
  const loop = new IoLoop();
  try {
    assert.throws(() => listen({ loop, prot: 9000 } as never), /unknown option "prot" \(did you mean "port"\?\)/);
    assert.throws(() => listen({ loop, host: "::1" } as never), /unknown option "host" \(did you mean "hostname"\?\)/);
    assert.throws(
      () => listen({ loop, handlers: { dta() {} } } as never),
      /unknown option "dta" \(did you mean "data"\?\)/,
    );
    assert.throws(
      () => bindUdp({ loop, hostnme: "127.0.0.1", handlers: { message() {} } } as never),
      /did you mean "hostname"/,
    );
    assert.throws(() => listen({ loop, port: "9000" } as never), /port must be a number, got string "9000"/);
    assert.throws(
      () => listen({ loop, pool: { cont: 8 } } as never),
      /BufferPool: unknown option "cont" \(did you mean "count"\?\)/,
    );
    assert.throws(
      () => new IoLoop({ entires: 8 } as never),
      /IoLoop: unknown option "entires" \(did you mean "entries"\?\)/,
    );
    assert.throws(() => listen({ loop, idleTimeout: "5" } as never), /idleTimeout .* got string "5"/);
  } finally {
    loop.close();
  }
});

test("connect() never throws: bad options and refused connections both reject", async () => {
  const loop = new IoLoop();
  await assert.rejects(connect({ loop, port: 0 }), RangeError);
  await assert.rejects(connect({ loop, port: 1, hostname: "999.1.1.1" }), TypeError);
  await assert.rejects(connect({ loop, port: 1, prot: 2 } as never), /did you mean "port"/);
  const server = listen({ loop });
  const port = server.port;
  await server.stop();
  await assert.rejects(connect({ loop, port }), { code: "ECONNREFUSED" });
  const aborted = AbortSignal.abort(new Error("gave up"));
  await assert.rejects(connect({ loop, port, signal: aborted }), /gave up/);
  loop.close();
});

test("close() resolves once the fd is closed; await using closes servers, connections and UDP sockets", async () => {
  const loop = new IoLoop();
  let serverSide: Connection<{ greeted: boolean }> | undefined;
  {
    await using server = listen<{ greeted: boolean }>({
      loop,
      handlers: {
        open(conn) {
          conn.data = { greeted: true }; // typed: Connection<{ greeted: boolean }>
          serverSide = conn;
        },
        data(_conn, lease) {
          lease.release();
        },
      },
    });
    {
      await using client = await connect({ loop, port: server.port, pool: { count: 8, bufferSize: 1024 } });
      while (!serverSide) await sleep(5);
      assert.equal(serverSide.data.greeted, true);
      assert.equal(client.closed, false);
    }
    while (!serverSide.closed) await sleep(5);
    await using udp = bindUdp({ loop, hostname: "127.0.0.1", handlers: { message() {} } });
    assert.equal(udp.hostname, "127.0.0.1");
    assert.equal(await udp.close(), undefined);
  }
  assert.equal(serverSide!.closed, true);
  loop.close();
});

test("signal: aborting closes a UDP socket and a connected client", async () => {
  const loop = new IoLoop();
  const server = listen({ loop, handlers: { data: (_c, l) => l.release() } });
  const controller = new AbortController();
  const client = await connect({ loop, port: server.port, signal: controller.signal });
  const udp = bindUdp({ loop, signal: controller.signal, handlers: { message() {} } });
  controller.abort();
  while (!client.closed) await sleep(5);
  await udp.close();
  await server.stop();
  loop.close();
});

test("a missing kernel feature is an UnsupportedError naming the feature and the version that has it", () => {
  const e = new UnsupportedError("IORING_RECVSEND_BUNDLE", "6.10");
  assert.ok(e instanceof Error);
  assert.equal(e.name, "UnsupportedError");
  assert.equal(e.feature, "IORING_RECVSEND_BUNDLE");
  assert.equal(e.since, "6.10");
  assert.match(e.message, /lacks IORING_RECVSEND_BUNDLE \(Linux 6\.10\+\)/);
});
