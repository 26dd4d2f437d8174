/**
 * A static file server on serve(): each file is read with IORING_OP_READ into provided buffers and
 * every buffer is sent to the socket as it is (fileResponse()), so file bytes never pass through JS.
 *
 *   deno run --allow-ffi --allow-read examples/files.ts --root ./public --port 8080
 *   bun examples/files.ts --root ./public --port 8080
 *   curl -O http://127.0.0.1:8080/index.html
 *
 * GET and HEAD only (others: 405). A path naming a directory serves its index.html. Paths are
 * decoded and resolved inside --root, symbolic links included: encoded slashes, backslashes or NUL
 * get 400; a file outside the root (through "..", which the URL resolves first, or a link), a file
 * named with a trailing slash, or anything missing gets 404.
 *
 * Options: --root DIR (.), --port N (8080; 0 picks a free port), --host H (127.0.0.1). An unknown
 * flag, a flag without its value or a bad value prints one line and the usage and exits 2.
 * Prints "listening on HOST:PORT" to stderr once ready; SIGINT/SIGTERM stop it gracefully: downloads
 * in flight get 5 s to finish, then their connections are reset (at once on a second signal).
 */
import { realpathSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { fileResponse, serve } from "../mod.ts";
import { displayHost, hostArg, integerArg, onStopSignals, parseExampleArgs, startOrExit } from "./args.ts";

const USAGE = "files.ts [--root DIR] [--port N] [--host H]";
const { values: options } = parseExampleArgs(
  USAGE,
  {
    root: { type: "string", default: "." },
    port: { type: "string", default: "8080" },
    host: { type: "string", default: "127.0.0.1" },
  },
  (v, fail, positionals) => {
    if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
    let root = "";
    let why = "";
    try {
      root = realpathSync(resolve(v.root!)); // links resolved, as every path served will be
    } catch (e) {
      // Deno without --allow-read refuses the lookup itself: say so, not that the directory is missing.
      if ((e as Error).name === "NotCapable" || (e as Error).name === "PermissionDenied") {
        why = `: ${(e as Error).message}`;
      }
    }
    if (!root || !statSync(root).isDirectory()) fail(`--root must be a directory, got ${JSON.stringify(v.root)}${why}`);
    return { root, port: integerArg("port", v.port, 0, 65535, fail), hostname: hostArg(v.host, fail) };
  },
);

/** The root with a trailing separator: what every path inside it starts with (`/` stays `/`). */
const rootPrefix = options.root.endsWith(sep) ? options.root : options.root + sep;

/** The file a URL path names inside the root (links resolved), or a status to answer instead. */
function locate(pathname: string): string | number {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return 400; // malformed percent-encoding
  }
  if (decoded.includes("\0") || decoded.includes("\\") || /%2f/i.test(pathname)) return 400;
  try {
    // Where the path really leads: a link inside the root may point out of it.
    let path = realpathSync(resolve(join(options.root, decoded)));
    if (statSync(path).isDirectory()) path = realpathSync(join(path, "index.html"));
    else if (decoded.endsWith("/")) return 404; // a file is not a directory
    return path.startsWith(rootPrefix) ? path : 404;
  } catch {
    return 404;
  }
}

const server = await startOrExit(
  "files.ts",
  USAGE,
  () =>
    serve({ port: options.port, hostname: options.hostname }, async (request) => {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
      }
      const found = locate(new URL(request.url).pathname);
      if (typeof found === "number") {
        return new Response(found === 404 ? "Not Found\n" : "Bad Request\n", { status: found });
      }
      try {
        return await fileResponse(found);
      } catch {
        return new Response("Not Found\n", { status: 404 }); // vanished, a directory without index.html, unreadable
      }
    }),
);
console.error(`listening on ${displayHost(options.hostname)}:${server.port}`);

onStopSignals(async (signal) => {
  await server.shutdown(5000);
  const { requests, accepted } = server.stats();
  console.error(`${signal}: stopped; ${JSON.stringify({ accepted, requests })}`);
  server.loop.close();
}, () => void server.stop(true));
