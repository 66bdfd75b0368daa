/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP LogRecord protobuf written straight from the kernel records: the hot
 * path of the OTLP exporter. Encoding in JavaScript cost ~1.5 µs and several
 * small allocations per record; here it is a few hundred ns and none.
 *
 * The mapping is the one of src/exporters/log-mapping/record.ts
 * (writeLogRecord), which the file exporter uses: the same fields, attribute
 * order, strings and replacement of invalid UTF-8 as Buffer#toString does.
 * test/exporters/otlp-native-encoder.test.ts decodes both with the official
 * OTLP definitions and requires the same message, record by record.
 *
 * Output: one `ScopeLogs.log_records` field (tag, length, LogRecord) per
 * record, appended to a caller's buffer; the TypeScript encoder frames them
 * into ResourceLogs per container.
 *
 * An addon of its own (otlp_logs.node, binding.gyp) that links no libbpf:
 * the exporter runs where the BPF side cannot load or is not used.
 */
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"
#include "events.h"
#include "records.h"

/* Field tags (field number << 3 | wire type) of opentelemetry/proto logs/v1 and common/v1. */
#define T_SCOPE_LOG_RECORD 0x12 /* ScopeLogs.log_records = 2, LEN */
#define T_TIME 0x09             /* LogRecord.time_unix_nano = 1, I64 */
#define T_SEVERITY_NUMBER 0x10  /* LogRecord.severity_number = 2, VARINT */
#define T_SEVERITY_TEXT 0x1a    /* LogRecord.severity_text = 3, LEN */
#define T_BODY 0x2a             /* LogRecord.body = 5, LEN */
#define T_ATTRIBUTE 0x32        /* LogRecord.attributes = 6, LEN */
#define T_OBSERVED 0x59         /* LogRecord.observed_time_unix_nano = 11, I64 */
#define T_EVENT_NAME 0x62       /* LogRecord.event_name = 12, LEN */
#define T_KV_KEY 0x0a           /* KeyValue.key = 1, LEN */
#define T_KV_VALUE 0x12         /* KeyValue.value = 2, LEN */
#define T_ANY_STRING 0x0a       /* AnyValue.string_value = 1, LEN */
#define T_ANY_BOOL 0x10         /* AnyValue.bool_value = 2, VARINT */
#define T_ANY_INT 0x18          /* AnyValue.int_value = 3, VARINT */
#define T_ANY_ARRAY 0x2a        /* AnyValue.array_value = 5, LEN */
#define T_ARRAY_VALUE 0x0a      /* ArrayValue.values = 1, LEN */

/* OTLP SeverityNumber: INFO and WARN, as in log-mapping/record.ts. */
#define SEVERITY_INFO 9
#define SEVERITY_WARN 13

#define EINPROGRESS_ERRNO 115
#define ERRNO_NAMES_MAX 4096
/* Room reserved for a LogRecord's length: records are 128 B – 16 KiB. */
#define RECORD_LEN_RESERVE 2

/* Attribute keys: the names of src/exporters/log-mapping/attributes.ts. */
enum attr_key {
	A_PID,
	A_THREAD_ID,
	A_PARENT_PID,
	A_EXECUTABLE_NAME,
	A_EXECUTABLE_PATH,
	A_COMMAND_ARGS,
	A_EXIT_CODE,
	A_REAL_USER_ID,
	A_REAL_GROUP_ID,
	A_FILE_PATH,
	A_PEER_ADDRESS,
	A_PEER_PORT,
	A_TRANSPORT,
	A_NETWORK_TYPE,
	A_ERROR_TYPE,
	A_MNTNS,
	A_CGROUP_ID,
	A_ARGS_TRUNCATED,
	A_EXIT_SIGNAL,
	A_DURATION_NS,
	A_OPEN_FLAGS,
	A_THROTTLE_STATE,
	A_THROTTLE_DROPPED,
};

struct text {
	const char *s;
	size_t len;
};
#define TEXT(literal)                                                                                                  \
	{                                                                                                              \
		literal, sizeof(literal) - 1                                                                           \
	}

static const struct text attr_keys[] = {
	[A_PID] = TEXT("process.pid"),
	[A_THREAD_ID] = TEXT("thread.id"),
	[A_PARENT_PID] = TEXT("process.parent_pid"),
	[A_EXECUTABLE_NAME] = TEXT("process.executable.name"),
	[A_EXECUTABLE_PATH] = TEXT("process.executable.path"),
	[A_COMMAND_ARGS] = TEXT("process.command_args"),
	[A_EXIT_CODE] = TEXT("process.exit.code"),
	[A_REAL_USER_ID] = TEXT("process.real_user.id"),
	[A_REAL_GROUP_ID] = TEXT("process.real_group.id"),
	[A_FILE_PATH] = TEXT("file.path"),
	[A_PEER_ADDRESS] = TEXT("network.peer.address"),
	[A_PEER_PORT] = TEXT("network.peer.port"),
	[A_TRANSPORT] = TEXT("network.transport"),
	[A_NETWORK_TYPE] = TEXT("network.type"),
	[A_ERROR_TYPE] = TEXT("error.type"),
	[A_MNTNS] = TEXT("linux.mnt_ns.id"),
	[A_CGROUP_ID] = TEXT("linux.cgroup.id"),
	[A_ARGS_TRUNCATED] = TEXT("linux.process.args_truncated"),
	[A_EXIT_SIGNAL] = TEXT("linux.process.exit_signal"),
	[A_DURATION_NS] = TEXT("linux.process.duration_ns"),
	[A_OPEN_FLAGS] = TEXT("linux.open.flags"),
	[A_THROTTLE_STATE] = TEXT("ebpf_container_otel.throttle.state"),
	[A_THROTTLE_DROPPED] = TEXT("ebpf_container_otel.throttle.dropped"),
};

/* Per event type (index = enum event_type): the LogRecord's `event_name` and the body's prefix. */
static const struct text event_names[] = {
	[EVENT_EXEC] = TEXT("process.exec"),
	[EVENT_EXIT] = TEXT("process.exit"),
	[EVENT_OPEN] = TEXT("file.open"),
	[EVENT_CONNECT] = TEXT("network.connect"),
	[EVENT_THROTTLE] = TEXT("ebpf_container_otel.throttle"),
};
static const struct text body_prefixes[] = {
	[EVENT_EXEC] = TEXT("exec "),       [EVENT_EXIT] = TEXT("exit "),         [EVENT_OPEN] = TEXT("open "),
	[EVENT_CONNECT] = TEXT("connect "), [EVENT_THROTTLE] = TEXT("throttle "),
};

/* What the encoder keeps between calls: errno names as Node's os.constants.errno has them. */
/*
 * The process attributes every record ends with (parent pid, comm, uid, gid,
 * mount namespace, cgroup) are the same bytes for every record of a process:
 * the last ones written are kept with the header fields they came from and
 * copied when the next record has the same (a run of records of one process
 * is the common case). At most this many bytes: comm repaired (48) and the
 * framing of six attributes fit well within.
 */
#define PROCESS_BLOCK_MAX 320
struct process_block {
	/* ppid, uid, gid, mntns, cgroup_id and comm of the record the bytes were written for */
	__u32 ppid, uid, gid;
	__u64 mntns, cgroup_id;
	char comm[TASK_COMM_LEN];
	size_t len;
	uint8_t bytes[PROCESS_BLOCK_MAX];
};

struct log_encoder {
	char *errno_names[ERRNO_NAMES_MAX];
	struct process_block process;
};

struct out {
	uint8_t *p;
};

static inline size_t varint_size(uint64_t v)
{
	/* 1 + one byte per further 7 bits: (bits needed - 1) / 7, bits of 0 counted as 1. */
	return 1 + (size_t)(63 - __builtin_clzll(v | 1)) / 7;
}

static inline void put_byte(struct out *restrict o, uint8_t b)
{
	*o->p++ = b;
}

static inline void put_varint(struct out *restrict o, uint64_t v)
{
	if (v < 0x80) {
		*o->p++ = (uint8_t)v;
		return;
	}
	while (v >= 0x80) {
		*o->p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o->p++ = (uint8_t)v;
}

static inline void put_bytes(struct out *restrict o, const void *src, size_t n)
{
	memcpy(o->p, src, n);
	o->p += n;
}

static inline void put_fixed64(struct out *restrict o, uint64_t v)
{
	memcpy(o->p, &v, 8); /* protobuf fixed64 is little-endian, as is this host (x86-64) */
	o->p += 8;
}

/*
 * UTF-8 checking and repair with the WHATWG decoder's rules, which V8 (and
 * so Buffer#toString) follows: each maximal invalid subpart becomes one
 * U+FFFD. `utf8_next` returns the length of the valid sequence at s (0 when
 * the bytes there are invalid) and sets *skip to how many bytes one
 * replacement character stands for.
 */
static size_t utf8_next(const uint8_t *s, size_t n, size_t *skip)
{
	uint8_t b = s[0], lower = 0x80, upper = 0xbf;
	size_t need, i;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		need = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		need = 2;
		if (b == 0xe0)
			lower = 0xa0;
		if (b == 0xed)
			upper = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 3;
		if (b == 0xf0)
			lower = 0x90;
		if (b == 0xf4)
			upper = 0x8f;
	} else {
		*skip = 1;
		return 0;
	}
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < lower || s[i] > upper) {
			*skip = i;
			return 0;
		}
		lower = 0x80;
		upper = 0xbf;
	}
	return need + 1;
}

/* Bytes of s after repair; equal to n exactly when s is valid UTF-8. */
static size_t utf8_repaired_len(const uint8_t *s, size_t n)
{
	size_t i = 0, out = 0, skip, len;
	uint64_t word;

	while (i < n) {
		/* Kernel strings are mostly ASCII: eight bytes per step while they are */
		if (n - i >= 8) {
			memcpy(&word, s + i, 8);
			if (!(word & 0x8080808080808080ULL)) {
				i += 8;
				out += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			i++;
			out++;
			continue;
		}
		len = utf8_next(s + i, n - i, &skip);
		if (len) {
			i += len;
			out += len;
		} else {
			i += skip;
			out += 3;
		}
	}
	return out;
}

/* Writes s repaired (valid: as is). */
static inline __attribute__((always_inline)) void put_utf8(struct out *restrict o, const uint8_t *s, size_t n,
							   size_t repaired_len)
{
	size_t i = 0, skip, len;

	if (repaired_len == n) {
		put_bytes(o, s, n);
	} else {
		while (i < n) {
			len = utf8_next(s + i, n - i, &skip);
			if (len) {
				put_bytes(o, s + i, len);
				i += len;
			} else {
				put_bytes(o, "\xef\xbf\xbd", 3);
				i += skip;
			}
		}
	}
}

/* Decimal text of v (at most 20 digits) at buf; returns its length. snprintf was a tenth of the encoder's time. */
static size_t format_u64(char *buf, uint64_t v)
{
	char digits[20];
	size_t n = 0, len;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (len = 0; len < n; len++)
		buf[len] = digits[n - 1 - len];
	return len;
}

static size_t format_s64(char *buf, int64_t v)
{
	if (v >= 0)
		return format_u64(buf, (uint64_t)v);
	buf[0] = '-';
	return 1 + format_u64(buf + 1, -(uint64_t)v);
}

/*
 * Each key's `KeyValue.key` field (tag, length, name), written once at load
 * and copied as one fixed-size block: a constant-size copy is a few vector
 * stores, where a copy of each name's own length was a libc call.
 */
#define KEY_BLOCK 48
struct key_block {
	uint8_t bytes[KEY_BLOCK];
	uint8_t len;
};
static struct key_block key_blocks[sizeof(attr_keys) / sizeof(attr_keys[0])];

static void init_key_blocks(void)
{
	for (size_t k = 0; k < sizeof(attr_keys) / sizeof(attr_keys[0]); k++) {
		struct key_block *b = &key_blocks[k];

		/* Every name is under 128 bytes (one-byte length) and fits the block with its tag. */
		b->bytes[0] = T_KV_KEY;
		b->bytes[1] = (uint8_t)attr_keys[k].len;
		memcpy(b->bytes + 2, attr_keys[k].s, attr_keys[k].len);
		b->len = (uint8_t)(2 + attr_keys[k].len);
	}
}

/* KEY_BLOCK bytes as six 8-byte moves (a plain memcpy of 48 bytes became `rep movs`, slow at this size). */
static inline void copy_key_block(uint8_t *dst, const uint8_t *src)
{
	uint64_t w0, w1, w2, w3, w4, w5;

	memcpy(&w0, src, 8);
	memcpy(&w1, src + 8, 8);
	memcpy(&w2, src + 16, 8);
	memcpy(&w3, src + 24, 8);
	memcpy(&w4, src + 32, 8);
	memcpy(&w5, src + 40, 8);
	memcpy(dst, &w0, 8);
	memcpy(dst + 8, &w1, 8);
	memcpy(dst + 16, &w2, 8);
	memcpy(dst + 24, &w3, 8);
	memcpy(dst + 32, &w4, 8);
	memcpy(dst + 40, &w5, 8);
}

/*
 * The attribute field up to its AnyValue's content: tag, lengths, key, value
 * tag. The output has room past the record's bound (record_bound), so the
 * whole key block is stored and the position moves by its used length.
 */
static inline void put_attr_head(struct out *restrict o, enum attr_key key, size_t any_len)
{
	const struct key_block *b = &key_blocks[key];
	size_t kv_len = b->len + 1 + varint_size(any_len) + any_len;

	put_byte(o, T_ATTRIBUTE);
	put_varint(o, kv_len);
	copy_key_block(o->p, b->bytes);
	o->p += b->len;
	put_byte(o, T_KV_VALUE);
	put_varint(o, any_len);
}

static inline __attribute__((always_inline)) void attr_int(struct out *restrict o, enum attr_key key, int64_t v)
{
	put_attr_head(o, key, 1 + varint_size((uint64_t)v));
	put_byte(o, T_ANY_INT);
	put_varint(o, (uint64_t)v); /* int64: negatives as ten bytes of two's complement */
}

static inline __attribute__((always_inline)) void attr_bool(struct out *restrict o, enum attr_key key, bool v)
{
	put_attr_head(o, key, 2);
	put_byte(o, T_ANY_BOOL);
	put_byte(o, v);
}

static inline __attribute__((always_inline)) void attr_str(struct out *restrict o, enum attr_key key, const char *s,
							   size_t n)
{
	put_attr_head(o, key, 1 + varint_size(n) + n);
	put_byte(o, T_ANY_STRING);
	put_varint(o, n);
	put_bytes(o, s, n);
}

/* Bytes of a string as they are (s, n) and their length once repaired (len == n: valid UTF-8). */
struct raw_str {
	const uint8_t *s;
	size_t n;
	size_t len;
};

/* Kernel bytes, checked once for the body and the attribute that both carry them. */
static inline __attribute__((always_inline)) struct raw_str kernel_str(const uint8_t *s, size_t n)
{
	return (struct raw_str){ s, n, utf8_repaired_len(s, n) };
}

/* Text this file formatted (digits, addresses): ASCII. */
static struct raw_str ascii_str(const char *s, size_t n)
{
	return (struct raw_str){ (const uint8_t *)s, n, n };
}

static inline __attribute__((always_inline)) void attr_raw(struct out *restrict o, enum attr_key key, struct raw_str v)
{
	put_attr_head(o, key, 1 + varint_size(v.len) + v.len);
	put_byte(o, T_ANY_STRING);
	put_varint(o, v.len);
	put_utf8(o, v.s, v.n, v.len);
}

/* Where the NUL-separated string at s[0..n) that starts at `from` ends (n for the last). */
static size_t list_item_end(const uint8_t *s, size_t n, size_t from)
{
	const uint8_t *nul = memchr(s + from, 0, n - from);

	return nul ? (size_t)(nul - s) : n;
}

/* Bytes of one ArrayValue.values entry: a string AnyValue of `len` repaired bytes. */
static size_t list_entry_size(size_t len)
{
	size_t any = 1 + varint_size(len) + len;

	return 1 + varint_size(any) + any;
}

/*
 * NUL-separated strings (argv) as a string-array attribute, one element per string, empty ones
 * included, each repaired on its own (a NUL is ASCII, so no sequence spans two). Two passes: the
 * lengths, then the bytes.
 */
static void attr_list(struct out *restrict o, enum attr_key key, const uint8_t *s, size_t n)
{
	size_t array_len = 0, from, end, len;

	for (from = 0;; from = end + 1) {
		end = list_item_end(s, n, from);
		array_len += list_entry_size(utf8_repaired_len(s + from, end - from));
		if (end >= n)
			break;
	}
	put_attr_head(o, key, 1 + varint_size(array_len) + array_len);
	put_byte(o, T_ANY_ARRAY);
	put_varint(o, array_len);
	for (from = 0;; from = end + 1) {
		end = list_item_end(s, n, from);
		len = utf8_repaired_len(s + from, end - from);
		put_byte(o, T_ARRAY_VALUE);
		put_varint(o, 1 + varint_size(len) + len);
		put_byte(o, T_ANY_STRING);
		put_varint(o, len);
		put_utf8(o, s + from, end - from, len);
		if (end >= n)
			break;
	}
}

/* Body: a string AnyValue `<type> <detail>`. */
static inline __attribute__((always_inline)) void put_body(struct out *restrict o, __u16 type, struct raw_str detail)
{
	const char *prefix = body_prefixes[type].s;
	size_t plen = body_prefixes[type].len;
	size_t str_len = plen + detail.len;

	put_byte(o, T_BODY);
	put_varint(o, 1 + varint_size(str_len) + str_len);
	put_byte(o, T_ANY_STRING);
	put_varint(o, str_len);
	put_bytes(o, prefix, plen);
	put_utf8(o, detail.s, detail.n, detail.len);
}

static void attr_errno(struct out *restrict o, const struct log_encoder *enc, __s32 ret)
{
	char text[32];
	int64_t err = -(int64_t)ret;
	const char *name = err < ERRNO_NAMES_MAX ? enc->errno_names[err] : NULL;

	if (name) {
		attr_str(o, A_ERROR_TYPE, name, strlen(name));
	} else {
		int n = snprintf(text, sizeof(text), "errno %lld", (long long)err);
		attr_str(o, A_ERROR_TYPE, text, (size_t)n);
	}
}

/* Dotted IPv4, or IPv6 as RFC 5952 (formatIPv6 in src/events/batch.ts). */
static size_t format_address(char *buf, size_t size, __u16 family, const __u8 *a)
{
	int best_start = -1, best_len = 0, n = 0;
	unsigned groups[8];

	if (family == 2) {
		size_t len = 0;

		for (int k = 0; k < 4; k++) {
			if (k)
				buf[len++] = '.';
			len += format_u64(buf + len, a[k]);
		}
		return len;
	}
	for (int g = 0; g < 8; g++)
		groups[g] = (unsigned)a[2 * g] << 8 | a[2 * g + 1];
	if (!groups[0] && !groups[1] && !groups[2] && !groups[3] && !groups[4] && groups[5] == 0xffff)
		return (size_t)snprintf(buf, size, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
	for (int g = 0; g < 8;) {
		int end = g;

		if (groups[g]) {
			g++;
			continue;
		}
		while (end < 8 && !groups[end])
			end++;
		if (end - g > best_len && end - g > 1) {
			best_start = g;
			best_len = end - g;
		}
		g = end;
	}
	for (int g = 0; g < 8; g++) {
		if (g == best_start) {
			n += snprintf(buf + n, size - n, "::");
			g += best_len - 1;
			continue;
		}
		n += snprintf(buf + n, size - n, "%s%x", n && buf[n - 1] != ':' ? ":" : "", groups[g]);
	}
	return (size_t)n;
}

struct clock_params {
	int64_t boot_to_unix_ns;
	uint64_t observed_unix_ns;
};

/*
 * Upper bound of one encoded record: kernel strings at most twice, tripled by repair; an argument
 * costs at most 4 bytes of framing for its 1-byte NUL (an empty argument: 4 bytes in all).
 */
static size_t record_bound(__u32 size)
{
	/* + a key block: put_attr_head stores a whole one past the last attribute's key. */
	return 6 * (size_t)size + 1024 + KEY_BLOCK;
}

/* Parent pid, comm, uid, gid, mount namespace and cgroup: copied when the previous record's were the same. */
static void put_process_attrs(struct out *restrict o, struct log_encoder *enc, const uint8_t *rec, const char *comm)
{
	struct process_block *b = &enc->process;
	__u32 ppid, uid, gid;
	__u64 mntns, cgroup_id;
	uint8_t *start = o->p;

	memcpy(&ppid, rec + offsetof(struct event_header, ppid), 4);
	memcpy(&uid, rec + offsetof(struct event_header, uid), 4);
	memcpy(&gid, rec + offsetof(struct event_header, gid), 4);
	memcpy(&mntns, rec + offsetof(struct event_header, mntns), 8);
	memcpy(&cgroup_id, rec + offsetof(struct event_header, cgroup_id), 8);
	if (b->len && b->ppid == ppid && b->uid == uid && b->gid == gid && b->mntns == mntns &&
	    b->cgroup_id == cgroup_id && !memcmp(b->comm, comm, TASK_COMM_LEN)) {
		put_bytes(o, b->bytes, b->len);
		return;
	}
	attr_int(o, A_PARENT_PID, ppid);
	attr_raw(o, A_EXECUTABLE_NAME, kernel_str((const uint8_t *)comm, strnlen(comm, TASK_COMM_LEN)));
	attr_int(o, A_REAL_USER_ID, uid);
	attr_int(o, A_REAL_GROUP_ID, gid);
	attr_int(o, A_MNTNS, (int64_t)mntns);
	attr_int(o, A_CGROUP_ID, (int64_t)cgroup_id);
	b->len = 0;
	if ((size_t)(o->p - start) <= PROCESS_BLOCK_MAX) {
		b->ppid = ppid;
		b->uid = uid;
		b->gid = gid;
		b->mntns = mntns;
		b->cgroup_id = cgroup_id;
		memcpy(b->comm, comm, TASK_COMM_LEN);
		b->len = (size_t)(o->p - start);
		memcpy(b->bytes, start, b->len);
	}
}

/*
 * A field of the record at rec, by its struct and member: a load of the field's size (records are
 * 8-byte aligned; a memcpy of a constant small size is one mov). Whole-struct copies were `rep movs`
 * and a third of the encoder's time.
 */
#define FIELD(rec, type, member)                                                                                       \
	({                                                                                                             \
		__typeof__(((type *)0)->member) v_;                                                                    \
		memcpy(&v_, (rec) + offsetof(type, member), sizeof(v_));                                               \
		v_;                                                                                                    \
	})

static void encode_record(struct out *restrict o, struct log_encoder *enc, const uint8_t *rec,
			  const struct clock_params *clock)
{
	__u16 type = FIELD(rec, struct event_header, type);
	const char *comm = (const char *)rec + offsetof(struct event_header, comm);
	uint8_t *len_at, *body_start;
	size_t len, need;
	const struct text *name;
	char text[96];
	bool warn = false;
	size_t n;

	name = &event_names[type];
	if (type == EVENT_OPEN) {
		warn = FIELD(rec, struct open_event, ret) < 0;
	} else if (type == EVENT_CONNECT) {
		__s32 ret = FIELD(rec, struct connect_event, ret);

		warn = ret < 0 && ret != -EINPROGRESS_ERRNO;
	} else if (type == EVENT_THROTTLE) {
		warn = FIELD(rec, struct throttle_event, state) == THROTTLE_START;
	}

	put_byte(o, T_SCOPE_LOG_RECORD);
	len_at = o->p;
	o->p += RECORD_LEN_RESERVE;
	body_start = o->p;
	put_byte(o, T_TIME);
	put_fixed64(o, FIELD(rec, struct event_header, ts_boot_ns) + (uint64_t)clock->boot_to_unix_ns);
	put_byte(o, T_SEVERITY_NUMBER);
	put_varint(o, warn ? SEVERITY_WARN : SEVERITY_INFO);
	put_byte(o, T_SEVERITY_TEXT);
	put_byte(o, 4);
	put_bytes(o, warn ? "WARN" : "INFO", 4);
	put_byte(o, T_OBSERVED);
	put_fixed64(o, clock->observed_unix_ns);
	put_byte(o, T_EVENT_NAME);
	put_varint(o, name->len);
	put_bytes(o, name->s, name->len);

	switch (type) {
	case EVENT_EXEC: {
		const uint8_t *filename = rec + offsetof(struct exec_event, data), *args;
		__u16 filename_len = FIELD(rec, struct exec_event, filename_len);
		size_t args_len = FIELD(rec, struct exec_event, args_len);

		args = filename + filename_len;
		/* each argument ends with a NUL (the last may be cut short): the last NUL ends no empty one */
		if (args_len && args[args_len - 1] == 0)
			args_len--;
		struct raw_str name_str = kernel_str(filename, filename_len);

		put_body(o, type, name_str);
		attr_raw(o, A_EXECUTABLE_PATH, name_str);
		if (args_len)
			attr_list(o, A_COMMAND_ARGS, args, args_len);
		if (FIELD(rec, struct exec_event, flags) & EXEC_ARGS_TRUNCATED)
			attr_bool(o, A_ARGS_TRUNCATED, true);
		break;
	}
	case EVENT_EXIT: {
		__s32 exit_code = FIELD(rec, struct exit_event, exit_code);
		__u32 exit_signal = FIELD(rec, struct exit_event, exit_signal);

		put_body(o, type, ascii_str(text, format_s64(text, exit_code)));
		attr_int(o, A_EXIT_CODE, exit_code);
		if (exit_signal)
			attr_int(o, A_EXIT_SIGNAL, exit_signal);
		attr_int(o, A_DURATION_NS, (int64_t)FIELD(rec, struct exit_event, duration_ns));
		break;
	}
	case EVENT_OPEN: {
		const uint8_t *path = rec + offsetof(struct open_event, path);
		__s32 ret = FIELD(rec, struct open_event, ret);
		struct raw_str path_str = kernel_str(path, FIELD(rec, struct open_event, path_len));

		put_body(o, type, path_str);
		attr_raw(o, A_FILE_PATH, path_str);
		attr_int(o, A_OPEN_FLAGS, FIELD(rec, struct open_event, flags));
		if (ret < 0)
			attr_errno(o, enc, ret);
		break;
	}
	case EVENT_CONNECT: {
		char address[64];
		size_t alen;
		__u16 family = FIELD(rec, struct connect_event, family), port = FIELD(rec, struct connect_event, port);
		__u16 sock_type = FIELD(rec, struct connect_event, sock_type);
		__s32 ret = FIELD(rec, struct connect_event, ret);
		bool v6 = family == 10;

		alen = format_address(address, sizeof(address), family, rec + offsetof(struct connect_event, addr));
		n = 0;
		if (v6)
			text[n++] = '[';
		memcpy(text + n, address, alen);
		n += alen;
		if (v6)
			text[n++] = ']';
		text[n++] = ':';
		n += format_u64(text + n, port);
		put_body(o, type, ascii_str(text, n));
		attr_str(o, A_PEER_ADDRESS, address, alen);
		attr_int(o, A_PEER_PORT, port);
		if (sock_type == 1)
			attr_str(o, A_TRANSPORT, "tcp", 3);
		else if (sock_type == 2)
			attr_str(o, A_TRANSPORT, "udp", 3);
		attr_str(o, A_NETWORK_TYPE, v6 ? "ipv6" : "ipv4", 4);
		if (ret < 0 && ret != -EINPROGRESS_ERRNO)
			attr_errno(o, enc, ret);
		break;
	}
	case EVENT_THROTTLE: {
		if (FIELD(rec, struct throttle_event, state) == THROTTLE_START) {
			put_body(o, type, ascii_str("start", 5));
			attr_str(o, A_THROTTLE_STATE, "start", 5);
		} else {
			__u64 dropped = FIELD(rec, struct throttle_event, dropped);

			n = (size_t)snprintf(text, sizeof(text), "stop %llu dropped", (unsigned long long)dropped);
			put_body(o, type, ascii_str(text, n));
			attr_str(o, A_THROTTLE_STATE, "stop", 4);
			attr_int(o, A_THROTTLE_DROPPED, (int64_t)dropped);
		}
		break;
	}
	}

	attr_int(o, A_PID, FIELD(rec, struct event_header, tgid));
	attr_int(o, A_THREAD_ID, FIELD(rec, struct event_header, pid));
	put_process_attrs(o, enc, rec, comm);

	len = (size_t)(o->p - body_start);
	need = varint_size(len);
	if (need != RECORD_LEN_RESERVE) {
		memmove(len_at + need, body_start, len);
		o->p = len_at + need + len;
	}
	{
		struct out at = { len_at };

		put_varint(&at, len);
	}
}

static bool typed_array(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length,
			const char *what)
{
	napi_typedarray_type type;
	napi_value ab;
	size_t offset;

	if (napi_get_typedarray_info(env, value, &type, length, data, &ab, &offset) != napi_ok || type != want) {
		throw_error(env, "encodeLogRecords: %s has the wrong type", what);
		return false;
	}
	return true;
}

/*
 * encodeLogRecords(encoder, records, offsets, order, start, end, out, outPos,
 *                  budget, takeFirst, clock, result)
 *
 * Encodes the records at offsets[order[start..end)] of `records` into `out`
 * from outPos on. Stops early when the next record might not fit `out`
 * (result[2] = bytes it may need) or would take the bytes written past
 * `budget` (result[2] = 0); `takeFirst` accepts the first record whatever
 * the budget (an empty request takes one record of any size).
 * clock: BigInt64Array [boot → Unix offset ns, observed time ns].
 * result: Float64Array [next order index, new outPos, bytes needed].
 */
static napi_value encode_log_records(napi_env env, napi_callback_info info)
{
	size_t argc = 12, src_len, out_len, n;
	napi_value argv[12];
	struct log_encoder *enc;
	uint8_t *src, *out;
	uint32_t *offsets, *order, start, end, out_pos, k;
	size_t offsets_len, order_len;
	double budget, *result;
	bool take_first;
	int64_t *clock_words;
	struct clock_params clock;
	struct out o;
	double needed = 0;

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 12)
		THROW(env, "encodeLogRecords: expected 12 arguments");
	CHECK(env, napi_get_value_external(env, argv[0], (void **)&enc));
	CHECK(env, napi_get_buffer_info(env, argv[1], (void **)&src, &src_len));
	if (!typed_array(env, argv[2], napi_uint32_array, (void **)&offsets, &offsets_len, "offsets") ||
	    !typed_array(env, argv[3], napi_uint32_array, (void **)&order, &order_len, "order"))
		return NULL;
	CHECK(env, napi_get_value_uint32(env, argv[4], &start));
	CHECK(env, napi_get_value_uint32(env, argv[5], &end));
	CHECK(env, napi_get_buffer_info(env, argv[6], (void **)&out, &out_len));
	CHECK(env, napi_get_value_uint32(env, argv[7], &out_pos));
	CHECK(env, napi_get_value_double(env, argv[8], &budget));
	CHECK(env, napi_get_value_bool(env, argv[9], &take_first));
	if (!typed_array(env, argv[10], napi_bigint64_array, (void **)&clock_words, &n, "clock") || n < 2 ||
	    !typed_array(env, argv[11], napi_float64_array, (void **)&result, &n, "result") || n < 3)
		return NULL;
	if (end > order_len || start > end || out_pos > out_len)
		THROW(env, "encodeLogRecords: range %u..%u or position %u out of bounds", start, end, out_pos);
	clock.boot_to_unix_ns = clock_words[0];
	clock.observed_unix_ns = (uint64_t)clock_words[1];

	o.p = out + out_pos;
	for (k = start; k < end; k++) {
		uint32_t at = order[k] < offsets_len ? offsets[order[k]] : UINT32_MAX;
		struct event_header h;
		uint8_t *before = o.p;
		size_t bound;

		/* EventBatch.parse vetted the records; these checks keep a bad index from reading out of bounds */
		if (at > src_len || src_len - at < sizeof(h))
			THROW(env, "encodeLogRecords: record %u is outside the batch", order[k]);
		h.size = FIELD(src + at, struct event_header, size);
		h.type = FIELD(src + at, struct event_header, type);
		if (h.size > src_len - at || !record_fits(src + at, h.size, h.type))
			THROW(env, "encodeLogRecords: record %u is malformed", order[k]);
		bound = record_bound(h.size);
		if ((size_t)(out + out_len - o.p) < bound) {
			needed = (double)bound;
			break;
		}
		encode_record(&o, enc, src + at, &clock);
		if ((double)(o.p - (out + out_pos)) > budget && !(take_first && k == start)) {
			o.p = before;
			break;
		}
	}
	result[0] = k;
	result[1] = (double)(o.p - out);
	result[2] = needed;
	return NULL;
}

static void free_encoder(napi_env env, void *data, void *hint)
{
	struct log_encoder *enc = data;

	for (int i = 0; i < ERRNO_NAMES_MAX; i++)
		free(enc->errno_names[i]);
	free(enc);
}

/* createLogEncoder(errnoNames: Array<string | undefined>) → encoder handle (index = errno). */
static napi_value create_log_encoder(napi_env env, napi_callback_info info)
{
	size_t argc = 1, len;
	napi_value argv[1], handle, item;
	napi_valuetype type;
	struct log_encoder *enc;
	uint32_t count;

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || napi_get_array_length(env, argv[0], &count) != napi_ok)
		THROW(env, "createLogEncoder: expected an array of errno names");
	enc = calloc(1, sizeof(*enc));
	if (!enc)
		THROW(env, "createLogEncoder: out of memory");
	init_key_blocks();
	for (uint32_t i = 0; i < count && i < ERRNO_NAMES_MAX; i++) {
		if (napi_get_element(env, argv[0], i, &item) != napi_ok || napi_typeof(env, item, &type) != napi_ok ||
		    type != napi_string)
			continue;
		if (napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok ||
		    !(enc->errno_names[i] = malloc(len + 1)))
			continue;
		napi_get_value_string_utf8(env, item, enc->errno_names[i], len + 1, &len);
	}
	if (napi_create_external(env, enc, free_encoder, NULL, &handle) != napi_ok) {
		free_encoder(env, enc, NULL);
		THROW(env, "createLogEncoder: cannot create the handle");
	}
	return handle;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
		{ "createLogEncoder", NULL, create_log_encoder, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "encodeLogRecords", NULL, encode_log_records, NULL, NULL, NULL, napi_enumerable, NULL },
	};

	CHECK(env, napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
