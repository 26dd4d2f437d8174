// Peer echo server on Bun.listen (what a Bun user would write instead of our module).
// Bun's socket.write() does not buffer: it returns how many bytes went out (possibly fewer than
// given, -1 once closed). The unsent remainder is copied into a per-socket queue, reading is paused,
// and the queue is flushed from drain(), after which reading resumes (backpressure, in order).
//
//   bun bench/peers/bun-listen.js PORT [HOST=127.0.0.1]
const port = Number(process.argv[2] ?? 9000);
const hostname = process.argv[3] ?? "127.0.0.1";

function send(sock, bytes) {
  const n = sock.write(bytes);
  if (n < 0) return false; // closed
  if (n < bytes.length) {
    // The chunk's memory may be reused after data() returns: keep a copy of the tail.
    sock.data.queue.push(bytes.slice(n));
    if (!sock.data.paused) {
      sock.data.paused = true;
      sock.pause();
    }
  }
  return true;
}

function flush(sock) {
  const q = sock.data.queue;
  while (q.length > 0) {
    const head = q[0];
    const n = sock.write(head);
    if (n < 0) {
      q.length = 0;
      return;
    }
    if (n < head.length) {
      q[0] = head.subarray(n);
      return; // wait for the next drain
    }
    q.shift();
  }
  if (sock.data.paused) {
    sock.data.paused = false;
    sock.resume();
  }
}

const server = Bun.listen({
  hostname,
  port,
  socket: {
    binaryType: "uint8array",
    open(sock) {
      sock.data = { queue: [], paused: false };
      sock.setNoDelay(true);
    },
    data(sock, chunk) {
      if (sock.data.queue.length > 0) sock.data.queue.push(chunk.slice()); // keep order behind the backlog
      else send(sock, chunk);
    },
    drain(sock) {
      flush(sock);
    },
    error() {},
    close() {},
  },
});
console.error(`listening on ${hostname}:${server.port}`);
