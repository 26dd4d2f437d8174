/**
 * Sockets the module creates itself (neither runtime hands out usable fds): libc socket, setsockopt,
 * bind, listen, connect and getsockname through FFI. Data moves through the ring, not through these.
 */
import { native, type Ptr } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { UringError } from "../errors.ts";
import { checkBoolean, checkFd, checkOptionKeys, describe, numberError } from "../options.ts";
import { NativeMemory } from "../memory.ts";
import { checkEndpoint, decodeSockaddr, encodeSockaddr, formatEndpoint, type SocketAddress } from "../sockaddr.ts";

let scratch: NativeMemory | undefined;
/** One page for sockaddrs and option values; calls here are synchronous, so one is enough. */
function scratchPage(): NativeMemory {
  scratch ??= new NativeMemory(4096);
  return scratch;
}
const ADDR_AT = 0;
const LEN_AT = 256;
const OPT_AT = 264;

function sys(op: string, ret: number, detail?: string): number {
  if (ret < 0) throw new UringError(op, native.errno(), detail);
  return ret;
}

/** Options of `tcpListen()`. */
export interface TcpListenOptions {
  /** The address to bind: an IPv4 or IPv6 literal, or "localhost". Default "127.0.0.1". */
  hostname?: string;
  /** The port to bind; 0 (default) picks a free one (read it with localAddress()). */
  port?: number;
  /** listen(2) backlog, default 4096. */
  backlog?: number;
  /** SO_REUSEPORT so several rings (workers) can share the port. Default false. */
  reusePort?: boolean;
}

let optionPointer: Ptr | undefined;

// Runs for every accepted connection (TCP_NODELAY): its pointer is made once and its message only on
// failure, so that an accept leaves no garbage here.
function setIntOption(fd: number, level: number, name: number, value: number, what: string): void {
  checkFd(fd);
  const m = scratchPage();
  m.view.setInt32(OPT_AT, value, true);
  optionPointer ??= m.pointerAt(OPT_AT);
  if (native.libc.setsockopt(fd, level, name, optionPointer, 4) < 0) {
    throw new UringError(`setsockopt(${what})`, native.errno());
  }
}

/** A new close-on-exec socket of `type` in the address family of `host` (an address literal or "localhost"). */
export function newSocket(host: string, type: number): number {
  const family = checkEndpoint(host, 0) === "ipv4" ? abi.AF_INET : abi.AF_INET6;
  return sys("socket", native.libc.socket(family, type | abi.SOCK_CLOEXEC, 0));
}

/** Runs `setUp(fd)`; if it throws, closes the fd before rethrowing. Returns the fd. */
function closedOnFailure(fd: number, setUp: (fd: number) => void): number {
  try {
    setUp(fd);
    return fd;
  } catch (e) {
    native.libc.close(fd);
    throw e;
  }
}

/**
 * The sockaddr_in6 at `at` holds "::" (or "0::0", ...), or an IPv4-mapped address (::ffff:a.b.c.d):
 * both need IPV6_V6ONLY off, the first to take IPv4 too, the second to bind at all (EINVAL).
 */
function takesIPv4(view: DataView, at: number): boolean {
  for (let i = 8; i < 18; i++) if (view.getUint8(at + i) !== 0) return false;
  const tail = view.getUint16(at + 18, false);
  if (tail === 0xffff) return true;
  if (tail !== 0) return false;
  for (let i = 20; i < 24; i++) if (view.getUint8(at + i) !== 0) return false;
  return true;
}

/**
 * A close-on-exec TCP socket, bound and listening; returns its fd. SO_REUSEADDR always,
 * SO_REUSEPORT on request; "::" is dual stack (IPv4 connections arrive as ::ffff:a.b.c.d), an
 * IPv4-mapped address takes its IPv4 address's connections, other IPv6 addresses IPV6_V6ONLY. Accept
 * on it with the ring (`prepAccept`, `prepMultishotAccept`); close it with closeFd().
 *
 * @example
 * ```ts
 * import { closeFd, localAddress, tcpListen } from "uring-buffers/sys";
 *
 * const fd = tcpListen({ hostname: "::1", port: 0, backlog: 128 });
 * console.log(localAddress(fd)); // { family: "ipv6", hostname: "::1", port: ... }
 * closeFd(fd);
 * ```
 *
 * @throws {TypeError} for an unknown option key, a hostname that is not an address literal, or a
 *   reusePort that is not a boolean.
 * @throws {RangeError} for a port or backlog out of range.
 * @throws {UringError} when a call fails (`EADDRINUSE` from bind, ...); the socket is closed then.
 */
export function tcpListen(options: TcpListenOptions = {}): number {
  checkOptionKeys("tcpListen()", options, ["hostname", "port", "backlog", "reusePort"]);
  checkBoolean("reusePort", options.reusePort);
  const host = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const backlog = options.backlog ?? 4096;
  if (!Number.isInteger(backlog) || backlog < 1) {
    throw numberError(backlog, `backlog must be a positive integer, got ${describe(backlog)}`);
  }
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, host, port); // the options below use OPT_AT, not ADDR_AT
  return closedOnFailure(newSocket(host, abi.SOCK_STREAM), (fd) => {
    setIntOption(fd, abi.SOL_SOCKET, abi.SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (options.reusePort) setIntOption(fd, abi.SOL_SOCKET, abi.SO_REUSEPORT, 1, "SO_REUSEPORT");
    // "::" takes IPv4 connections too (dual stack, as Node, Deno and Bun listen on it, whatever the
    // sysctl says); an IPv4-mapped address its IPv4 one; any other IPv6 address only its own.
    if (len === abi.SOCKADDR_IN6_SIZE) {
      setIntOption(fd, abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, takesIPv4(m.view, ADDR_AT) ? 0 : 1, "IPV6_V6ONLY");
    }
    sys("bind", native.libc.bind(fd, m.pointerAt(ADDR_AT), len), formatEndpoint(host, port));
    sys("listen", native.libc.listen(fd, backlog));
  });
}

/**
 * A blocking TCP connect(2) from the JS thread (for loopback, where it completes at once; use
 * `connect()` of the package root, or `prepConnect`, to connect without blocking). Returns the
 * close-on-exec fd with TCP_NODELAY set.
 *
 * @example
 * ```ts
 * import { closeFd, tcpConnect, tcpListen } from "uring-buffers/sys";
 *
 * const listener = tcpListen({ port: 9100 });
 * const fd = tcpConnect("127.0.0.1", 9100); // waits in the listener's backlog until accepted
 * closeFd(fd);
 * closeFd(listener);
 * ```
 *
 * @throws {TypeError} for a hostname that is not an address literal.
 * @throws {RangeError} for a port out of [1, 65535].
 * @throws {UringError} when the connect fails (`ECONNREFUSED`, ...); the socket is closed then.
 */
export function tcpConnect(hostname: string, port: number): number {
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, hostname, port, "to connect");
  return closedOnFailure(newSocket(hostname, abi.SOCK_STREAM), (fd) => {
    sys("connect", native.libc.connect(fd, m.pointerAt(ADDR_AT), len), formatEndpoint(hostname, port));
    setNoDelay(fd);
  });
}

/**
 * A close-on-exec UDP socket bound to `host:port` (port 0 picks a free one); returns its fd.
 *
 * @example
 * ```ts
 * import { closeFd, localAddress, udpBind } from "uring-buffers/sys";
 *
 * const fd = udpBind("127.0.0.1", 0);
 * console.log(localAddress(fd).port);
 * closeFd(fd);
 * ```
 *
 * @throws {TypeError} for a hostname that is not an address literal.
 * @throws {RangeError} for a port out of range.
 * @throws {UringError} when bind fails (`EADDRINUSE`, ...); the socket is closed then.
 */
export function udpBind(hostname = "127.0.0.1", port = 0): number {
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, hostname, port);
  return closedOnFailure(newSocket(hostname, abi.SOCK_DGRAM), (fd) => {
    sys("bind", native.libc.bind(fd, m.pointerAt(ADDR_AT), len), formatEndpoint(hostname, port));
  });
}

/**
 * connect(2) an existing socket: for a UDP socket, fixes its peer, so plain sends (`prepSend`) go
 * there and only its datagrams are received. Blocks for a TCP socket (see tcpConnect()).
 *
 * @example
 * ```ts
 * import { closeFd, connectSocket, udpBind } from "uring-buffers/sys";
 *
 * const fd = udpBind();
 * connectSocket(fd, "127.0.0.1", 9002);
 * closeFd(fd);
 * ```
 *
 * @throws {TypeError} for a hostname that is not an address literal.
 * @throws {RangeError} for a port out of [1, 65535].
 * @throws {UringError} when connect fails.
 */
export function connectSocket(fd: number, hostname: string, port: number): void {
  checkFd(fd);
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, hostname, port, "to connect");
  sys("connect", native.libc.connect(fd, m.pointerAt(ADDR_AT), len), formatEndpoint(hostname, port));
}

/**
 * TCP_NODELAY: small writes go out at once instead of waiting to be coalesced (Nagle's algorithm).
 * `listen()` and `connect()` set it unless `noDelay: false`.
 *
 * @example
 * ```ts
 * import { closeFd, setNoDelay, tcpConnect } from "uring-buffers/sys";
 *
 * const fd = tcpConnect("127.0.0.1", 9000);
 * setNoDelay(fd); // tcpConnect() set it already; for sockets made elsewhere
 * closeFd(fd);
 * ```
 *
 * @throws {UringError} when setsockopt fails (`EBADF`, `ENOTSOCK`, ...).
 */
export function setNoDelay(fd: number): void {
  setIntOption(fd, abi.IPPROTO_TCP, abi.TCP_NODELAY, 1, "TCP_NODELAY");
}

/**
 * Takes a listening socket out of the kernel's tables at once (shutdown(2) of a listener): new
 * connections to its port are refused and the port may be bound again, while the fd stays open for
 * an accept still in flight on the ring, which then ends with an error. Errors are ignored: the
 * listener is closed right after anyway.
 */
export function stopListening(fd: number): void {
  native.libc.shutdown(fd, abi.SHUT_RDWR);
}

/**
 * SO_LINGER {1, 0}: closing the socket then sends a reset (RST) instead of a FIN, and drops unsent
 * data (what `Connection.reset()` does).
 *
 * @example
 * ```ts
 * import { closeFd, setLingerZero, tcpConnect } from "uring-buffers/sys";
 *
 * const fd = tcpConnect("127.0.0.1", 9000);
 * setLingerZero(fd);
 * closeFd(fd); // the peer sees ECONNRESET
 * ```
 *
 * @throws {UringError} when setsockopt fails.
 */
export function setLingerZero(fd: number): void {
  checkFd(fd);
  const m = scratchPage();
  m.view.setInt32(OPT_AT, 1, true);
  m.view.setInt32(OPT_AT + 4, 0, true);
  sys("setsockopt(SO_LINGER)", native.libc.setsockopt(fd, abi.SOL_SOCKET, abi.SO_LINGER, m.pointerAt(OPT_AT), 8));
}

/** SO_ERROR: the socket's pending error (an errno, cleared by reading it), 0 for none or if the call fails. */
export function takeSocketError(fd: number): number {
  const m = scratchPage();
  m.view.setUint32(LEN_AT, 4, true);
  if (native.libc.getsockopt(fd, abi.SOL_SOCKET, abi.SO_ERROR, m.pointerAt(OPT_AT), m.pointerAt(LEN_AT)) < 0) return 0;
  return m.view.getInt32(OPT_AT, true);
}

/**
 * Packets the kernel dropped on their way to this socket since it was made (SO_MEMINFO's drops: for
 * UDP, mostly datagrams that found the receive buffer full). -1 if the call fails.
 */
export function receiveDrops(fd: number): number {
  const m = scratchPage();
  m.view.setUint32(LEN_AT, abi.SK_MEMINFO_VARS * 4, true);
  if (native.libc.getsockopt(fd, abi.SOL_SOCKET, abi.SO_MEMINFO, m.pointerAt(OPT_AT), m.pointerAt(LEN_AT)) < 0) {
    return -1;
  }
  if (m.view.getUint32(LEN_AT, true) < (abi.SK_MEMINFO_DROPS + 1) * 4) return -1;
  return m.view.getUint32(OPT_AT + abi.SK_MEMINFO_DROPS * 4, true);
}

/**
 * How far a TCP peer has taken our bytes into its program (TCP_INFO): the bytes it acknowledged
 * plus the receive window it advertises. Bytes acknowledged into its buffer but not read shrink that
 * window by as much, so the sum grows only as the peer's program reads. -1 if the call fails.
 */
export function peerIntake(fd: number): number {
  const m = scratchPage();
  m.view.setUint32(LEN_AT, abi.TCP_INFO_SIZE, true);
  if (native.libc.getsockopt(fd, abi.IPPROTO_TCP, abi.TCP_INFO, m.pointerAt(OPT_AT), m.pointerAt(LEN_AT)) < 0) {
    return -1;
  }
  const acked = m.view.getUint32(OPT_AT + abi.TCP_INFO_BYTES_ACKED, true) +
    m.view.getUint32(OPT_AT + abi.TCP_INFO_BYTES_ACKED + 4, true) * 2 ** 32;
  // A kernel before 6.2 fills less of the struct: the acknowledged bytes alone still show progress.
  const window = m.view.getUint32(LEN_AT, true) >= abi.TCP_INFO_SIZE
    ? m.view.getUint32(OPT_AT + abi.TCP_INFO_SND_WND, true)
    : 0;
  return acked + window;
}

/**
 * SO_RCVBUF: the socket's receive buffer size in bytes (the kernel doubles it and applies its
 * limits), e.g. for tests that need the kernel to hold less.
 *
 * @example
 * ```ts
 * import { closeFd, setReceiveBuffer, udpBind } from "uring-buffers/sys";
 *
 * const fd = udpBind();
 * setReceiveBuffer(fd, 4096);
 * closeFd(fd);
 * ```
 *
 * @throws {UringError} when setsockopt fails.
 */
export function setReceiveBuffer(fd: number, bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > 0x7fffffff) {
    throw numberError(bytes, `bytes must be an integer in [0, 2^31 - 1], got ${describe(bytes)}`);
  }
  setIntOption(fd, abi.SOL_SOCKET, abi.SO_RCVBUF, bytes, "SO_RCVBUF");
}

/**
 * The address a socket is bound to (getsockname(2)).
 *
 * @example
 * ```ts
 * import { closeFd, localAddress, tcpListen } from "uring-buffers/sys";
 *
 * const fd = tcpListen(); // 127.0.0.1, a free port
 * const { hostname, port } = localAddress(fd);
 * console.log(`${hostname}:${port}`);
 * closeFd(fd);
 * ```
 *
 * @throws {UringError} when getsockname fails (`EBADF`, `ENOTSOCK`).
 * @throws {TypeError} for a socket that is not IPv4 or IPv6.
 */
export function localAddress(fd: number): SocketAddress {
  return socketAddress(fd, "getsockname");
}

/**
 * The address of a connected socket's peer (getpeername(2)).
 *
 * @example
 * ```ts
 * import { closeFd, localAddress, remoteAddress, tcpConnect, tcpListen } from "uring-buffers/sys";
 *
 * const listener = tcpListen({ port: 0 });
 * const fd = tcpConnect("127.0.0.1", localAddress(listener).port);
 * console.log(remoteAddress(fd)); // { family: "ipv4", hostname: "127.0.0.1", port: ... }
 * closeFd(fd);
 * closeFd(listener);
 * ```
 *
 * @throws {UringError} when getpeername fails (`ENOTCONN` once the peer is gone, `EBADF`, `ENOTSOCK`).
 * @throws {TypeError} for a socket that is not IPv4 or IPv6.
 */
export function remoteAddress(fd: number): SocketAddress {
  return socketAddress(fd, "getpeername");
}

function socketAddress(fd: number, call: "getsockname" | "getpeername"): SocketAddress {
  checkFd(fd);
  const m = scratchPage();
  m.view.setUint32(LEN_AT, abi.SOCKADDR_STORAGE_SIZE, true);
  sys(call, native.libc[call](fd, m.pointerAt(ADDR_AT), m.pointerAt(LEN_AT)));
  const a = decodeSockaddr(m.view, ADDR_AT);
  if (!a) throw new TypeError(`fd ${fd} is not an IPv4/IPv6 socket`);
  return a;
}

/**
 * close(2) a file descriptor. Close only fds no in-flight ring operation uses (cancel those first):
 * the kernel looks an fd up when it runs an operation.
 *
 * @example
 * ```ts
 * import { closeFd, openFile } from "uring-buffers/sys";
 *
 * const fd = openFile("README.md");
 * closeFd(fd);
 * ```
 *
 * @throws {UringError} when close fails (`EBADF` for an fd that is not open, `EIO`, ...).
 */
export function closeFd(fd: number): void {
  checkFd(fd);
  // The message only on failure: this runs at every connection's close.
  if (native.libc.close(fd) < 0) throw new UringError("close", native.errno(), `fd ${fd}`);
}

/** close(2) of an fd that may be closed already (a socket closed on its own path first): no error either way. */
export function closeFdIfOpen(fd: number): void {
  try {
    closeFd(fd);
  } catch {
    // Closed already.
  }
}
