#!/usr/bin/env bash
# Receiver benchmark (needs root and the built addon): builds the C producer
# and consumer, compiles the TypeScript, runs bench/receiver/run.ts.
#   BENCH_SECONDS=5 ROUNDS=2 bash bench/receiver/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/receiver/build.sh
node_modules/.bin/tsc -p tsconfig.json || echo "run.sh: tsc reported errors (above); running what it emitted" >&2
exec node_modules/.bin/node dist/bench/receiver/run.js
