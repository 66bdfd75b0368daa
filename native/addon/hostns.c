// SPDX-License-Identifier: Apache-2.0
/*
 * kernelNamespaces(): the host's mount namespace as the kernel knows it
 * (native/bpf/hostns.bpf.c), run once with BPF_PROG_TEST_RUN in this
 * thread's context. Needs what loading the agent's programs needs (CAP_BPF +
 * CAP_PERFMON, or CAP_SYS_ADMIN); an EPERM is reported as such.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>

#include "ebpf_otel.h"
#include "hostns.skel.h"

static bool set_number(napi_env env, napi_value obj, const char *key, double value)
{
	napi_value v;

	return napi_create_double(env, value, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static napi_value kernel_namespaces(napi_env env, napi_callback_info info)
{
	struct hostns *skel;
	napi_value out;
	int err;
	LIBBPF_OPTS(bpf_test_run_opts, run);

	(void)info;
	libbpf_clear_message();
	skel = hostns__open();
	if (!skel)
		THROW(env, "kernelNamespaces: opening the BPF object failed (%s)", strerror(errno));
	err = hostns__load(skel);
	if (err) {
		hostns__destroy(skel);
		THROW(env, "kernelNamespaces: loading the BPF program failed (%s)%s%s", strerror(-err),
		      libbpf_last_message()[0] ? ": " : "", libbpf_last_message());
	}
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.host_namespaces), &run);
	if (err || !skel->bss->done) {
		int e = err ? errno : EINVAL;

		hostns__destroy(skel);
		THROW(env, "kernelNamespaces: running the BPF program failed (%s)", strerror(e));
	}
	CHECK(env, napi_create_object(env, &out));
	if (!set_number(env, out, "selfMntns", (double)skel->bss->self_mntns) ||
	    !set_number(env, out, "initialMntns", (double)skel->bss->init_mntns) ||
	    !set_number(env, out, "pidnsInitMntns", (double)skel->bss->reaper_mntns) ||
	    !set_number(env, out, "pidnsInitPid", (double)skel->bss->reaper_pid) ||
	    !set_number(env, out, "pidnsLevel", (double)skel->bss->pidns_level)) {
		hostns__destroy(skel);
		rethrow_status(env, "kernelNamespaces result");
		return NULL;
	}
	hostns__destroy(skel);
	return out;
}

napi_value hostns_init(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
		{ "kernelNamespaces", NULL, kernel_namespaces, NULL, NULL, NULL, napi_enumerable, NULL },
	};

	CHECK(env, napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns));
	return exports;
}
