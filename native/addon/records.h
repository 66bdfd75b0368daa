/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the addons check of an event record before reading it: the checks of
 * EventBatch.parse (src/events/batch.ts), for the C readers of records — the
 * drain, which hands JavaScript only records that pass, and the encoder,
 * which checks again what it is given. events.h is the layout.
 */
#ifndef RECORDS_H
#define RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "events.h"

/* The fixed part and the variable payload of a record of `type` lie inside its `size`. */
static inline bool record_fits(const uint8_t *rec, __u32 size, __u16 type)
{
	__u16 a, b;

	switch (type) {
	case EVENT_EXEC:
		if (size < offsetof(struct exec_event, data))
			return false;
		memcpy(&a, rec + offsetof(struct exec_event, filename_len), 2);
		memcpy(&b, rec + offsetof(struct exec_event, args_len), 2);
		return offsetof(struct exec_event, data) + a + b <= size;
	case EVENT_EXIT:
		return size >= sizeof(struct exit_event);
	case EVENT_OPEN:
		if (size < offsetof(struct open_event, path))
			return false;
		memcpy(&a, rec + offsetof(struct open_event, path_len), 2);
		return offsetof(struct open_event, path) + a <= size;
	case EVENT_CONNECT:
		return size >= sizeof(struct connect_event);
	case EVENT_THROTTLE:
		return size >= sizeof(struct throttle_event);
	}
	return false;
}

/* An event record (not a cgroup record) of this version whose fields lie inside its `size` bytes. */
static inline bool event_record_valid(const uint8_t *rec, __u32 size)
{
	__u16 type, version;

	if (size < sizeof(struct event_header))
		return false;
	memcpy(&type, rec + offsetof(struct event_header, type), 2);
	memcpy(&version, rec + offsetof(struct event_header, version), 2);
	return version == EVENT_VERSION && record_fits(rec, size, type);
}

#endif
