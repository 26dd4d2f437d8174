/**
 * UDP sockets on an IoLoop: datagrams arrive through multishot recvmsg into a BufferPool (each with
 * its source address), and go out with SENDMSG to a destination, one datagram per SQE, in order.
 */
import type { Lease } from "../buffers/lease.ts";
import { BufferPool, type BufferPoolOptions } from "../buffers/pool.ts";
import { ClosedError, UringError } from "../errors.ts";
import { prepSendmsg } from "../prep.ts";
import { type Datagram, DatagramReceiver } from "../receiver.ts";
import { getDefaultLoop, type IoLoop } from "./loop.ts";
import { checkEndpoint, encodeSockaddr, type SocketAddress } from "./sockaddr.ts";
import { SEND_CHUNK_SIZE } from "./send_arena.ts";
import { closeFd, localAddress, udpBind } from "./socket.ts";

export interface UdpHandlers {
  /** One datagram; release `datagram.lease` when done with it (or send it on, which releases it). */
  message(socket: UdpSocket, datagram: Datagram): void;
  /** A receive or send failed; the socket keeps working unless the receive itself ended. */
  error?(socket: UdpSocket, error: UringError): void;
}

export interface UdpOptions {
  host?: string;
  port?: number;
  loop?: IoLoop;
  /** Receive pool: existing, or options for one owned by the socket (default 256 x 2 KiB). */
  pool?: BufferPool | BufferPoolOptions;
  handlers: UdpHandlers;
}

const MAX_DATAGRAM = 65507;

interface Outgoing {
  chunks: number[]; // arena chunks holding copied bytes
  lease: Lease | undefined;
  leaseOffset: number;
  length: number;
  address: string;
  port: number;
}

export class UdpSocket {
  readonly fd: number;
  readonly host: string;
  readonly port: number;
  readonly loop: IoLoop;
  readonly pool: BufferPool;
  readonly #ownsPool: boolean;
  readonly #handlers: UdpHandlers;
  readonly #receiver: DatagramReceiver;
  readonly #token: number;
  readonly #queue: Outgoing[] = [];
  #block = -1;
  #closed = false;
  #done = false;

  constructor(options: UdpOptions) {
    if (typeof options?.handlers?.message !== "function") {
      throw new TypeError("bindUdp() needs handlers with a message(socket, datagram) function");
    }
    this.loop = options.loop ?? getDefaultLoop();
    this.fd = udpBind(options.host ?? "127.0.0.1", options.port ?? 0);
    const local = localAddress(this.fd);
    this.host = local.address;
    this.port = local.port;
    this.#handlers = options.handlers;
    try {
      const { pool, owned } = this.loop.resolvePool(options.pool, { bufferSize: 2048, count: 256 });
      this.pool = pool;
      this.#ownsPool = owned;
    } catch (e) {
      closeFd(this.fd);
      throw e;
    }
    this.#token = this.loop.reactor.register({ complete: (res) => this.#sent(res) });
    this.#receiver = new DatagramReceiver(this.pool, this.fd, {
      message: (d) => this.#handlers.message(this, d),
      end: (error) => error && this.#handlers.error?.(this, error),
    }).start();
    this.loop.driver.ref();
  }

  /**
   * Queues one datagram. Bytes are copied; a Lease, or a received Datagram's payload, is sent from
   * its buffer without a copy and released once sent. `to` defaults to a Datagram's sender.
   */
  send(data: Uint8Array | Lease | Datagram, to?: SocketAddress | { address: string; port: number }): void {
    let lease: Lease | undefined;
    let leaseOffset = 0;
    let length: number;
    if (data instanceof Uint8Array) {
      length = data.length;
    } else if ("payload" in data) {
      to ??= data.from ?? undefined;
      lease = data.lease;
      leaseOffset = data.payload.byteOffset - lease.bytes.byteOffset;
      length = data.payload.length;
    } else {
      lease = data;
      length = data.length;
    }
    try {
      if (this.#closed) throw new ClosedError("UdpSocket");
      if (!to) throw new TypeError("send() needs a destination");
      if (length > MAX_DATAGRAM) {
        throw new RangeError(`a UDP datagram holds at most ${MAX_DATAGRAM} bytes, got ${length}`);
      }
      checkEndpoint(to.address, to.port);
    } catch (e) {
      lease?.release(); // send() took the lease over, so a refused one goes back to its pool
      throw e;
    }
    const out: Outgoing = { chunks: [], lease, leaseOffset, length, address: to.address, port: to.port };
    if (!lease) {
      const bytes = data as Uint8Array;
      const arena = this.loop.arena;
      for (let at = 0; at < length || out.chunks.length === 0; at += SEND_CHUNK_SIZE) {
        const chunk = arena.take();
        arena.bytes(chunk).set(bytes.subarray(at, at + SEND_CHUNK_SIZE));
        out.chunks.push(chunk);
      }
    }
    this.#push(out);
  }

  #push(out: Outgoing): void {
    this.#queue.push(out);
    if (this.#block < 0) this.#sendNext();
  }

  #sendNext(): void {
    const out = this.#queue[0];
    const blocks = this.loop.iovBlocks;
    const block = this.#block = blocks.take();
    if (out.lease) {
      blocks.setIov(block, 0, out.lease.address + out.leaseOffset, out.length);
    } else {
      for (let i = 0; i < out.chunks.length; i++) {
        const n = Math.min(SEND_CHUNK_SIZE, out.length - i * SEND_CHUNK_SIZE);
        blocks.setIov(block, i, this.loop.arena.address(out.chunks[i]), n);
      }
    }
    const nameLength = encodeSockaddr(blocks.nameView(block), 0, out.address, out.port);
    blocks.setHeader(block, out.lease ? 1 : out.chunks.length, nameLength);
    const reactor = this.loop.reactor;
    prepSendmsg(reactor.ring.sqes, reactor.prepare(this.#token), this.fd, blocks.address(block), 0);
  }

  #sent(res: number): void {
    this.loop.iovBlocks.give(this.#block);
    this.#block = -1;
    const out = this.#queue.shift()!;
    this.#free(out);
    if (res < 0 && !this.#closed) {
      this.#handlers.error?.(this, new UringError("sendmsg", -res, `to ${out.address}:${out.port}`));
    }
    if (this.#queue.length > 0) {
      if (this.#closed) this.#drop();
      else this.#sendNext();
    } else if (this.#closed) {
      this.#finish();
    }
  }

  #free(out: Outgoing): void {
    if (out.lease && !out.lease.released) out.lease.release();
    for (const c of out.chunks) this.loop.arena.give(c);
  }

  #drop(): void {
    for (const out of this.#queue.splice(0)) this.#free(out);
    this.#finish();
  }

  /** Stops receiving, drops unsent datagrams and closes the socket once nothing is in flight. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#receiver.stop(() => this.#finish());
    if (this.#block < 0) this.#drop();
  }

  #finish(): void {
    if (this.#done || !this.#receiver.finished || this.#block >= 0) return;
    this.#done = true;
    for (const out of this.#queue.splice(0)) this.#free(out);
    this.loop.reactor.unregister(this.#token);
    closeFd(this.fd);
    if (this.#ownsPool) this.pool.close();
    this.loop.driver.unref();
  }
}

/** Binds a UDP socket and starts receiving. */
export function bindUdp(options: UdpOptions): UdpSocket {
  return new UdpSocket(options);
}
