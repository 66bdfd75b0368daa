#!/usr/bin/env bash
# Kernel-side cost of every program of the default event set (exec, exit,
# open enter+exit, connect enter+exit, cgroup mkdir/rmdir), each under a load
# that makes its events: builds the C load generators, compiles the
# TypeScript, runs bench/receiver/prog-cost.ts (kernel.bpf_stats_enabled=1 for
# the run, restored afterwards). Needs root and the built addon.
#   ROUNDS=3 BENCH_SECONDS=3 THREADS=2 EXECS=3000 CONNECTS=30000 CGROUPS=2000 bash bench/receiver/prog-cost.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/receiver/build.sh
node_modules/.bin/tsc -p tsconfig.json || echo "prog-cost.sh: tsc reported errors (above); running what it emitted" >&2
exec node_modules/.bin/node dist/bench/receiver/prog-cost.js
