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
		if (!BPF_CORE_READ(ctx, group_dead))
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
	task = (struct task_struct *)bpf_get_current_task();
	fill_header(&e->hdr, EVENT_EXIT, sizeof(*e));
	code = BPF_CORE_READ(task, exit_code);
	e->exit_code = (code >> 8) & 0xff;
	e->exit_signal = code & 0x7f;
	e->duration_ns = bpf_ktime_get_boot_ns() - BPF_CORE_READ(task, group_leader, start_boottime);
	submit(e, EVENT_EXIT);
	return 0;
}
