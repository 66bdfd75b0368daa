#!/bin/sh
# The __TARGET_ARCH_<arch> libbpf's headers (bpf_tracing.h) expect, for a Node/gyp target_arch:
# binding.gyp compiles the BPF object with -D__TARGET_ARCH_$(sh native/bpf/target-arch.sh <(target_arch)),
# so `npm ci` on an arm64 node builds the arm64 object (test/unit/bpf-arch.test.ts compiles both).
case "$1" in
x64 | ia32 | x86_64 | x86) echo x86 ;;
arm64 | aarch64) echo arm64 ;;
arm) echo arm ;;
s390x) echo s390 ;;
ppc64 | ppc64le | ppc) echo powerpc ;;
riscv64) echo riscv ;;
loong64) echo loongarch ;;
mips64el | mipsel | mips) echo mips ;;
*)
  echo "target-arch.sh: no BPF target architecture known for target_arch '$1'" >&2
  exit 1
  ;;
esac
