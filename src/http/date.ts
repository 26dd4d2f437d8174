/** The Date header's value (IMF-fixdate, RFC 9110 5.6.7), recomputed at most once a second. */
let cached = "";
let cachedSecond = -1;

export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cached = new Date(now).toUTCString(); // "Wed, 25 Nov 2026 18:47:43 GMT": the IMF-fixdate form
  }
  return cached;
}
