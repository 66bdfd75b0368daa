/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EBPF_OTEL_CONTAINERS_MAP_H
#define EBPF_OTEL_CONTAINERS_MAP_H

#include <stddef.h>
#include <stdint.h>

#define CONTAINERS_KEY_SIZE 8
#define CONTAINERS_VALUE_SIZE 1024
#define CONTAINERS_PATH_MAX 4096

/* An fd for the pinned map at path after checking its layout; -1 with err (and errno) set. */
int containers_map_open(const char *path, char *err, size_t errlen);
/* Opens the pin, or creates and pins a new map (mkdir -p of its directory). */
int containers_map_ensure(const char *path, uint32_t max_entries, char *err, size_t errlen);

#endif
