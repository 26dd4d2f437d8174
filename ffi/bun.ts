/** The Bun side of the FFI boundary: `bun:ffi` dlopen over liburing.so.2 and libc.so.6. */
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";
import { CORE_SYMBOL, LIBC, libraryNotFound, missingSymbol, uringCandidates } from "./candidates.ts";
import { libcSymbols, type NativeType, type SymbolSpec, uringSymbols } from "./symbols.ts";
import type { LibcSymbols, Native, Ptr, UringSymbols } from "./types.ts";

const bunType: Record<NativeType, FFIType> = {
  i32: FFIType.i32,
  u32: FFIType.u32,
  usize: FFIType.u64,
  ptr: FFIType.ptr,
  void: FFIType.void,
};

/** What a parked wait posts to the waiter Worker: the liburing loaded here, and io_uring_enter's arguments. */
export interface WaitRequest {
  path: string;
  fd: number;
  minComplete: number;
  enterFlags: number;
}

/** A symbol table of `ffi/symbols.ts` as `bun:ffi` declarations (also used by the waiter Worker). */
export function toBun(table: Record<string, SymbolSpec>) {
  const out: Record<string, { args: FFIType[]; returns: FFIType }> = {};
  for (const [name, spec] of Object.entries(table)) {
    out[name] = { args: spec.args.map((a) => bunType[a]), returns: bunType[spec.ret] };
  }
  return out;
}

/** The file at `path` loads and exports `symbol`. */
function exportsSymbol(path: string, symbol: keyof typeof uringSymbols): boolean {
  try {
    dlopen(path, toBun({ [symbol]: uringSymbols[symbol] })).close();
    return true;
  } catch {
    return false;
  }
}

export function load(): Native {
  const override = process.env.URING_LIB || undefined;
  const tried = uringCandidates(override);
  const errors: string[] = [];
  const notLiburing: boolean[] = [];
  let uring: UringSymbols | undefined;
  let uringPath = "";
  for (const path of tried) {
    try {
      uring = dlopen(path, toBun(uringSymbols)).symbols as unknown as UringSymbols;
      uringPath = path;
      break;
    } catch (e) {
      const error = (e as Error).message.split("\n")[0];
      errors.push(error);
      notLiburing.push(missingSymbol(error) !== undefined && !exportsSymbol(path, CORE_SYMBOL));
    }
  }
  if (!uring) throw libraryNotFound(tried, errors, "", override, notLiburing);
  const libc = dlopen(LIBC, toBun(libcSymbols)).symbols as unknown as LibcSymbols;
  const errnoAt = libc.__errno_location() as unknown as number;
  const errnoCell = new Int32Array(toArrayBuffer(errnoAt as never, 0, 4));

  // Parked waits run in Workers (one per concurrent wait), unref'd while idle so they never hold the process.
  const idleWaiters: Worker[] = [];
  const waiterUrl = new URL("./bun_waiter.ts", import.meta.url).href;
  const waitOffThread = (fd: number, minComplete: number, enterFlags: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const worker = idleWaiters.pop() ?? new Worker(waiterUrl);
      worker.ref();
      worker.onmessage = (event: MessageEvent<number>) => {
        worker.unref();
        idleWaiters.push(worker);
        resolve(event.data);
      };
      worker.onerror = (event) => reject(new Error(`uring-buffers waiter worker failed: ${event.message}`));
      worker.postMessage({ path: uringPath, fd, minComplete, enterFlags } satisfies WaitRequest);
    });

  return {
    uring,
    libc,
    uringPath,
    waitOffThread,
    // Bun reads a file-backed stream of a pollable fd from its own epoll loop, on the JS thread: a
    // park then costs no thread hand-off. The stream keeps pulling between reads, and its poll keeps
    // the process alive until close().
    watchReadable: (fd) => {
      const reader = Bun.file(fd).stream().getReader();
      return {
        next: () => reader.read().then(() => undefined),
        close: () => void reader.cancel().catch(() => {}),
      };
    },
    address: (p) => (p === null ? 0 : (p as unknown as number)),
    pointer: (address) => (address === 0 ? null : (address as unknown as Ptr)),
    addressOf: (bytes) => ptr(bytes),
    view: (p, length) => toArrayBuffer(p as unknown as never, 0, length),
    unrefTimer: (timer) => (timer as { unref(): void }).unref(),
    errno: () => errnoCell[0],
  };
}
