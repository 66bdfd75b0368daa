#!/usr/bin/env bash
# Whole-agent benchmark (needs root and the built addon): builds the C producer
# and consumer, compiles the TypeScript, runs bench/e2e/run.ts.
#   RATES=50000,100000,200000,400000 BENCH_SECONDS=10 WARMUP_SECONDS=60 THREADS=2 ROUNDS=1 bash bench/e2e/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/receiver/build.sh
node_modules/.bin/tsc -p tsconfig.json || echo "run.sh: tsc reported errors (above); running what it emitted" >&2
exec node_modules/.bin/node dist/bench/e2e/run.js
