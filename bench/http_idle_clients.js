// Idle keep-alive HTTP clients for the RSS test of bench/http.sh: opens CONNS connections to
// HOST:PORT, BATCH at a time; each sends one `GET /` (HTTP/1.1, keep-alive), reads the whole response,
// and then stays open and idle. Prints one line once all have been answered (or failed):
//   ready conns=N ok=N errors=N connect_s=S first_error=CODE
// then waits. SIGUSR2 prints `status open=N closed_after_ready=N` (connections the server closed since
// they were answered: an idle timeout); SIGTERM closes everything and exits. Runs on node and on bun.
//
//   node bench/http_idle_clients.js PORT CONNS [BATCH=500] [HOST=127.0.0.1]
import net from "node:net";
import process from "node:process";

const port = Number(process.argv[2]);
const conns = Number(process.argv[3] ?? 10000);
const batch = Number(process.argv[4] ?? 500);
const host = process.argv[5] ?? "127.0.0.1";
if (!(port > 0) || !(conns > 0) || !(batch > 0)) {
  console.error("usage: http_idle_clients.js PORT CONNS [BATCH=500] [HOST=127.0.0.1]");
  process.exit(2);
}
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
const sockets = [];
let ok = 0, errors = 0, open = 0, closedAfter = 0, firstError = "none";

/** Resolves once the response to the one request is complete (true) or the connection failed (false). */
function one() {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sockets.push(sock);
    let head = "", body = 0, need = -1, done = false, answered = false, connected = false;
    const finish = (good, why) => {
      if (done) return;
      done = true;
      sock.setTimeout(0);
      if (good) {
        ok++;
        answered = true;
      } else {
        errors++;
        if (firstError === "none") firstError = why;
        sock.destroy();
      }
      resolve();
    };
    sock.setTimeout(30000, () => finish(false, "timeout"));
    sock.on("connect", () => {
      connected = true;
      open++;
      sock.setNoDelay(true);
      sock.write(REQUEST);
    });
    sock.on("data", (chunk) => {
      if (done) return; // nothing more is expected
      if (need < 0) {
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const status = Number(head.slice(9, 12));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, end));
        if (!m) return finish(false, "no_content_length");
        if (status < 200 || status > 299) return finish(false, `status_${status}`);
        need = Number(m[1]);
        body = head.length - end - 4;
      } else {
        body += chunk.length;
      }
      if (body >= need) finish(true);
    });
    sock.on("error", (err) => finish(false, err.code ?? "error"));
    sock.on("close", () => {
      if (connected) open--;
      if (answered) closedAfter++;
      finish(false, "closed_early");
    });
  });
}

const t0 = performance.now();
for (let i = 0; i < conns; i += batch) {
  const n = Math.min(batch, conns - i);
  await Promise.all(Array.from({ length: n }, one));
}
const connectS = (performance.now() - t0) / 1000;
closedAfter = 0; // count only what closes from now on
console.log(
  `ready conns=${conns} ok=${ok} errors=${errors} connect_s=${connectS.toFixed(2)} first_error=${firstError}`,
);
process.on("SIGUSR2", () => console.log(`status open=${open} closed_after_ready=${closedAfter}`));
process.on("SIGTERM", () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
setInterval(() => {}, 1 << 30); // stay alive until SIGTERM
