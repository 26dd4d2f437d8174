/**
 * Sockets the module creates itself (neither runtime hands out usable fds): libc socket, setsockopt,
 * bind, listen, connect and getsockname through FFI. Data moves through the ring, not through these.
 */
import { native } from "../../ffi/mod.ts";
import * as abi from "../abi.ts";
import { UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { checkEndpoint, decodeSockaddr, encodeSockaddr, type SocketAddress } from "../sockaddr.ts";

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

export interface TcpListenOptions {
  /** Default 127.0.0.1. */
  hostname?: string;
  /** 0 picks a free port. */
  port?: number;
  /** listen(2) backlog, default 4096. */
  backlog?: number;
  /** SO_REUSEPORT so several rings (workers) can share the port. Default false. */
  reusePort?: boolean;
}

function setIntOption(fd: number, level: number, name: number, value: number, what: string): void {
  const m = scratchPage();
  m.view.setInt32(OPT_AT, value, true);
  sys(`setsockopt(${what})`, native.libc.setsockopt(fd, level, name, m.pointerAt(OPT_AT), 4));
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

/** A TCP socket bound and listening; returns its fd. SO_REUSEADDR always, SO_REUSEPORT on request. */
export function tcpListen(options: TcpListenOptions = {}): number {
  const host = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const backlog = options.backlog ?? 4096;
  if (!Number.isInteger(backlog) || backlog < 1) {
    throw new RangeError(`backlog must be a positive integer, got ${backlog}`);
  }
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, host, port); // the options below use OPT_AT, not ADDR_AT
  return closedOnFailure(newSocket(host, abi.SOCK_STREAM), (fd) => {
    setIntOption(fd, abi.SOL_SOCKET, abi.SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (options.reusePort) setIntOption(fd, abi.SOL_SOCKET, abi.SO_REUSEPORT, 1, "SO_REUSEPORT");
    if (len === abi.SOCKADDR_IN6_SIZE) setIntOption(fd, abi.IPPROTO_IPV6, abi.IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    sys("bind", native.libc.bind(fd, m.pointerAt(ADDR_AT), len), `${host}:${port}`);
    sys("listen", native.libc.listen(fd, backlog));
  });
}

/** A blocking TCP connect (loopback connects complete at once); returns the fd, TCP_NODELAY set. */
export function tcpConnect(host: string, port: number): number {
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, host, port);
  return closedOnFailure(newSocket(host, abi.SOCK_STREAM), (fd) => {
    sys("connect", native.libc.connect(fd, m.pointerAt(ADDR_AT), len), `${host}:${port}`);
    setNoDelay(fd);
  });
}

/** A UDP socket bound to host:port (port 0 picks one); returns its fd. */
export function udpBind(host = "127.0.0.1", port = 0): number {
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, host, port);
  return closedOnFailure(newSocket(host, abi.SOCK_DGRAM), (fd) => {
    sys("bind", native.libc.bind(fd, m.pointerAt(ADDR_AT), len), `${host}:${port}`);
  });
}

/** connect(2) an existing socket (e.g. a UDP socket, to fix its peer for send()). */
export function connectSocket(fd: number, host: string, port: number): void {
  const m = scratchPage();
  const len = encodeSockaddr(m.view, ADDR_AT, host, port);
  sys("connect", native.libc.connect(fd, m.pointerAt(ADDR_AT), len), `${host}:${port}`);
}

export function setNoDelay(fd: number): void {
  setIntOption(fd, abi.IPPROTO_TCP, abi.TCP_NODELAY, 1, "TCP_NODELAY");
}

/** SO_LINGER {1, 0}: close() then sends a reset (RST) instead of a FIN. */
export function setLingerZero(fd: number): void {
  const m = scratchPage();
  m.view.setInt32(OPT_AT, 1, true);
  m.view.setInt32(OPT_AT + 4, 0, true);
  sys("setsockopt(SO_LINGER)", native.libc.setsockopt(fd, abi.SOL_SOCKET, abi.SO_LINGER, m.pointerAt(OPT_AT), 8));
}

/** SO_RCVBUF, for tests that need the kernel to hold less. */
export function setReceiveBuffer(fd: number, bytes: number): void {
  setIntOption(fd, abi.SOL_SOCKET, abi.SO_RCVBUF, bytes, "SO_RCVBUF");
}

/** The address a socket is bound to (getsockname). */
export function localAddress(fd: number): SocketAddress {
  const m = scratchPage();
  m.view.setUint32(LEN_AT, abi.SOCKADDR_STORAGE_SIZE, true);
  sys("getsockname", native.libc.getsockname(fd, m.pointerAt(ADDR_AT), m.pointerAt(LEN_AT)));
  const a = decodeSockaddr(m.view, ADDR_AT);
  if (!a) throw new TypeError(`fd ${fd} is not an IPv4/IPv6 socket`);
  return a;
}

/** close(2); errors other than EBADF are reported. */
export function closeFd(fd: number): void {
  sys("close", native.libc.close(fd), `fd ${fd}`);
}
