// Peer HTTP server on Deno.serve (what a Deno user would write instead of our module): GET / answers
// 200 "Hello, World!" (text/plain); POST /echo reads the request body to the end, then answers it
// back; anything else is a 404. Deno.serve has no idle timeout on keep-alive connections.
//
//   deno run -A bench/peers/http-deno-serve.ts PORT [HOST=127.0.0.1]
const port = Number(Deno.args[0] ?? 8080);
const hostname = Deno.args[1] ?? "127.0.0.1";

const HELLO_HEADERS = { "Content-Type": "text/plain" };
const ECHO_HEADERS = { "Content-Type": "application/octet-stream" };

async function handler(req: Request): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (req.method === "GET" && path === "/") return new Response("Hello, World!", { headers: HELLO_HEADERS });
  if (req.method === "POST" && path === "/echo") {
    return new Response(await req.arrayBuffer(), { headers: ECHO_HEADERS });
  }
  return new Response("Not Found", { status: 404 });
}

const server = Deno.serve({
  port,
  hostname,
  onListen: (addr) => console.error(`listening on ${addr.hostname}:${addr.port}`),
}, handler);
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown().finally(() => Deno.exit(0));
  setTimeout(() => Deno.exit(0), 1000); // keep-alive connections may hold shutdown() up
});
