/**
 * Checks of option objects given to public entry points: an unknown key is a TypeError naming it and
 * the nearest valid key (a typo such as `{ prot: 9000 }` must not silently mean "any port"), and a
 * value of the wrong type is reported with the type it had.
 */

/** Throws TypeError unless `options` is an object whose keys are all in `known`. */
export function checkOptionKeys(what: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`${what} needs an options object, got ${describe(options)}`);
  }
  // for-in with an own-property check rather than Object.keys: no array per call (it runs at every accept).
  for (const key in options) {
    if (!Object.hasOwn(options, key) || known.includes(key)) continue;
    const near = nearest(key, known);
    throw new TypeError(
      `${what}: unknown option "${key}"${near ? ` (did you mean "${near}"?)` : ""}; valid: ${known.join(", ")}`,
    );
  }
}

/** Throws TypeError unless `handler` is an object with each of `methods` a function. */
export function checkHandler(what: string, handler: unknown, methods: readonly string[]): void {
  if (handler === null || typeof handler !== "object") {
    throw new TypeError(`${what} needs a handler object with ${methods.join(" and ")}, got ${describe(handler)}`);
  }
  // Indexed: for-of leaves an iterator and its results behind in code not yet optimized (every accept).
  for (let i = 0; i < methods.length; i++) {
    const m = methods[i];
    const f = (handler as Record<string, unknown>)[m];
    if (typeof f !== "function") throw new TypeError(`${what}: handler.${m} must be a function, got ${describe(f)}`);
  }
}

/** Checks an optional AbortSignal option: a TypeError naming what it got otherwise. */
export function checkSignal(signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
  }
}

/** Checks an optional boolean option `name`: a TypeError naming what it got otherwise. */
export function checkBoolean(name: string, value: unknown): void {
  // null is the default, as for number and pool options.
  if (value != null && typeof value !== "boolean") {
    throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  }
}

/** The longest timeout in seconds a timer can keep (setTimeout's limit, 2^31 ms). */
export const MAX_TIMEOUT_SECONDS = 2 ** 31 / 1000;

/** Checks a timeout in seconds: a number in [0, MAX_TIMEOUT_SECONDS], else an error naming `name` (see numberError). */
export function checkSeconds(name: string, seconds: number): void {
  if (typeof seconds !== "number" || !(seconds >= 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw numberError(
      seconds,
      `${name} must be a number of seconds in [0, ${MAX_TIMEOUT_SECONDS}], got ${describe(seconds)}`,
    );
  }
}

/**
 * The error for a bad numeric argument: a TypeError when it is not a number at all (a string, undefined
 * where a value was due), a RangeError when it is a number out of range, as the platform's own APIs do.
 */
export function numberError(value: unknown, message: string): TypeError | RangeError {
  return typeof value === "number" ? new RangeError(message) : new TypeError(message);
}

/** An fd argument: an integer in [0, 2^31 - 1] (on Bun, FFI would take `true` as fd 1). */
export function checkFd(fd: number): void {
  // An fd is a C int: Bun's FFI would wrap a larger number (2^32 + 1 became fd 1, stdout).
  if (!Number.isInteger(fd) || fd < 0 || fd > MAX_FD) {
    throw numberError(fd, `fd must be an integer in [0, ${MAX_FD}], got ${describe(fd)}`);
  }
}

const MAX_FD = 2 ** 31 - 1;

/** `value` as a message shows it: its type, and the value itself when short. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") {
    return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return `${typeof value} ${String(value)}`;
  }
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (typeof value !== "object") return typeof value;
  // A class's instance by its class's name (an ArrayBuffer, a DataView, a Ring): "an object" hides the mistake.
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  if (typeof name !== "string" || name === "" || name === "Object") return "an object";
  return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
}

/** An object literal's kind (or Object.create(null)): options, not a class's instance (a Map, an array, a pool). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The known key `key` most likely meant: one it abbreviates (host: hostname), else the closest by edit distance if close enough to be a typo. */
function nearest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const extended = known.find((k) => k.toLowerCase().startsWith(lower));
  if (extended && lower.length >= 3) return extended;
  // The singular of a plural (entry: entries), a plural of a key's start (hosts: hostname), and the
  // last word of a longer key (size: bufferSize).
  const stem = stemOf(lower);
  const sameStem = known.find((k) => stemOf(k.toLowerCase()) === stem) ??
    (stem.length >= 3 ? known.find((k) => k.toLowerCase().startsWith(stem)) : undefined);
  if (sameStem) return sameStem;
  const ending = known.find((k) => k.toLowerCase().endsWith(lower));
  if (ending && lower.length >= 4) return ending;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function stemOf(word: string): string {
  return word.replace(/(?:ies|y|s)$/, "");
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment: insertions, deletions, substitutions, and swaps of neighbours (prot/port).
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      current[j] = d;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length];
}
