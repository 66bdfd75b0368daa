// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Cgroups of the container hierarchy as they are made and removed. A runtime
 * makes a container's cgroup before the container's first process runs and
 * names it after the container, so user space learns every container (and
 * the cgroup id its records will carry) ahead of its first record, however
 * short its life.
 */
#include "common.bpf.h"

/*
 * The attribution records' own ring: a flood of events, or an event loop too
 * busy to drain, fills the events ring, and a cgroup record lost there costs
 * a container its attribution. Few records a second, so a small fixed size
 * (maps.h); the addon drains this ring before the events it orders them with.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CGROUP_RING_SIZE);
} cgroup_events SEC(".maps");

static __always_inline int emit(struct bpf_raw_tracepoint_args *ctx, __u16 type)
{
	struct cgroup *cgrp = (struct cgroup *)ctx->args[0];
	struct cgroup_event *e;
	__u32 hierarchy = BPF_CORE_READ(cgrp, root, hierarchy_id);
	long n;

	if (hierarchy != cgroup_hierarchy_id)
		return 0;
	e = bpf_ringbuf_reserve(&cgroup_events, sizeof(*e), 0);
	if (!e) {
		count(type, COUNT_DROPPED);
		return 0;
	}
	n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), (void *)ctx->args[1]);
	fill_header(&e->hdr, type, sizeof(*e));
	e->hdr.cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	e->hierarchy_id = hierarchy;
	e->path_len = n > 0 ? n - 1 : 0;
	e->reserved = 0;
	submit(e, type);
	return 0;
}

/* cgroup_mkdir(struct cgroup *cgrp, const char *path) */
SEC("raw_tp/cgroup_mkdir")
int handle_cgroup_mkdir(struct bpf_raw_tracepoint_args *ctx)
{
	return emit(ctx, EVENT_CGROUP_MKDIR);
}

SEC("raw_tp/cgroup_rmdir")
int handle_cgroup_rmdir(struct bpf_raw_tracepoint_args *ctx)
{
	return emit(ctx, EVENT_CGROUP_RMDIR);
}
