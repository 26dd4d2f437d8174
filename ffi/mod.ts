/**
 * The FFI boundary's one entry point: picks the runtime once and loads liburing + libc.
 * Everything above `ffi/` imports `native` from here and never asks which runtime it is on.
 */
import type { Native } from "./types.ts";

export type { FdWatch, Native, Ptr } from "./types.ts";

async function loadNative(): Promise<Native> {
  if ("Deno" in globalThis) return (await import("./deno.ts")).load();
  // Bun: a computed specifier keeps Deno's type checker away from `bun:ffi`.
  const bunLoader = new URL("./bun.ts", import.meta.url).href;
  return ((await import(bunLoader)) as typeof import("./deno.ts")).load();
}

export const native: Native = await loadNative();
