/** What this kernel can do, found by asking it (opcode probe) and by trying (buffer-ring flags). */
import { native } from "../ffi/mod.ts";
import * as abi from "./abi.ts";
import { Errno, type UringError } from "./errors.ts";
import { NativeMemory } from "./memory.ts";
import { prepRecvMultishot, setBufferSelect, setMultishotLimit } from "./prep.ts";
import { Ring } from "./ring.ts";

/** `probeFeatures()`: what this kernel's io_uring can do, as one printable object. */
export interface Features {
  /** Opcodes the kernel supports, by name (IORING_OP_* without the prefix). */
  opcodes: string[];
  /** IORING_FEAT_* bits from io_uring_setup. */
  featureBits: number;
  /** IORING_OP_PROVIDE_BUFFERS (5.7): the legacy provided-buffer op. */
  provideBuffers: boolean;
  /** IORING_REGISTER_PBUF_RING with our memory (5.19). */
  bufferRing: boolean;
  /** IOU_PBUF_RING_MMAP: kernel-allocated buffer rings (6.4). */
  bufferRingMmap: boolean;
  /** IOU_PBUF_RING_INC: incremental consumption (6.12). */
  incremental: boolean;
  /** IORING_RECVSEND_BUNDLE (IORING_FEAT_RECVSEND_BUNDLE, 6.10). */
  bundles: boolean;
  /** A byte limit on a multishot recv (`sqe->optlen`, 6.17): it ends once it took that many bytes. */
  multishotLimit: boolean;
  /** Multishot recv / recvmsg (6.0; inferred from SEND_ZC, which came in the same release). */
  multishotRecv: boolean;
  /** Multishot accept (5.19; inferred from IORING_OP_SOCKET, same release). */
  multishotAccept: boolean;
  /** IORING_OP_SEND_ZC (6.0). */
  sendZc: boolean;
  /** COOP_TASKRUN and TASKRUN_FLAG accepted by io_uring_setup (5.19). */
  coopTaskrun: boolean;
  /** SINGLE_ISSUER and DEFER_TASKRUN accepted by io_uring_setup (6.1): what `IoLoop`'s dedicated mode needs. */
  deferTaskrun: boolean;
  /** The liburing file that was loaded. */
  liburing: string;
}

let cached: Features | undefined;

/** io_uring_setup takes these flags (a ring of its own, closed at once). */
function acceptsSetupFlags(flags: number): boolean {
  try {
    new Ring({ entries: 1, flags }).close();
    return true;
  } catch (e) {
    if ((e as UringError).errno === Errno.EINVAL) return false;
    throw e;
  }
}

/**
 * A multishot recv with a byte limit (`sqe->optlen`) passes the kernel's checks. Kernels before 6.17
 * refuse the field with -EINVAL at once; one that takes it gets to the fd (-1 here: -EBADF).
 */
function acceptsMultishotLimit(ring: Ring): boolean {
  const slot = ring.getSqe();
  prepRecvMultishot(ring.sqes, slot, -1, 0, 0, 0);
  setBufferSelect(ring.sqes, slot, 0x7ff);
  setMultishotLimit(ring.sqes, slot, 1);
  ring.sqes.setUserData(slot, 1);
  ring.submitAndWait(1, 1000);
  let result = 0;
  ring.reap((_userData, res) => void (result = res));
  return result !== 0 && result !== -Errno.EINVAL;
}

/** Probes once per process (with a small ring of its own) and returns the same object after that. */
export function probeFeatures(): Features {
  if (cached) return cached;
  const ring = new Ring({ entries: 4 });
  try {
    const supported = new Set<number>();
    const probe = native.uring.io_uring_get_probe_ring(ring.unsafePointer);
    if (probe) {
      const head = new DataView(native.view(probe, abi.PROBE_OPS));
      const opsLen = head.getUint8(abi.PROBE_OPS_LEN);
      const ops = new DataView(native.view(probe, abi.PROBE_OPS + opsLen * abi.PROBE_OP_SIZE));
      for (let i = 0; i < opsLen; i++) {
        const at = abi.PROBE_OPS + i * abi.PROBE_OP_SIZE;
        if (ops.getUint16(at + abi.PROBE_OP_FLAGS, true) & abi.IO_URING_OP_SUPPORTED) supported.add(ops.getUint8(at));
      }
      native.uring.io_uring_free_probe(probe);
    }
    // Kernel-allocated rings are mmap-able only for bgid < 2048: the offset keeps bgid in bits 16..26.
    const bgid = 0x7ff;
    const tryRegister = (flags: number, withMemory: boolean): boolean => {
      const mem = withMemory ? new NativeMemory(4096) : undefined;
      try {
        if (ring.registerBufRing(bgid, 8, flags, mem?.address ?? 0) !== 0) return false;
        if (flags & abi.IOU_PBUF_RING_MMAP) {
          // Registration alone is not enough: the ring must also be mappable at its offset.
          try {
            ring.mapBufRing(bgid, 8).free();
          } catch {
            ring.unregisterBufRing(bgid);
            return false;
          }
        }
        ring.unregisterBufRing(bgid);
        return true;
      } finally {
        mem?.free();
      }
    };
    const has = (op: number) => supported.has(op);
    const bufferRing = tryRegister(0, true);
    const bufferRingMmap = bufferRing && tryRegister(abi.IOU_PBUF_RING_MMAP, false);
    cached = {
      opcodes: [...supported].sort((a, b) => a - b).map((op) => abi.OPCODE_NAMES[op] ?? `OP_${op}`),
      featureBits: ring.features,
      provideBuffers: has(abi.IORING_OP_PROVIDE_BUFFERS),
      bufferRing,
      bufferRingMmap,
      incremental: bufferRing && tryRegister(abi.IOU_PBUF_RING_INC, true),
      bundles: (ring.features & abi.IORING_FEAT_RECVSEND_BUNDLE) !== 0,
      multishotLimit: has(abi.IORING_OP_SEND_ZC) && acceptsMultishotLimit(ring),
      multishotRecv: has(abi.IORING_OP_SEND_ZC),
      multishotAccept: has(abi.IORING_OP_SOCKET),
      sendZc: has(abi.IORING_OP_SEND_ZC),
      coopTaskrun: (ring.setupFlags & abi.IORING_SETUP_COOP_TASKRUN) !== 0,
      deferTaskrun: acceptsSetupFlags(abi.IORING_SETUP_SINGLE_ISSUER | abi.IORING_SETUP_DEFER_TASKRUN),
      liburing: native.uringPath,
    };
    return cached;
  } finally {
    ring.close();
  }
}
