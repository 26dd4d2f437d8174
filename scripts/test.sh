#!/usr/bin/env bash
# Runs every test on Deno and on Bun (after installing what is missing), then prints one line:
#   N passed, N failed, N skipped   (summed over both runtimes; type-check failures count as failures)
# Exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev || { echo "0 passed, 1 failed"; exit 1; }
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 DO_NOT_TRACK=1 BUN_DISABLE_TELEMETRY=1
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bin=node_modules/.bin
log=$(mktemp -d)
passed=0 failed=0 skipped=0

echo "== type check and lint (deno check + deno lint; tsc with bun-types for the Bun FFI files; deno doc --lint per entry point)"
# deno doc --lint: every exported symbol of each entry point documented, no public type referring to a
# private one (-q hides the warnings about node_modules type packages it cannot resolve; errors still print).
if $bin/deno check mod.ts ffi/ src/ tests/ examples/ bench/ && $bin/deno lint && $bin/tsc -p tsconfig.json &&
  $bin/deno doc --lint -q mod.ts && $bin/deno doc --lint -q ring.ts && $bin/deno doc --lint -q sys.ts; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  checks_failed=1
fi

echo "== deno test"
# Bounded: a test run that hangs (a busy loop defeats per-test timeouts) fails instead of stalling CI.
timeout -k 10 900 $bin/deno test -A --v8-flags=--expose-gc tests/ 2>&1 | tee "$log/deno.txt"
deno_rc=${PIPESTATUS[0]}
line=$(sed 's/\x1b\[[0-9;]*m//g' "$log/deno.txt" | grep -E '[0-9]+ passed \| [0-9]+ failed' | tail -1)
dp=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line")
df=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
di=$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$line")
passed=$((passed + ${dp:-0}))
failed=$((failed + ${df:-0}))
skipped=$((skipped + ${di:-0}))
# A crash or a runner error with no failing test still counts as one failure.
if [ "$deno_rc" != 0 ] && [ "${df:-0}" = 0 ]; then failed=$((failed + 1)); fi

echo "== bun test"
timeout -k 10 900 $bin/bun test tests/ 2>&1 | tee "$log/bun.txt"
bun_rc=${PIPESTATUS[0]}
bp=$(sed 's/\x1b\[[0-9;]*m//g' "$log/bun.txt" | grep -E '^ *[0-9]+ pass$' | tail -1 | tr -dc 0-9)
bf=$(sed 's/\x1b\[[0-9;]*m//g' "$log/bun.txt" | grep -E '^ *[0-9]+ fail$' | tail -1 | tr -dc 0-9)
bs=$(sed 's/\x1b\[[0-9;]*m//g' "$log/bun.txt" | grep -E '^ *[0-9]+ skip$' | tail -1 | tr -dc 0-9)
passed=$((passed + ${bp:-0}))
failed=$((failed + ${bf:-0}))
skipped=$((skipped + ${bs:-0}))
if [ "$bun_rc" != 0 ] && [ "${bf:-0}" = 0 ]; then failed=$((failed + 1)); fi

# CI shows only the end of this output: name the failing tests of both runtimes here, next to the total.
if [ "$failed" != 0 ]; then
  echo "== failing tests"
  [ -n "${checks_failed:-}" ] && echo "type check or lint (see the first section)"
  sed 's/\x1b\[[0-9;]*m//g' "$log/deno.txt" | grep -E ' => \./[^ ]+:[0-9]+:[0-9]+$' | sort -u | sed 's/^/deno: /' | head -20
  sed 's/\x1b\[[0-9;]*m//g' "$log/bun.txt" | grep -E '^\(fail\)' | sort -u | sed 's/^/bun: /' | head -20
  echo "== their errors (first line each)"
  sed 's/\x1b\[[0-9;]*m//g' "$log/deno.txt" "$log/bun.txt" | grep -E '^error: ' | grep -v '^error: Uncaught (in worker' | cut -c1-300 | head -20
fi
rm -rf "$log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$deno_rc" = 0 ] && [ "$bun_rc" = 0 ]
