/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The wire contract between the BPF programs, the addon and the TypeScript
 * decoder (src/events/record.ts mirrors these offsets; test/unit/record-layout.test.ts
 * checks them against this header). Records are little-endian, 8-byte aligned,
 * and start with `size` so a reader can skip types it does not know.
 */
#ifndef EBPF_CONTAINER_OTEL_EVENTS_H
#define EBPF_CONTAINER_OTEL_EVENTS_H

#define EVENT_VERSION 1
#define TASK_COMM_LEN 16
#define MAX_PATH_LEN 256
#define MAX_FILENAME_LEN 256
#define MAX_ARGS_LEN 1024
#define MAX_CGROUP_PATH_LEN 512

enum event_type {
	EVENT_EXEC = 1,
	EVENT_EXIT = 2,
	EVENT_OPEN = 3,
	EVENT_CONNECT = 4,
	/* A container's records started (state 1) or stopped (state 0) being
	 * dropped by the per-container rate limit. */
	EVENT_THROTTLE = 5,
	/* Attribution records: a cgroup of the container hierarchy was made or
	 * removed. The enrichment processor consumes them; they are not exported. */
	EVENT_CGROUP_MKDIR = 6,
	EVENT_CGROUP_RMDIR = 7,
};
#define EVENT_TYPE_MAX EVENT_CGROUP_RMDIR

/* 72 bytes */
struct event_header {
	__u32 size;       /* whole record including this header and padding */
	__u16 type;       /* enum event_type */
	__u16 version;    /* EVENT_VERSION */
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() */
	__u32 pid;        /* thread id */
	__u32 tgid;       /* process id */
	__u32 ppid;       /* parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 flags;     /* reserved, 0 */
	__u64 mntns;     /* mount namespace inode number */
	__u64 cgroup_id; /* kernfs id of the task's cgroup in the container hierarchy:
	                    * the unified one (cgroup v2), else the v1 controller the
	                    * loader chose; never reused within a boot */
	char comm[TASK_COMM_LEN];
};

#define EXEC_ARGS_TRUNCATED 1

/* payload at offset 72; data[] holds filename_len bytes of filename, then
 * args_len bytes of NUL-separated argv (no NUL after filename). */
struct exec_event {
	struct event_header hdr;
	__u16 filename_len;
	__u16 args_len;
	__u16 reserved; /* 0; argv is split on its NULs in user space */
	__u16 flags;    /* EXEC_ARGS_TRUNCATED */
	char data[MAX_FILENAME_LEN + MAX_ARGS_LEN];
};

/* 88 bytes */
struct exit_event {
	struct event_header hdr;
	__s32 exit_code;   /* (task->exit_code >> 8) & 0xff */
	__u32 exit_signal; /* task->exit_code & 0x7f */
	__u64 duration_ns; /* exit time - process start time */
};

/* payload at 72; path[] holds path_len bytes (no NUL) */
struct open_event {
	struct event_header hdr;
	__s32 ret;   /* fd or -errno */
	__u32 flags; /* open(2) flags */
	__u32 mode;
	__u16 path_len;
	__u16 reserved;
	char path[MAX_PATH_LEN];
};

/* 104 bytes */
struct connect_event {
	struct event_header hdr;
	__s32 ret;       /* 0, or -errno (-EINPROGRESS for non-blocking) */
	__u16 family;    /* AF_INET (2) or AF_INET6 (10) */
	__u16 port;      /* host byte order */
	__u8 addr[16];   /* IPv4 in the first 4 bytes */
	__u16 sock_type; /* SOCK_STREAM (1), SOCK_DGRAM (2) */
	__u16 reserved[3];
};

/* payload at 72; hdr.cgroup_id is the cgroup made or removed (not the
 * caller's); path[] holds path_len bytes (no NUL), relative to the
 * hierarchy's root, e.g. /docker/<id> */
struct cgroup_event {
	struct event_header hdr;
	__u32 hierarchy_id;
	__u16 path_len;
	__u16 reserved;
	char path[MAX_CGROUP_PATH_LEN];
};

#define THROTTLE_STOP 0
#define THROTTLE_START 1

/* 88 bytes; the header is the task whose record was the first dropped
 * (start) or the first let through again (stop) */
struct throttle_event {
	struct event_header hdr;
	__u32 state; /* THROTTLE_START, THROTTLE_STOP */
	__u32 reserved;
	__u64 dropped; /* stop: records dropped since the start */
};

#endif
