// SPDX-License-Identifier: Apache-2.0
/*
 * Load for the per-program kernel cost bench (prog-cost.ts): each mode makes
 * the events of one BPF program pair as fast as it can, N times.
 *
 *   workload exec N             fork + exec /bin/true, wait (exec and exit events)
 *   workload connect N          connect a UDP socket to 127.0.0.1:9 (a real
 *                               connect that needs no peer), then a TCP socket
 *                               to a closed local port (ECONNREFUSED), N each
 *   workload cgroup N DIR       mkdir + rmdir a cgroup under DIR
 *
 * Prints {"mode": ..., "n": N, "seconds": S}.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_exec(long n)
{
	char *argv[] = { "/bin/true", NULL };

	for (long i = 0; i < n; i++) {
		pid_t pid;
		int status;

		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ))
			return 1;
		waitpid(pid, &status, 0);
	}
	return 0;
}

static int connect_once(int type, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, type, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return 0;
}

static int do_connect(long n)
{
	/* A closed TCP port: bind one, note it, close it. */
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int probe = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(probe, (struct sockaddr *)&sa, &len))
		return 1;
	port = ntohs(sa.sin_port);
	close(probe);
	for (long i = 0; i < n; i++) {
		if (connect_once(SOCK_DGRAM, 9) || connect_once(SOCK_STREAM, port))
			return 1;
	}
	return 0;
}

static int do_cgroup(long n, const char *dir)
{
	char path[4096];

	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/eco-prog-cost-%d-%ld", dir, getpid(), i);
		if (mkdir(path, 0755) || rmdir(path))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 0;
	double t0 = now();
	int rc;

	if (argc < 3 || n <= 0) {
		fprintf(stderr, "usage: %s exec|connect|cgroup N [DIR]\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "exec"))
		rc = do_exec(n);
	else if (!strcmp(argv[1], "connect"))
		rc = do_connect(n);
	else if (!strcmp(argv[1], "cgroup") && argc > 3)
		rc = do_cgroup(n, argv[3]);
	else
		rc = 2;
	if (rc) {
		perror(argv[1]);
		return rc;
	}
	printf("{\"mode\": \"%s\", \"n\": %ld, \"seconds\": %.3f}\n", argv[1], n, now() - t0);
	return 0;
}
