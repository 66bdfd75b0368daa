// SPDX-License-Identifier: Apache-2.0
/*
 * Load for the receiver benchmark: openat(2) of a path that does not exist
 * (by default the empty one: ENOENT before any path walk, ~2.6 M calls/s per
 * thread untraced here against ~0.8 M for "/nonexistent/…"),
 * as fast as THREADS threads can, for a given number of seconds. Each call
 * is one traced open (enter + exit tracepoints). Waits for a line on stdin
 * first so the runner can hand our pid to the consumer before the load starts.
 *
 *   producer SECONDS [THREADS [PATH]]   → prints {"calls": N, "seconds": S}
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double end_time;
static const char *open_path;

static void *hammer(void *arg)
{
	unsigned long long *calls = arg;

	do {
		/* Check the clock every 1024 calls: it is not free either. */
		for (int i = 0; i < 1024; i++)
			openat(AT_FDCWD, open_path, O_RDONLY);
		*calls += 1024;
	} while (now() < end_time);
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5, start;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	unsigned long long calls[64] = { 0 }, total = 0;
	pthread_t tids[64];
	char line[16];

	open_path = argc > 3 ? argv[3] : "";
	if (threads < 1 || threads > 64 || !fgets(line, sizeof(line), stdin))
		return 1;
	start = now();
	end_time = start + seconds;
	for (int t = 1; t < threads; t++)
		pthread_create(&tids[t], NULL, hammer, &calls[t]);
	hammer(&calls[0]);
	for (int t = 1; t < threads; t++)
		pthread_join(tids[t], NULL);
	for (int t = 0; t < threads; t++)
		total += calls[t];
	printf("{\"calls\": %llu, \"seconds\": %.3f}\n", total, now() - start);
	return 0;
}
