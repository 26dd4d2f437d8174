/** struct sockaddr_in / sockaddr_in6 encoding and decoding (network byte order where the ABI says). */
import { AF_INET, AF_INET6, SOCKADDR_IN6_SIZE, SOCKADDR_IN_SIZE } from "./abi.ts";
import { describe } from "./options.ts";

/** An IPv4 or IPv6 socket address, as text and number. */
export interface SocketAddress {
  /** The address family. */
  family: "ipv4" | "ipv6";
  /** The IP address, as text (Deno's and Bun's word: hostname); IPv6 compressed ("::1"). */
  hostname: string;
  /** The port, 0..65535. */
  port: number;
}

const v4Bytes = [0, 0, 0, 0];

/**
 * The four bytes of a dotted-quad `host`, or null. The array is reused by every call (read it before
 * the next): this runs at every connect and bind, and split() with a regex per part left 1.4 KB of
 * garbage per call.
 */
function parseIPv4(host: string): number[] | null {
  let part = 0, value = 0, digits = 0;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 46; // a "." after the end closes the last part
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return null;
      value = value * 10 + c - 48;
    } else if (c === 46 && digits > 0 && value <= 255 && part < 4) {
      v4Bytes[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return null;
    }
  }
  return part === 4 ? v4Bytes : null;
}

function parseIPv6(h: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(h) || h.split("::").length > 2) return null;
  const [left, right] = h.includes("::") ? h.split("::") : [h, undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const toWords = (gs: string[]): number[] | null => {
    const words: number[] = [];
    for (let i = 0; i < gs.length; i++) {
      const g = gs[i];
      if (i === gs.length - 1 && g.includes(".")) {
        const v4 = parseIPv4(g);
        if (!v4) return null;
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        words.push(parseInt(g, 16));
      }
    }
    return words;
  };
  const l = toWords(groups(left));
  const r = right === undefined ? [] : toWords(groups(right));
  if (!l || !r) return null;
  const fill = 8 - l.length - r.length;
  if (right === undefined ? fill !== 0 : fill < 1) return null;
  const words = [...l, ...new Array(right === undefined ? 0 : fill).fill(0), ...r];
  const bytes: number[] = [];
  for (const w of words) bytes.push(w >> 8, w & 0xff);
  return bytes;
}

/** `host:port` as messages write it: an IPv6 address in brackets (`[::1]:80`). */
export function formatEndpoint(host: string, port: number): string {
  if (host === "localhost") return `localhost:${port} (127.0.0.1)`; // only that: a server on ::1 alone is not tried
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Validates host and port, returns the family. Throws TypeError/RangeError naming the argument.
 * `peer`: the port is a peer's (to connect or send to), so 0 (any port, for a bind) is refused too.
 */
export function checkEndpoint(host: string, port: number, peer?: "to connect" | "to send to"): "ipv4" | "ipv6" {
  if (typeof host !== "string") throw new TypeError(`hostname must be a string, got ${describe(host)}`);
  if (typeof port !== "number") throw new TypeError(`port must be a number, got ${describe(port)}`);
  const lowest = peer ? 1 : 0;
  if (!Number.isInteger(port) || port < lowest || port > 65535) {
    throw new RangeError(
      `port must be an integer in [${lowest}, 65535]${peer ? ` ${peer}` : ""}, got ${describe(port)}`,
    );
  }
  const h = host === "localhost" ? "127.0.0.1" : host;
  if (parseIPv4(h)) return "ipv4";
  if (parseIPv6(h)) return "ipv6";
  // Brackets belong to URLs and host:port text, not to the address: "[::1]" made "http://[[::1]]:80/".
  const bare = /^\[(.*)\]$/.exec(host)?.[1];
  throw new TypeError(
    `hostname must be an IPv4 or IPv6 address literal (or "localhost"), got ${JSON.stringify(host)}` +
      (bare !== undefined && parseIPv6(bare) ? ` (without the brackets: ${JSON.stringify(bare)})` : ""),
  );
}

/**
 * Writes a sockaddr for host:port into `view` at `offset`; returns its length. `peer` as for
 * checkEndpoint (a peer's port 0 is refused).
 */
export function encodeSockaddr(
  view: DataView,
  offset: number,
  host: string,
  port: number,
  peer?: "to connect" | "to send to",
): number {
  const family = checkEndpoint(host, port, peer);
  const h = host === "localhost" ? "127.0.0.1" : host;
  if (family === "ipv4") {
    const b = parseIPv4(h)!;
    view.setUint16(offset, AF_INET, true);
    view.setUint16(offset + 2, port, false);
    for (let i = 0; i < 4; i++) view.setUint8(offset + 4 + i, b[i]);
    for (let i = 8; i < SOCKADDR_IN_SIZE; i++) view.setUint8(offset + i, 0);
    return SOCKADDR_IN_SIZE;
  }
  const b = parseIPv6(h)!;
  view.setUint16(offset, AF_INET6, true);
  view.setUint16(offset + 2, port, false);
  view.setUint32(offset + 4, 0, true); // sin6_flowinfo
  for (let i = 0; i < 16; i++) view.setUint8(offset + 8 + i, b[i]);
  view.setUint32(offset + 24, 0, true); // sin6_scope_id
  return SOCKADDR_IN6_SIZE;
}

/** Reads a sockaddr_in/in6 at `offset`; null for other families. */
export function decodeSockaddr(view: DataView, offset: number): SocketAddress | null {
  const family = view.getUint16(offset, true);
  const port = view.getUint16(offset + 2, false);
  if (family === AF_INET) {
    const a = [0, 1, 2, 3].map((i) => view.getUint8(offset + 4 + i));
    return { family: "ipv4", hostname: a.join("."), port };
  }
  if (family === AF_INET6) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(view.getUint16(offset + 8 + i * 2, false).toString(16));
    if (words.slice(0, 5).every((w) => w === "0") && words[5] === "ffff") {
      // An IPv4 client of a dual-stack listener: "::ffff:127.0.0.1", as Node, Deno and Bun write it.
      const a = [12, 13, 14, 15].map((i) => view.getUint8(offset + 8 + i));
      return { family: "ipv6", hostname: `::ffff:${a.join(".")}`, port };
    }
    return { family: "ipv6", hostname: compressIPv6(words), port };
  }
  return null;
}

function compressIPv6(words: string[]): string {
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
}
