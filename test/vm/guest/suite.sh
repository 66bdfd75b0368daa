#!/usr/bin/env bash
# Runs inside a kernel-matrix guest (test/vm/boot.sh), from the repo: the checks of one scenario,
# each timed. Raw results go to $ECO_VM_JOB (steps.tsv: step, exit status, milliseconds; plus
# each step's own output files); test/vm/matrix.ts judges them on the host.
#   suite.sh full      doctor, then one jest run: the receiver's native tests and the containerd /
#                      Docker tests (test/vm/guest/containers.vmtest.ts)
#   suite.sh systemd   systemd as PID 1: containerd with SystemdCgroup = true, nerdctl-style and
#                      Docker scopes (test/vm/guest/systemd-cgroup.vmtest.ts)
#   suite.sh old       a kernel below the 5.13 floor: `run`, which must refuse at once (and, for
#                      scale, how long node alone takes to start here)
set -uo pipefail
MODE=${1:?usage: suite.sh full|systemd|old}
JOB=${ECO_VM_JOB:?}
CACHE=${ECO_VM_GUEST_CACHE:?}
CLI=(node bin/ebpf-container-otel.js)

echo "guest: $(uname -r), PID 1 $(cat /proc/1/comm), up $(cut -d' ' -f1 /proc/uptime)s, suite $MODE"
cut -d' ' -f1 /proc/uptime > "$JOB/boot-seconds"
: > "$JOB/steps.tsv"

# What scripts/setup.sh mounts on a host (systemd mounts bpffs itself; the busybox init does not).
mount_if_absent() { # type dir
  grep -qs " $2 $1 " /proc/mounts || { mkdir -p "$2"; mount -t "$1" "$1" "$2" || echo "guest: cannot mount $1 at $2"; }
}
mount_if_absent bpf /sys/fs/bpf
mount_if_absent tracefs /sys/kernel/tracing
mount_if_absent debugfs /sys/kernel/debug
# Scratch space on a real tmpfs (/run is one in both guests): containerd's overlayfs snapshotter
# cannot stack on the guest's overlay root. /tmp stays the host's (under the overlay): a checkout
# may live there.
export TMPDIR=/run/eco-tmp
mkdir -p "$TMPDIR"

# step NAME CMD…: runs CMD, records its exit status and duration.
step() {
  local name=$1 start rc
  shift
  echo "guest: step $name"
  start=$(date +%s%N)
  "$@"
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - start) / 1000000 ))" >> "$JOB/steps.tsv"
  echo "guest: step $name: exit $rc in $(( ($(date +%s%N) - start) / 1000000 )) ms"
}

doctor() { "${CLI[@]}" doctor --json > "$JOB/doctor.json" 2> "$JOB/doctor.err"; }
jest_run() { # test paths…
  # Inside the guest the host's transform cache is not warm for this config: keep ours across runs.
  jest -c test/vm/jest.guest.config.js --runInBand --ci --cacheDirectory "$CACHE/jest" \
    --json --outputFile "$JOB/jest.json" "$@" 2>&1
}
run_refused() { timeout 120 "${CLI[@]}" run > "$JOB/run.out" 2> "$JOB/run.err"; }

case $MODE in
full)
  step doctor doctor
  step jest jest_run test/native/ebpf-receiver.test.ts test/vm/guest/containers.vmtest.ts
  ;;
systemd)
  { readlink /proc/1/exe; systemctl is-system-running 2>&1; } > "$JOB/pid1.txt"
  step jest jest_run test/vm/guest/systemd-cgroup.vmtest.ts
  ;;
old)
  # For scale: what starting node alone costs on this (emulated) machine.
  step node node -e 0
  step run run_refused
  ;;
*)
  echo "guest: unknown suite $MODE"
  exit 2
  ;;
esac
exit 0
