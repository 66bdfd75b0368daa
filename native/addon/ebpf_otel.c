// SPDX-License-Identifier: Apache-2.0
/* Entry of the BPF addon (ebpf_otel.node): exports, libbpf log capture, option readers, boot clock. */
#define _GNU_SOURCE /* vasprintf */
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebpf_otel.h"

/* Per thread: sessions may be opened from worker threads too. */
static __thread char last_message[512];

/*
 * Keeps the first libbpf warning since the last clear: for a verifier
 * rejection that is the load log, of which the line naming the fault (the
 * last one before the "processed N insns" summary) is kept.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char *text = NULL, *line, *save = NULL, *pick = NULL;

	if (level == LIBBPF_DEBUG || last_message[0] || vasprintf(&text, fmt, args) < 0)
		return 0;
	if (!strstr(text, "BEGIN PROG LOAD LOG")) {
		pick = strtok_r(text, "\n", &save);
	} else {
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "processed ", 10) || strstr(line, "END PROG LOAD LOG"))
				break;
			if (!strstr(line, "BEGIN PROG LOAD LOG"))
				pick = line;
		}
	}
	if (pick) {
		if (!strncmp(pick, "libbpf: ", 8))
			pick += 8;
		snprintf(last_message, sizeof(last_message), "%s", pick);
	}
	free(text);
	return 0;
}

const char *libbpf_last_message(void)
{
	return last_message;
}

void libbpf_clear_message(void)
{
	last_message[0] = '\0';
}

static bool get_named(napi_env env, napi_value obj, const char *key, napi_value *value, napi_valuetype *type)
{
	bool has = false;

	if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has)
		return false;
	if (napi_get_named_property(env, obj, key, value) != napi_ok || napi_typeof(env, *value, type) != napi_ok)
		return false;
	return *type != napi_undefined;
}

bool get_u32_option(napi_env env, napi_value obj, const char *key, uint32_t *out)
{
	napi_value v;
	napi_valuetype t;

	if (!get_named(env, obj, key, &v, &t))
		return true;
	if (t != napi_number || napi_get_value_uint32(env, v, out) != napi_ok) {
		throw_error(env, "option %s must be a non-negative integer", key);
		return false;
	}
	return true;
}

bool get_bool_option(napi_env env, napi_value obj, const char *key, bool *out)
{
	napi_value v;
	napi_valuetype t;

	if (!get_named(env, obj, key, &v, &t))
		return true;
	if (t != napi_boolean || napi_get_value_bool(env, v, out) != napi_ok) {
		throw_error(env, "option %s must be a boolean", key);
		return false;
	}
	return true;
}

bool get_string_option(napi_env env, napi_value obj, const char *key, char *buf, size_t len, bool *present)
{
	napi_value v;
	napi_valuetype t;
	size_t n = 0;

	*present = false;
	if (!get_named(env, obj, key, &v, &t))
		return true;
	if (t != napi_string || napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok || n >= len - 1) {
		throw_error(env, "option %s must be a string shorter than %zu bytes", key, len - 1);
		return false;
	}
	*present = true;
	return true;
}

bool get_array_option(napi_env env, napi_value obj, const char *key, napi_value *array, uint32_t *len)
{
	napi_valuetype t;
	bool is_array = false;

	*array = NULL;
	*len = 0;
	if (!get_named(env, obj, key, array, &t)) {
		*array = NULL;
		return true;
	}
	if (napi_is_array(env, *array, &is_array) != napi_ok || !is_array ||
	    napi_get_array_length(env, *array, len) != napi_ok) {
		throw_error(env, "option %s must be an array", key);
		return false;
	}
	return true;
}

static napi_value boot_time_ns(napi_env env, napi_callback_info info)
{
	struct timespec ts;
	napi_value out;

	(void)info;
	if (clock_gettime(CLOCK_BOOTTIME, &ts))
		THROW(env, "clock_gettime(CLOCK_BOOTTIME) failed");
	CHECK(env, napi_create_bigint_uint64(env, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec, &out));
	return out;
}

static int64_t timespec_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/*
 * Neither clock can be read at the same instant as the other: boot time is
 * read between two wall-clock reads and set against their midpoint; of a few
 * tries the one with the shortest bracket wins, so a preemption between the
 * reads does not skew the offset.
 */
#define OFFSET_TRIES 5

static napi_value realtime_minus_boottime_ns(napi_env env, napi_callback_info info)
{
	struct timespec before, boot, after;
	int64_t gap, best_gap = INT64_MAX, best = 0;
	napi_value out;

	(void)info;
	for (int i = 0; i < OFFSET_TRIES; i++) {
		if (clock_gettime(CLOCK_REALTIME, &before) || clock_gettime(CLOCK_BOOTTIME, &boot) ||
		    clock_gettime(CLOCK_REALTIME, &after))
			THROW(env, "clock_gettime(CLOCK_REALTIME / CLOCK_BOOTTIME) failed");
		gap = timespec_ns(&after) - timespec_ns(&before);
		/* A wall-clock step between the reads makes the gap negative: not a sample. */
		if (gap < 0 || gap >= best_gap)
			continue;
		best_gap = gap;
		best = timespec_ns(&before) + gap / 2 - timespec_ns(&boot);
	}
	if (best_gap == INT64_MAX)
		THROW(env, "CLOCK_REALTIME stepped back during every read of the boot-time offset");
	CHECK(env, napi_create_bigint_int64(env, best, &out));
	return out;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor props[] = {
		{ "bootTimeNs", NULL, boot_time_ns, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "realtimeMinusBoottimeNs", NULL, realtime_minus_boottime_ns, NULL, NULL, NULL, napi_enumerable,
		  NULL },
	};

	libbpf_set_print(libbpf_print);
	CHECK(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	if (!containers_map_init(env, exports) || !session_init(env, exports) || !hostns_init(env, exports))
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
