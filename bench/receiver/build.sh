#!/usr/bin/env bash
# Builds the C side of the receiver, program-cost and whole-agent benchmarks into build/bench/receiver/.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/bench/receiver
mkdir -p "$out"
cc -O2 -Wall -Wextra -pthread -o "$out/producer" bench/receiver/producer.c
cc -O2 -Wall -Wextra -o "$out/workload" bench/receiver/workload.c
cc -O2 -Wall -Wextra -Inative/bpf $(pkg-config --cflags libbpf) -o "$out/c_consumer" bench/receiver/c_consumer.c $(pkg-config --libs libbpf)
