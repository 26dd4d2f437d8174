/** Where liburing and libc are looked for, and the errors when they are not found. */
import { LIBURING_MIN_VERSION, uringSymbols } from "./symbols.ts";

/**
 * `URING_LIB` (a path) alone when set: a library asked for by name that fails to load is an error,
 * not a silent fall-back to another. Else the soname, then the usual Debian/Ubuntu/Fedora paths.
 */
export function uringCandidates(override: string | undefined): string[] {
  const paths = [
    "liburing.so.2",
    "/usr/lib/x86_64-linux-gnu/liburing.so.2",
    "/usr/lib/aarch64-linux-gnu/liburing.so.2",
    "/usr/lib64/liburing.so.2",
    "/usr/lib/liburing.so.2",
    "/usr/local/lib/liburing.so.2",
  ];
  return override ? [override] : paths;
}

export const LIBC = "libc.so.6";

/** The symbol a dlopen error names, if any: the file loaded but lacks a symbol we call. */
export function missingSymbol(error: string): string | undefined {
  return Object.keys(uringSymbols).find((name) => new RegExp(`\\b${name}\\b`).test(error));
}

/**
 * A symbol every liburing.so.2 exports (since 2.0): a file that loads but lacks it is not liburing at
 * all, rather than one too old for us.
 */
export const CORE_SYMBOL = "io_uring_queue_init_params" as const;

/**
 * The error for a liburing that could not be loaded from any of `tried`. `envNote` follows the
 * URING_LIB hint where the runtime could not read the variable; `override` is URING_LIB's value
 * when that was all that was tried; `notLiburing[i]` says the file at `tried[i]` lacks CORE_SYMBOL.
 */
export function libraryNotFound(
  tried: string[],
  errors: string[],
  envNote = "",
  override?: string,
  notLiburing: boolean[] = [],
): Error {
  const tooOld = tried.flatMap((path, i) => {
    if (notLiburing[i]) return [`${path} is not liburing: it lacks ${CORE_SYMBOL}, which every liburing exports.\n`];
    const symbol = missingSymbol(errors[i] ?? "");
    return symbol ? [`${path} is older than liburing ${LIBURING_MIN_VERSION}: it lacks ${symbol}.\n`] : [];
  });
  return new Error(
    `uring-buffers: could not load liburing.so.2 (liburing >= ${LIBURING_MIN_VERSION}).\n` +
      `Tried:\n${tried.map((p, i) => `  ${p}: ${errors[i] ?? ""}`).join("\n")}\n` +
      tooOld.join("") +
      (override
        ? `URING_LIB names ${override}: point it at a liburing ${LIBURING_MIN_VERSION} library file, or unset it ` +
          `to load the system's.`
        : `Install liburing ${LIBURING_MIN_VERSION} or later: sudo apt-get install -y liburing2   ` +
          `(Debian/Ubuntu; Fedora: dnf install liburing)\n` +
          `or point URING_LIB at the library file${envNote}.`),
  );
}
