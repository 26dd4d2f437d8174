import { markHandled } from "../errors.ts";
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

/** What a ServeInfo relays from its server (an HttpServer). */
export interface ServeServer {
  /** The port listened on. */
  readonly port: number;
  /** The address listened on. */
  readonly hostname: string;
  /** `http://HOST:PORT/`. */
  readonly url: URL;
  /** See HttpServer.stop(). */
  stop(force?: boolean | { graceMs?: number }): Promise<void>;
}

/**
 * The second argument of a serve() handler. It carries what `Deno.serve` passes (`remoteAddr`,
 * `completed`) and what a `Bun.serve` handler uses of its server (`requestIP()`, `port`, `hostname`,
 * `url`, `stop()`, `upgrade()`), so handlers written for either run unchanged.
 */
export class ServeInfo {
  readonly #conn: Connection<unknown>;
  readonly #server: ServeServer | undefined;
  #completed: Promise<void> | undefined;
  #settle: ((error?: Error) => void) | undefined;
  #done = false;
  #error: Error | undefined;

  /** @ignore Made by serve() for each request. */
  constructor(conn: Connection<unknown>, server: ServeServer | undefined) {
    this.#conn = conn;
    this.#server = server;
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

  /**
   * Resolves once the whole response has been handed to the kernel; rejects when it was not (the
   * client left first, or the response's body failed). Reading it and not waiting on it is no
   * unhandled rejection: the promise is marked handled (a program that awaits it still sees the
   * rejection).
   */
  get completed(): Promise<void> {
    if (this.#done) return this.#error ? markHandled(Promise.reject(this.#error)) : Promise.resolve();
    return this.#completed ??= markHandled(
      new Promise<void>((resolve, reject) => {
        this.#settle = (error) => (error ? reject(error) : resolve());
      }),
    );
  }

  /** The server's port (Bun's `server.port`). */
  get port(): number {
    return this.#server?.port ?? 0;
  }

  /** The server's address (Bun's `server.hostname`). */
  get hostname(): string {
    return this.#server?.hostname ?? "";
  }

  /** The server's URL (Bun's `server.url`). */
  get url(): URL {
    return this.#server!.url;
  }

  /** Stops the server (Bun's `server.stop()`): see HttpServer.stop(). */
  stop(force?: boolean | { graceMs?: number }): Promise<void> {
    return this.#server?.stop(force) ?? Promise.resolve();
  }

  /** Bun's `server.upgrade(request)`: WebSockets are not supported here, so always false (not upgraded). */
  upgrade(_request?: Request, _options?: unknown): false {
    return false;
  }

  /** @ignore The exchange is over: its response is out (no error), or it never will be. */
  [kFinish](error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#settle?.(error);
  }
}
