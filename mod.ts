/**
 * uring-buffers: Linux io_uring with provided buffers for Deno and Bun, over liburing.so.2 via FFI.
 * The public API, by name. See README.md.
 */
export { Ring } from "./src/ring.ts";
export type { CompletionHandler, RingOptions } from "./src/ring.ts";
export { SqeArray } from "./src/sqe.ts";
export * from "./src/prep.ts";
export { probeFeatures } from "./src/probe.ts";
export type { Features } from "./src/probe.ts";
export { ClosedError, Errno, errnoName, SubmissionQueueFullError, UringError } from "./src/errors.ts";
export { NativeMemory } from "./src/memory.ts";
export { closeFd, localAddress, setNoDelay, setReceiveBuffer, tcpConnect, tcpListen, udpBind } from "./src/net/socket.ts";
export type { ListenOptions } from "./src/net/socket.ts";
export type { SocketAddress } from "./src/net/sockaddr.ts";
export { openFile } from "./src/fs/file.ts";
/** Every kernel constant and struct offset, named after its header field. */
export * as abi from "./src/abi.ts";
