/* SPDX-License-Identifier: Apache-2.0 */
/* Node-API glue shared by both addons (addon.c); the BPF addon's own is in ebpf_otel.h. */
#ifndef EBPF_OTEL_ADDON_H
#define EBPF_OTEL_ADDON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns NULL from the calling napi_callback after throwing. */
#define CHECK(env, expr)                                                                                               \
	do {                                                                                                           \
		if ((expr) != napi_ok) {                                                                               \
			rethrow_status(env, #expr);                                                                    \
			return NULL;                                                                                   \
		}                                                                                                      \
	} while (0)

#define THROW(env, ...)                                                                                                \
	do {                                                                                                           \
		throw_error(env, __VA_ARGS__);                                                                         \
		return NULL;                                                                                           \
	} while (0)

void throw_error(napi_env env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rethrow_status(napi_env env, const char *what);

#endif
