// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File open: openat/openat2 enter stashes the arguments per thread, exit
 * emits one record with the result. The path is read at exit, when the
 * kernel has already faulted the user page in.
 *
 * The stash is task local storage rather than a hash keyed by pid_tgid: the
 * slot hangs off the task, so enter and exit find it without hashing or
 * locking a bucket, exit does not delete it, and it goes away with the task.
 */
#include "common.bpf.h"

struct open_args {
	const char *path;
	__u32 flags;
	__u32 mode;
	/* Set by enter, cleared by exit: an exit whose enter was filtered out
	 * or ran before the programs were attached emits nothing. */
	__u32 pending;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct open_args);
} pending_open SEC(".maps");

/* filters.open: path prefixes (include: a path must start with one; exclude: with none). */
const volatile bool include_paths_set __weak = false;
const volatile bool exclude_paths_set __weak = false;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PATH_PREFIXES_MAX);
	__type(key, struct path_key);
	__type(value, __u8);
} include_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PATH_PREFIXES_MAX);
	__type(key, struct path_key);
	__type(value, __u8);
} exclude_paths SEC(".maps");

/* The path read once per event, to match it before a record is reserved. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_key);
} path_scratch SEC(".maps");

/* struct open_how (UAPI) */
struct open_how_user {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

static __always_inline int stash_open(const char *path, __u32 flags, __u32 mode)
{
	struct open_args *args;

	if (!pass_filters(EVENT_OPEN))
		return 0;
	args = bpf_task_storage_get(&pending_open, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!args) {
		count(EVENT_OPEN, COUNT_DROPPED);
		return 0;
	}
	args->path = path;
	args->flags = flags;
	args->mode = mode;
	args->pending = 1;
	return 0;
}

/* True when a path prefix filter rejects `key` (its path and prefixlen set). */
static __always_inline bool path_filtered(struct path_key *key)
{
	if (include_paths_set && !bpf_map_lookup_elem(&include_paths, key))
		return true;
	return exclude_paths_set && bpf_map_lookup_elem(&exclude_paths, key);
}

static __always_inline int emit_open(long ret)
{
	struct open_args *args = bpf_task_storage_get(&pending_open, bpf_get_current_task_btf(), 0, 0);
	struct open_event *e;
	struct path_key *key = NULL;
	__u32 zero = 0;
	long n;
	__u32 len = 0;

	if (!args || !args->pending)
		return 0;
	args->pending = 0;
	if (open_failed_only && ret >= 0) {
		count(EVENT_OPEN, COUNT_FILTERED);
		return 0;
	}
	if (include_paths_set || exclude_paths_set) {
		key = bpf_map_lookup_elem(&path_scratch, &zero);
		if (!key)
			return 0;
		n = bpf_probe_read_user_str(key->path, MAX_PATH_LEN, args->path);
		len = n > 0 ? n - 1 : 0;
		len &= MAX_PATH_LEN - 1;
		key->prefixlen = len * 8;
		if (path_filtered(key)) {
			count(EVENT_OPEN, COUNT_FILTERED);
			return 0;
		}
	}
	if (!take_token(EVENT_OPEN))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(EVENT_OPEN, COUNT_DROPPED);
		return 0;
	}
	if (key) {
		bpf_probe_read_kernel(e->path, len, key->path);
	} else {
		n = bpf_probe_read_user_str(e->path, MAX_PATH_LEN, args->path);
		len = n > 0 ? n - 1 : 0;
		len &= MAX_PATH_LEN - 1;
	}
	fill_header(&e->hdr, EVENT_OPEN, align8(offsetof(struct open_event, path) + len));
	e->ret = ret;
	e->flags = args->flags;
	e->mode = args->mode;
	e->path_len = len;
	e->reserved = 0;
	submit(e, EVENT_OPEN);
	return 0;
}

SEC("tp/syscalls/sys_enter_openat")
int enter_openat(struct syscall_enter_ctx *ctx)
{
	return stash_open((const char *)ctx->args[1], ctx->args[2], ctx->args[3]);
}

SEC("tp/syscalls/sys_exit_openat")
int exit_openat(struct syscall_exit_ctx *ctx)
{
	return emit_open(ctx->ret);
}

SEC("tp/syscalls/sys_enter_openat2")
int enter_openat2(struct syscall_enter_ctx *ctx)
{
	struct open_how_user how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return stash_open((const char *)ctx->args[1], how.flags, how.mode);
}

SEC("tp/syscalls/sys_exit_openat2")
int exit_openat2(struct syscall_exit_ctx *ctx)
{
	return emit_open(ctx->ret);
}
