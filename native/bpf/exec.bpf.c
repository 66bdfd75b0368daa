// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process exec: filename from the tracepoint, argv from the new mm. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct exec_event *e;
	unsigned long arg_start, arg_end;
	__u32 filename_off, filename_len;
	__u64 args_len;
	__u16 flags = 0;
	long n;

	if (!pass_filters(EVENT_EXEC) || !take_token(EVENT_EXEC))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(EVENT_EXEC, COUNT_DROPPED);
		return 0;
	}

	/* The tracepoint's own record: a direct (CO-RE relocated) load, no helper. */
	filename_off = __builtin_preserve_access_index(ctx->__data_loc_filename) & 0xFFFF;
	n = bpf_probe_read_kernel_str(e->data, MAX_FILENAME_LEN, (void *)ctx + filename_off);
	filename_len = n > 0 ? n - 1 : 0; /* without the NUL */
	filename_len &= MAX_FILENAME_LEN - 1;

	/* Plain loads through the BTF task pointer, not a helper call per hop (as fill_header). */
	task = bpf_get_current_task_btf();
	mm = task->mm;
	arg_start = mm->arg_start;
	arg_end = mm->arg_end;
	args_len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (args_len > exec_args_max) {
		args_len = exec_args_max;
		flags |= EXEC_ARGS_TRUNCATED;
	}
	/* Clamp in one register, in asm, so the verifier sees the bound on the
	 * very register passed below (clang would otherwise test a copy). */
	asm volatile("if %[n] <= %[max] goto +1; %[n] = %[max]" : [n] "+r"(args_len) : [max] "i"(MAX_ARGS_LEN));
	if (args_len && bpf_probe_read_user(e->data + filename_len, args_len, (void *)arg_start))
		args_len = 0;

	fill_header(&e->hdr, EVENT_EXEC, align8(offsetof(struct exec_event, data) + filename_len + args_len));
	e->filename_len = filename_len;
	e->args_len = args_len;
	e->reserved = 0;
	e->flags = flags;
	submit(e, EVENT_EXEC);
	return 0;
}
