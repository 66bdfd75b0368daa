#!/usr/bin/env bash
# Boots one unpacked Debian kernel (test/vm/kernels.sh) under qemu and runs JOB_DIR/guest.sh in it
# as root, with this machine's root shared read-only under a tmpfs overlay (test/vm/guest/init).
# The guest's output (JOB_DIR/out.log, written through 9p) is streamed to stdout as it comes; the
# exit status is the guest script's, 124 on timeout, 125 when the guest died without one (the
# kernel log's tail goes to stderr; the whole log stays in JOB_DIR/console.log).
#
#   bash test/vm/boot.sh KERNEL_DIR JOB_DIR
#
# Environment:
#   ECO_VM_INIT=busybox|systemd   PID 1 of the guest: a busybox shell (fast) or systemd
#   ECO_VM_MEM=3G ECO_VM_CPUS=2   guest size
#   ECO_VM_TIMEOUT=0              seconds before qemu is killed (0: never)
#   ECO_VM_SHARES="DIR …"         host directories shared read-write, at the same paths
#   ECO_VM_ACCEL=auto|kvm|tcg     auto: KVM when /dev/kvm is usable and not nested PVM, else TCG
#
# Needs qemu-system-x86, busybox-static, kmod, xz-utils, zstd (scripts/setup.sh --kernels).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 KERNEL_DIR JOB_DIR" >&2; exit 2; }
KDIR=$(realpath "$1")
JOB=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
INIT_MODE=${ECO_VM_INIT:-busybox}
KVER=$(cat "$KDIR/release")
[ -f "$JOB/guest.sh" ] || { echo "boot: no $JOB/guest.sh" >&2; exit 2; }
for tool in qemu-system-x86_64 modprobe; do
  command -v "$tool" >/dev/null || { echo "boot: $tool is missing (scripts/setup.sh --kernels installs it)" >&2; exit 2; }
done
BUSYBOX=/bin/busybox
if [ ! -x $BUSYBOX ] || LC_ALL=C ldd $BUSYBOX >/dev/null 2>&1; then
  echo "boot: need a static $BUSYBOX (busybox-static)" >&2
  exit 2
fi

# ------------------------------------------------------------------ initramfs
# busybox, our init, and the modules the init needs to mount the shared root (many are modules in
# Debian's kernels; `modprobe --show-depends` lists them in load order, built-ins not at all).
IRD=$JOB/initramfs
rm -rf "$IRD"
mkdir -p "$IRD"/{bin,dev,proc,sys,modules}
cp $BUSYBOX "$IRD/bin/busybox"
cp "$HERE/guest/init" "$IRD/init"
chmod 755 "$IRD/init"
: > "$IRD/modules.list"
for m in virtio_pci 9pnet_virtio 9p overlay; do
  modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" 2>/dev/null || true
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
  base=$(basename "$ko")
  base=${base%.xz}
  base=${base%.zst}
  base=${base%.gz}
  case $ko in
  *.xz) xz -dc "$ko" > "$IRD/modules/$base" ;;
  *.zst) zstd -qdc "$ko" > "$IRD/modules/$base" ;;
  *.gz) gzip -dc "$ko" > "$IRD/modules/$base" ;;
  *) cp "$ko" "$IRD/modules/$base" ;;
  esac
  echo "$base" >> "$IRD/modules.list"
done
SHARES=()
for d in ${ECO_VM_SHARES:-}; do SHARES+=("$(realpath "$d")"); done
{
  printf 'VM_JOB=%q\nVM_KDIR=%q\nVM_KVER=%q\nVM_INIT=%q\n' "$JOB" "$KDIR" "$KVER" "$INIT_MODE"
  printf 'VM_SHARES=%q\n' "${SHARES[*]:-}"
} > "$IRD/vm.env"
(cd "$IRD" && find . | $BUSYBOX cpio -o -H newc 2>/dev/null) > "$JOB/initramfs.cpio"
rm -rf "$IRD"

# ------------------------------------------------------------------ qemu
# The uncompressed vmlinux boots through PVH: no real-mode setup, no in-guest decompression
# (seconds under TCG). Nested KVM here is PVM, under which stock kernels do not boot: TCG.
IMAGE=$KDIR/boot/vmlinuz-$KVER
[ -s "$KDIR/boot/vmlinux-$KVER" ] && IMAGE=$KDIR/boot/vmlinux-$KVER
ACCEL=${ECO_VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
  if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case $ACCEL in
kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
# One host thread runs every vCPU: under multi-threaded TCG a guest kernel patching its own text
# (static keys flipped by the first memory cgroup or a tracepoint) has oopsed on the patch's int3
# ("Oops: int3" in kmem_cache_alloc under runc's cgroup mkdir, 6.12 guest, 1 run of ~10).
tcg) ACCEL_ARGS=(-accel tcg,thread=single -cpu max) ;;
*) echo "boot: ECO_VM_ACCEL must be auto, kvm or tcg" >&2; exit 2 ;;
esac
# TSC as the clocksource (the kernel may distrust an emulated one and fall back to the HPET, whose
# every read traps); no speculation mitigations (page-table switches cost dearly under TCG).
APPEND="console=ttyS0 loglevel=4 panic=-1 rdinit=/init tsc=reliable mitigations=off ${ECO_VM_CMDLINE:-}"
# systemd mounts securityfs, so dockerd sees AppArmor (on in Debian's kernels) and wants
# apparmor_parser for its profile; the apparmor package is not part of this machine: off.
[ "$INIT_MODE" = systemd ] && APPEND+=" systemd.unit=eco-vm.target systemd.show_status=false systemd.log_target=kmsg apparmor=0"
SHARE_ARGS=()
i=0
for d in "${SHARES[@]}"; do
  SHARE_ARGS+=(-virtfs "local,path=$d,mount_tag=share$i,security_model=none,multidevs=remap")
  i=$((i + 1))
done
rm -f "$JOB/rc" "$JOB/init-failed"
: > "$JOB/out.log"
: > "$JOB/console.log"
QEMU=(qemu-system-x86_64 "${ACCEL_ARGS[@]}" -machine pc -m "${ECO_VM_MEM:-3G}" -smp "${ECO_VM_CPUS:-2}"
  -nodefaults -no-user-config -display none -vga none -nic none -no-reboot
  -kernel "$IMAGE" -initrd "$JOB/initramfs.cpio" -append "$APPEND"
  -serial "file:$JOB/console.log"
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$JOB,mount_tag=job,security_model=none,multidevs=remap"
  "${SHARE_ARGS[@]}")

QPID=
TPID=
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
if [ "${ECO_VM_TIMEOUT:-0}" != 0 ]; then
  timeout -k 5 "$ECO_VM_TIMEOUT" "${QEMU[@]}" < /dev/null > "$JOB/qemu.log" 2>&1 &
else
  "${QEMU[@]}" < /dev/null > "$JOB/qemu.log" 2>&1 &
fi
QPID=$!
tail -s 0.3 --pid=$QPID -c +1 -f "$JOB/out.log" &
TPID=$!
set +e
wait $QPID
qrc=$?
set -e
QPID=
wait $TPID 2>/dev/null || true
TPID=
if [ -s "$JOB/rc" ]; then
  exit "$(cat "$JOB/rc")"
fi
cat "$JOB/qemu.log" >&2
[ -s "$JOB/init-failed" ] && cat "$JOB/init-failed" >&2
if [ "$qrc" = 124 ]; then
  echo "boot: timed out after ${ECO_VM_TIMEOUT}s; kernel log tail:" >&2
  tail -n 30 "$JOB/console.log" >&2
  exit 124
fi
echo "boot: the guest stopped (qemu exit $qrc) without an exit status; kernel log tail:" >&2
tail -n 60 "$JOB/console.log" >&2
exit 125
