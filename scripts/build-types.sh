#!/usr/bin/env bash
# Declaration files for the npm package (package.json's exports "types"): a TypeScript project that
# depends on the package checks against these, under its own settings, instead of compiling our
# sources (a `bun init` project's noUncheckedIndexedAccess, say). Run by `npm pack` (prepack) and by
# tests/package_test.ts; the output, types/, is not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsc ] || bash scripts/setup.sh >&2
rm -rf types
node_modules/.bin/tsc -p tsconfig.json --noEmit false --declaration --emitDeclarationOnly --outDir types
