/** Kernel errors as one class carrying errno, its name and the operation; the errnos in one table. */
import { describe, numberError } from "./options.ts";

/**
 * Linux errno values, all of them (asm-generic/errno-base.h, asm-generic/errno.h; x86-64 and arm64
 * use these; aliases such as EWOULDBLOCK are left out). UringError.code is the name of one of these.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
} as const;

/**
 * What UringError.code holds: a name from {@link Errno}, or `E<number>` for an errno it lacks. Typed so
 * that a misspelt comparison (`e.code === "ECONREFUSED"`) is a compile error.
 */
export type ErrnoName = keyof typeof Errno | `E${number}`;

const ERRNO_NAMES: Record<number, ErrnoName> = Object.fromEntries(
  Object.entries(Errno).map(([name, errno]) => [errno, name as ErrnoName]),
);

/**
 * The name of `errno` (`"ENOBUFS"`), or `E<number>` for one not in {@link Errno}. A CQE's negative
 * `res` (`-105`) names the same errno as its positive value.
 *
 * @throws {TypeError} for anything but a number.
 * @throws {RangeError} for a number that is not an integer.
 */
export function errnoName(errno: number): ErrnoName {
  if (!Number.isInteger(errno)) throw numberError(errno, `errno must be an integer, got ${describe(errno)}`);
  const positive = errno < 0 ? -errno : errno;
  return ERRNO_NAMES[positive] ?? `E${positive}`;
}

/** A failed kernel or libc call: `errno` is positive, `code` its name (`"ENOBUFS"`), `op` what we did. */
export class UringError extends Error {
  /** The positive errno (`Errno.ECONNRESET`, ...). */
  readonly errno: number;
  /** The errno's name (`"ECONNRESET"`), or `E<number>` for one not in {@link Errno}. */
  readonly code: ErrnoName;
  /** What failed: the operation or call (`"recv"`, `"connect"`, `"io_uring_queue_init_params"`, ...). */
  readonly op: string;
  /**
   * The message reads `${op} failed: ${code} (errno ${errno})`, then the detail if any.
   *
   * @param op What failed.
   * @param errno The positive errno.
   * @param detail Appended to the message (the fd, the address, ...).
   */
  constructor(op: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${op} failed: ${code} (errno ${errno})${detail ? `: ${detail}` : ""}`);
    this.name = "UringError";
    this.errno = errno;
    this.code = code;
    this.op = op;
  }
}

/** Throws a UringError for a negative `-errno` return, else returns it. */
export function check(op: string, ret: number): number {
  if (ret < 0) throw new UringError(op, -ret);
  return ret;
}

/** A thrown value as an Error (handlers may throw anything). */
export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/**
 * `promise`, marked handled: a program that drops it meets no unhandled rejection (which ends a Deno
 * process), and one that awaits it still sees the rejection.
 */
export function markHandled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Use of a Ring, pool or socket after close(). */
export class ClosedError extends Error {
  /**
   * The message reads `${what} is closed`.
   *
   * @param what The closed thing (`"Ring"`, `"BufferPool"`, ...).
   */
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = "ClosedError";
  }
}

/**
 * The running kernel lacks an io_uring feature that was asked for (not a bad argument: the same
 * call works on a newer kernel). Names the feature, the kernel version that brought it, and what to
 * use instead when there is something.
 */
export class UnsupportedError extends Error {
  /** The io_uring feature, by its kernel name (e.g. "IORING_RECVSEND_BUNDLE"). */
  readonly feature: string;
  /** The first Linux version that has it (e.g. "6.10"). */
  readonly since: string;

  /**
   * The message reads `this kernel lacks ${feature} (Linux ${since}+)`, then the hint if any.
   *
   * @param feature The feature's kernel name.
   * @param since The first Linux version that has it.
   * @param hint What to use instead, appended to the message.
   */
  constructor(feature: string, since: string, hint = "") {
    super(`this kernel lacks ${feature} (Linux ${since}+)${hint ? `; ${hint}` : ""}`);
    this.name = "UnsupportedError";
    this.feature = feature;
    this.since = since;
  }
}

/** The submission queue has no free entry and submitting did not make room. */
export class SubmissionQueueFullError extends Error {
  /**
   * The message names the SQ's size and what to do.
   *
   * @param entries The SQ's size.
   * @param inChain The queue filled inside a linked chain (the last SQE links on), which cannot be
   *   submitted without its rest.
   */
  constructor(entries: number, inChain = false) {
    super(
      inChain
        ? `submission queue full (${entries} entries) inside a linked chain: a chain cannot be submitted ` +
          `without its rest: submit() before starting a chain, end it sooner, or make the ring larger`
        : `submission queue full (${entries} entries): submit() or reap completions first`,
    );
    this.name = "SubmissionQueueFullError";
  }
}
