/**
 * The sockets of this thread still open, closed at the global "unload" event: `deno run --watch`
 * restarts the program in the same process, where sockets opened through FFI outlive it (the
 * restart could not bind its ports, and an old listener took connections nobody would answer).
 */

/** What a socket does at unload: free its port at once (its ring will not run again). */
export interface Unloadable {
  unload(): void;
}

const open = new Set<Unloadable>();
let hooked = false;

function closeAll(): void {
  for (const socket of open) socket.unload();
  open.clear();
}

/** `socket.unload()` runs at the global "unload" event unless forgotten first. */
export function closeAtUnload(socket: Unloadable): void {
  open.add(socket);
  if (hooked) return;
  hooked = true;
  (globalThis as { addEventListener?: (type: string, fn: () => void) => void }).addEventListener?.("unload", closeAll);
}

/** The socket closed on its own. */
export function forgetAtUnload(socket: Unloadable): void {
  open.delete(socket);
}
