/** Worker module for `examples/echo.ts --workers N`: one ring, pool and SO_REUSEPORT listener per thread. */
import { serveWorker } from "../mod.ts";
import { type EchoOptions, startEchoServer } from "./echo_server.ts";

serveWorker((options: EchoOptions) => startEchoServer(options));
