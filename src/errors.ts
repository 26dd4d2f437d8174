/** Kernel errors as one class carrying errno, its name and the operation; the names in one table. */

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  62: "ETIME",
  71: "EPROTO",
  75: "EOVERFLOW",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  125: "ECANCELED",
};

/** Linux errno values the library branches on. */
export const Errno = {
  EINTR: 4,
  EAGAIN: 11,
  EBADF: 9,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ETIME: 62,
  ENOENT: 2,
  ENOBUFS: 105,
  ECONNRESET: 104,
  ECANCELED: 125,
  EALREADY: 114,
  EPIPE: 32,
  EOPNOTSUPP: 95,
} as const;

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** A failed kernel or libc call: `errno` is positive, `code` its name (`"ENOBUFS"`), `op` what we did. */
export class UringError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly op: string;
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

/** Use of a Ring, pool or socket after close(). */
export class ClosedError extends Error {
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = "ClosedError";
  }
}

/** The submission queue has no free entry and submitting did not make room. */
export class SubmissionQueueFullError extends Error {
  constructor(entries: number) {
    super(`submission queue full (${entries} entries): submit() or reap completions first`);
    this.name = "SubmissionQueueFullError";
  }
}
