/**
 * The sockets of this thread still open, closed at the global "unload" event: `deno run --watch`
 * restarts the program in the same process, where sockets opened through FFI outlive it (the
 * restart could not bind its ports, and an old listener took connections nobody would answer).
 */

/** What a socket does at unload: free its port at once (its ring will not run again). */
export interface Unloadable {
  unload(): void;
}

const sockets = new Set<Unloadable>();
// Closed after the sockets: a loop's ring holds what its sockets armed (an accept, a receive), and
// the sockets stay alive, their peers never told, until the ring is torn down.
const loops = new Set<Unloadable>();
let hooked = false;

function closeAll(): void {
  for (const socket of sockets) socket.unload();
  sockets.clear();
  for (const loop of loops) loop.unload();
  loops.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  (globalThis as { addEventListener?: (type: string, fn: () => void) => void }).addEventListener?.("unload", closeAll);
}

/** `socket.unload()` runs at the global "unload" event unless forgotten first. */
export function closeAtUnload(socket: Unloadable): void {
  sockets.add(socket);
  hook();
}

/** The socket closed on its own. */
export function forgetAtUnload(socket: Unloadable): void {
  sockets.delete(socket);
}

/** `loop.unload()` runs at the global "unload" event, after every socket's, unless forgotten first. */
export function closeLoopAtUnload(loop: Unloadable): void {
  loops.add(loop);
  hook();
}

/** The loop closed on its own. */
export function forgetLoopAtUnload(loop: Unloadable): void {
  loops.delete(loop);
}
