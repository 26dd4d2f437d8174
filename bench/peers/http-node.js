// Peer HTTP server on node:http (what a Node user would write): GET / answers 200 "Hello, World!"
// (text/plain); POST /echo reads the request body to the end, then answers it back; anything else is
// a 404. The keep-alive timeout (5 s by default) is switched off so that the idle-connections RSS
// test of bench/http.sh is not cut short. ES module (the project's package.json says "type": "module").
//
//   node bench/peers/http-node.js PORT [HOST=127.0.0.1]
import http from "node:http";
import process from "node:process";

const port = Number(process.argv[2] ?? 8080);
const host = process.argv[3] ?? "127.0.0.1";
const HELLO = Buffer.from("Hello, World!");

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/") {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": HELLO.length });
    res.end(HELLO);
    return;
  }
  if (req.method === "POST" && req.url === "/echo") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": body.length });
      res.end(body);
    });
    return;
  }
  res.writeHead(404, { "Content-Type": "text/plain", "Content-Length": 9 });
  res.end("Not Found");
});
server.keepAliveTimeout = 0; // no idle timeout on keep-alive connections
server.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
server.listen({ host, port, backlog: 4096 }, () => console.error(`listening on ${host}:${server.address().port}`));
process.on("SIGTERM", () => {
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
