// bench/downloads.sh's load: CONNS connections, each keeping DEPTH requests (one byte each) in flight
// for SECS seconds and checking every byte of the SIZE-byte replies against the server's pattern.
// Prints one line: MiB_per_s=.. replies=.. bad=.. secs=..
//   node bench/bulk_get_client.mjs PORT CONNS DEPTH SECS SIZE
import net from "node:net";
import process from "node:process";

const [port, conns, depth, secs, size] = process.argv.slice(2).map(Number);
const value = Buffer.alloc(size);
for (let i = 0; i < size; i++) value[i] = (i * 7919 + 13) & 255;
let bytes = 0, replies = 0, bad = 0;
const t0 = performance.now();
const end = t0 + secs * 1000;
const one = () =>
  new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
    let at = 0; // offset within the current reply
    let asked = 0;
    const ask = (n) => {
      asked += n;
      s.write(Buffer.alloc(n, 103));
    };
    s.on("connect", () => ask(depth));
    s.on("data", (d) => {
      bytes += d.length;
      for (let i = 0; i < d.length;) {
        const take = Math.min(size - at, d.length - i);
        if (value.compare(d, i, i + take, at, at + take) !== 0) bad++;
        i += take;
        at += take;
        if (at === size) {
          at = 0;
          replies++;
          if (--asked === 0 && performance.now() >= end) return s.destroy(), resolve();
          if (performance.now() < end) ask(1);
        }
      }
    });
    s.on("error", () => (bad++, resolve()));
    s.on("close", resolve);
  });
await Promise.all(Array.from({ length: conns }, one));
const took = (performance.now() - t0) / 1000;
console.log(`MiB_per_s=${(bytes / 1048576 / took).toFixed(0)} replies=${replies} bad=${bad} secs=${took.toFixed(2)}`);
