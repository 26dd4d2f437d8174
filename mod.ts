/**
 * uring-buffers: Linux io_uring with provided buffers (automatic buffer selection) for Deno and Bun,
 * over liburing.so.2 through FFI.
 *
 * This entry point is what most programs use: HTTP servers (`serve`), TCP servers and clients, UDP
 * sockets, workers, the event loop they share, the buffer pool and its leases, errors and the
 * feature probe.
 *
 * ```ts
 * import { listen } from "uring-buffers";
 *
 * listen({
 *   port: 9000,
 *   handlers: {
 *     data(conn, lease) {
 *       if (!conn.write(lease)) conn.pause(); // echo without a copy; the send releases the lease
 *     },
 *     drain: (conn) => conn.resume(),
 *   },
 * });
 * ```
 *
 * Two more entry points sit below it: `uring-buffers/ring` (the ring, prep functions, `abi`, the
 * reactor and driver, receivers and the raw buffer mechanisms: for custom loops) and
 * `uring-buffers/sys` (the libc socket and file helpers). See README.md.
 *
 * @module
 */

// Servers and clients.
export { connect, listen, Server } from "./src/net/server.ts";
export type { ConnectOptions, ListenOptions, ServerHandlers, ServerStats, StopOptions } from "./src/net/server.ts";
export { Connection } from "./src/net/connection.ts";
export type { ConnectionHandlers, ConnectionOptions, WriteOptions } from "./src/net/connection.ts";

// HTTP/1.1 with the Web fetch API (Request in, Response out), as Deno.serve and Bun.serve.
export { HttpServer, serve } from "./src/http/serve.ts";
export type { HttpServerStats, ServeHandler, ServeOptions } from "./src/http/serve.ts";
export { ServeInfo } from "./src/http/serve_info.ts";
export { contentTypeOf, fileResponse } from "./src/http/file_response.ts";
export type { NetAddr, SocketAddressInfo } from "./src/http/serve_info.ts";

// UDP. A handler receives a Datagram (its source a SocketAddress); DATAGRAM_HEADROOM sizes its buffers.
export { bindUdp, datagramBufferSize, MAX_UDP_PAYLOAD, UdpSocket } from "./src/net/udp.ts";
export type { UdpHandlers, UdpOptions, UdpStats } from "./src/net/udp.ts";
export { DATAGRAM_HEADROOM } from "./src/receiver.ts";
export type { Datagram } from "./src/receiver.ts";
export type { SocketAddress } from "./src/sockaddr.ts";

// The loop sockets share, and workers (one loop per thread).
export { getDefaultLoop, IoLoop } from "./src/net/loop.ts";
export type { IoLoopOptions } from "./src/net/loop.ts";
export { serveWorker, startWorkers, WorkerGroup } from "./src/net/workers.ts";
export type { WorkerGroupOptions, WorkerServer } from "./src/net/workers.ts";

// Provided buffers: the pool and its leases.
export { BufferPool } from "./src/buffers/pool.ts";
export type { BufferPoolOptions, BufferWaiter, LeaseHolder, PoolBackend, PoolStats } from "./src/buffers/pool.ts";
export { Lease } from "./src/buffers/lease.ts";

// Types of the ring layer that the classes above mention (a BufferPool is made on a Reactor; an
// IoLoop has one, and a Driver). The classes themselves come from `uring-buffers/ring`.
export type { CompletionHandler, Ring, RingOptions } from "./src/ring.ts";
export type { SqeArray } from "./src/sqe.ts";
export type { CompletionTarget, Reactor, SubmitHook } from "./src/reactor.ts";
export type { Driver, DriverStats } from "./src/driver.ts";
export type { NativeMemory } from "./src/memory.ts";
export type { Ptr } from "./ffi/mod.ts";

// What this kernel's io_uring can do.
export { probeFeatures } from "./src/probe.ts";
export type { Features } from "./src/probe.ts";

// Errors.
export { ClosedError, Errno, errnoName, SubmissionQueueFullError, UnsupportedError, UringError } from "./src/errors.ts";
export type { ErrnoName } from "./src/errors.ts";
