# Two Node-API addons, split by owner:
# - ebpf_otel: BPF C → clang → `bpftool gen object` (links the programs into one
#   object) → `bpftool gen skeleton` (embeds it in a header) → a plain C addon
#   linked against the system's libbpf.so.1 (the eBPF receiver, pinned maps, doctor).
# - otlp_logs: the OTLP exporter's LogRecord encoder. No libbpf: it loads where
#   libbpf is absent; of the BPF headers it reads only the record layout (events.h).
{
  "variables": {
    "bpf_dir": "<(SHARED_INTERMEDIATE_DIR)/ebpf_otel",
    "bpf_headers": [
      "native/bpf/common.bpf.h",
      "native/bpf/events.h",
      "native/bpf/maps.h",
      "native/bpf/vmlinux_min.h"
    ],
    # CO-RE object per architecture: __TARGET_ARCH_* follows gyp's target_arch (x64 → x86, arm64 → arm64).
    "bpf_cflags": ["-g", "-O2", "-Wall", "-target", "bpf", "-D__TARGET_ARCH_<!(sh native/bpf/target-arch.sh <(target_arch))", "-Inative/bpf"]
  },
  "target_defaults": {
    "defines": ["NAPI_VERSION=8"],
    "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
    # Node-API only: napi_* resolve from whichever node binary loads the addon. Debian's
    # node-gyp links every addon with -lnode (Debian's libnode.so, one Node version): removed.
    "libraries!": ["-lnode"]
  },
  "targets": [
    {
      "target_name": "otlp_logs",
      "sources": ["native/addon/addon.c", "native/addon/otlp_logs.c"],
      "include_dirs": ["native/bpf"]
    },
    {
      "target_name": "ebpf_otel",
      "sources": [
        "native/addon/addon.c",
        "native/addon/ebpf_otel.c",
        "native/addon/containers_map.c",
        "native/addon/session.c",
        "native/addon/hostns.c"
      ],
      "include_dirs": ["<(bpf_dir)", "native/bpf"],
      "cflags": ["<!@(pkg-config --cflags libbpf)"],
      "libraries": ["<!@(pkg-config --libs libbpf)"],
      "actions": [
        {
          "action_name": "bpf_compile_exec",
          "inputs": ["native/bpf/exec.bpf.c", "<@(bpf_headers)"],
          "outputs": ["<(bpf_dir)/exec.bpf.o"],
          "action": ["clang", "<@(bpf_cflags)", "-c", "native/bpf/exec.bpf.c", "-o", "<(bpf_dir)/exec.bpf.o"]
        },
        {
          "action_name": "bpf_compile_exit",
          "inputs": ["native/bpf/exit.bpf.c", "<@(bpf_headers)"],
          "outputs": ["<(bpf_dir)/exit.bpf.o"],
          "action": ["clang", "<@(bpf_cflags)", "-c", "native/bpf/exit.bpf.c", "-o", "<(bpf_dir)/exit.bpf.o"]
        },
        {
          "action_name": "bpf_compile_open",
          "inputs": ["native/bpf/open.bpf.c", "<@(bpf_headers)"],
          "outputs": ["<(bpf_dir)/open.bpf.o"],
          "action": ["clang", "<@(bpf_cflags)", "-c", "native/bpf/open.bpf.c", "-o", "<(bpf_dir)/open.bpf.o"]
        },
        {
          "action_name": "bpf_compile_connect",
          "inputs": ["native/bpf/connect.bpf.c", "<@(bpf_headers)"],
          "outputs": ["<(bpf_dir)/connect.bpf.o"],
          "action": ["clang", "<@(bpf_cflags)", "-c", "native/bpf/connect.bpf.c", "-o", "<(bpf_dir)/connect.bpf.o"]
        },
        {
          "action_name": "bpf_compile_cgroup",
          "inputs": ["native/bpf/cgroup.bpf.c", "<@(bpf_headers)"],
          "outputs": ["<(bpf_dir)/cgroup.bpf.o"],
          "action": ["clang", "<@(bpf_cflags)", "-c", "native/bpf/cgroup.bpf.c", "-o", "<(bpf_dir)/cgroup.bpf.o"]
        },
        {
          "action_name": "bpf_compile_hostns",
          "inputs": ["native/bpf/hostns.bpf.c", "native/bpf/vmlinux_min.h"],
          "outputs": ["<(bpf_dir)/hostns.bpf.o"],
          "action": ["clang", "<@(bpf_cflags)", "-c", "native/bpf/hostns.bpf.c", "-o", "<(bpf_dir)/hostns.bpf.o"]
        },
        {
          "action_name": "bpf_skeleton_hostns",
          "inputs": ["<(bpf_dir)/hostns.bpf.o"],
          "outputs": ["<(bpf_dir)/hostns.skel.h"],
          "action": ["sh", "-c", "bpftool gen skeleton <(bpf_dir)/hostns.bpf.o name hostns > <(bpf_dir)/hostns.skel.h"]
        },
        {
          "action_name": "bpf_link",
          "inputs": [
            "<(bpf_dir)/exec.bpf.o",
            "<(bpf_dir)/exit.bpf.o",
            "<(bpf_dir)/open.bpf.o",
            "<(bpf_dir)/connect.bpf.o",
            "<(bpf_dir)/cgroup.bpf.o"
          ],
          "outputs": ["<(bpf_dir)/ebpf_otel.bpf.o"],
          "action": [
            "bpftool", "gen", "object", "<(bpf_dir)/ebpf_otel.bpf.o",
            "<(bpf_dir)/exec.bpf.o", "<(bpf_dir)/exit.bpf.o", "<(bpf_dir)/open.bpf.o", "<(bpf_dir)/connect.bpf.o",
            "<(bpf_dir)/cgroup.bpf.o"
          ]
        },
        {
          "action_name": "bpf_skeleton",
          "inputs": ["<(bpf_dir)/ebpf_otel.bpf.o"],
          "outputs": ["<(bpf_dir)/ebpf_otel.skel.h"],
          "action": ["sh", "-c", "bpftool gen skeleton <(bpf_dir)/ebpf_otel.bpf.o name ebpf_otel > <(bpf_dir)/ebpf_otel.skel.h"]
        }
      ]
    }
  ]
}
