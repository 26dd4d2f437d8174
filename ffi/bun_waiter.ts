/**
 * Bun has no nonblocking FFI calls, so the parked wait runs in this Worker: it blocks in
 * io_uring_enter(fd, 0, minComplete, enterFlags) and posts the result back.
 * It never submits: the JS thread owns the submission queue.
 */
import { dlopen } from "bun:ffi";
import { toBun, type WaitRequest } from "./bun.ts";
import { uringSymbols } from "./symbols.ts";
import type { UringSymbols } from "./types.ts";

declare const self: Worker;
let enter: UringSymbols["io_uring_enter"] | undefined;

self.onmessage = (event: MessageEvent<WaitRequest>) => {
  const { path, fd, minComplete, enterFlags } = event.data;
  enter ??= dlopen(path, toBun({ io_uring_enter: uringSymbols.io_uring_enter })).symbols
    .io_uring_enter as unknown as UringSymbols["io_uring_enter"];
  self.postMessage(enter(fd, 0, minComplete, enterFlags, null));
};
