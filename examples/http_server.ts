/** The handler and server of examples/http.ts, shared by its main thread and its workers. */
import { type HttpServer, serve, type ServeInfo } from "../mod.ts";

/** What examples/http.ts passes to each server (structured-cloneable, for workers). */
export interface HttpExampleOptions {
  port: number;
  hostname: string;
  idleTimeout: number;
}

const encoder = new TextEncoder();

/** The routes of examples/http.ts: a plain Web fetch handler, as for Deno.serve or Bun.serve. */
export async function handler(request: Request, info: ServeInfo): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/" && (request.method === "GET" || request.method === "HEAD")) {
    return new Response("Hello, World!");
  }
  if (url.pathname === "/echo" && request.method === "POST") {
    return new Response(await request.arrayBuffer(), {
      headers: { "content-type": request.headers.get("content-type") ?? "application/octet-stream" },
    });
  }
  if (url.pathname === "/stream" && request.method === "GET") {
    const n = Math.min(Number(url.searchParams.get("n") ?? 5) || 0, 1000);
    let i = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            if (i < n) controller.enqueue(encoder.encode(`line ${++i}\n`));
            if (i >= n) controller.close();
            resolve();
          }, 10);
        }),
      cancel: () => clearTimeout(timer), // the client left
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  }
  if (url.pathname === "/ip") return new Response(`${info.remoteAddr.hostname}\n`);
  return new Response("Not Found\n", { status: 404 });
}

export function startHttpServer(options: HttpExampleOptions, reusePort = false): HttpServer {
  return serve(
    { port: options.port, hostname: options.hostname, idleTimeout: options.idleTimeout, reusePort },
    handler,
  );
}
