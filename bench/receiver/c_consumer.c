// SPDX-License-Identifier: Apache-2.0
/*
 * The baseline: a plain libbpf consumer of the very BPF object the addon
 * embeds (openat programs only), drained like the addon does (records
 * submitted with BPF_RB_NO_WAKEUP, ring_buffer__consume every 20 ms, the
 * receiver's default batch.drain_interval).
 * Counts records and those of the producer (one header read per record).
 *
 *   PRODUCER_PID=n c_consumer path/to/ebpf_otel.bpf.o
 * Prints "ready" once attached; on SIGINT drains once more and prints JSON.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "maps.h"

static volatile sig_atomic_t stop;
static unsigned long long records, producer_records;
static __u32 producer_pid;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_sample(void *ctx, void *data, size_t len)
{
	const struct event_header *h = data;

	(void)ctx;
	(void)len;
	records++;
	producer_records += h->tgid == producer_pid;
	return 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *links[2] = { 0 };
	struct ring_buffer *rb = NULL;
	struct event_counters *values = NULL;
	__u32 key = EVENT_OPEN;
	unsigned long long produced = 0, dropped = 0;
	double cpu0, wall0;
	int n = 0, ncpu, err = 1;
	const struct timespec tick = { 0, 20 * 1000 * 1000 };

	if (argc < 2) {
		fprintf(stderr, "usage: PRODUCER_PID=n %s ebpf_otel.bpf.o\n", argv[0]);
		return 2;
	}
	producer_pid = getenv("PRODUCER_PID") ? (__u32)atoi(getenv("PRODUCER_PID")) : 0;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "cannot open %s\n", argv[1]);
		goto cleanup;
	}
	bpf_object__for_each_program(prog, obj)
	{
		const char *name = bpf_program__name(prog);

		bpf_program__set_autoload(prog, !strcmp(name, "enter_openat") || !strcmp(name, "exit_openat"));
	}
	if (bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "events"), 32u << 20) || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		goto cleanup;
	}
	bpf_object__for_each_program(prog, obj)
	{
		if (!bpf_program__autoload(prog))
			continue;
		links[n] = bpf_program__attach(prog);
		if (!links[n++]) {
			fprintf(stderr, "cannot attach %s\n", bpf_program__name(prog));
			goto cleanup;
		}
	}
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_sample, NULL, NULL);
	if (!rb)
		goto cleanup;
	printf("ready\n");
	fflush(stdout);
	cpu0 = cpu_seconds();
	wall0 = wall_seconds();
	while (!stop) {
		nanosleep(&tick, NULL);
		ring_buffer__consume(rb);
	}
	ring_buffer__consume(rb);

	ncpu = libbpf_num_possible_cpus();
	values = calloc(ncpu, sizeof(*values));
	if (values && !bpf_map_lookup_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "counters")), &key, values)) {
		for (int c = 0; c < ncpu; c++) {
			produced += values[c].produced;
			dropped += values[c].dropped;
		}
	}
	printf("{\"consumer\": \"c\", \"records\": %llu, \"producerRecords\": %llu, \"produced\": %llu, \"dropped\": "
	       "%llu, "
	       "\"cpuSeconds\": %.3f, \"wallSeconds\": %.3f}\n",
	       records, producer_records, produced, dropped, cpu_seconds() - cpu0, wall_seconds() - wall0);
	err = 0;
cleanup:
	free(values);
	ring_buffer__free(rb);
	for (int i = 0; i < 2; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return err;
}
