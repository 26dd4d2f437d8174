/**
 * uring-buffers/sys: the sockets and files the module opens itself, through libc over FFI. Each
 * returns or takes a plain file descriptor (a number) for use with `uring-buffers/ring`.
 *
 * ```ts
 * import { closeFd, localAddress, tcpListen } from "uring-buffers/sys";
 *
 * const fd = tcpListen({ port: 0 }); // 127.0.0.1, a free port
 * console.log(localAddress(fd).port);
 * closeFd(fd);
 * ```
 *
 * @module
 */

export {
  closeFd,
  connectSocket,
  localAddress,
  remoteAddress,
  setLingerZero,
  setNoDelay,
  setReceiveBuffer,
  tcpConnect,
  tcpListen,
  udpBind,
} from "./src/net/socket.ts";
export type { TcpListenOptions } from "./src/net/socket.ts";
export type { SocketAddress } from "./src/sockaddr.ts";
export { openFile } from "./src/fs/file.ts";
