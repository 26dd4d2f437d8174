// Peer HTTP server on Bun.serve (what a Bun user would write instead of our module): GET / answers
// 200 "Hello, World!" (text/plain); POST /echo reads the request body to the end, then answers it
// back; anything else is a 404. idleTimeout is raised to Bun's maximum (255 s, default 10 s) so the
// idle-connections RSS test of bench/http.sh is not cut short.
//
//   bun bench/peers/http-bun-serve.js PORT [HOST=127.0.0.1]
const port = Number(process.argv[2] ?? 8080);
const hostname = process.argv[3] ?? "127.0.0.1";

const HELLO_HEADERS = { "Content-Type": "text/plain" };
const ECHO_HEADERS = { "Content-Type": "application/octet-stream" };

const server = Bun.serve({
  port,
  hostname,
  idleTimeout: 255,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/") return new Response("Hello, World!", { headers: HELLO_HEADERS });
    if (req.method === "POST" && path === "/echo") {
      return new Response(await req.arrayBuffer(), { headers: ECHO_HEADERS });
    }
    return new Response("Not Found", { status: 404 });
  },
});
console.error(`listening on ${hostname}:${server.port}`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
