import { kFinish } from "../internal.ts";
import type { Connection } from "../net/connection.ts";
import type { SocketAddress } from "../sockaddr.ts";

/** The peer of a request, as `Deno.serve` gives it (`info.remoteAddr`). */
export interface NetAddr {
  /** Always "tcp". */
  transport: "tcp";
  /** The IP address ("127.0.0.1", "::1"); for a client, "" when the kernel no longer knows it. */
  hostname: string;
  /** The port (0 when unknown). */
  port: number;
}

/** The peer of a request, as Bun's `server.requestIP(request)` gives it. */
export interface SocketAddressInfo {
  /** The client's IP address. */
  address: string;
  /** Its family, in Bun's spelling. */
  family: "IPv4" | "IPv6";
  /** The client's port. */
  port: number;
}

/**
 * The second argument of a serve() handler: what `Deno.serve` passes (`remoteAddr`, `completed`)
 * and what a `Bun.serve` handler asks its server for (`requestIP()`), so handlers written for
 * either run unchanged.
 */
export class ServeInfo {
  readonly #conn: Connection<unknown>;
  #completed: Promise<void> | undefined;
  #settle: (() => void) | undefined;
  #done = false;

  /** @ignore Made by serve() for each request. */
  constructor(conn: Connection<unknown>) {
    this.#conn = conn;
  }

  #peer(): SocketAddress | undefined {
    try {
      return this.#conn.remoteAddress;
    } catch {
      return undefined; // asked for the first time after the client left
    }
  }

  /** The client's address (read once per connection, on first use). */
  get remoteAddr(): NetAddr {
    const peer = this.#peer();
    return { transport: "tcp", hostname: peer?.hostname ?? "", port: peer?.port ?? 0 };
  }

  /** Bun's `server.requestIP(request)`: the client's address, or null when the kernel no longer knows it. */
  requestIP(_request?: Request): SocketAddressInfo | null {
    const peer = this.#peer();
    if (!peer) return null;
    return { address: peer.hostname, family: peer.family === "ipv6" ? "IPv6" : "IPv4", port: peer.port };
  }

  /** Settles once the response has been handed to the kernel, or the connection closed before that. */
  get completed(): Promise<void> {
    if (this.#done) return Promise.resolve();
    return this.#completed ??= new Promise<void>((resolve) => (this.#settle = resolve));
  }

  /** @ignore The exchange is over (its response is sent, or its connection closed). */
  [kFinish](): void {
    this.#done = true;
    this.#settle?.();
  }
}
