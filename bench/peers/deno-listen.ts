// Peer echo server on Deno.listen (what a Deno user would write instead of our module): one async
// read loop per connection over a reusable buffer (64 KiB by default, 3rd argument to change it).
// conn.write() may write fewer bytes than given, so each chunk is written to the end before the
// next read (that is the backpressure: no read while the peer is not taking the echo).
//
//   deno run --allow-net bench/peers/deno-listen.ts PORT [HOST=127.0.0.1] [BUFSIZE=65536]
const port = Number(Deno.args[0] ?? 9000);
const hostname = Deno.args[1] ?? "127.0.0.1";
const bufSize = Number(Deno.args[2] ?? 65536);

async function echo(conn: Deno.TcpConn): Promise<void> {
  try {
    conn.setNoDelay(true);
  } catch {
    // socket already gone
  }
  const buf = new Uint8Array(bufSize);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break; // EOF
      let done = 0;
      while (done < n) done += await conn.write(buf.subarray(done, n));
    }
  } catch {
    // reset by peer, broken pipe: only this connection ends
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

const listener = Deno.listen({ hostname, port, transport: "tcp" });
console.error(`listening on ${hostname}:${(listener.addr as Deno.NetAddr).port}`);
for await (const conn of listener) void echo(conn);
