/** Worker module for `examples/http.ts --workers N`: one ring, pool and SO_REUSEPORT listener per thread. */
import { serveWorker } from "../mod.ts";
import { type HttpExampleOptions, startHttpServer } from "./http_server.ts";

serveWorker((options: HttpExampleOptions) => startHttpServer(options, true));
