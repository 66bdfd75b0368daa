#!/usr/bin/env bash
# Kernel-side cost of the openat programs: attaches them through the C
# consumer, runs the producer, and prints each program's run count and mean
# ns per run from kernel.bpf_stats_enabled (restored afterwards; the stats
# themselves add a clock read or two per run).
#   bash bench/receiver/prog-cost.sh [SECONDS [THREADS [PATH]]]   (defaults: 3 2 "")
set -euo pipefail
cd "$(dirname "$0")/../.."
bash bench/receiver/build.sh
bin=build/bench/receiver
seconds=${1:-3} threads=${2:-2} open_path=${3:-}
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
consumer=

cleanup() {
	[ -n "$consumer" ] && kill -INT "$consumer" 2>/dev/null && wait "$consumer" || true
	sysctl -qw kernel.bpf_stats_enabled="$stats_before"
}
trap cleanup EXIT

sysctl -qw kernel.bpf_stats_enabled=1
coproc CONSUMER { PRODUCER_PID=0 exec "$bin/c_consumer" build/Release/obj/gen/ebpf_otel/ebpf_otel.bpf.o; }
consumer=$CONSUMER_PID
read -r ready <&"${CONSUMER[0]}"
[ "$ready" = ready ] || { echo "prog-cost.sh: the consumer did not start" >&2; exit 1; }
echo "producer: $threads thread(s) of openat(\"$open_path\") for $seconds s: $(echo go | "$bin/producer" "$seconds" "$threads" "$open_path")"
for name in enter_openat exit_openat; do
	bpftool prog show name "$name" --json |
		node -e 'const p = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")))[0];
			console.log(`${p.name.padEnd(13)} ${String(p.run_cnt).padStart(10)} runs ${(p.run_time_ns / Math.max(1, p.run_cnt)).toFixed(1).padStart(7)} ns/run`)'
done
