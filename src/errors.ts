/** Kernel errors as one class carrying errno, its name and the operation; the errnos in one table. */

/**
 * Linux errno values (asm-generic/errno-base.h, errno.h) for every errno the library branches on,
 * reports or documents. UringError.code is the name of one of these.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EPIPE: 32,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ELOOP: 40,
  ETIME: 62,
  EPROTO: 71,
  EOVERFLOW: 75,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
} as const;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Errno).map(([name, errno]) => [errno, name]),
);

/** The name of `errno` (`"ENOBUFS"`), or `E<number>` for one not in {@link Errno}. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** A failed kernel or libc call: `errno` is positive, `code` its name (`"ENOBUFS"`), `op` what we did. */
export class UringError extends Error {
  /** The positive errno (`Errno.ECONNRESET`, ...). */
  readonly errno: number;
  /** The errno's name (`"ECONNRESET"`), or `E<number>` for one not in {@link Errno}. */
  readonly code: string;
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
   */
  constructor(entries: number) {
    super(`submission queue full (${entries} entries): submit() or reap completions first`);
    this.name = "SubmissionQueueFullError";
  }
}
