/** Opening files for ring reads (libc open through FFI; the runtimes hand out no fds). */
import { native } from "../../ffi/mod.ts";
import { O_CLOEXEC, O_RDONLY } from "../abi.ts";
import { UringError } from "../errors.ts";
import { NativeMemory } from "../memory.ts";
import { describe, numberError } from "../options.ts";

const encoder = new TextEncoder();

/**
 * open(2) a file (close-on-exec); returns its fd, e.g. for a StreamReceiver with op `"read"`.
 *
 * @param path The file's path (relative to the working directory).
 * @param flags `O_*` flags ORed together (`abi.O_RDONLY`, the default; `abi.O_WRONLY | abi.O_CREAT |
 *   abi.O_TRUNC`, ...); O_CLOEXEC is always added.
 * @param mode Permission bits for a file that O_CREAT creates. Default 0o644.
 *
 * @example
 * ```ts
 * import { closeFd, openFile } from "uring-buffers/sys";
 *
 * const fd = openFile("/etc/hostname");
 * // ... read it through the ring (StreamReceiver with { op: "read" }, or prepRead)
 * closeFd(fd);
 * ```
 *
 * @throws {TypeError} for an empty path or one containing NUL, or flags or a mode that are not numbers.
 * @throws {RangeError} for flags that are not O_* bits, or a mode that is not an integer from 0 to 0o7777.
 * @throws {UringError} when open fails (`ENOENT`, `EACCES`, ...), naming the path.
 */
export function openFile(path: string, flags: number = O_RDONLY, mode: number = 0o644): number {
  if (typeof path !== "string" || path.length === 0) throw new TypeError(`path must be a non-empty string`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0x7fffffff) {
    throw numberError(flags, `flags must be O_* flags ORed together (abi.O_RDONLY, ...), got ${describe(flags)}`);
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw numberError(mode, `mode must be permission bits from 0 to 0o7777, got ${describe(mode)}`);
  }
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
