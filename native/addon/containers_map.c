// SPDX-License-Identifier: Apache-2.0
/*
 * The pinned containers map (Inspektor Gadget layout: hash, u64 mntns key,
 * 4 x char[256] value). Shared by the enrichment processor, which writes it,
 * and the BPF containers-only filter, which reads it. A pin with any other
 * layout is refused, never misread.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebpf_otel.h"
#include "containers_map.h"

static int check_layout(int fd, const char *path, char *err, size_t errlen)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	const char *type;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		snprintf(err, errlen,
			 "containers map %s: the pinned object is not a BPF map (%s); unpin it or choose another path",
			 path, strerror(errno));
		return -1;
	}
	if (info.type == BPF_MAP_TYPE_HASH && info.key_size == CONTAINERS_KEY_SIZE &&
	    info.value_size == CONTAINERS_VALUE_SIZE)
		return 0;
	type = libbpf_bpf_map_type_str(info.type);
	snprintf(err, errlen,
		 "containers map %s: found a %s map with key_size %u and value_size %u; expected hash with key_size %d "
		 "(u64 mntns) and value_size %d (Inspektor Gadget layout); unpin it or choose another path",
		 path, type ? type : "unknown", info.key_size, info.value_size, CONTAINERS_KEY_SIZE,
		 CONTAINERS_VALUE_SIZE);
	return -1;
}

int containers_map_open(const char *path, char *err, size_t errlen)
{
	int fd = bpf_obj_get(path);

	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "containers map %s: cannot open the pin: %s%s", path, strerror(e),
			 e == ENOENT                 ? " (nothing pinned there yet; is bpffs mounted at /sys/fs/bpf?)"
			 : e == EPERM || e == EACCES ? " (run as root)"
						     : "");
		errno = e;
		return -1;
	}
	if (check_layout(fd, path, err, errlen)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static int mkdir_parents(const char *path)
{
	char dir[CONTAINERS_PATH_MAX];
	size_t i;

	snprintf(dir, sizeof(dir), "%s", path);
	for (i = 1; dir[i]; i++) {
		if (dir[i] != '/')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -1;
		dir[i] = '/';
	}
	return 0;
}

int containers_map_ensure(const char *path, uint32_t max_entries, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int fd, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		fd = containers_map_open(path, err, errlen);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		if (mkdir_parents(path)) {
			snprintf(
				err, errlen,
				"containers map %s: cannot create its directory: %s (is bpffs mounted at /sys/fs/bpf?)",
				path, strerror(errno));
			return -1;
		}
		fd = bpf_map_create(BPF_MAP_TYPE_HASH, "containers", CONTAINERS_KEY_SIZE, CONTAINERS_VALUE_SIZE,
				    max_entries, &opts);
		if (fd < 0) {
			snprintf(err, errlen, "containers map %s: cannot create a hash map of %u entries: %s", path,
				 max_entries, strerror(errno));
			return -1;
		}
		if (!bpf_obj_pin(fd, path))
			return fd;
		close(fd);
		/* Someone pinned it between our open and pin: open theirs. */
		if (errno != EEXIST) {
			snprintf(err, errlen, "containers map %s: cannot pin: %s (is %s on a bpffs mount?)", path,
				 strerror(errno), path);
			return -1;
		}
	}
	return -1;
}

struct map_handle {
	int fd;
	uint32_t max_entries;
};

static struct map_handle *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv)
{
	napi_value self;
	struct map_handle *h = NULL;

	if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok ||
	    napi_unwrap(env, self, (void **)&h) != napi_ok || !h) {
		throw_error(env, "containers map: not a map handle");
		return NULL;
	}
	if (h->fd < 0) {
		throw_error(env, "containers map: used after close()");
		return NULL;
	}
	return h;
}

static bool get_key(napi_env env, napi_value v, uint64_t *key)
{
	int64_t n;

	if (napi_get_value_int64(env, v, &n) != napi_ok || n < 0) {
		throw_error(env, "containers map: mntns must be a non-negative integer");
		return false;
	}
	*key = (uint64_t)n;
	return true;
}

static napi_value map_lookup(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	uint64_t key;
	void *data;
	struct map_handle *h = unwrap(env, info, &argc, argv);

	if (!h || argc < 1 || !get_key(env, argv[0], &key))
		return NULL;
	CHECK(env, napi_create_buffer(env, CONTAINERS_VALUE_SIZE, &data, &out));
	if (bpf_map_lookup_elem(h->fd, &key, data)) {
		if (errno != ENOENT)
			THROW(env, "containers map: lookup of mntns %llu failed: %s", (unsigned long long)key,
			      strerror(errno));
		CHECK(env, napi_get_null(env, &out));
	}
	return out;
}

static napi_value map_update(napi_env env, napi_callback_info info)
{
	size_t argc = 2, len = 0;
	napi_value argv[2];
	uint64_t key;
	void *data = NULL;
	struct map_handle *h = unwrap(env, info, &argc, argv);

	if (!h || argc < 2 || !get_key(env, argv[0], &key))
		return NULL;
	if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len != CONTAINERS_VALUE_SIZE)
		THROW(env, "containers map: value must be a Buffer of %d bytes", CONTAINERS_VALUE_SIZE);
	if (bpf_map_update_elem(h->fd, &key, data, BPF_ANY))
		THROW(env, "containers map: update of mntns %llu failed: %s%s", (unsigned long long)key,
		      strerror(errno), errno == E2BIG ? " (map full: raise its max entries)" : "");
	return NULL;
}

static napi_value map_delete(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	uint64_t key;
	struct map_handle *h = unwrap(env, info, &argc, argv);
	bool deleted;

	if (!h || argc < 1 || !get_key(env, argv[0], &key))
		return NULL;
	deleted = bpf_map_delete_elem(h->fd, &key) == 0;
	if (!deleted && errno != ENOENT)
		THROW(env, "containers map: delete of mntns %llu failed: %s", (unsigned long long)key, strerror(errno));
	CHECK(env, napi_get_boolean(env, deleted, &out));
	return out;
}

static napi_value map_keys(napi_env env, napi_callback_info info)
{
	size_t argc = 0;
	napi_value out, v;
	uint64_t key, next;
	uint32_t n = 0;
	void *prev = NULL;
	struct map_handle *h = unwrap(env, info, &argc, NULL);

	if (!h)
		return NULL;
	CHECK(env, napi_create_array(env, &out));
	/* Bounded by max_entries: a concurrent writer cannot make this loop forever. */
	while (n <= h->max_entries && !bpf_map_get_next_key(h->fd, prev, &next)) {
		CHECK(env, napi_create_double(env, (double)next, &v));
		CHECK(env, napi_set_element(env, out, n++, v));
		key = next;
		prev = &key;
	}
	return out;
}

static napi_value map_close(napi_env env, napi_callback_info info)
{
	napi_value self;
	struct map_handle *h = NULL;

	CHECK(env, napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
	CHECK(env, napi_unwrap(env, self, (void **)&h));
	if (h && h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
	return NULL;
}

static void map_finalize(napi_env env, void *data, void *hint)
{
	struct map_handle *h = data;

	(void)env;
	(void)hint;
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

static napi_value map_construct(napi_env env, napi_callback_info info)
{
	napi_value self;

	CHECK(env, napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
	return self;
}

static napi_value wrap_fd(napi_env env, int fd)
{
	napi_value ctor, obj, v;
	struct map_handle *h;
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	bpf_obj_get_info_by_fd(fd, &info, &len);
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		THROW(env, "containers map: out of memory");
	}
	h->fd = fd;
	h->max_entries = info.max_entries;
	napi_ref constructor_ref = NULL;

	/* Per environment (main thread, each worker): the class lives in the instance data. */
	if (napi_get_instance_data(env, (void **)&constructor_ref) != napi_ok || !constructor_ref ||
	    napi_get_reference_value(env, constructor_ref, &ctor) != napi_ok ||
	    napi_new_instance(env, ctor, 0, NULL, &obj) != napi_ok ||
	    napi_wrap(env, obj, h, map_finalize, NULL, NULL) != napi_ok) {
		close(fd);
		free(h);
		rethrow_status(env, "wrapping the containers map");
		return NULL;
	}
	CHECK(env, napi_create_uint32(env, h->max_entries, &v));
	CHECK(env, napi_set_named_property(env, obj, "maxEntries", v));
	return obj;
}

static bool get_path(napi_env env, napi_value v, char *path)
{
	size_t n = 0;

	if (napi_get_value_string_utf8(env, v, path, CONTAINERS_PATH_MAX, &n) != napi_ok || n == 0 ||
	    n >= CONTAINERS_PATH_MAX - 1) {
		throw_error(env, "containers map: path must be a non-empty string shorter than %d bytes",
			    CONTAINERS_PATH_MAX - 1);
		return false;
	}
	return true;
}

static napi_value open_containers_map(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	char path[CONTAINERS_PATH_MAX], err[512];
	int fd;

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_path(env, argv[0], path))
		return NULL;
	fd = containers_map_open(path, err, sizeof(err));
	if (fd < 0)
		THROW(env, "%s", err);
	return wrap_fd(env, fd);
}

static napi_value create_containers_map(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	char path[CONTAINERS_PATH_MAX], err[512];
	uint32_t max_entries = 0;
	int fd;

	CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !get_path(env, argv[0], path))
		return NULL;
	if (napi_get_value_uint32(env, argv[1], &max_entries) != napi_ok || max_entries == 0)
		THROW(env, "containers map %s: maxEntries must be a positive integer", path);
	fd = containers_map_ensure(path, max_entries, err, sizeof(err));
	if (fd < 0)
		THROW(env, "%s", err);
	return wrap_fd(env, fd);
}

static void delete_constructor(napi_env env, void *data, void *hint)
{
	(void)hint;
	napi_delete_reference(env, data);
}

napi_value containers_map_init(napi_env env, napi_value exports)
{
	napi_property_descriptor methods[] = {
		{ "lookup", NULL, map_lookup, NULL, NULL, NULL, napi_default, NULL },
		{ "update", NULL, map_update, NULL, NULL, NULL, napi_default, NULL },
		{ "delete", NULL, map_delete, NULL, NULL, NULL, napi_default, NULL },
		{ "keys", NULL, map_keys, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, map_close, NULL, NULL, NULL, napi_default, NULL },
	};
	napi_property_descriptor fns[] = {
		{ "openContainersMap", NULL, open_containers_map, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "createContainersMap", NULL, create_containers_map, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_value ctor;
	napi_ref constructor_ref;

	CHECK(env, napi_define_class(env, "ContainersMapHandle", NAPI_AUTO_LENGTH, map_construct, NULL,
				     sizeof(methods) / sizeof(methods[0]), methods, &ctor));
	CHECK(env, napi_create_reference(env, ctor, 1, &constructor_ref));
	CHECK(env, napi_set_instance_data(env, constructor_ref, delete_constructor, NULL));
	CHECK(env, napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns));
	return exports;
}
