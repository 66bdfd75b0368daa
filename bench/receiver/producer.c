// SPDX-License-Identifier: Apache-2.0
/*
 * Load for the receiver and whole-agent benchmarks: openat(2) of PATH from
 * THREADS threads for SECONDS seconds. Each call is one traced open (enter +
 * exit tracepoints). By default the path is the empty one (ENOENT before any
 * path walk, ~2.6 M calls/s per thread untraced here against ~0.8 M for
 * "/nonexistent/…"); a path that exists is opened for real and its fd closed.
 *
 * RATE (calls/s over all threads, 0 = as fast as possible) paces the load:
 * each thread keeps to its share of a fixed schedule from the start, calling
 * in chunks of ~0.5 ms and sleeping (absolute deadlines) in between; a thread
 * that falls behind catches up at full speed, so a rate the machine cannot
 * reach shows as fewer calls, and `lagMs` says how far behind the schedule
 * the slowest thread ended.
 *
 * Waits for a line on stdin first so the runner can hand our pid to the
 * consumer before the load starts.
 *
 *   producer SECONDS [THREADS [PATH [RATE]]]
 *     → {"calls": N, "opened": N, "seconds": S, "cpuSeconds": S, "lagMs": L}
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct worker {
	pthread_t tid;
	double rate; /* calls/s of this thread; 0: unpaced */
	unsigned long long calls;
	unsigned long long opened; /* calls that returned an fd */
	double lag;                /* seconds behind the schedule at the end */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = { (time_t)t, (long)((t - (time_t)t) * 1e9) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
		;
}

static double start_time, end_time;
static const char *open_path;

static unsigned long long open_n(unsigned long long n)
{
	unsigned long long opened = 0;

	for (unsigned long long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, open_path, O_RDONLY);

		if (fd >= 0) {
			close(fd);
			opened++;
		}
	}
	return opened;
}

static void *hammer(void *arg)
{
	struct worker *w = arg;
	double t;

	if (w->rate <= 0) {
		/* Check the clock every 1024 calls: it is not free either. */
		do {
			w->opened += open_n(1024);
			w->calls += 1024;
		} while (now() < end_time);
		return NULL;
	}
	/* Paced: ~0.5 ms of calls per chunk, at least one. */
	unsigned long long chunk = (unsigned long long)(w->rate / 2000) + 1;

	while ((t = now()) < end_time) {
		unsigned long long due = (unsigned long long)((t - start_time) * w->rate);

		if (w->calls < due) {
			unsigned long long n = due - w->calls < chunk ? due - w->calls : chunk;

			w->opened += open_n(n);
			w->calls += n;
		} else {
			double next = start_time + (w->calls + chunk) / w->rate;

			sleep_until(next < end_time ? next : end_time);
		}
	}
	w->lag = ((end_time - start_time) * w->rate - w->calls) / w->rate;
	return NULL;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5, rate = argc > 4 ? atof(argv[4]) : 0, cpu0, lag = 0;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	struct worker workers[64] = { 0 };
	unsigned long long total = 0, opened = 0;
	char line[16];

	open_path = argc > 3 ? argv[3] : "";
	if (threads < 1 || threads > 64 || rate < 0 || !fgets(line, sizeof(line), stdin))
		return 1;
	cpu0 = cpu_seconds();
	start_time = now();
	end_time = start_time + seconds;
	for (int t = 0; t < threads; t++)
		workers[t].rate = rate / threads;
	for (int t = 1; t < threads; t++)
		pthread_create(&workers[t].tid, NULL, hammer, &workers[t]);
	hammer(&workers[0]);
	for (int t = 1; t < threads; t++)
		pthread_join(workers[t].tid, NULL);
	for (int t = 0; t < threads; t++) {
		total += workers[t].calls;
		opened += workers[t].opened;
		if (workers[t].lag > lag)
			lag = workers[t].lag;
	}
	printf("{\"calls\": %llu, \"opened\": %llu, \"seconds\": %.3f, \"cpuSeconds\": %.3f, \"lagMs\": %.1f}\n", total,
	       opened, now() - start_time, cpu_seconds() - cpu0, lag * 1000);
	return 0;
}
