#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh Debian machine: system packages (only
# the missing ones), bpffs/tracefs mounts, npm dependencies + native addon, and
# the TypeScript build. A few seconds when everything is already in place.
#   scripts/setup.sh          what `npm start` needs
#   scripts/setup.sh --test   plus what the tests need (container daemons, prometheus)
#   scripts/setup.sh --kernels  plus what the kernel matrix needs (qemu, kmod; test/vm/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_kernels=0
for arg in "$@"; do
  case $arg in
  --test) want_test=1 ;;
  --kernels) want_kernels=1 ;;
  *) printf 'setup: unknown option %s (--test, --kernels)\n' "$arg" >&2; exit 64 ;;
  esac
done

log() { printf 'setup: %s\n' "$*" >&2; }

# Build and run: compiler, BPF toolchain, libbpf.
BUILD_PACKAGES=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3)
# Tests: clang-format for `npm run lint`, real container daemons from Debian, a busybox image source, Prometheus,
# and containerd's upstream protos to check ours against; debootstrap makes the agent image's
# base images where no registry is reachable (scripts/image.sh).
TEST_PACKAGES=(clang-format containerd runc docker.io podman crun conmon lxc lxc-templates uidmap busybox-static
  prometheus golang-github-containerd-containerd-dev iproute2 procps debootstrap)
# Kernel matrix (test/vm): qemu boots Debian's kernel packages; kmod, xz and zstd build the initramfs.
KERNEL_PACKAGES=(qemu-system-x86 busybox-static kmod xz-utils zstd)

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

apt_install() {
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: $(echo $missing) — run as root or install them"
    exit 1
  fi
  log "installing: $(echo $missing)"
  local attempt
  for attempt in 1 2 3 4 5; do
    # A mirror that briefly fails to resolve is a passing fault: retry.
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
      return 0
    fi
    log "apt-get failed (attempt $attempt), retrying in $((attempt * 5))s"
    sleep $((attempt * 5))
  done
  log "could not install: $(echo $missing)"
  exit 1
}

mount_if_absent() {
  local type=$1 dir=$2
  [ "$(id -u)" -eq 0 ] || return 0
  if ! grep -qs " $dir $type " /proc/mounts; then
    mkdir -p "$dir"
    mount -t "$type" "$type" "$dir" 2>/dev/null && log "mounted $type at $dir" || log "could not mount $type at $dir (doctor explains)"
  fi
}

apt_install "${BUILD_PACKAGES[@]}"
[ "$want_test" = 1 ] && apt_install "${TEST_PACKAGES[@]}"
# kubectl renders deploy/kubernetes (kubectl kustomize): Debian's kubernetes-client, unless a kubectl is there.
[ "$want_test" = 1 ] && ! command -v kubectl >/dev/null && apt_install kubernetes-client
[ "$want_kernels" = 1 ] && apt_install "${KERNEL_PACKAGES[@]}"

mount_if_absent bpf /sys/fs/bpf
# Shared, as systemd makes every mount: a container's HostToContainer / rslave mount of bpffs
# (deploy/kubernetes, test/image) needs the host's to propagate.
if [ "$(id -u)" -eq 0 ] && grep -qs ' /sys/fs/bpf bpf ' /proc/mounts && ! grep -qs ' /sys/fs/bpf .* shared:' /proc/self/mountinfo; then
  mount --make-shared /sys/fs/bpf 2>/dev/null || log 'could not make /sys/fs/bpf a shared mount'
fi
mount_if_absent tracefs /sys/kernel/tracing

# npm ci when node_modules is missing or older than the lockfile (it also builds the addon).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  for attempt in 1 2 3 4 5; do
    npm ci --no-audit --no-fund && break
    [ "$attempt" = 5 ] && { log "npm ci failed"; exit 1; }
    log "npm ci failed (attempt $attempt), retrying in $((attempt * 5))s"
    sleep $((attempt * 5))
  done
fi

# The addons (binding.gyp's targets: the BPF one and the OTLP encoder) are rebuilt when one is
# missing or older than a source (npm ci builds them on a fresh clone).
addon_stale() {
  local addon
  for addon in build/Release/ebpf_otel.node build/Release/otlp_logs.node; do
    [ -f "$addon" ] || return 0
    [ -n "$(find native binding.gyp -newer "$addon" -print -quit)" ] && return 0
  done
  return 1
}
if [ -f binding.gyp ] && addon_stale; then
  log "building native addons"
  npm run --silent build:addon >/dev/null
fi

node_modules/.bin/tsc -p tsconfig.json
