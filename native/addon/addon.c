// SPDX-License-Identifier: Apache-2.0
/*
 * Node-API glue of both addons (binding.gyp): errors thrown to JS. Compiled
 * into each, so it holds nothing of libbpf.
 */
#include <stdarg.h>
#include <stdio.h>

#include "addon.h"

/* The gyp target compiling this copy: the error names the addon it came from. */
#define STRINGIFY(x) #x
#define MODULE_NAME(x) STRINGIFY(x)

void throw_error(napi_env env, const char *fmt, ...)
{
	char msg[1024];
	va_list args;

	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	napi_throw_error(env, NULL, msg);
}

void rethrow_status(napi_env env, const char *what)
{
	const napi_extended_error_info *info = NULL;
	bool pending = false;

	napi_is_exception_pending(env, &pending);
	if (pending)
		return;
	napi_get_last_error_info(env, &info);
	throw_error(env, "%s addon: %s failed: %s", MODULE_NAME(NODE_GYP_MODULE_NAME), what,
		    info && info->error_message ? info->error_message : "unknown Node-API error");
}
