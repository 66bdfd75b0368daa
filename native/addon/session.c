// SPDX-License-Identifier: Apache-2.0
/*
 * The BPF session: loads the embedded skeleton with only what this kernel
 * accepts, attaches each program on its own, and drains the ring buffers on a
 * uv timer into one Buffer per batch handed to a JS callback.
 *
 * Two rings: the events, and the attribution records (cgroup mkdir/rmdir) in
 * a small one of their own, so a flood of events or a stalled event loop
 * cannot lose them. Each batch starts with the cgroup records, taken before
 * the events they must precede (drain_batch).
 *
 * The rings are read by our own consumer rather than libbpf's ring_buffer:
 * libbpf maps the data pages twice in a row (so a record that wraps reads as
 * one piece), and the kernel maps every page at mmap time, so a 32 MiB ring
 * cost 64 MiB of the agent's RSS; here the data is mapped once and a record
 * that wraps is copied in two pieces. Records are copied once, straight into
 * the (pooled) Buffer handed to JS, instead of into a staging area and again
 * into a Buffer.
 *
 * Lifecycle: open → load → attach → rings_open → timer. close()
 * detaches, hands over what is left in the rings (unless called from inside
 * the batch callback) and stops the timer; everything else is freed in the
 * timer's uv_close callback, so close() is safe anywhere, including inside
 * the batch callback (which runs inside ring-buffer iteration state we must
 * not free under it).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include "ebpf_otel.h"
#include "events.h"
#include "ebpf_otel.skel.h"
#include "maps.h"
#include "records.h"

struct program_spec {
	const char *name;
	int event;
	/* The other half of an enter/exit pair: one without the other is useless. */
	const char *partner;
};

static const struct program_spec PROGRAMS[] = {
	{ "handle_exec", EVENT_EXEC, NULL },
	{ "handle_exit", EVENT_EXIT, NULL },
	{ "enter_openat", EVENT_OPEN, "exit_openat" },
	{ "exit_openat", EVENT_OPEN, "enter_openat" },
	{ "enter_openat2", EVENT_OPEN, "exit_openat2" },
	{ "exit_openat2", EVENT_OPEN, "enter_openat2" },
	{ "enter_connect", EVENT_CONNECT, "exit_connect" },
	{ "exit_connect", EVENT_CONNECT, "enter_connect" },
	/* Attribution: container cgroups as they come and go (hierarchy-filtered). */
	{ "handle_cgroup_mkdir", EVENT_CGROUP_MKDIR, "handle_cgroup_rmdir" },
	{ "handle_cgroup_rmdir", EVENT_CGROUP_RMDIR, "handle_cgroup_mkdir" },
};
#define PROGRAM_COUNT (sizeof(PROGRAMS) / sizeof(PROGRAMS[0]))

static const char *EVENT_NAMES[] = {
	NULL, "exec", "exit", "open", "connect", "throttle", "cgroup_mkdir", "cgroup_rmdir"
};

#define DEFAULT_RING_SIZE (16u << 20)
/* Probes only verify programs: a small ring keeps them cheap. */
#define PROBE_RING_SIZE (64u << 10)
#define DEFAULT_BATCH_RECORDS 8192
/* Bytes per batch at most: the size of the (pooled) batch Buffers. */
#define BATCH_BYTES (512u << 10)
/* Batch Buffers handed back by release() and kept for the next batches, at most. */
#define POOL_MAX 16
/* Batches per timer tick before yielding to the event loop. */
#define BATCHES_PER_TICK 16

struct options {
	uint32_t ring_size;
	uint32_t exec_args_max;
	bool events[EVENT_TYPE_MAX + 1];
	bool disabled[PROGRAM_COUNT];
	bool broken[PROGRAM_COUNT];
	uint32_t deny_pids[DENY_PIDS_MAX];
	uint32_t n_deny_pids;
	char deny_comms[DENY_COMMS_MAX][TASK_COMM_LEN];
	uint32_t n_deny_comms;
	bool containers_only;
	bool open_failed_only;
	bool cgroup_events;
	int cgroup_subsys_index;
	uint32_t cgroup_hierarchy_id;
	uint32_t host_mntns;
	bool select_containers;
	uint32_t rate_per_sec, rate_burst;
	char include_paths[PATH_PREFIXES_MAX][MAX_PATH_LEN];
	uint32_t n_include_paths;
	char exclude_paths[PATH_PREFIXES_MAX][MAX_PATH_LEN];
	uint32_t n_exclude_paths;
	uint32_t max_batch_records;
	uint32_t drain_interval_ms;
};

struct program_status {
	bool loaded; /* loaded and attached: producing events */
	char reason[384];
};

struct bpf_state {
	struct ebpf_otel *skel;
	struct bpf_link *links[PROGRAM_COUNT];
	struct program_status status[PROGRAM_COUNT];
};

/* The consumer's view of a BPF_MAP_TYPE_RINGBUF (kernel/bpf/ringbuf.c). */
struct ring {
	size_t page_size;
	uint64_t mask;               /* data size - 1 */
	unsigned long *consumer_pos; /* our page, read-write */
	unsigned long *producer_pos; /* the kernel's page, then the data: read-only */
	const uint8_t *data;
};

struct session {
	napi_env env;
	struct bpf_state bpf;
	struct ring ring, cgroup_ring;
	bool rings_mapped;
	uv_timer_t timer;
	uint64_t interval_ms;
	napi_ref callback;
	napi_async_context async_ctx;
	napi_async_cleanup_hook_handle cleanup_hook;
	uint32_t max_records;
	uint64_t batches, records, bytes, malformed;
	/* Batch Buffers (BATCH_BYTES each) JS handed back: the next batches are copied into them. */
	napi_ref pool[POOL_MAX];
	uint32_t pool_n;
	/* Buffer.prototype.subarray, to hand JS a view of the bytes a batch uses. */
	napi_ref subarray;
	bool in_drain, closing, closed, finalized;
};

/* ---- options ---- */

static int event_index(const char *name)
{
	for (int i = 1; i <= EVENT_CONNECT; i++)
		if (!strcmp(name, EVENT_NAMES[i]))
			return i;
	return -1;
}

static int program_index(const char *name)
{
	for (size_t i = 0; i < PROGRAM_COUNT; i++)
		if (!strcmp(name, PROGRAMS[i].name))
			return (int)i;
	return -1;
}

static bool array_string(napi_env env, napi_value array, uint32_t i, const char *key, char *buf, size_t len)
{
	napi_value v;
	size_t n = 0;

	if (napi_get_element(env, array, i, &v) != napi_ok ||
	    napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok) {
		throw_error(env, "option %s[%u] must be a string", key, i);
		return false;
	}
	return true;
}

static bool program_list(napi_env env, napi_value obj, const char *key, bool *out)
{
	napi_value array;
	uint32_t n;
	char name[64];

	if (!get_array_option(env, obj, key, &array, &n))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		int p;

		if (!array_string(env, array, i, key, name, sizeof(name)))
			return false;
		p = program_index(name);
		if (p < 0) {
			throw_error(
				env,
				"option %s[%u]: unknown BPF program \"%s\" (known: handle_exec, handle_exit, "
				"enter_openat, exit_openat, enter_openat2, exit_openat2, enter_connect, exit_connect, "
				"handle_cgroup_mkdir, handle_cgroup_rmdir)",
				key, i, name);
			return false;
		}
		out[p] = true;
	}
	return true;
}

/* Path prefixes: 1 to MAX_PATH_LEN - 1 bytes each, at most PATH_PREFIXES_MAX. */
static bool path_list(napi_env env, napi_value obj, const char *key, char (*out)[MAX_PATH_LEN], uint32_t *count)
{
	napi_value array;
	uint32_t n;

	if (!get_array_option(env, obj, key, &array, &n))
		return false;
	if (n > PATH_PREFIXES_MAX) {
		throw_error(env, "%s lists %u prefixes; at most %d are supported", key, n, PATH_PREFIXES_MAX);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!array_string(env, array, i, key, out[i], MAX_PATH_LEN))
			return false;
		if (!out[i][0]) {
			throw_error(env, "option %s[%u] must not be empty", key, i);
			return false;
		}
	}
	*count = n;
	return true;
}

static bool parse_options(napi_env env, napi_value obj, struct options *o)
{
	napi_value array, v;
	uint32_t n;
	char name[64];
	uint32_t subsys_index = UINT32_MAX;

	memset(o, 0, sizeof(*o));
	o->ring_size = DEFAULT_RING_SIZE;
	o->exec_args_max = MAX_ARGS_LEN;
	o->max_batch_records = DEFAULT_BATCH_RECORDS;
	o->drain_interval_ms = 20;
	o->cgroup_events = true;
	for (int i = 1; i <= EVENT_CONNECT; i++)
		o->events[i] = true;

	if (!get_u32_option(env, obj, "ringBufferSize", &o->ring_size) ||
	    !get_u32_option(env, obj, "execArgsMaxBytes", &o->exec_args_max) ||
	    !get_u32_option(env, obj, "maxBatchRecords", &o->max_batch_records) ||
	    !get_u32_option(env, obj, "drainIntervalMs", &o->drain_interval_ms) ||
	    !get_bool_option(env, obj, "containersOnly", &o->containers_only) ||
	    !get_bool_option(env, obj, "openFailedOnly", &o->open_failed_only) ||
	    !get_bool_option(env, obj, "cgroupEvents", &o->cgroup_events) ||
	    !get_u32_option(env, obj, "cgroupSubsysIndex", &subsys_index) ||
	    !get_u32_option(env, obj, "cgroupHierarchyId", &o->cgroup_hierarchy_id) ||
	    !get_u32_option(env, obj, "hostMntns", &o->host_mntns) ||
	    !get_bool_option(env, obj, "selectContainers", &o->select_containers) ||
	    !get_u32_option(env, obj, "rateLimitPerSecond", &o->rate_per_sec) ||
	    !get_u32_option(env, obj, "rateLimitBurst", &o->rate_burst) ||
	    !path_list(env, obj, "includePathPrefixes", o->include_paths, &o->n_include_paths) ||
	    !path_list(env, obj, "excludePathPrefixes", o->exclude_paths, &o->n_exclude_paths) ||
	    !program_list(env, obj, "disablePrograms", o->disabled) ||
	    !program_list(env, obj, "breakPrograms", o->broken))
		return false;
	if (o->ring_size < 4096 || (o->ring_size & (o->ring_size - 1))) {
		throw_error(env, "ringBufferSize %u must be a power of two of at least 4096 bytes", o->ring_size);
		return false;
	}
	if (o->exec_args_max > MAX_ARGS_LEN) {
		throw_error(env, "execArgsMaxBytes %u must be at most %d", o->exec_args_max, MAX_ARGS_LEN);
		return false;
	}
	if (o->max_batch_records == 0 || o->drain_interval_ms == 0) {
		throw_error(env, "maxBatchRecords and drainIntervalMs must be positive");
		return false;
	}
	/* The kernel's subsys[] has at most 16 entries (CGROUP_SUBSYS_COUNT). */
	if (subsys_index != UINT32_MAX && subsys_index >= 16) {
		throw_error(env, "cgroupSubsysIndex %u is not a cgroup controller index (0-15)", subsys_index);
		return false;
	}
	o->cgroup_subsys_index = subsys_index == UINT32_MAX ? -1 : (int)subsys_index;
	if ((o->containers_only || o->rate_per_sec) && !o->host_mntns) {
		throw_error(env,
			    "containersOnly and rateLimitPerSecond need hostMntns (the host's mount namespace inode)");
		return false;
	}
	if (o->rate_per_sec && !o->rate_burst)
		o->rate_burst = o->rate_per_sec;

	if (!get_array_option(env, obj, "events", &array, &n))
		return false;
	if (array) {
		memset(o->events, 0, sizeof(o->events));
		for (uint32_t i = 0; i < n; i++) {
			int e;

			if (!array_string(env, array, i, "events", name, sizeof(name)))
				return false;
			e = event_index(name);
			if (e < 0) {
				throw_error(env, "option events[%u]: \"%s\" is not one of exec, exit, open, connect", i,
					    name);
				return false;
			}
			o->events[e] = true;
		}
	}
	o->events[EVENT_CGROUP_MKDIR] = o->events[EVENT_CGROUP_RMDIR] = o->cgroup_events;

	if (!get_array_option(env, obj, "denyPids", &array, &n))
		return false;
	if (n > DENY_PIDS_MAX) {
		throw_error(env, "denyPids lists %u pids; at most %d are supported", n, DENY_PIDS_MAX);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (napi_get_element(env, array, i, &v) != napi_ok ||
		    napi_get_value_uint32(env, v, &o->deny_pids[i]) != napi_ok) {
			throw_error(env, "option denyPids[%u] must be a pid", i);
			return false;
		}
	}
	o->n_deny_pids = n;

	if (!get_array_option(env, obj, "denyComms", &array, &n))
		return false;
	if (n > DENY_COMMS_MAX) {
		throw_error(env, "denyComms lists %u names; at most %d are supported", n, DENY_COMMS_MAX);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		/* comm is what the kernel keeps: the first 15 bytes, NUL-padded. */
		if (!array_string(env, array, i, "denyComms", o->deny_comms[i], TASK_COMM_LEN))
			return false;
	}
	o->n_deny_comms = n;
	return true;
}

/* ---- loading ---- */

static struct ebpf_otel *open_skeleton(const struct options *o, const bool *autoload, bool probe)
{
	struct ebpf_otel *skel = ebpf_otel__open();

	if (!skel)
		return NULL;
	/* A few pids (the agent's own) are compared in the programs; a longer list goes to the hash. */
	if (o->n_deny_pids <= DENY_PIDS_INLINE) {
		for (uint32_t i = 0; i < o->n_deny_pids; i++)
			skel->rodata->deny_pids_inline[i] = o->deny_pids[i];
		skel->rodata->n_deny_pids_inline = o->n_deny_pids;
	}
	skel->rodata->filter_pids = o->n_deny_pids > DENY_PIDS_INLINE;
	skel->rodata->filter_comms = o->n_deny_comms > 0;
	skel->rodata->containers_only = o->containers_only;
	skel->rodata->open_failed_only = o->open_failed_only;
	skel->rodata->exec_args_max = o->exec_args_max;
	skel->rodata->cgroup_subsys_index = o->cgroup_subsys_index;
	skel->rodata->cgroup_hierarchy_id = o->cgroup_hierarchy_id;
	skel->rodata->host_mntns = o->host_mntns;
	skel->rodata->select_containers = o->select_containers;
	skel->rodata->rate_per_sec = o->rate_per_sec;
	skel->rodata->rate_burst = o->rate_burst;
	skel->rodata->rate_refill_cap_ns =
		o->rate_per_sec ? (uint64_t)o->rate_burst * 1000000000ULL / o->rate_per_sec : 0;
	skel->rodata->include_paths_set = o->n_include_paths > 0;
	skel->rodata->exclude_paths_set = o->n_exclude_paths > 0;
	/* Probes and sessions without the cgroup programs read no cgroup records: the smallest ring the kernel makes. */
	if (bpf_map__set_max_entries(skel->maps.events, probe ? PROBE_RING_SIZE : o->ring_size) ||
	    bpf_map__set_max_entries(skel->maps.cgroup_events,
				     o->cgroup_events && !probe ? CGROUP_RING_SIZE : (uint32_t)sysconf(_SC_PAGESIZE))) {
		ebpf_otel__destroy(skel);
		return NULL;
	}
	for (size_t i = 0; i < PROGRAM_COUNT; i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(skel->obj, PROGRAMS[i].name);

		bpf_program__set_autoload(prog, autoload[i]);
		/* Fault injection for tests and doctor: a tracing program without
		 * an attach target, which the kernel refuses at load. */
		if (o->broken[i])
			bpf_program__set_type(prog, BPF_PROG_TYPE_TRACING);
	}
	return skel;
}

static void set_reason(struct program_status *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(struct program_status *s, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, args);
	va_end(args);
}

/* One load per program, to learn which ones this kernel refuses and why. */
static void probe_each(const struct options *o, bool *want, struct program_status *status)
{
	bool only[PROGRAM_COUNT];

	for (size_t i = 0; i < PROGRAM_COUNT; i++) {
		struct ebpf_otel *skel;
		int err;

		if (!want[i])
			continue;
		memset(only, 0, sizeof(only));
		only[i] = true;
		libbpf_clear_message();
		skel = open_skeleton(o, only, true);
		err = skel ? ebpf_otel__load(skel) : -errno;
		if (err) {
			want[i] = false;
			set_reason(&status[i], "load failed (%s): %s", strerror(-err),
				   libbpf_last_message()[0] ? libbpf_last_message() : "no detail from libbpf");
		}
		ebpf_otel__destroy(skel);
	}
}

static void drop_orphans(bool *want, struct program_status *status)
{
	for (size_t i = 0; i < PROGRAM_COUNT; i++) {
		int p = PROGRAMS[i].partner ? program_index(PROGRAMS[i].partner) : -1;

		if (want[i] && p >= 0 && !want[p]) {
			want[i] = false;
			set_reason(&status[i], "skipped: its pair %s is not running", PROGRAMS[p].name);
		}
	}
}

/*
 * Loads every wanted program this kernel accepts and attaches each one on
 * its own; st->status says, per program, whether it runs and why not.
 * Returns 0, or -1 with err set when nothing at all could be loaded.
 */
static int bpf_state_open(struct bpf_state *st, const struct options *o, bool probe, char *err, size_t errlen)
{
	bool want[PROGRAM_COUNT];
	size_t i, running = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < PROGRAM_COUNT; i++) {
		want[i] = o->events[PROGRAMS[i].event] && !o->disabled[i];
		if (!o->events[PROGRAMS[i].event])
			set_reason(&st->status[i], "event type %s not enabled", EVENT_NAMES[PROGRAMS[i].event]);
		else if (o->disabled[i])
			set_reason(&st->status[i], "disabled by config (disable_programs)");
	}
	drop_orphans(want, st->status);

	libbpf_clear_message();
	st->skel = open_skeleton(o, want, probe);
	rc = st->skel ? ebpf_otel__load(st->skel) : -errno;
	if (rc) {
		/* Some program was refused: find which, then load the rest. */
		ebpf_otel__destroy(st->skel);
		probe_each(o, want, st->status);
		drop_orphans(want, st->status);
		libbpf_clear_message();
		st->skel = open_skeleton(o, want, probe);
		rc = st->skel ? ebpf_otel__load(st->skel) : -errno;
		if (rc) {
			snprintf(err, errlen, "loading the BPF programs failed (%s): %s", strerror(-rc),
				 libbpf_last_message()[0] ? libbpf_last_message() : "no detail from libbpf");
			ebpf_otel__destroy(st->skel);
			st->skel = NULL;
			return -1;
		}
	}

	for (i = 0; i < PROGRAM_COUNT; i++) {
		struct bpf_program *prog;

		if (!want[i])
			continue;
		prog = bpf_object__find_program_by_name(st->skel->obj, PROGRAMS[i].name);
		libbpf_clear_message();
		st->links[i] = bpf_program__attach(prog);
		if (!st->links[i]) {
			want[i] = false;
			set_reason(&st->status[i], "attach failed (%s): %s", strerror(errno),
				   libbpf_last_message()[0] ? libbpf_last_message() : "tracepoint missing?");
		}
	}
	drop_orphans(want, st->status);
	for (i = 0; i < PROGRAM_COUNT; i++) {
		if (!want[i] && st->links[i]) {
			bpf_link__destroy(st->links[i]);
			st->links[i] = NULL;
		}
		st->status[i].loaded = want[i];
		running += want[i];
	}
	if (!running) {
		size_t n = (size_t)snprintf(err, errlen, "no BPF program could be loaded and attached:");

		for (i = 0; i < PROGRAM_COUNT && n < errlen; i++)
			n += (size_t)snprintf(err + n, errlen - n, " %s: %s;", PROGRAMS[i].name, st->status[i].reason);
		ebpf_otel__destroy(st->skel);
		st->skel = NULL;
		return -1;
	}
	return 0;
}

static void bpf_state_close(struct bpf_state *st)
{
	for (size_t i = 0; i < PROGRAM_COUNT; i++) {
		bpf_link__destroy(st->links[i]);
		st->links[i] = NULL;
	}
	ebpf_otel__destroy(st->skel);
	st->skel = NULL;
}

/* The kernel's id of a loaded program (bpftool prog show id N, bpf_stats); 0 when not loaded. */
static uint32_t program_id(const struct bpf_state *st, size_t i)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	struct bpf_program *prog;

	if (!st->skel || !st->status[i].loaded)
		return 0;
	prog = bpf_object__find_program_by_name(st->skel->obj, PROGRAMS[i].name);
	memset(&info, 0, sizeof(info));
	if (!prog || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.id;
}

static napi_value status_array(napi_env env, const struct bpf_state *st)
{
	napi_value out, item, v;

	CHECK(env, napi_create_array_with_length(env, PROGRAM_COUNT, &out));
	for (size_t i = 0; i < PROGRAM_COUNT; i++) {
		CHECK(env, napi_create_object(env, &item));
		CHECK(env, napi_create_string_utf8(env, PROGRAMS[i].name, NAPI_AUTO_LENGTH, &v));
		CHECK(env, napi_set_named_property(env, item, "program", v));
		CHECK(env, napi_create_string_utf8(env, EVENT_NAMES[PROGRAMS[i].event], NAPI_AUTO_LENGTH, &v));
		CHECK(env, napi_set_named_property(env, item, "event", v));
		CHECK(env, napi_get_boolean(env, st->status[i].loaded, &v));
		CHECK(env, napi_set_named_property(env, item, "loaded", v));
		CHECK(env, napi_create_string_utf8(env, st->status[i].loaded ? "" : st->status[i].reason,
						   NAPI_AUTO_LENGTH, &v));
		CHECK(env, napi_set_named_property(env, item, "reason", v));
		CHECK(env, napi_create_uint32(env, program_id(st, i), &v));
		CHECK(env, napi_set_named_property(env, item, "id", v));
		CHECK(env, napi_set_element(env, out, (uint32_t)i, item));
	}
	return out;
}

/* ---- draining ---- */

static void deliver(struct session *s, napi_value view, napi_value buffer, uint32_t cgroup_bytes, uint32_t events);

static int ring_open(struct ring *r, int fd, uint32_t size)
{
	void *cons, *prod;

	r->page_size = (size_t)sysconf(_SC_PAGESIZE);
	cons = mmap(NULL, r->page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (cons == MAP_FAILED)
		return -errno;
	/* The producer page and the data pages, once (libbpf maps the data twice). */
	prod = mmap(NULL, r->page_size + size, PROT_READ, MAP_SHARED, fd, (off_t)r->page_size);
	if (prod == MAP_FAILED) {
		int err = -errno;

		munmap(cons, r->page_size);
		return err;
	}
	r->consumer_pos = cons;
	r->producer_pos = prod;
	r->data = (const uint8_t *)prod + r->page_size;
	r->mask = (uint64_t)size - 1;
	return 0;
}

static void ring_close(struct ring *r)
{
	munmap(r->consumer_pos, r->page_size);
	munmap(r->producer_pos, r->page_size + r->mask + 1);
}

/* The events ring and the cgroup records' ring, both or neither; 0 or -errno. */
static int rings_open(struct session *s)
{
	const struct ebpf_otel *skel = s->bpf.skel;
	int rc = ring_open(&s->ring, bpf_map__fd(skel->maps.events), bpf_map__max_entries(skel->maps.events));

	if (rc)
		return rc;
	rc = ring_open(&s->cgroup_ring, bpf_map__fd(skel->maps.cgroup_events),
		       bpf_map__max_entries(skel->maps.cgroup_events));
	if (rc)
		ring_close(&s->ring);
	return rc;
}

static void rings_close(struct session *s)
{
	ring_close(&s->ring);
	ring_close(&s->cgroup_ring);
}

/* n bytes of the data area from position pos, the end wrapping to the start. */
static void ring_copy(const struct ring *r, void *dst, uint64_t pos, size_t n)
{
	uint64_t off = pos & r->mask, first = r->mask + 1 - off;

	if (n <= first) {
		memcpy(dst, r->data + off, n);
	} else {
		memcpy(dst, r->data + off, first);
		memcpy((uint8_t *)dst + first, r->data, n - first);
	}
}

/* A sample's length word: acquire, as the kernel commits a sample by clearing its busy bit. */
static uint32_t ring_sample_len(const struct ring *r, uint64_t pos)
{
	return __atomic_load_n((const uint32_t *)(r->data + (pos & r->mask)), __ATOMIC_ACQUIRE);
}

/* The record at sample position pos: its own size if plausible for a sample of len bytes, else 0. */
static uint32_t record_size(const struct ring *r, uint64_t pos, uint32_t len)
{
	uint32_t size;

	if (len < sizeof(struct event_header))
		return 0;
	ring_copy(r, &size, pos + BPF_RINGBUF_HDR_SZ, sizeof(size));
	return size >= sizeof(struct event_header) && size <= len && !(size & 7) ? size : 0;
}

/*
 * A Buffer of BATCH_BYTES for the next batch: one JS handed back (release),
 * else a new one. Reusing them matters: V8 counts every new Buffer's memory
 * as external, and at ~30 MB/s of fresh batch Buffers it ran a full mark-
 * compact every ~0.3 s (a quarter of the agent's CPU at 200 k records/s).
 */
static bool batch_buffer(struct session *s, napi_value *buffer, uint8_t **data)
{
	size_t len = 0;

	while (s->pool_n) {
		napi_ref ref = s->pool[--s->pool_n];
		bool ok = napi_get_reference_value(s->env, ref, buffer) == napi_ok && *buffer &&
			  napi_get_buffer_info(s->env, *buffer, (void **)data, &len) == napi_ok && len == BATCH_BYTES;

		napi_delete_reference(s->env, ref);
		if (ok)
			return true;
	}
	return napi_create_buffer(s->env, BATCH_BYTES, (void **)data, buffer) == napi_ok;
}

/* buffer.subarray(0, bytes): the batch as JS sees it; NULL if that failed. */
static napi_value buffer_view(struct session *s, napi_value buffer, size_t bytes)
{
	napi_value fn, args[2], view;

	if (napi_get_reference_value(s->env, s->subarray, &fn) != napi_ok ||
	    napi_create_uint32(s->env, 0, &args[0]) != napi_ok ||
	    napi_create_uint32(s->env, (uint32_t)bytes, &args[1]) != napi_ok ||
	    napi_call_function(s->env, buffer, fn, 2, args, &view) != napi_ok)
		return NULL;
	return view;
}

/* A batch Buffer that took no record goes back to the pool. */
static void unused_buffer(struct session *s, napi_value buffer)
{
	if (s->pool_n < POOL_MAX && napi_create_reference(s->env, buffer, 1, &s->pool[s->pool_n]) == napi_ok)
		s->pool_n++;
}

/*
 * A batch being filled: where its records go and its limits. The records go
 * from the front of the BATCH_BYTES at `out`; where each event record starts
 * goes from the back (a u32 each, the last at the very end), so that JS walks
 * no record to find them.
 */
struct batch_fill {
	uint8_t *out;
	size_t bytes;
	uint32_t count, max_records, malformed, events;
};

/* Where ring_take stopped: at the end given, at a sample still being written, or at the batch's limit. */
enum take_end {
	TAKE_ALL,
	TAKE_BUSY,
	TAKE_FULL
};

/*
 * Copies the committed samples of r from its consumer position up to end into
 * the batch, within the batch's limits, and moves the consumer position past
 * what it took. Samples of the events ring (`events`) are checked as
 * EventBatch.parse would (a bad one is counted malformed and left out) and
 * their offsets recorded.
 */
static enum take_end ring_take(struct ring *r, uint64_t end, struct batch_fill *b, bool events)
{
	uint64_t pos;
	uint32_t len, size;
	enum take_end stop = TAKE_ALL;

	for (pos = *r->consumer_pos; pos < end;
	     pos +=
	     (BPF_RINGBUF_HDR_SZ + (len & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) + 7) & ~7ULL) {
		len = ring_sample_len(r, pos);
		if (len & BPF_RINGBUF_BUSY_BIT) {
			stop = TAKE_BUSY;
			break;
		}
		if (len & BPF_RINGBUF_DISCARD_BIT)
			continue;
		size = record_size(r, pos, len);
		if (!size) {
			b->malformed++;
			continue;
		}
		if (b->count == b->max_records || b->bytes + size + 4 * ((size_t)b->events + 1) > BATCH_BYTES) {
			stop = TAKE_FULL;
			break;
		}
		ring_copy(r, b->out + b->bytes, pos + BPF_RINGBUF_HDR_SZ, size);
		if (events) {
			uint32_t at = (uint32_t)b->bytes;

			if (!event_record_valid(b->out + b->bytes, size)) {
				b->malformed++;
				continue;
			}
			b->events++;
			memcpy(b->out + BATCH_BYTES - 4 * (size_t)b->events, &at, 4);
		}
		b->bytes += size;
		b->count++;
	}
	/* The samples are ours now: the kernel may reuse their space. */
	__atomic_store_n(r->consumer_pos, (unsigned long)pos, __ATOMIC_RELEASE);
	return stop;
}

/* The offsets went in from the back, the first last: reversed, they read in order. */
static void offsets_in_order(uint32_t *offsets, uint32_t n)
{
	for (uint32_t i = 0, j = n; i + 1 < j; i++, j--) {
		uint32_t t = offsets[i];

		offsets[i] = offsets[j - 1];
		offsets[j - 1] = t;
	}
}

/*
 * One batch: the committed cgroup records, then the committed events, copied
 * into a batch Buffer, at most max_records records and BATCH_BYTES bytes.
 * A cgroup is made before any task can run in it, so its mkdir record is
 * committed before the reservation of its first event: reading the events'
 * producer position first, then taking every cgroup record committed by now,
 * then the events only up to that position, hands JS a cgroup's mkdir no
 * later than the batch with its first event. A cgroup record still being
 * written holds the events back until it is committed (microseconds: the
 * program runs to its submit). Returns 1 when more may wait at once (a limit
 * hit, or events held back), 0 when everything committed was taken, -1 when
 * no Buffer could be had.
 */
static int drain_batch(struct session *s)
{
	uint64_t events_end, cgroups_end;
	enum take_end cgroups, events = TAKE_ALL;
	struct batch_fill b = { .max_records = s->max_records };
	napi_value buffer;
	uint32_t cgroup_bytes;

	/* Acquire loads, in this order: the second cannot be read before the first. */
	events_end = __atomic_load_n(s->ring.producer_pos, __ATOMIC_ACQUIRE);
	cgroups_end = __atomic_load_n(s->cgroup_ring.producer_pos, __ATOMIC_ACQUIRE);
	if (events_end == *s->ring.consumer_pos && cgroups_end == *s->cgroup_ring.consumer_pos)
		return 0;
	if (!batch_buffer(s, &buffer, &b.out))
		return -1;
	cgroups = ring_take(&s->cgroup_ring, cgroups_end, &b, false);
	cgroup_bytes = (uint32_t)b.bytes;
	if (cgroups == TAKE_ALL)
		events = ring_take(&s->ring, events_end, &b, true);
	s->malformed += b.malformed;
	if (b.count) {
		s->batches++;
		s->records += b.count;
		s->bytes += b.bytes;
		offsets_in_order((uint32_t *)(b.out + BATCH_BYTES) - b.events, b.events);
		deliver(s, buffer_view(s, buffer, b.bytes), buffer, cgroup_bytes, b.events);
	} else {
		unused_buffer(s, buffer);
	}
	return cgroups != TAKE_ALL || events == TAKE_FULL;
}

/*
 * The callback gets the batch (a view of the bytes it uses), the Buffer behind it (for release(),
 * and whose last 4 * events bytes are the event records' offsets), the bytes of cgroup records the
 * batch starts with, and the number of event records after them.
 */
static void deliver(struct session *s, napi_value view, napi_value buffer, uint32_t cgroup_bytes, uint32_t events)
{
	napi_env env = s->env;
	napi_value cb, recv, exc, args[4] = { view, buffer };
	bool pending = false;

	if (view && napi_create_uint32(env, cgroup_bytes, &args[2]) == napi_ok &&
	    napi_create_uint32(env, events, &args[3]) == napi_ok &&
	    napi_get_reference_value(env, s->callback, &cb) == napi_ok && napi_get_global(env, &recv) == napi_ok) {
		/* make_callback runs the microtask queue after the call, as for any I/O callback. */
		napi_make_callback(env, s->async_ctx, recv, cb, 4, args, NULL);
	}
	/* A throwing callback is an uncaught exception, as for any I/O callback. */
	if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
	    napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
		napi_fatal_exception(env, exc);
	}
}

/* Consumes up to max_batches batches; true when more is waiting. */
static bool drain(struct session *s, int max_batches)
{
	int rc = 0;

	s->in_drain = true;
	for (int i = 0; i < max_batches && !s->closing; i++) {
		napi_handle_scope scope;

		if (napi_open_handle_scope(s->env, &scope) != napi_ok)
			break;
		rc = drain_batch(s);
		napi_close_handle_scope(s->env, scope);
		if (rc != 1)
			break;
	}
	s->in_drain = false;
	return rc == 1;
}

static void on_tick(uv_timer_t *timer)
{
	struct session *s = timer->data;

	/* More is waiting: come back right after pending I/O instead of a full interval. */
	if (drain(s, BATCHES_PER_TICK) && !s->closing)
		uv_timer_start(&s->timer, on_tick, 0, s->interval_ms);
}

static void free_session(struct session *s)
{
	free(s);
}

static void on_timer_closed(uv_handle_t *handle)
{
	struct session *s = handle->data;

	if (s->rings_mapped)
		rings_close(s);
	s->rings_mapped = false;
	bpf_state_close(&s->bpf);
	while (s->pool_n)
		napi_delete_reference(s->env, s->pool[--s->pool_n]);
	if (s->subarray)
		napi_delete_reference(s->env, s->subarray);
	napi_delete_reference(s->env, s->callback);
	napi_async_destroy(s->env, s->async_ctx);
	if (s->cleanup_hook)
		napi_remove_async_cleanup_hook(s->cleanup_hook);
	s->cleanup_hook = NULL;
	s->closed = true;
	if (s->finalized)
		free_session(s);
}

/*
 * Detaches at once so nothing new is produced; with deliver_rest (a JS
 * close() outside the batch callback) hands over what is still in the rings
 * first. The rings and maps are freed in on_timer_closed.
 */
static void session_close(struct session *s, bool deliver_rest)
{
	if (s->closing)
		return;
	for (size_t i = 0; i < PROGRAM_COUNT; i++) {
		bpf_link__destroy(s->bpf.links[i]);
		s->bpf.links[i] = NULL;
	}
	/* Detached: the rings only shrink (a record being written is committed as its program ends), so this ends. */
	if (deliver_rest && !s->in_drain)
		while (drain(s, BATCHES_PER_TICK))
			;
	/* The callback may have called close() during that drain. */
	if (s->closing)
		return;
	s->closing = true;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg)
{
	struct session *s = arg;

	(void)handle;
	session_close(s, false);
}

static void session_finalize(napi_env env, void *data, void *hint)
{
	struct session *s = data;

	(void)env;
	(void)hint;
	s->finalized = true;
	if (s->closed)
		free_session(s);
	else
		session_close(s, false);
}

static struct session *this_session(napi_env env, napi_callback_info info)
{
	napi_value self;
	struct session *s = NULL;

	if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok ||
	    napi_unwrap(env, self, (void **)&s) != napi_ok || !s) {
		throw_error(env, "ebpf session: not a session object");
		return NULL;
	}
	return s;
}

static napi_value stats_object(napi_env env, struct session *s);

/*
 * Returns the kernel counters as they stand once the programs are detached
 * and the rings are drained (final: nothing more is produced), so the caller
 * can close its loss chain exactly; undefined when already closed or called
 * from inside the batch callback (the rings are not drained then). The maps
 * live until the timer's close callback, on a later loop turn.
 */
static napi_value js_close(napi_env env, napi_callback_info info)
{
	struct session *s = this_session(env, info);
	bool final;

	if (!s)
		return NULL;
	final = !s->closing && !s->in_drain;
	session_close(s, true);
	return final && s->bpf.skel ? stats_object(env, s) : NULL;
}

static napi_value js_programs(napi_env env, napi_callback_info info)
{
	struct session *s = this_session(env, info);

	return s ? status_array(env, &s->bpf) : NULL;
}

static bool set_number(napi_env env, napi_value obj, const char *key, double value)
{
	napi_value v;

	return napi_create_double(env, value, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static napi_value js_stats(napi_env env, napi_callback_info info)
{
	struct session *s = this_session(env, info);

	if (!s)
		return NULL;
	if (s->closing)
		THROW(env, "ebpf session: stats() after close()");
	return stats_object(env, s);
}

static napi_value stats_object(napi_env env, struct session *s)
{
	napi_value out, per;
	int ncpu = libbpf_num_possible_cpus();
	struct event_counters *values;

	if (ncpu <= 0)
		THROW(env, "ebpf session: cannot count possible CPUs");
	values = calloc((size_t)ncpu, sizeof(*values));
	if (!values)
		THROW(env, "ebpf session: out of memory");
	CHECK(env, napi_create_object(env, &out));
	for (uint32_t type = 1; type <= EVENT_TYPE_MAX; type++) {
		struct event_counters sum = { 0 };

		if (bpf_map_lookup_elem(bpf_map__fd(s->bpf.skel->maps.counters), &type, values) == 0) {
			for (int c = 0; c < ncpu; c++) {
				sum.produced += values[c].produced;
				sum.dropped += values[c].dropped;
				sum.filtered += values[c].filtered;
				sum.rate_limited += values[c].rate_limited;
			}
		}
		if (napi_create_object(env, &per) != napi_ok ||
		    !set_number(env, per, "produced", (double)sum.produced) ||
		    !set_number(env, per, "dropped", (double)sum.dropped) ||
		    !set_number(env, per, "filtered", (double)sum.filtered) ||
		    !set_number(env, per, "rateLimited", (double)sum.rate_limited) ||
		    napi_set_named_property(env, out, EVENT_NAMES[type], per) != napi_ok) {
			free(values);
			rethrow_status(env, "building stats");
			return NULL;
		}
	}
	free(values);
	if (!set_number(env, out, "malformed", (double)s->malformed) ||
	    !set_number(env, out, "batches", (double)s->batches) ||
	    !set_number(env, out, "records", (double)s->records) || !set_number(env, out, "bytes", (double)s->bytes))
		rethrow_status(env, "building stats");
	return out;
}

static int fill_path_prefixes(int fd, char (*paths)[MAX_PATH_LEN], uint32_t n, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < n; i++) {
		struct path_key key = { 0 };
		__u8 one = 1;
		size_t len = strlen(paths[i]);

		key.prefixlen = (uint32_t)len * 8;
		memcpy(key.path, paths[i], len);
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY)) {
			snprintf(err, errlen, "path prefix \"%s\": %s", paths[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The session `this` of a verdict call and its first argument, a cgroup id; NULL after throwing. */
static struct session *verdict_call(napi_env env, napi_callback_info info, napi_value *argv, size_t want,
				    __u64 *cgroup_id)
{
	size_t argc = want;
	napi_value self;
	struct session *s = NULL;
	double id;

	if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok ||
	    napi_unwrap(env, self, (void **)&s) != napi_ok || !s) {
		throw_error(env, "ebpf session: not a session object");
		return NULL;
	}
	if (argc < want || napi_get_value_double(env, argv[0], &id) != napi_ok) {
		throw_error(env, want == 2 ? "setVerdict(cgroupId: number, traced: boolean)"
					   : "clearVerdict(cgroupId: number)");
		return NULL;
	}
	*cgroup_id = (__u64)id;
	return s;
}

/* setVerdict(cgroupId, traced): the container hierarchy's cgroup traced or not (filters.containers). */
static napi_value js_set_verdict(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	__u64 key;
	bool traced;
	__u8 value;
	struct session *s = verdict_call(env, info, argv, 2, &key);

	if (!s)
		return NULL;
	if (napi_get_value_bool(env, argv[1], &traced) != napi_ok)
		THROW(env, "setVerdict(cgroupId: number, traced: boolean)");
	if (s->closing)
		return NULL;
	value = traced;
	if (bpf_map_update_elem(bpf_map__fd(s->bpf.skel->maps.container_verdicts), &key, &value, BPF_ANY))
		THROW(env, "setVerdict: %s (the map holds at most %d containers)", strerror(errno), VERDICTS_MAX);
	return NULL;
}

/* clearVerdict(cgroupId): the cgroup is gone; its slot is free again. */
static napi_value js_clear_verdict(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	__u64 key;
	struct session *s = verdict_call(env, info, argv, 1, &key);

	if (s && !s->closing)
		bpf_map_delete_elem(bpf_map__fd(s->bpf.skel->maps.container_verdicts), &key);
	return NULL;
}

/*
 * release(buffer): the Buffer behind a batch (the callback's second argument)
 * is no longer used by anyone; the next batches are copied into it. Only for
 * a batch whose consumers are done with it (their promises settled): the
 * view the callback got must not be read after this.
 */
static napi_value js_release(napi_env env, napi_callback_info info)
{
	size_t argc = 1, len = 0;
	napi_value argv[1], self;
	struct session *s = NULL;
	bool is_buffer = false;
	void *data = NULL;

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
	if (napi_unwrap(env, self, (void **)&s) != napi_ok || !s)
		THROW(env, "ebpf session: not a session object");
	if (argc < 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer)
		THROW(env, "release(buffer): the batch's Buffer (the callback's second argument)");
	if (s->closing || s->pool_n >= POOL_MAX || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
	    len != BATCH_BYTES)
		return NULL;
	for (uint32_t i = 0; i < s->pool_n; i++) {
		napi_value pooled;
		void *pooled_data = NULL;
		size_t pooled_len;

		/* Released twice: it must not serve two batches at once. */
		if (napi_get_reference_value(env, s->pool[i], &pooled) == napi_ok && pooled &&
		    napi_get_buffer_info(env, pooled, &pooled_data, &pooled_len) == napi_ok && pooled_data == data)
			return NULL;
	}
	CHECK(env, napi_create_reference(env, argv[0], 1, &s->pool[s->pool_n]));
	s->pool_n++;
	return NULL;
}

static napi_value open_session(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], obj, name;
	napi_valuetype t;
	struct options *o;
	struct session *s;
	struct uv_loop_s *loop;
	char err[2048];
	int rc;
	napi_value probe, subarray;
	napi_property_descriptor methods[] = {
		{ "programs", NULL, js_programs, NULL, NULL, NULL, napi_default, NULL },
		{ "stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
		{ "setVerdict", NULL, js_set_verdict, NULL, NULL, NULL, napi_default, NULL },
		{ "clearVerdict", NULL, js_clear_verdict, NULL, NULL, NULL, napi_default, NULL },
		{ "release", NULL, js_release, NULL, NULL, NULL, napi_default, NULL },
	};

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
		THROW(env, "openSession(options, onBatch): onBatch must be a function");
	o = calloc(1, sizeof(*o));
	s = calloc(1, sizeof(*s));
	if (!o || !s) {
		free(o);
		free(s);
		THROW(env, "ebpf session: out of memory");
	}
	if (!parse_options(env, argv[0], o))
		goto fail;
	if (bpf_state_open(&s->bpf, o, false, err, sizeof(err))) {
		throw_error(env, "%s", err);
		goto fail;
	}
	for (uint32_t i = 0; o->n_deny_pids > DENY_PIDS_INLINE && i < o->n_deny_pids; i++) {
		__u8 one = 1;

		bpf_map_update_elem(bpf_map__fd(s->bpf.skel->maps.deny_pids), &o->deny_pids[i], &one, BPF_ANY);
	}
	for (uint32_t i = 0; i < o->n_deny_comms; i++) {
		__u8 one = 1;

		bpf_map_update_elem(bpf_map__fd(s->bpf.skel->maps.deny_comms), o->deny_comms[i], &one, BPF_ANY);
	}
	if (fill_path_prefixes(bpf_map__fd(s->bpf.skel->maps.include_paths), o->include_paths, o->n_include_paths, err,
			       sizeof(err)) ||
	    fill_path_prefixes(bpf_map__fd(s->bpf.skel->maps.exclude_paths), o->exclude_paths, o->n_exclude_paths, err,
			       sizeof(err))) {
		throw_error(env, "%s", err);
		goto fail_loaded;
	}
	rc = rings_open(s);
	if (rc) {
		throw_error(env, "ebpf session: cannot map the ring buffers: %s", strerror(-rc));
		goto fail_loaded;
	}
	s->rings_mapped = true;
	s->env = env;
	s->max_records = o->max_batch_records;
	s->interval_ms = o->drain_interval_ms;
	if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_timer_init(loop, &s->timer)) {
		throw_error(env, "ebpf session: cannot create the drain timer");
		goto fail_loaded;
	}
	s->timer.data = s;
	if (napi_create_buffer(env, 0, NULL, &probe) != napi_ok ||
	    napi_get_named_property(env, probe, "subarray", &subarray) != napi_ok ||
	    napi_create_reference(env, subarray, 1, &s->subarray) != napi_ok ||
	    napi_create_object(env, &obj) != napi_ok ||
	    napi_define_properties(env, obj, sizeof(methods) / sizeof(methods[0]), methods) != napi_ok ||
	    napi_create_reference(env, argv[1], 1, &s->callback) != napi_ok ||
	    napi_create_string_utf8(env, "ebpf_otel.batch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, obj, name, &s->async_ctx) != napi_ok ||
	    napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup_hook) != napi_ok ||
	    napi_wrap(env, obj, s, session_finalize, NULL, NULL) != napi_ok) {
		/* The timer handle exists now: it must go through uv_close. */
		free(o);
		rethrow_status(env, "creating the session object");
		s->finalized = true;
		session_close(s, false);
		return NULL;
	}
	uv_timer_start(&s->timer, on_tick, s->interval_ms, s->interval_ms);
	free(o);
	return obj;

fail_loaded:
	if (s->rings_mapped)
		rings_close(s);
	bpf_state_close(&s->bpf);
fail:
	free(s);
	free(o);
	return NULL;
}

static napi_value probe_programs(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	struct options *o;
	struct bpf_state st;
	char err[2048];

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	o = calloc(1, sizeof(*o));
	if (!o)
		THROW(env, "probePrograms: out of memory");
	if (argc < 1 || !parse_options(env, argv[0], o)) {
		if (argc < 1)
			throw_error(env, "probePrograms(options): options missing");
		free(o);
		return NULL;
	}
	/* A failure to load anything still has per-program reasons worth showing. */
	bpf_state_open(&st, o, true, err, sizeof(err));
	free(o);
	out = status_array(env, &st);
	bpf_state_close(&st);
	return out;
}

/*
 * Whether this kernel creates BPF_MAP_TYPE_RINGBUF maps, the session's one
 * event transport: creates and closes a page-sized one. For doctor, so
 * a missing ring buffer is named as such rather than as every program failing.
 * { supported, error }: error is set when the probe itself failed (EPERM…).
 */
static napi_value probe_ring_buffer(napi_env env, napi_callback_info info)
{
	napi_value out, v;
	int rc;

	(void)info;
	/* Not libbpf_probe_bpf_map_type: it answers 0 ("no such map type") for
	 * EPERM too, and a missing capability would read as a missing kernel
	 * feature. Only EINVAL (an unknown map type) means the kernel has none. */
	rc = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, (__u32)sysconf(_SC_PAGESIZE), NULL);
	if (rc >= 0) {
		close(rc);
		rc = 1;
	} else {
		rc = errno == EINVAL ? 0 : -errno;
	}
	CHECK(env, napi_create_object(env, &out));
	CHECK(env, napi_get_boolean(env, rc == 1, &v));
	CHECK(env, napi_set_named_property(env, out, "supported", v));
	CHECK(env, napi_create_string_utf8(env, rc < 0 ? strerror(-rc) : "", NAPI_AUTO_LENGTH, &v));
	CHECK(env, napi_set_named_property(env, out, "error", v));
	return out;
}

napi_value session_init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
		{ "openSession", NULL, open_session, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "probePrograms", NULL, probe_programs, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "probeRingBuffer", NULL, probe_ring_buffer, NULL, NULL, NULL, napi_enumerable, NULL },
	};

	CHECK(env, napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns));
	return exports;
}
