/** Where liburing and libc are looked for, and the errors when they are not found. */

/** `URING_LIB` (a path) first, then the soname, then the usual Debian/Ubuntu/Fedora paths. */
export function uringCandidates(override: string | undefined): string[] {
  const paths = [
    "liburing.so.2",
    "/usr/lib/x86_64-linux-gnu/liburing.so.2",
    "/usr/lib/aarch64-linux-gnu/liburing.so.2",
    "/usr/lib64/liburing.so.2",
    "/usr/lib/liburing.so.2",
    "/usr/local/lib/liburing.so.2",
  ];
  return override ? [override, ...paths] : paths;
}

export const LIBC = "libc.so.6";

export function libraryNotFound(tried: string[], errors: string[]): Error {
  return new Error(
    `uring-buffers: could not load liburing.so.2 (liburing >= 2.2).\n` +
      `Tried:\n${tried.map((p, i) => `  ${p}: ${errors[i] ?? ""}`).join("\n")}\n` +
      `Install it with: sudo apt-get install -y liburing2   (Debian/Ubuntu; Fedora: dnf install liburing)\n` +
      `or point URING_LIB at the library file.`,
  );
}
