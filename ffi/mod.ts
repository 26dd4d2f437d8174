/**
 * The FFI boundary's one entry point: picks the runtime once and loads liburing + libc.
 * Everything above `ffi/` imports `native` from here and never asks which runtime it is on.
 */
import type { Native } from "./types.ts";

export type { FdWatch, Native, Ptr } from "./types.ts";

async function loadNative(): Promise<Native> {
  if ("Deno" in globalThis) return (await import("./deno.ts")).load();
  // Bun: a computed specifier keeps Deno's type checker away from `bun:ffi`.
  const bunLoader = new URL("./bun.ts", import.meta.url);
  const bunLoaderPath = decodeURIComponent(bunLoader.pathname);
  let loader: typeof import("./deno.ts");
  try {
    loader = await import(bunLoader.href);
  } catch (e) {
    // A bundle (`bun build`) moved this file away from its loader, which the bundler could not follow.
    if (!String((e as Error)?.message).includes(bunLoaderPath)) throw e;
    throw new Error(
      `uring-buffers cannot run from a bundle: its Bun FFI loader is picked at run time and is not beside the ` +
        `bundled code (${bunLoaderPath} is missing). Run the program with bun without \`bun build\`, ` +
        `importing "uring-buffers" from node_modules (or the sources)`,
      { cause: e },
    );
  }
  return loader.load();
}

export const native: Native = await loadNative();
