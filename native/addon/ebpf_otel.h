/* SPDX-License-Identifier: Apache-2.0 */
/* The BPF addon's own declarations (ebpf_otel.c): what only libbpf users need. */
#ifndef EBPF_OTEL_BPF_ADDON_H
#define EBPF_OTEL_BPF_ADDON_H

#include "addon.h"

/* Option readers for a plain JS object; absent keys keep *out unchanged. */
bool get_u32_option(napi_env env, napi_value obj, const char *key, uint32_t *out);
bool get_bool_option(napi_env env, napi_value obj, const char *key, bool *out);
/* Copies into buf (NUL-terminated); false on a non-string or overlong value (thrown). */
bool get_string_option(napi_env env, napi_value obj, const char *key, char *buf, size_t len, bool *present);
/* The array at key (or NULL if absent); false after throwing on a non-array. */
bool get_array_option(napi_env env, napi_value obj, const char *key, napi_value *array, uint32_t *len);

/* The last libbpf warning line, for reasons shown to users. */
const char *libbpf_last_message(void);
void libbpf_clear_message(void);

napi_value containers_map_init(napi_env env, napi_value exports);
napi_value session_init(napi_env env, napi_value exports);
napi_value hostns_init(napi_env env, napi_value exports);

#endif
