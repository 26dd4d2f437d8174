/**
 * The runtime-neutral FFI boundary. `ffi/deno.ts` and `ffi/bun.ts` each implement {@link Native};
 * nothing outside `ffi/` imports a runtime or knows which one it runs on.
 */
import type { libcSymbols, SymbolSpec, uringSymbols } from "./symbols.ts";

/** An opaque native pointer (a `Deno.PointerObject` on Deno, a number on Bun). */
export type Ptr = { readonly __nativePointer: unique symbol };

type ArgType<K> = K extends "ptr" ? Ptr | null : number;
type RetType<K> = K extends "ptr" ? Ptr | null : K extends "void" ? void : number;
type ArgTypes<A> = { -readonly [I in keyof A]: ArgType<A[I]> };

/** The callable form of a symbol table in `ffi/symbols.ts`. */
export type Bound<T extends Record<string, SymbolSpec>> = {
  readonly [K in keyof T]: (
    ...args: ArgTypes<T[K]["args"]> extends infer P extends unknown[] ? P : never
  ) => RetType<T[K]["ret"]>;
};

export type UringSymbols = Bound<typeof uringSymbols>;
export type LibcSymbols = Bound<typeof libcSymbols>;

/** A readable fd watched by the runtime's event loop (Native.watchReadable). */
export interface FdWatch {
  /** Resolves once the fd has been readable and its data (an eventfd's counter) was consumed. */
  next(): Promise<void>;
  /** Stops watching (the fd stays open: its owner closes it). */
  close(): void;
}

export interface Native {
  /** liburing.so.2, bound with the prototypes of `uringSymbols`. */
  readonly uring: UringSymbols;
  /** libc.so.6, bound with the prototypes of `libcSymbols`. */
  readonly libc: LibcSymbols;
  /**
   * `io_uring_enter(ringFd, 0, minComplete, enterFlags, NULL)` run off the JS thread (Deno: a
   * nonblocking FFI call; Bun: a waiter Worker), so the event loop keeps turning while the ring
   * waits; resolves with the call's return value. It never submits: the JS thread owns the SQ.
   */
  readonly waitOffThread: (ringFd: number, minComplete: number, enterFlags: number) => Promise<number>;
  /**
   * Watches a readable fd (an eventfd) from the runtime's own event loop, where the runtime can
   * (Bun); undefined where it cannot (Deno), and parked waits then use waitOffThread.
   */
  readonly watchReadable: ((fd: number) => FdWatch) | undefined;
  /** The address a pointer holds (user-space addresses fit in 2^53). */
  address(p: Ptr | null): number;
  /**
   * The address of `bytes`' first byte, for the kernel to read in place. Its memory stays where it is
   * while the array is reachable (V8 keeps only arrays of up to 64 bytes in its moving heap, and pins
   * those once asked; JavaScriptCore moves none).
   */
  addressOf(bytes: Uint8Array): number;
  /** A pointer to `address`, or null for 0. */
  pointer(address: number): Ptr | null;
  /** An ArrayBuffer over `length` bytes of native memory at `p` (not owned: the memory must outlive it). */
  view(p: Ptr, length: number): ArrayBuffer;
  /** The calling thread's `errno`. Read it right after the libc call that failed. */
  errno(): number;
  /** Lets the process exit while this timer (from setTimeout/setInterval) is pending. */
  unrefTimer(timer: unknown): void;
  /** Library path that was loaded for liburing, for diagnostics. */
  readonly uringPath: string;
}
