/** The echo server of examples/echo.ts, shared by its single-thread and worker modes. */
import { IoLoop, listen, type PoolBackend, type Server } from "../mod.ts";

export interface EchoOptions {
  host: string;
  port: number;
  /** Buffers in the pool; absent: the library's default pool (see listen()'s `pool`). */
  buffers?: number;
  /** The pool may grow to this many buffers when receives run dry (ENOBUFS). */
  maxBuffers?: number;
  bufferSize?: number;
  backend?: PoolBackend | "auto";
  /** Detach leases on release and keep the leak net on (slower; the echo path never needs it). */
  safe: boolean;
  /** SO_REUSEPORT, for one listener per worker. */
  reusePort: boolean;
  /** A dedicated loop (SINGLE_ISSUER | DEFER_TASKRUN; waits in the kernel when idle). */
  dedicated: boolean;
  /** Incremental buffer consumption (6.12+); absent: the library's default. */
  incremental?: boolean;
  /** Seconds a connection may stay idle before it is closed (0 or absent: no timeout). */
  idleTimeout?: number;
  /** Connections beyond this many are closed at once (0 or absent: no cap). */
  maxConnections?: number;
}

/** What `examples/echo.ts` runs with when given no flags (on a free port). */
export const ECHO_DEFAULTS: EchoOptions = {
  host: "127.0.0.1",
  port: 0,
  safe: false,
  reusePort: false,
  dedicated: false,
};

export function startEchoServer(o: EchoOptions): Server {
  return listen({
    loop: o.dedicated ? new IoLoop({ mode: "dedicated" }) : undefined,
    hostname: o.host,
    port: o.port,
    reusePort: o.reusePort,
    idleTimeout: o.idleTimeout ?? 0,
    maxConnections: o.maxConnections || undefined,
    pool: {
      count: o.buffers,
      maxCount: o.maxBuffers === undefined ? undefined : Math.max(o.buffers ?? 0, o.maxBuffers),
      bufferSize: o.bufferSize,
      backend: o.backend,
      incremental: o.incremental,
      detachOnRelease: o.safe,
      leakTracking: o.safe ? "warn" : "off",
    },
    handlers: {
      data(conn, lease) {
        // The send releases the lease; stop reading while this connection's queue is full.
        if (!conn.write(lease)) conn.pause();
      },
      drain(conn) {
        conn.resume();
      },
      error() {
        // A reset peer only ends its own connection.
      },
    },
  });
}
