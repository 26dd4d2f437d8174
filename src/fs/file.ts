/** Opening files for ring reads (libc open through FFI; the runtimes hand out no fds). */
import { native } from "../../ffi/mod.ts";
import { O_CLOEXEC, O_RDONLY } from "../abi.ts";
import { UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";

const encoder = new TextEncoder();

/** open(2) read-only by default; returns the fd. */
export function openFile(path: string, flags = O_RDONLY, mode = 0o644): number {
  if (typeof path !== "string" || path.length === 0) throw new TypeError(`path must be a non-empty string`);
  const bytes = encoder.encode(path);
  if (bytes.includes(0)) throw new TypeError(`path must not contain NUL bytes`);
  const mem = new NativeMemory(bytes.length + 1);
  try {
    mem.bytes.set(bytes);
    mem.bytes[bytes.length] = 0;
    const fd = native.libc.open(mem.ptr, flags | O_CLOEXEC, mode);
    if (fd < 0) throw new UringError("open", native.errno(), path);
    return fd;
  } finally {
    mem.free();
  }
}
