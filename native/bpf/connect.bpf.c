// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Network connect (IPv4/IPv6): enter copies the peer address and socket type,
 * exit emits it with the result (0, -errno, -EINPROGRESS). The stash is task
 * local storage, as for opens (see open.bpf.c).
 */
#include "common.bpf.h"

struct connect_args {
	__u8 addr[16];
	__u16 family;
	__u16 port;
	__u16 sock_type;
	__u16 pending;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct connect_args);
} pending_connect SEC(".maps");

/* sockaddr_in / sockaddr_in6 prefix (UAPI): family, port, then the address. */
struct sockaddr_user {
	__u16 family;
	__be16 port;
	union {
		__u8 v4[4];
		struct {
			__u32 flowinfo;
			__u8 v6[16];
		};
	};
};

static __always_inline __u16 socket_type(int fd)
{
	/* task → files → fdt by plain loads through the BTF task pointer; the
	 * fd slot and what hangs off it by helper reads (an index into a BTF
	 * pointer is not allowed). */
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	return sock ? (BPF_CORE_READ(sock, type) & 0xf) : 0;
}

SEC("tp/syscalls/sys_enter_connect")
int enter_connect(struct syscall_enter_ctx *ctx)
{
	struct connect_args *args;
	struct sockaddr_user sa = {};

	if (!pass_filters(EVENT_CONNECT))
		return 0;
	if (bpf_probe_read_user(&sa, sizeof(sa), (void *)ctx->args[1]) &&
	    bpf_probe_read_user(&sa, 8, (void *)ctx->args[1]))
		return 0;
	if (sa.family != AF_INET && sa.family != AF_INET6)
		return 0;
	args = bpf_task_storage_get(&pending_connect, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!args) {
		count(EVENT_CONNECT, COUNT_DROPPED);
		return 0;
	}
	if (sa.family == AF_INET) {
		__builtin_memcpy(args->addr, sa.v4, 4);
		__builtin_memset(args->addr + 4, 0, 12);
	} else {
		__builtin_memcpy(args->addr, sa.v6, 16);
	}
	args->family = sa.family;
	args->port = bpf_ntohs(sa.port);
	args->sock_type = socket_type((int)ctx->args[0]);
	args->pending = 1;
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int exit_connect(struct syscall_exit_ctx *ctx)
{
	struct connect_args *args = bpf_task_storage_get(&pending_connect, bpf_get_current_task_btf(), 0, 0);
	struct connect_event *e;

	if (!args || !args->pending)
		return 0;
	args->pending = 0;
	if (!take_token(EVENT_CONNECT))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(EVENT_CONNECT, COUNT_DROPPED);
		return 0;
	}
	fill_header(&e->hdr, EVENT_CONNECT, sizeof(*e));
	e->ret = ctx->ret;
	e->family = args->family;
	e->port = args->port;
	__builtin_memcpy(e->addr, args->addr, 16);
	e->sock_type = args->sock_type;
	e->reserved[0] = e->reserved[1] = e->reserved[2] = 0;
	submit(e, EVENT_CONNECT);
	return 0;
}
