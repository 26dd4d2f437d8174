/**
 * `Range: bytes=...` of a GET for a file (RFC 9110 14.2): one satisfiable range gets a 206 with that
 * part, a range set none of whose ranges is satisfiable a 416. What is served whole instead (RFC 9110
 * lets a server ignore Range): several ranges (a multipart answer is not made; empty list elements do
 * not count), another unit, a malformed value, and any request with `If-Range` (no validator goes
 * out, so none can match).
 */

/** The first and last byte of the part to send (inclusive). */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** A range set with no satisfiable range: 416. */
export const UNSATISFIABLE = "unsatisfiable";

const DIGITS = /^\d+$/;

/** The Range a request's flat header list asks of a file of `size` bytes (> 0); undefined: send it whole. */
export function requestedRange(headers: string[], size: number): ByteRange | typeof UNSATISFIABLE | undefined {
  let range: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase();
    if (name === "if-range") return undefined;
    if (name === "range") {
      if (range !== undefined) return undefined; // two Range fields: not one range
      range = headers[i + 1];
    }
  }
  return range === undefined ? undefined : parseByteRange(range, size);
}

/** `bytes=first-last`, `bytes=first-` or `bytes=-suffix` against a file of `size` bytes (> 0). */
export function parseByteRange(value: string, size: number): ByteRange | typeof UNSATISFIABLE | undefined {
  const eq = value.indexOf("=");
  if (eq < 0 || value.slice(0, eq).trim().toLowerCase() !== "bytes") return undefined;
  // Empty list elements do not count (RFC 9110 5.6.1.2): `bytes=0-9,` is one range.
  const specs = value.slice(eq + 1).split(",").map((element) => element.trim()).filter((element) => element !== "");
  if (specs.length !== 1) return undefined;
  const spec = specs[0];
  const dash = spec.indexOf("-");
  if (dash < 0) return undefined;
  const first = spec.slice(0, dash).trim(), last = spec.slice(dash + 1).trim();
  if (first === "") {
    if (!DIGITS.test(last)) return undefined;
    const suffix = Number(last); // past 2^53 it is still more than any file: the whole of it
    return suffix === 0 ? UNSATISFIABLE : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  if (!DIGITS.test(first) || (last !== "" && !DIGITS.test(last))) return undefined;
  // Digits past 2^53 round, but stay above any file's size: such a range is past the end, or ends there.
  const start = Number(first), end = last === "" ? Infinity : Number(last);
  const backwards = Number.isSafeInteger(start) && Number.isSafeInteger(end)
    ? end < start
    : last !== "" && BigInt(last) < BigInt(first);
  if (backwards) return undefined;
  if (start >= size) return UNSATISFIABLE;
  return { start, end: Math.min(end, size - 1) };
}
