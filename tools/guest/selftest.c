// SPDX-License-Identifier: GPL-2.0
/*
 * User side of samples/rust/rust_vhost_selftest: the vhost_task and
 * task_work paths that need a user process. Usage: selftest CASE [ARG];
 * exits 0 when the case passes, and says why when it does not.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T 'R'
#define VT_START	_IO(T, 1)
#define VT_KICK		_IO(T, 2)
#define VT_REPEAT	_IO(T, 3)
#define VT_WAIT_IDLE	_IO(T, 4)
#define VT_STOP		_IO(T, 5)
#define VT_STATS	_IOR(T, 6, uint64_t[4])
#define VT_PING		_IO(T, 7)
#define VT_PING_CMP	_IOWR(T, 8, uint64_t[3])
#define TW_RESUME	_IO(T, 10)
#define TW_SIGNAL	_IO(T, 11)
#define TW_NONE		_IO(T, 12)
#define TW_RAN		_IOR(T, 13, uint64_t[2])
#define TW_CANCEL	_IO(T, 14)
#define RCU_RUN		_IO(T, 20)
#define TW_EXIT_FILES	_IO(T, 21)
#define FILES_ERRNO	_IOR(T, 22, uint64_t[2])
#define VT_LEAK		_IO(T, 23)
#define VT_SELF_DROP	_IO(T, 26)
#define MISC_DEREGISTER	_IO(T, 24)

#define DEV "/dev/rust-vhost-selftest"

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf(" (errno %d %s)\n", errno, strerror(errno));	\
		exit(1);						\
	}								\
} while (0)

static int dev_open(void)
{
	int fd = open(DEV, O_RDWR);

	CHECK(fd >= 0, "open " DEV);
	return fd;
}

static void stats(int fd, uint64_t s[4])
{
	CHECK(ioctl(fd, VT_STATS, s) == 0, "VT_STATS");
}

/* Number of threads of process @pid named vhost-@pid. */
static int vhost_threads(pid_t pid)
{
	char path[300], want[32], comm[32];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	snprintf(want, sizeof(want), "vhost-%d\n", pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, want))
			n++;
		fclose(f);
	}
	closedir(dir);
	return n;
}

/*
 * vhost_task_stop() returns once the worker has left its loop; the thread
 * itself is reaped a moment later. Wait up to 2 s for it to go.
 */
static int vhost_threads_gone(pid_t pid)
{
	int i;

	for (i = 0; i < 200 && vhost_threads(pid); i++)
		usleep(10000);
	return vhost_threads(pid) == 0;
}

static void vhost_basic(void)
{
	int fd = dev_open();
	uint64_t s[4];
	int i;

	CHECK(ioctl(fd, VT_KICK) == -1 && errno == ENXIO, "kick before start");
	CHECK(ioctl(fd, VT_START) == 0, "start");
	CHECK(ioctl(fd, VT_START) == -1 && errno == EBUSY, "second start");
	CHECK(vhost_threads(getpid()) == 1, "one vhost-%d thread", getpid());
	for (i = 0; i < 10; i++)
		CHECK(ioctl(fd, VT_KICK) == 0, "kick");
	CHECK(ioctl(fd, VT_WAIT_IDLE) == 0, "wait idle");
	stats(fd, s);
	CHECK(s[0] == 10 && s[1] == 10, "queued %llu done %llu",
	      (unsigned long long)s[0], (unsigned long long)s[1]);
	CHECK(ioctl(fd, VT_STOP) == 0, "stop");
	CHECK(ioctl(fd, VT_STOP) == -1 && errno == ENXIO, "second stop");
	CHECK(vhost_threads_gone(getpid()), "no vhost thread after stop");
	/* A new worker on the same file works. */
	CHECK(ioctl(fd, VT_START) == 0, "restart");
	CHECK(ioctl(fd, VT_KICK) == 0 && ioctl(fd, VT_WAIT_IDLE) == 0, "kick after restart");
	close(fd);
	CHECK(vhost_threads_gone(getpid()), "no vhost thread after close");
	printf("vhost-basic: start, 10 kicks, stop, restart, close\n");
}

#define STORM_THREADS 4
static int storm_fd;
static long storm_each;

static void *storm(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < storm_each; i++)
		if (ioctl(storm_fd, VT_KICK))
			return (void *)1;
	return NULL;
}

static void vhost_storm(long total)
{
	pthread_t th[STORM_THREADS];
	uint64_t s[4], calls;
	void *r;
	int i;

	storm_fd = dev_open();
	storm_each = total / STORM_THREADS;
	CHECK(ioctl(storm_fd, VT_START) == 0, "start");
	for (i = 0; i < STORM_THREADS; i++)
		pthread_create(&th[i], NULL, storm, NULL);
	for (i = 0; i < STORM_THREADS; i++) {
		pthread_join(th[i], &r);
		CHECK(r == NULL, "kick in thread %d", i);
	}
	CHECK(ioctl(storm_fd, VT_WAIT_IDLE) == 0, "wait idle (a lost wake-up leaves work undone)");
	stats(storm_fd, s);
	CHECK(s[0] == (uint64_t)storm_each * STORM_THREADS && s[1] == s[0],
	      "queued %llu done %llu", (unsigned long long)s[0], (unsigned long long)s[1]);
	printf("vhost-storm: %llu wakes from %d threads, %llu work calls, none lost\n",
	       (unsigned long long)s[0], STORM_THREADS, (unsigned long long)s[2]);
	/* Returning true gets the worker called again, with no wake. */
	calls = s[2];
	CHECK(ioctl(storm_fd, VT_REPEAT, 1000) == 0, "repeat");
	for (i = 0; i < 500; i++) {
		stats(storm_fd, s);
		if (s[2] >= calls + 1000)
			break;
		usleep(10000);
	}
	CHECK(s[2] >= calls + 1000, "calls went from %llu to %llu",
	      (unsigned long long)calls, (unsigned long long)s[2]);
	printf("vhost-storm: 1000 repeats gave %llu more calls\n",
	       (unsigned long long)(s[2] - calls));
	close(storm_fd);
	CHECK(vhost_threads_gone(getpid()), "no vhost thread after close");
}

static void vhost_stop_pending(void)
{
	int fd = dev_open(), i, round;

	for (round = 0; round < 100; round++) {
		CHECK(ioctl(fd, VT_START) == 0, "start");
		for (i = 0; i < 100; i++)
			CHECK(ioctl(fd, VT_KICK) == 0, "kick");
		CHECK(ioctl(fd, VT_STOP) == 0, "stop with work pending");
	}
	close(fd);
	CHECK(vhost_threads_gone(getpid()), "no vhost thread left");
	printf("vhost-stop-pending: 100 stops with work pending\n");
}

static void vhost_kill(void)
{
	int fd = dev_open(), p[2], status;
	uint64_t before[4], after[4];
	pid_t child;
	char c;

	stats(fd, before);
	CHECK(pipe(p) == 0, "pipe");
	child = fork();
	if (!child) {
		/* The worker becomes a thread of the child. */
		if (ioctl(fd, VT_START) || ioctl(fd, VT_KICK))
			_exit(1);
		write(p[1], "r", 1);
		for (;;)
			pause();
	}
	CHECK(read(p[0], &c, 1) == 1, "child ready");
	CHECK(vhost_threads(child) == 1, "child has its vhost thread");
	CHECK(kill(child, SIGKILL) == 0, "kill");
	CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status), "child killed");
	stats(fd, after);
	CHECK(after[3] == before[3] + 1, "kill handler ran %llu times",
	      (unsigned long long)(after[3] - before[3]));
	/* Stop after the kill completes, and does not run the handler again. */
	CHECK(ioctl(fd, VT_STOP) == 0, "stop after SIGKILL");
	stats(fd, after);
	CHECK(after[3] == before[3] + 1, "handler count changed after stop");
	close(fd);
	CHECK(access("/proc/self", F_OK) == 0 && vhost_threads_gone(child), "no thread left");
	printf("vhost-kill: handler ran once, stop after kill completed\n");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void vhost_ping(long n)
{
	uint64_t *lat = calloc(n, sizeof(*lat));
	int fd = dev_open();
	long i, r;

	CHECK(lat, "calloc");
	CHECK(ioctl(fd, VT_START) == 0, "start");
	for (i = 0; i < n; i++) {
		r = ioctl(fd, VT_PING);
		CHECK(r >= 0, "ping %ld", i);
		lat[i] = r;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("vhost wake-to-run: n=%ld median=%llu ns p99=%llu ns max=%llu ns\n", n,
	       (unsigned long long)lat[n / 2], (unsigned long long)lat[n * 99 / 100],
	       (unsigned long long)lat[n - 1]);
	close(fd);
	free(lat);
}

/*
 * Rounds of n wake-to-run round trips, alternating the Rust API and the bare
 * C calls; prints the median, min and max over rounds of each side's median,
 * in tenths of ns, and the median of the rounds' own ratios, as the
 * benchmarks' PRIM line.
 */
static void vhost_ping_cmp(long n)
{
	enum { ROUNDS = 7 };
	uint64_t r[ROUNDS], c[ROUNDS], p[ROUNDS], a[3];
	int fd = dev_open();

	for (int i = 0; i < ROUNDS; i++) {
		a[0] = n;
		CHECK(ioctl(fd, VT_PING_CMP, a) == 0, "VT_PING_CMP");
		r[i] = a[1] * 10;
		c[i] = a[2] * 10;
		/* The round's own ratio, in thousandths. */
		p[i] = r[i] * 1000 / (c[i] ? c[i] : 1);
	}
	qsort(r, ROUNDS, sizeof(*r), cmp_u64);
	qsort(c, ROUNDS, sizeof(*c), cmp_u64);
	qsort(p, ROUNDS, sizeof(*p), cmp_u64);
	printf("PRIM vhost_wake_roundtrip rust %llu %llu %llu c %llu %llu %llu paired %llu\n",
	       (unsigned long long)r[ROUNDS / 2], (unsigned long long)r[0],
	       (unsigned long long)r[ROUNDS - 1], (unsigned long long)c[ROUNDS / 2],
	       (unsigned long long)c[0], (unsigned long long)c[ROUNDS - 1],
	       (unsigned long long)p[ROUNDS / 2]);
	close(fd);
}

static void tw_ran(int fd, uint64_t r[2])
{
	CHECK(ioctl(fd, TW_RAN, r) == 0, "TW_RAN");
}

static void tw_resume(void)
{
	int fd = dev_open();
	uint64_t r[2];

	CHECK(ioctl(fd, TW_RESUME) == 0, "queue resume work");
	/* It ran before the ioctl returned to user mode, on this task. */
	tw_ran(fd, r);
	CHECK(r[0] == 1 && r[1] == (uint64_t)gettid(), "ran %llu on %llu",
	      (unsigned long long)r[0], (unsigned long long)r[1]);
	close(fd);
	printf("tw-resume: ran once on the way back to user mode\n");
}

static int tw_pipe[2];
static volatile int reader_tid, reader_done;

static void *reader(void *arg)
{
	char c;

	(void)arg;
	reader_tid = gettid();
	read(tw_pipe[0], &c, 1);
	reader_done = 1;
	return NULL;
}

static void tw_signal(void)
{
	int fd = dev_open(), i;
	uint64_t r[2];
	pthread_t th;

	CHECK(pipe(tw_pipe) == 0, "pipe");
	pthread_create(&th, NULL, reader, NULL);
	while (!reader_tid)
		usleep(1000);
	usleep(100000);		/* Let it block in read(). */
	CHECK(ioctl(fd, TW_SIGNAL, reader_tid) == 0, "queue signal work");
	for (i = 0; i < 200; i++) {
		tw_ran(fd, r);
		if (r[0])
			break;
		usleep(10000);
	}
	CHECK(r[0] == 1 && r[1] == (uint64_t)reader_tid, "ran %llu on %llu, want 1 on %d",
	      (unsigned long long)r[0], (unsigned long long)r[1], reader_tid);
	/* The blocked read() was interrupted for it, and restarted. */
	CHECK(!reader_done, "reader returned early");
	CHECK(ioctl(fd, TW_SIGNAL, 999999) == -1 && errno == ESRCH, "no such thread");
	write(tw_pipe[1], "x", 1);
	pthread_join(th, NULL);
	close(fd);
	printf("tw-signal: ran on a thread blocked in read(), which went on\n");
}

/*
 * Queue Notify::None work on ourselves, close the device, and wait: the work
 * runs only when we die, and until then it is the only thing that holds the
 * module. No close() of ours may be the last one of its file after the work
 * is queued: the final fput queues ____fput as task work with TWA_RESUME,
 * and that runs our item too on the way back to user mode. So a child holds
 * the device across our close() and drops the last reference itself, and
 * we keep the pipe open.
 */
static void tw_hold(void)
{
	int fd = dev_open(), p[2], status;
	pid_t child;
	char c;

	CHECK(pipe(p) == 0, "pipe");
	child = fork();
	CHECK(child >= 0, "fork");
	if (!child) {
		if (read(p[0], &c, 1) != 1)
			_exit(1);
		close(fd);
		_exit(0);
	}
	CHECK(ioctl(fd, TW_NONE) == 0, "queue none work");
	close(fd);
	CHECK(write(p[1], "x", 1) == 1, "wake the child");
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "child status %#x", status);
	printf("tw-hold: queued, " DEV " closed, waiting\n");
	fflush(stdout);
	for (;;)
		pause();
}

static void tw_cancel(void)
{
	int fd = dev_open();
	uint64_t before[2], after[2];
	long r;

	tw_ran(fd, before);
	r = ioctl(fd, TW_CANCEL);
	CHECK(r == 0, "cancel step %ld failed", r);
	/* The two items it left queued ran on the way back from the ioctl. */
	tw_ran(fd, after);
	CHECK(after[0] == before[0] + 2, "%llu items ran on return, want 2",
	      (unsigned long long)(after[0] - before[0]));
	close(fd);
	printf("tw-cancel: cancel, cancel_first, cancel_match from a module; run_pending refused for a user task\n");
}

/*
 * Code that runs without a file table looks up an eventfd: a vhost worker
 * (made without one) and task work run at exit (after exit_files()). Both
 * must get EBADF, not dereference a null current->files.
 */
static void files_errno(void)
{
	int fd = dev_open();
	uint64_t r[2];
	pid_t pid;
	int st;

	CHECK(ioctl(fd, VT_START) == 0, "start");
	CHECK(ioctl(fd, VT_KICK) == 0, "kick");
	CHECK(ioctl(fd, VT_WAIT_IDLE) == 0, "wait idle");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid) {
		int cfd = dev_open();

		if (ioctl(cfd, TW_EXIT_FILES))
			_exit(1);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st), "child");
	CHECK(ioctl(fd, FILES_ERRNO, r) == 0, "FILES_ERRNO");
	CHECK((int64_t)r[0] == -EBADF, "worker's eventfd lookup: %lld, want %d",
	      (long long)r[0], -EBADF);
	CHECK((int64_t)r[1] == -EBADF, "exit-time eventfd lookup: %lld, want %d",
	      (long long)r[1], -EBADF);
	close(fd);
	printf("files: no file table in a vhost worker or at exit: EBADF both times\n");
}

/* Start a worker, leak its handle, close the fd and wait to be killed. */
static void vhost_leak(void)
{
	int fd = dev_open();

	CHECK(ioctl(fd, VT_START) == 0, "start");
	CHECK(ioctl(fd, VT_LEAK) == 0, "leak");
	close(fd);
	printf("vhost-leak: handle leaked, fd closed, waiting\n");
	fflush(stdout);
	for (;;)
		pause();
}

/*
 * Start a worker, make it run once, hand it its own handle to drop, close the
 * fd and wait to be killed.
 */
static void vhost_self_drop(void)
{
	int fd = dev_open();

	CHECK(ioctl(fd, VT_START) == 0, "start");
	CHECK(ioctl(fd, VT_PING) >= 0, "ping");
	CHECK(ioctl(fd, VT_SELF_DROP) == 0, "self-drop");
	close(fd);
	printf("vhost-self-drop: handle handed to the worker, fd closed, waiting\n");
	fflush(stdout);
	for (;;)
		pause();
}

/*
 * Open files outlive the misc registration: after it is dropped, the node
 * is gone, and the open file still serves ioctls, task work and close
 * through the device's static file operations.
 */
static void misc_dereg(void)
{
	int fd = dev_open();
	int fd2 = dev_open();
	uint64_t r[2];

	CHECK(ioctl(fd, MISC_DEREGISTER) == 0, "deregister");
	CHECK(ioctl(fd, MISC_DEREGISTER) == -1 && errno == ENOENT, "second deregister");
	CHECK(access(DEV, F_OK) == -1 && errno == ENOENT, "node still there");
	CHECK(open(DEV, O_RDWR) == -1, "open after deregister");
	CHECK(ioctl(fd, TW_RAN, r) == 0, "ioctl after deregister");
	CHECK(ioctl(fd, TW_RESUME) == 0, "task work after deregister");
	CHECK(ioctl(fd2, TW_RAN, r) == 0 && r[0] == 0, "second file");
	close(fd);
	CHECK(ioctl(fd2, RCU_RUN, 10) == 0, "rcu after deregister");
	close(fd2);
	printf("misc-dereg: two open files served after the registration was dropped\n");
}

static void rcu_run(long n)
{
	int fd = dev_open();

	CHECK(ioctl(fd, RCU_RUN, n) == 0, "rcu run");
	close(fd);
	printf("rcu-tasks: %ld callbacks per flavour from a module, all ran\n", n);
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "vhost-basic"))
		vhost_basic();
	else if (!strcmp(c, "vhost-storm"))
		vhost_storm(n ? n : 1000000);
	else if (!strcmp(c, "vhost-stop-pending"))
		vhost_stop_pending();
	else if (!strcmp(c, "vhost-kill"))
		vhost_kill();
	else if (!strcmp(c, "vhost-ping-cmp"))
		vhost_ping_cmp(n ? n : 20000);
	else if (!strcmp(c, "vhost-ping"))
		vhost_ping(n ? n : 100000);
	else if (!strcmp(c, "tw-resume"))
		tw_resume();
	else if (!strcmp(c, "tw-signal"))
		tw_signal();
	else if (!strcmp(c, "tw-cancel"))
		tw_cancel();
	else if (!strcmp(c, "rcu"))
		rcu_run(n ? n : 1000);
	else if (!strcmp(c, "tw-hold"))
		tw_hold();
	else if (!strcmp(c, "files"))
		files_errno();
	else if (!strcmp(c, "vhost-leak"))
		vhost_leak();
	else if (!strcmp(c, "vhost-self-drop"))
		vhost_self_drop();
	else if (!strcmp(c, "misc-dereg"))
		misc_dereg();
	else {
		fprintf(stderr, "usage: selftest vhost-basic|vhost-storm [N]|vhost-stop-pending|"
			"vhost-kill|vhost-ping [N]|tw-resume|tw-signal|tw-cancel|rcu [N]|tw-hold|"
			"files|vhost-leak|vhost-self-drop|misc-dereg\n");
		return 2;
	}
	return 0;
}
