// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The host's mount namespace, as the kernel knows it. Run once at start with
 * BPF_PROG_TEST_RUN (never attached): in the caller's context, it reads
 *  - the mount namespace of the init process of the caller's PID namespace
 *    (the host's PID 1 when the agent shares the host's PID namespace, as a
 *    DaemonSet with hostPID does),
 *  - the initial mount namespace (init_task's, the top of every parent chain),
 *  - the caller's own, and its PID namespace level.
 * Unlike stat(/proc/1/ns/mnt) this needs no ptrace access to PID 1 (which
 * needs CAP_SYS_PTRACE in a container, and is refused outright by some init
 * processes): only what loading the agent's programs needs anyway.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Local flavors (___hostns): only what this program reads, relocated by name. */
struct upid___hostns {
	int nr;
	struct pid_namespace___hostns *ns;
} __attribute__((preserve_access_index));

struct pid_namespace___hostns {
	struct task_struct *child_reaper;
	unsigned int level;
} __attribute__((preserve_access_index));

struct pid___hostns {
	unsigned int level;
	struct upid___hostns numbers[1];
} __attribute__((preserve_access_index));

struct task_struct___hostns {
	struct pid___hostns *thread_pid;
} __attribute__((preserve_access_index));

/* Results (read by the addon from .bss after the run). */
__u64 self_mntns = 0;
__u64 init_mntns = 0;
__u64 reaper_mntns = 0;
__u32 reaper_pid = 0;
__u32 pidns_level = 0;
__u32 depth = 0;
__u32 done = 0;

#define MAX_DEPTH 256

static __always_inline __u64 mntns_of(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

SEC("raw_tp")
int host_namespaces(void *ctx)
{
	struct task_struct *self = (struct task_struct *)bpf_get_current_task();
	struct task_struct *t = self, *parent;
	struct pid___hostns *pid;
	struct upid___hostns upid = {};
	struct task_struct *reaper;
	unsigned int level;

	self_mntns = mntns_of(self);

	/* init_task (pid 0) is its own real_parent: the top of every chain. */
	for (int i = 0; i < MAX_DEPTH; i++) {
		parent = BPF_CORE_READ(t, real_parent);
		if (!parent || parent == t) {
			init_mntns = mntns_of(t);
			depth = i;
			break;
		}
		t = parent;
	}

	/* The caller's PID namespace is thread_pid->numbers[level].ns; its init is child_reaper. */
	pid = BPF_CORE_READ((struct task_struct___hostns *)self, thread_pid);
	level = BPF_CORE_READ(pid, level);
	pidns_level = level;
	if (level < 32 && !bpf_probe_read_kernel(&upid, sizeof(upid),
						 (void *)pid + bpf_core_field_offset(struct pid___hostns, numbers) +
							 level * bpf_core_type_size(struct upid___hostns))) {
		reaper = BPF_CORE_READ(upid.ns, child_reaper);
		if (reaper) {
			reaper_mntns = mntns_of(reaper);
			reaper_pid = BPF_CORE_READ(reaper, pid);
		}
	}
	done = 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
