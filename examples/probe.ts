/**
 * Prints what this kernel's io_uring can do (opcodes, buffer rings, incremental, bundles) and times
 * a batch of NOP round trips. Run: deno run --allow-ffi examples/probe.ts   |   bun examples/probe.ts
 * It takes no arguments: any argument but --help ends with the usage (exit 2).
 */
import { probeFeatures } from "../mod.ts";
import { prepNop, Ring } from "../ring.ts";
import { parseExampleArgs, startOrExit } from "./args.ts";

const USAGE = "probe.ts (no arguments)";
parseExampleArgs(USAGE, {}, (_values, fail, positionals) => {
  if (positionals.length > 0) fail(`unexpected argument ${JSON.stringify(positionals[0])}`);
});

// A kernel or library that cannot run it: one line, not a stack.
const features = await startOrExit("probe.ts", USAGE, () => probeFeatures());
console.log(JSON.stringify({ ...features, opcodes: `${features.opcodes.length} supported` }, null, 2));

using ring = new Ring({ entries: 256 });
const rounds = 2000;
const t0 = performance.now();
let done = 0;
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < 256; i++) prepNop(ring.sqes, ring.getSqe());
  ring.submitAndWait(256);
  done += ring.reap(() => {});
}
const secs = (performance.now() - t0) / 1000;
console.log(`${done} NOPs in batches of 256: ${(done / secs / 1e6).toFixed(2)} M/s`);
