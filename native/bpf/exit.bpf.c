// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process exit: one record per process (its last thread), with exit code and runtime. */
#include "common.bpf.h"

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task;
	struct exit_event *e;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	int code;

	if (bpf_core_field_exists(ctx->group_dead)) {
		if (!__builtin_preserve_access_index(ctx->group_dead))
			return 0;
	} else if ((__u32)pid_tgid != pid_tgid >> 32) {
		return 0;
	}
	if (!pass_filters(EVENT_EXIT) || !take_token(EVENT_EXIT))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(EVENT_EXIT, COUNT_DROPPED);
		return 0;
	}
	/* Plain loads through the BTF task pointer; the header's clock read is the exit time. */
	task = bpf_get_current_task_btf();
	fill_header(&e->hdr, EVENT_EXIT, sizeof(*e));
	code = task->exit_code;
	e->exit_code = (code >> 8) & 0xff;
	e->exit_signal = code & 0x7f;
	e->duration_ns = e->hdr.ts_boot_ns - task->group_leader->start_boottime;
	submit(e, EVENT_EXIT);
	return 0;
}
