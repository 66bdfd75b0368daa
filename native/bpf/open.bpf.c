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

static __always_inline int emit_open(long ret)
{
	struct open_args *args = bpf_task_storage_get(&pending_open, bpf_get_current_task_btf(), 0, 0);
	struct open_event *e;
	long n;
	__u32 len;

	if (!args || !args->pending)
		return 0;
	args->pending = 0;
	if (open_failed_only && ret >= 0) {
		count(EVENT_OPEN, COUNT_FILTERED);
		return 0;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(EVENT_OPEN, COUNT_DROPPED);
		return 0;
	}
	n = bpf_probe_read_user_str(e->path, MAX_PATH_LEN, args->path);
	len = n > 0 ? n - 1 : 0;
	len &= MAX_PATH_LEN - 1;
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
