/**
 * Bun has no nonblocking FFI calls, so the parked wait runs in this Worker: it blocks in
 * io_uring_enter(fd, 0, min_complete, IORING_ENTER_GETEVENTS) and posts the result back.
 * It never submits: the JS thread owns the submission queue.
 */
import { dlopen, FFIType } from "bun:ffi";

declare const self: Worker;
const IORING_ENTER_GETEVENTS = 1;
let enter: ((fd: number, toSubmit: number, min: number, flags: number, sig: null) => number) | undefined;

self.onmessage = (event: MessageEvent<{ path: string; fd: number; minComplete: number }>) => {
  const { path, fd, minComplete } = event.data;
  enter ??= dlopen(path, {
    io_uring_enter: { args: [FFIType.u32, FFIType.u32, FFIType.u32, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
  }).symbols.io_uring_enter as unknown as typeof enter;
  self.postMessage(enter!(fd, 0, minComplete, IORING_ENTER_GETEVENTS, null));
};
