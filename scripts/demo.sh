#!/usr/bin/env bash
# The main demo, with its own set-up: installs what is missing, then runs examples/probe.ts on Deno and Bun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
echo "== Deno"; node_modules/.bin/deno run --allow-ffi examples/probe.ts
echo "== Bun";  node_modules/.bin/bun examples/probe.ts
