/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Map value layouts shared by the BPF programs and the addon (not part of the
 * record contract in events.h).
 */
#ifndef EBPF_CONTAINER_OTEL_MAPS_H
#define EBPF_CONTAINER_OTEL_MAPS_H

/* Per-CPU counters, one slot per enum event_type (slot 0 unused). */
#define COUNTER_SLOTS (EVENT_TYPE_MAX + 1)

struct event_counters {
	__u64 produced; /* records submitted to their ring buffer (events, or cgroup_events) */
	__u64 dropped; /* their ring buffer full (reserve failed) or no memory for the arguments of a pending syscall */
	__u64 filtered;     /* rejected by a kernel-side filter */
	__u64 rate_limited; /* over its container's rate limit */
};

/*
 * The cgroup records' ring (cgroup.bpf.c), fixed: 1 MiB holds ~1,700 records
 * (600 bytes each with the ring's header) made while the event loop stalls,
 * the cgroups of ~400 pods started at once (a pod cgroup and ~3 container
 * ones each). 256 KiB would hold 436: a node at the kubelet's default 110
 * pods, starting them all after a reboot, with no margin. The cost, 1 MiB of
 * RSS, is small next to the events ring's 16.
 */
#define CGROUP_RING_SIZE (1u << 20)

/* Inspektor Gadget's containers map value; key is the u64 mntns inode. */
#define CONTAINERS_FIELD_LEN 256
struct container_value {
	char container_id[CONTAINERS_FIELD_LEN];
	char namespace_[CONTAINERS_FIELD_LEN];
	char pod[CONTAINERS_FIELD_LEN];
	char container[CONTAINERS_FIELD_LEN];
};

#define DENY_PIDS_MAX 1024
/* Denied pids compared in the programs themselves; more go to the deny_pids hash. */
#define DENY_PIDS_INLINE 4
#define DENY_COMMS_MAX 256
/* Containers whose verdict (traced or not) the kernel holds, by cgroup id. */
#define VERDICTS_MAX 16384
/* Containers with a rate-limit bucket; the least recently used goes first. */
#define RATE_BUCKETS_MAX 16384
/* Path prefixes per list (include, exclude). */
#define PATH_PREFIXES_MAX 64

/* Token bucket of one container; tokens are counted in billionths. */
struct rate_bucket {
	__u64 nanotokens;
	__u64 last_ns;
	__u64 dropped; /* since the throttle started */
	__u32 throttled;
	__u32 reserved;
};

/* LPM trie key: a path prefix (lookups: the whole path, prefixlen = its bits). */
struct path_key {
	__u32 prefixlen;
	char path[MAX_PATH_LEN];
};

#endif
