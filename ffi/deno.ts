/** The Deno side of the FFI boundary: `Deno.dlopen` over liburing.so.2 and libc.so.6. */
import { CORE_SYMBOL, LIBC, libraryNotFound, missingSymbol, uringCandidates } from "./candidates.ts";
import { libcSymbols, type NativeType, type SymbolSpec, uringSymbols } from "./symbols.ts";
import type { LibcSymbols, Native, Ptr, UringSymbols } from "./types.ts";

/**
 * The part of Deno's API this file uses, typed here so that the package type-checks where Deno's
 * types are absent (a Bun project checks every module it imports, this one included).
 */
type DenoNativeType = "i32" | "u32" | "usize" | "pointer" | "buffer" | "void";
type DenoSymbol = { parameters: DenoNativeType[]; result: DenoNativeType; nonblocking?: boolean };
type DenoLibraryInterface = Record<string, DenoSymbol>;
type DenoPointer = object;
interface DenoLibrary {
  // deno-lint-ignore no-explicit-any
  symbols: Record<string, (...args: any[]) => any>;
  close(): void;
}
interface DenoApi {
  dlopen(path: string, symbols: DenoLibraryInterface): DenoLibrary;
  errors: { NotCapable?: new () => Error; PermissionDenied: new () => Error };
  permissions: { querySync(d: { name: "env"; variable: string }): { state: string } };
  env: { get(name: string): string | undefined };
  UnsafePointerView: { getArrayBuffer(p: DenoPointer, length: number): ArrayBuffer };
  UnsafePointer: {
    value(p: DenoPointer): bigint | number;
    create(address: bigint): DenoPointer | null;
    of(bytes: Uint8Array): DenoPointer | null;
  };
  unrefTimer(id: number): void;
}
const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

const denoType = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  ptr: "pointer",
  void: "void",
} as const satisfies Record<NativeType, DenoNativeType>;

function toDeno(table: Record<string, SymbolSpec>, nonblocking = false): DenoLibraryInterface {
  const out: DenoLibraryInterface = {};
  for (const [name, spec] of Object.entries(table)) {
    out[name] = {
      parameters: spec.args.map((a) => denoType[a]),
      result: denoType[spec.ret],
      nonblocking,
    };
  }
  return out;
}

function open(path: string, table: DenoLibraryInterface): DenoLibrary {
  try {
    return Deno.dlopen(path, table);
  } catch (e) {
    const { NotCapable, PermissionDenied } = Deno.errors;
    if ((NotCapable && e instanceof NotCapable) || e instanceof PermissionDenied) {
      throw new Error(`uring-buffers needs FFI: run Deno with --allow-ffi (${(e as Error).message})`);
    }
    throw e;
  }
}

/** The file at `path` loads and exports `symbol`. */
function exportsSymbol(path: string, symbol: keyof typeof uringSymbols): boolean {
  try {
    open(path, toDeno({ [symbol]: uringSymbols[symbol] })).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Keeps liburing mapped until the process is gone (dlopen with RTLD_NODELETE). Deno closes its
 * libraries when the runtime shuts down, and a parked waiter may still be inside liburing's
 * io_uring_enter on its blocking thread (a process ended by an uncaught error does not stop its
 * servers first): returning into unmapped code killed the process with SIGSEGV.
 */
function pinLoaded(path: string): void {
  const dl = Deno.dlopen(LIBC, { dlopen: { parameters: ["buffer", "i32"], result: "pointer" } });
  const RTLD_NOW_NODELETE = 0x2 | 0x1000;
  dl.symbols.dlopen(new TextEncoder().encode(path + "\0"), RTLD_NOW_NODELETE);
  dl.close();
}

export function load(): Native {
  // The override is read only where env access was granted; asking would prompt or throw.
  const envAllowed = Deno.permissions.querySync({ name: "env", variable: "URING_LIB" }).state === "granted";
  const override = (envAllowed && Deno.env.get("URING_LIB")) || undefined;
  const tried = uringCandidates(override);
  const errors: string[] = [];
  const notLiburing: boolean[] = [];
  let uringLib: DenoLibrary | undefined;
  let uringPath = "";
  for (const path of tried) {
    try {
      uringLib = open(path, toDeno(uringSymbols));
      uringPath = path;
      break;
    } catch (e) {
      if ((e as Error).message.startsWith("uring-buffers needs FFI")) throw e;
      const error = (e as Error).message.split("\n")[0];
      errors.push(error);
      notLiburing.push(missingSymbol(error) !== undefined && !exportsSymbol(path, CORE_SYMBOL));
    }
  }
  if (!uringLib) {
    throw libraryNotFound(
      tried,
      errors,
      envAllowed ? "" : " (Deno reads it only with --allow-env=URING_LIB)",
      override,
      notLiburing,
    );
  }
  const libc = open(LIBC, toDeno(libcSymbols)).symbols as unknown as LibcSymbols;
  pinLoaded(uringPath);
  // A second handle whose io_uring_enter runs on Deno's blocking thread pool: the parked waiter.
  const waiter = open(uringPath, {
    io_uring_enter: toDeno({ io_uring_enter: uringSymbols.io_uring_enter }, true).io_uring_enter,
  });
  const waitEnter = waiter.symbols.io_uring_enter as unknown as (
    ...args: Parameters<UringSymbols["io_uring_enter"]>
  ) => Promise<number>;

  const errnoCell = new Int32Array(
    Deno.UnsafePointerView.getArrayBuffer(libc.__errno_location() as unknown as DenoPointer, 4),
  );

  return {
    uring: uringLib.symbols as unknown as UringSymbols,
    libc,
    uringPath,
    waitOffThread: (fd, minComplete, enterFlags) => waitEnter(fd, 0, minComplete, enterFlags, null),
    watchReadable: undefined, // Deno has no API that puts a foreign fd in its event loop
    address: (p) => (p === null ? 0 : Number(Deno.UnsafePointer.value(p as unknown as DenoPointer))),
    pointer: (address) => Deno.UnsafePointer.create(BigInt(address)) as unknown as Ptr | null,
    addressOf: (bytes) => {
      const p = Deno.UnsafePointer.of(bytes);
      return p === null ? 0 : Number(Deno.UnsafePointer.value(p));
    },
    unrefTimer: (timer) => Deno.unrefTimer(timer as number),
    view: (p, length) => Deno.UnsafePointerView.getArrayBuffer(p as unknown as DenoPointer, length),
    errno: () => errnoCell[0],
  };
}
