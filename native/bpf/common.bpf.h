/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps, load-time settings and helpers shared by every program. Each
 * *.bpf.c includes this; the maps and settings are __weak so that
 * `bpftool gen object` links them into one instance in the final object.
 */
#ifndef EBPF_CONTAINER_OTEL_COMMON_BPF_H
#define EBPF_CONTAINER_OTEL_COMMON_BPF_H

#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "maps.h"

/* Set by the loader before load (rodata): the verifier prunes disabled filters. */
const volatile bool filter_pids __weak = false;
/* The first few denied pids (the agent's own, with exclude_self) are compared
 * in the program: a constant compare instead of a hash lookup per event. */
const volatile __u32 deny_pids_inline[DENY_PIDS_INLINE] __weak = {};
const volatile __u32 n_deny_pids_inline __weak = 0;
const volatile bool filter_comms __weak = false;
const volatile bool containers_only __weak = false;
const volatile bool open_failed_only __weak = false;
const volatile __u32 exec_args_max __weak = MAX_ARGS_LEN;
/* The container hierarchy: the unified one (-1, hierarchy 0) or the v1
 * controller at this index of the kernel's subsystems (the order of
 * /proc/cgroups), whose hierarchy is cgroup_hierarchy_id. */
const volatile int cgroup_subsys_index __weak = -1;
const volatile __u32 cgroup_hierarchy_id __weak = 0;
/* containers_only passes tasks outside this mount namespace (the host's); the
 * rate limit applies to them only. */
const volatile __u64 host_mntns __weak = 0;
/* container_verdicts is consulted (filters.containers). */
const volatile bool select_containers __weak = false;
/* Per-container token bucket: records per second (0: no limit), burst, and
 * the longest refill that matters (burst / rate, in ns). */
const volatile __u64 rate_per_sec __weak = 0;
const volatile __u64 rate_burst __weak = 0;
const volatile __u64 rate_refill_cap_ns __weak = 0;
/* BPF_RB_NO_WAKEUP: the addon drains on a timer, so no per-record wake-up. */
const volatile __u64 submit_flags __weak = BPF_RB_NO_WAKEUP;

/* Sized by the loader (ring_buffer_size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct event_counters);
} counters SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DENY_PIDS_MAX);
	__type(key, __u32);
	__type(value, __u8);
} deny_pids SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DENY_COMMS_MAX);
	__type(key, char[TASK_COMM_LEN]);
	__type(value, __u8);
} deny_comms SEC(".maps") __weak;

/* User space decides, from the container's metadata, whether it is traced
 * (1) or not (0); a cgroup without a verdict passes (not decided yet). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VERDICTS_MAX);
	__type(key, __u64);
	__type(value, __u8);
} container_verdicts SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RATE_BUCKETS_MAX);
	__type(key, __u64);
	__type(value, struct rate_bucket);
} rate_buckets SEC(".maps") __weak;

enum counter_kind {
	COUNT_PRODUCED,
	COUNT_DROPPED,
	COUNT_FILTERED,
	COUNT_RATE_LIMITED
};

static __always_inline void count(__u32 type, enum counter_kind kind)
{
	struct event_counters *c = bpf_map_lookup_elem(&counters, &type);

	if (!c)
		return;
	/* Per-CPU slot: no other program touches it concurrently. */
	if (kind == COUNT_PRODUCED)
		c->produced++;
	else if (kind == COUNT_DROPPED)
		c->dropped++;
	else if (kind == COUNT_FILTERED)
		c->filtered++;
	else
		c->rate_limited++;
}

/*
 * Through the BTF task pointer, field reads are plain loads (the verifier
 * turns a faulting one into 0, as bpf_probe_read_kernel would) instead of one
 * helper call per pointer hop: every record's header pays for these reads.
 */
static __always_inline __u64 task_mntns(struct task_struct *task)
{
	return task->nsproxy->mnt_ns->ns.inum;
}

/*
 * The task's cgroup in the container hierarchy. cgroup_subsys_index is
 * frozen rodata, so the verifier sees a constant index and prunes the other
 * branch.
 */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	if (cgroup_subsys_index < 0)
		return task->cgroups->dfl_cgrp->kn->id;
	return task->cgroups->subsys[cgroup_subsys_index]->cgroup->kn->id;
}

/* True when the current task passes the configured filters; counts it otherwise. */
static __always_inline bool pass_filters(__u32 type)
{
	if (n_deny_pids_inline || filter_pids) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

#pragma unroll
		for (int i = 0; i < DENY_PIDS_INLINE; i++)
			if (i < n_deny_pids_inline && deny_pids_inline[i] == tgid)
				goto filtered;
		if (filter_pids && bpf_map_lookup_elem(&deny_pids, &tgid))
			goto filtered;
	}
	if (filter_comms) {
		char comm[TASK_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (bpf_map_lookup_elem(&deny_comms, comm))
			goto filtered;
	}
	/* Decided from the task alone, so a container's first exec passes
	 * before user space has heard of the container. */
	if (containers_only && task_mntns(bpf_get_current_task_btf()) == host_mntns)
		goto filtered;
	if (select_containers) {
		__u64 cgroup_id = task_cgroup_id(bpf_get_current_task_btf());
		__u8 *traced = bpf_map_lookup_elem(&container_verdicts, &cgroup_id);

		if (traced && !*traced)
			goto filtered;
	}
	return true;
filtered:
	count(type, COUNT_FILTERED);
	return false;
}

/*
 * The same values as bpf_get_current_{pid_tgid,uid_gid,comm}, read from the
 * task directly: uid/gid are the kernel ids (what the helper reports in the
 * initial user namespace), comm is kept NUL-padded by the kernel.
 */
static __always_inline void fill_header(struct event_header *h, __u16 type, __u32 size)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = task->cred;

	h->size = size;
	h->type = type;
	h->version = EVENT_VERSION;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->pid = task->pid;
	h->tgid = task->tgid;
	h->ppid = task->real_parent->tgid;
	h->uid = cred->uid.val;
	h->gid = cred->gid.val;
	h->flags = 0;
	h->mntns = task_mntns(task);
	h->cgroup_id = task_cgroup_id(task);
	__builtin_memcpy(h->comm, task->comm, sizeof(h->comm));
}

static __always_inline __u32 align8(__u32 n)
{
	return (n + 7) & ~7U;
}

static __always_inline void submit(void *record, __u32 type)
{
	bpf_ringbuf_submit(record, submit_flags);
	count(type, COUNT_PRODUCED);
}

#define NSEC_PER_TOKEN 1000000000ULL

static __always_inline void throttle_record(__u32 state, __u64 dropped)
{
	struct throttle_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(EVENT_THROTTLE, COUNT_DROPPED);
		return;
	}
	fill_header(&e->hdr, EVENT_THROTTLE, sizeof(*e));
	e->state = state;
	e->reserved = 0;
	e->dropped = dropped;
	submit(e, EVENT_THROTTLE);
}

/*
 * The per-container rate limit, right before a record is reserved (after
 * every filter, so filtered records cost no token). A container's first
 * dropped record and its first record after it calmed down are marked by a
 * throttle record (start; stop with the count dropped in between). Updates race across CPUs without locks: the limit is
 * approximate by a few records, never by a factor.
 */
static __always_inline bool take_token(__u32 type)
{
	struct task_struct *task;
	struct rate_bucket *b;
	__u64 cgroup_id, now, elapsed, tokens, cap;

	if (!rate_per_sec)
		return true;
	task = bpf_get_current_task_btf();
	if (task_mntns(task) == host_mntns)
		return true;
	cgroup_id = task_cgroup_id(task);
	now = bpf_ktime_get_ns();
	cap = rate_burst * NSEC_PER_TOKEN;
	b = bpf_map_lookup_elem(&rate_buckets, &cgroup_id);
	if (!b) {
		struct rate_bucket fresh = { .nanotokens = cap - NSEC_PER_TOKEN, .last_ns = now };

		bpf_map_update_elem(&rate_buckets, &cgroup_id, &fresh, BPF_NOEXIST);
		return true;
	}
	elapsed = now - b->last_ns;
	if (elapsed > rate_refill_cap_ns)
		elapsed = rate_refill_cap_ns;
	tokens = b->nanotokens + elapsed * rate_per_sec;
	if (tokens > cap)
		tokens = cap;
	b->last_ns = now;
	if (tokens >= NSEC_PER_TOKEN) {
		b->nanotokens = tokens - NSEC_PER_TOKEN;
		/* The throttle ends once the bucket is full again (the container
		 * stayed under its rate for a burst's worth of time), not at each
		 * token that trickles in under sustained overload. */
		if (b->throttled && tokens >= cap) {
			b->throttled = 0;
			throttle_record(THROTTLE_STOP, b->dropped);
			b->dropped = 0;
		}
		return true;
	}
	b->nanotokens = tokens;
	b->dropped++;
	count(type, COUNT_RATE_LIMITED);
	if (!b->throttled) {
		b->throttled = 1;
		throttle_record(THROTTLE_START, 0);
	}
	return false;
}

#endif
