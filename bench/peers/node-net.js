// Peer echo server on node:net (what a Node user would write): socket.pipe(socket). pipe() is the
// backpressure: it stops reading when write() reports a full buffer and resumes on 'drain'.
// ES module (the project's package.json says "type": "module"). Runs on node, and also on bun/deno.
//
//   node bench/peers/node-net.js PORT [HOST=127.0.0.1]
import net from "node:net";
import process from "node:process";

const port = Number(process.argv[2] ?? 9000);
const host = process.argv[3] ?? "127.0.0.1";

const server = net.createServer({ noDelay: true }, (sock) => {
  sock.setNoDelay(true);
  sock.on("error", () => {}); // ECONNRESET when the load generator goes away
  sock.pipe(sock);
});
server.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
server.listen({ host, port, backlog: 4096 }, () => console.error(`listening on ${host}:${server.address().port}`));
