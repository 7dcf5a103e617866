// SPDX-License-Identifier: GPL-2.0
/*
 * A vhost-test worker stuck in a pass over the ring, on a user page that
 * userfaultfd serves late or never, and what the rest of the device does
 * meanwhile. It drives the device named by $VHOST_DEV (default
 * /dev/vhost-test).
 *
 *   vhost_uffd control | trace-stall | stop-retry | config-wait | config-stop |
 *              features-stopped | flush-spin
 *
 * The ring has 1024 entries, so that its used ring spans three pages, in an
 * anonymous mapping registered with userfaultfd. The first page (flags and
 * index) is filled in at once; the second, which holds used element 600, is
 * missing. The indices start at 600: the worker reads the one buffer made
 * available, then its write of the used element faults, and it waits in
 * handle_userfault() until this program fills the page in (UFFDIO_COPY).
 *
 * Each case runs in a child process that is killed after 30 s, and every wait
 * in it is bounded. It exits 0 when every check holds, and says which one
 * failed otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* drivers/vhost/test.h */
#define VHOST_TEST_RUN _IOW(VHOST_VIRTIO, 0x31, int)
/* rust_vhost_test only: buffers, errors, kicks, signals, passes, flushes */
#define RUST_VHOST_TEST_STATS _IOR(VHOST_VIRTIO, 0x3F, uint64_t[6])
/* rust_vhost_selftest: synchronize_rcu_tasks_trace() */
#define RCU_TRACE_SYNC _IO('R', 25)
#define SELFTEST_DEV "/dev/rust-vhost-selftest"

#define NUM 1024
#define BASE 600
#define HEAD 5
#define PAGE 4096
#define BUFSZ 65536
/* The used ring: 4 + 8 * NUM + 2 bytes. */
#define USED_PAGES 3
#define FEATURES (1ULL << VIRTIO_F_VERSION_1)

static int failed;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		printf("FAIL %s:%d: %s: ", __func__, __LINE__, dev_path()); \
		printf(__VA_ARGS__);					\
		printf("\n");						\
		failed = 1;						\
	}								\
} while (0)

/* An ioctl that must succeed. */
#define OK(fd, req, arg) do {						\
	if (ioctl(fd, req, arg) < 0) {					\
		printf("FAIL %s:%d: %s: %s: %s\n", __func__, __LINE__,	\
		       dev_path(), #req, strerror(errno));		\
		exit(1);						\
	}								\
} while (0)

static const char *dev_path(void)
{
	const char *p = getenv("VHOST_DEV");

	return p ? p : "/dev/vhost-test";
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	usleep(ms * 1000);
}

struct stall {
	int fd, uffd, kick, call;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	char *buf;
	/* Set just before the missing page is filled in. */
	volatile int served;
	double t_served;
};

/* The page of the used ring that holds element BASE. */
static void *missing_page(struct stall *s)
{
	uintptr_t a = (uintptr_t)&s->used->ring[BASE % NUM];

	return (void *)(a & ~(uintptr_t)(PAGE - 1));
}

static void uffd_copy(struct stall *s, void *dst, const void *src)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)dst,
		.src = (uintptr_t)src,
		.len = PAGE,
	};

	/* EAGAIN: the mm changed under it (a fork); try again. */
	for (int i = 0; i < 100; i++) {
		if (ioctl(s->uffd, UFFDIO_COPY, &c) == 0)
			return;
		if (errno != EAGAIN)
			break;
		sleep_ms(10);
	}
	printf("FAIL %s: UFFDIO_COPY: %s\n", dev_path(), strerror(errno));
	exit(1);
}

/*
 * Opens the device and sets up a ring of NUM entries at BASE, its used ring
 * on userfaultfd pages of which only the first is there, with the backend
 * running and nothing available.
 */
static void stall_setup(struct stall *s)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct vhost_vring_state st = { .num = NUM };
	struct vhost_vring_file f = { 0 };
	struct vhost_vring_addr a = { 0 };
	struct {
		struct vhost_memory m;
		struct vhost_memory_region r;
	} mem = { .m.nregions = 1 };
	static uint16_t page0[PAGE / 2] __attribute__((aligned(PAGE)));
	uint64_t features = FEATURES;
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->fd = open(dev_path(), O_RDWR);
	if (s->fd < 0) {
		printf("FAIL %s: open: %s\n", dev_path(), strerror(errno));
		exit(1);
	}
	s->kick = eventfd(0, EFD_NONBLOCK);
	s->call = eventfd(0, EFD_NONBLOCK);
	s->desc = aligned_alloc(PAGE, 16 * NUM);
	s->avail = aligned_alloc(PAGE, PAGE);
	s->buf = aligned_alloc(PAGE, BUFSZ);
	memset(s->desc, 0, 16 * NUM);
	memset(s->avail, 0, PAGE);
	s->avail->idx = BASE;
	s->used = mmap(NULL, USED_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (s->used == MAP_FAILED || s->uffd < 0 ||
	    ioctl(s->uffd, UFFDIO_API, &api) < 0) {
		printf("FAIL %s: userfaultfd: %s\n", dev_path(), strerror(errno));
		exit(1);
	}
	reg.range.start = (uintptr_t)s->used;
	reg.range.len = USED_PAGES * PAGE;
	OK(s->uffd, UFFDIO_REGISTER, &reg);
	/* used->flags 0, used->idx BASE. */
	page0[1] = BASE;
	uffd_copy(s, s->used, page0);

	OK(s->fd, VHOST_SET_OWNER, NULL);
	OK(s->fd, VHOST_SET_FEATURES, &features);
	mem.r.guest_phys_addr = (uintptr_t)s->buf;
	mem.r.userspace_addr = (uintptr_t)s->buf;
	mem.r.memory_size = BUFSZ;
	OK(s->fd, VHOST_SET_MEM_TABLE, &mem);
	OK(s->fd, VHOST_SET_VRING_NUM, &st);
	st.num = BASE;
	OK(s->fd, VHOST_SET_VRING_BASE, &st);
	a.desc_user_addr = (uintptr_t)s->desc;
	a.avail_user_addr = (uintptr_t)s->avail;
	a.used_user_addr = (uintptr_t)s->used;
	OK(s->fd, VHOST_SET_VRING_ADDR, &a);
	f.fd = s->kick;
	OK(s->fd, VHOST_SET_VRING_KICK, &f);
	f.fd = s->call;
	OK(s->fd, VHOST_SET_VRING_CALL, &f);
	OK(s->fd, VHOST_TEST_RUN, &one);
}

/* Makes one good buffer available at BASE, and kicks. */
static void stall_kick(struct stall *s)
{
	uint64_t one = 1;

	s->desc[HEAD].addr = (uintptr_t)s->buf;
	s->desc[HEAD].len = 512;
	s->avail->ring[BASE % NUM] = HEAD;
	__sync_synchronize();
	s->avail->idx = BASE + 1;
	__sync_synchronize();
	if (write(s->kick, &one, sizeof(one)) != sizeof(one))
		exit(2);
}

/*
 * Makes one good buffer available and kicks, then waits (up to 5 s) until
 * the worker faults on the missing page. Exits if it does not.
 */
static void stall_start(struct stall *s)
{
	struct pollfd p = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg msg;

	stall_kick(s);
	if (poll(&p, 1, 5000) != 1 || read(s->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
		printf("FAIL %s: the worker did not fault on the used ring in 5 s (used index %u)\n",
		       dev_path(), s->used->idx);
		exit(1);
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    (msg.arg.pagefault.address & ~(uint64_t)(PAGE - 1)) !=
	    (uintptr_t)missing_page(s)) {
		printf("FAIL %s: unexpected userfault: event %u at %#llx\n",
		       dev_path(), msg.event,
		       (unsigned long long)msg.arg.pagefault.address);
		exit(1);
	}
}

/* Fills the missing page in, which wakes the worker. */
static void stall_serve(struct stall *s)
{
	static char page[PAGE] __attribute__((aligned(PAGE)));

	/* An element the device did not write reads as 0xffffffff. */
	memset(page, 0xff, PAGE);
	s->t_served = now();
	s->served = 1;
	__sync_synchronize();
	uffd_copy(s, missing_page(s), page);
}

static uint16_t used_idx(struct stall *s)
{
	__sync_synchronize();
	return s->used->idx;
}

/* Waits up to 2 s for the buffer to be used, and checks its element. */
static void stall_done(struct stall *s, const char *what)
{
	struct vring_used_elem *e = &s->used->ring[BASE % NUM];

	for (int i = 0; i < 200 && used_idx(s) == BASE; i++)
		sleep_ms(10);
	CHECK(used_idx(s) == BASE + 1, "%s: used index %u 2 s on, want %u",
	      what, used_idx(s), BASE + 1);
	if (used_idx(s) != BASE)
		CHECK(e->id == HEAD && e->len == 0,
		      "%s: used element %u is {id %u, len %u}, want {id %u, len 0}",
		      what, BASE, e->id, e->len, HEAD);
}

/* Reads the Rust device's counters; returns 0, or -1 (the C device has none). */
static int stats(struct stall *s, uint64_t v[6])
{
	memset(v, 0, 6 * sizeof(*v));
	return ioctl(s->fd, RUST_VHOST_TEST_STATS, v);
}

/* Returns the call eventfd's counter and resets it (0: not signalled). */
static uint64_t drain(int efd)
{
	uint64_t v;

	return read(efd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

/*
 * An ioctl issued from a thread of its own, which keeps the time it returned
 * at and whether the page had been served by then. With `retry`, it is
 * issued again when it fails with EINTR.
 */
struct call {
	struct stall *s;
	unsigned long req;
	void *arg;
	int retry, ret, err, eintr;
	int served_before;
	uint16_t used_at_return;
	double t_return;
	/* If not -1: an eventfd whose counter is read when the call returns. */
	int drain_fd;
	uint64_t drained;
	volatile int done;
	/* The thread's id, once it has started. */
	volatile pid_t tid;
	pthread_t thread;
};

static void *call_thread(void *arg)
{
	struct call *c = arg;

	c->tid = syscall(SYS_gettid);
	__sync_synchronize();
	for (;;) {
		c->ret = ioctl(c->s->fd, c->req, c->arg);
		c->err = c->ret < 0 ? errno : 0;
		if (c->ret < 0 && c->err == EINTR && c->retry) {
			c->eintr++;
			continue;
		}
		break;
	}
	c->served_before = c->s->served;
	c->used_at_return = used_idx(c->s);
	c->t_return = now();
	if (c->drain_fd >= 0)
		c->drained = drain(c->drain_fd);
	__sync_synchronize();
	c->done = 1;
	return NULL;
}

static void call_start(struct call *c, struct stall *s, unsigned long req, void *arg)
{
	c->s = s;
	c->req = req;
	c->arg = arg;
	if (pthread_create(&c->thread, NULL, call_thread, c))
		exit(2);
}

/* Waits up to `ms` for the call to return; exits if it does not. */
static void call_wait(struct call *c, const char *what, int ms)
{
	for (int i = 0; i < ms / 10 && !c->done; i++)
		sleep_ms(10);
	if (!c->done) {
		printf("FAIL %s: %s did not return %d ms after the page was served\n",
		       dev_path(), what, ms);
		exit(1);
	}
	pthread_join(c->thread, NULL);
}

/* When the call returned, relative to the serving of the page. */
static double call_when(struct call *c)
{
	return c->t_return - c->s->t_served;
}

static void stall_close(struct stall *s)
{
	close(s->fd);
	close(s->uffd);
	close(s->kick);
	close(s->call);
	munmap(s->used, USED_PAGES * PAGE);
	free(s->desc);
	free(s->avail);
	free(s->buf);
}

/*
 * $VHOST_UFFD_BREAK=noserve never serves the page in the control case, to
 * show that its check can fail.
 */
static int broken(const char *what)
{
	const char *b = getenv("VHOST_UFFD_BREAK");

	return b && !strcmp(b, what);
}

/*
 * Control: the stall itself. Stuck for 1 s with nothing else going on, then
 * served: the buffer completes. Both devices.
 */
static void control(void)
{
	struct stall s;

	stall_setup(&s);
	stall_start(&s);
	sleep_ms(1000);
	CHECK(used_idx(&s) == BASE, "used index %u while stuck, want %u",
	      used_idx(&s), BASE);
	if (!broken("noserve"))
		stall_serve(&s);
	stall_done(&s, "control");
	CHECK(drain(s.call) > 0, "the call eventfd was not signalled");
	/*
	 * Served late when broken on purpose: the C device's release waits for
	 * the stuck pass on vq->mutex, and would wait until the case is killed,
	 * 30 s on, which the debug kernel's hung-task check reports.
	 */
	if (broken("noserve"))
		stall_serve(&s);
	printf("control: stuck for 1 s on the used ring, served, buffer used\n");
	stall_close(&s);
}

/* The thread (and task, in /proc/self/task) of this process's vhost worker. */
static int worker_tid(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int tid = -1;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "vhost-", 6))
			tid = atoi(e->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return tid;
}

/* utime + stime of a thread of this process, in clock ticks. */
static long cpu_ticks(int tid)
{
	char path[64], line[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (p)
		p = strrchr(line, ')');
	if (!p)
		return -1;
	/* Fields 14 and 15; field 3 (the state) follows ") ". */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &ut, &st) != 2)
		return -1;
	return ut + st;
}

/* Waits up to `ms` for `pid` to exit; returns whether it was reaped. */
static int reap(pid_t pid, int ms, int *status)
{
	for (int i = 0; i < ms / 10; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return r == pid;
		sleep_ms(10);
	}
	return 0;
}

/*
 * trace-stall: a worker stuck on a page must not stall Tasks Trace RCU for
 * everyone. vhost.c's worker takes no Tasks Trace read lock; a device that
 * holds one across its whole pass makes synchronize_rcu_tasks_trace(), in any
 * module, wait for as long as the page is missing.
 *
 * This process forks the owner of the stuck ring, then a reader that calls
 * synchronize_rcu_tasks_trace() through rust_vhost_selftest, and waits 10 s
 * for it. The reader sleeps uninterruptibly: if it is still blocked, the
 * owner is killed, which ends the fault, and both are reaped.
 */
static void trace_stall(void)
{
	int to_owner[2], from_owner[2], st;
	struct pollfd p;
	pid_t owner, reader;
	double t0, t1;
	char c;

	if (pipe(to_owner) || pipe(from_owner))
		exit(2);
	owner = fork();
	if (owner == 0) {
		struct stall s;

		stall_setup(&s);
		stall_start(&s);
		if (write(from_owner[1], "s", 1) != 1)
			exit(2);
		p = (struct pollfd){ .fd = to_owner[0], .events = POLLIN };
		if (poll(&p, 1, 20000) != 1 || read(to_owner[0], &c, 1) != 1)
			exit(1);
		stall_serve(&s);
		stall_done(&s, "trace-stall");
		stall_close(&s);
		exit(failed);
	}
	p = (struct pollfd){ .fd = from_owner[0], .events = POLLIN };
	if (poll(&p, 1, 10000) != 1 || read(from_owner[0], &c, 1) != 1) {
		CHECK(0, "the owner did not get stuck");
		kill(owner, SIGKILL);
		reap(owner, 10000, &st);
		return;
	}
	t0 = now();
	reader = fork();
	if (reader == 0) {
		int fd = open(SELFTEST_DEV, O_RDWR);

		if (fd < 0) {
			printf("FAIL %s: %s: %s\n", dev_path(), SELFTEST_DEV,
			       strerror(errno));
			_exit(3);
		}
		_exit(ioctl(fd, RCU_TRACE_SYNC) == 0 ? 0 : 4);
	}
	if (reap(reader, 10000, &st)) {
		t1 = now();
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the reader failed (status %#x)", st);
		printf("trace-stall: synchronize_rcu_tasks_trace() took %.2f s with the worker stuck\n",
		       t1 - t0);
		if (write(to_owner[1], "g", 1) != 1)
			exit(2);
		CHECK(reap(owner, 10000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the owner failed (status %#x)", st);
		return;
	}
	CHECK(0, "synchronize_rcu_tasks_trace() did not complete in 10 s while a worker was stuck on a page");
	kill(owner, SIGKILL);
	t1 = now();
	CHECK(reap(owner, 10000, &st), "the killed owner was not reaped in 10 s");
	if (reap(reader, 10000, &st))
		printf("trace-stall: synchronize_rcu_tasks_trace() completed %.2f s after the owner was killed\n",
		       now() - t1);
	else
		CHECK(0, "the reader was still blocked 10 s after the owner was killed");
}

/*
 * stop-retry: stopping the backend waits for the pass in flight, and a
 * client that retries after EINTR must not be told it is done while the pass
 * still runs. test.c's VHOST_TEST_RUN 0 takes vq->mutex, which the worker
 * holds for the pass: it waits, signals or not, and once it returns the
 * worker writes nothing more.
 */
static void on_usr1(int sig)
{
	(void)sig;
}

static void stop_retry(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct call c = { .retry = 1, .drain_fd = -1 };
	struct stall s;
	int zero = 0, sent = 0;

	/* No SA_RESTART: the ioctl may fail with EINTR. */
	sigaction(SIGUSR1, &sa, NULL);
	stall_setup(&s);
	stall_start(&s);
	call_start(&c, &s, VHOST_TEST_RUN, &zero);
	for (int i = 0; i < 10; i++) {
		sleep_ms(100);
		if (!c.done) {
			pthread_kill(c.thread, SIGUSR1);
			sent++;
		}
	}
	stall_serve(&s);
	call_wait(&c, "VHOST_TEST_RUN 0", 3000);
	CHECK(c.ret == 0, "VHOST_TEST_RUN 0: %s", strerror(c.err));
	CHECK(c.served_before,
	      "VHOST_TEST_RUN 0 returned 0 %.2f s before the page was served, with the pass in flight (%d EINTR, %d SIGUSR1 sent)",
	      -call_when(&c), c.eintr, sent);
	stall_done(&s, "stop-retry");
	sleep_ms(300);
	CHECK(used_idx(&s) == c.used_at_return,
	      "the used index changed from %u to %u after VHOST_TEST_RUN 0 returned",
	      c.used_at_return, used_idx(&s));
	printf("stop-retry: VHOST_TEST_RUN 0 returned 0 at %+.2f s from the serving of the page, %d EINTR, %d SIGUSR1 sent\n",
	       call_when(&c), c.eintr, sent);
	stall_close(&s);
}

/*
 * config-wait: a new call eventfd, memory table or feature set takes effect
 * only after the pass in flight, which saw the old one: vhost.c changes them
 * under vq->mutex, which the worker holds for its pass, so the ioctl waits
 * for the pass. After VHOST_SET_VRING_CALL returned, the old call eventfd is
 * not signalled any more.
 */
static void config_one(const char *what)
{
	struct vhost_vring_file f = { 0 };
	struct {
		struct vhost_memory m;
		struct vhost_memory_region r;
	} mem = { .m.nregions = 1 };
	uint64_t features = FEATURES, late;
	struct call c = { .drain_fd = -1 };
	struct stall s;
	int is_call = !strcmp(what, "VHOST_SET_VRING_CALL");

	stall_setup(&s);
	drain(s.call);
	stall_start(&s);
	if (is_call) {
		f.fd = eventfd(0, EFD_NONBLOCK);
		c.drain_fd = s.call;
		call_start(&c, &s, VHOST_SET_VRING_CALL, &f);
	} else if (!strcmp(what, "VHOST_SET_MEM_TABLE")) {
		mem.r.guest_phys_addr = (uintptr_t)s.buf;
		mem.r.userspace_addr = (uintptr_t)s.buf;
		mem.r.memory_size = BUFSZ;
		call_start(&c, &s, VHOST_SET_MEM_TABLE, &mem);
	} else {
		call_start(&c, &s, VHOST_SET_FEATURES, &features);
	}
	sleep_ms(1000);
	stall_serve(&s);
	call_wait(&c, what, 3000);
	CHECK(c.ret == 0, "%s: %s", what, strerror(c.err));
	CHECK(c.served_before,
	      "%s returned %.2f s before the page was served, with the pass in flight",
	      what, -call_when(&c));
	stall_done(&s, what);
	if (is_call) {
		sleep_ms(300);
		late = drain(s.call);
		CHECK(late == 0,
		      "the old call eventfd was signalled %llu times after VHOST_SET_VRING_CALL returned",
		      (unsigned long long)late);
		close(f.fd);
	}
	printf("config-wait: %s returned at %+.2f s from the serving of the page\n",
	       what, call_when(&c));
	stall_close(&s);
}

static void config_wait(void)
{
	config_one("VHOST_SET_VRING_CALL");
	config_one("VHOST_SET_MEM_TABLE");
	config_one("VHOST_SET_FEATURES");
}

/* The state letter of thread `tid` of process `pid` (R, S, D, T...), or 0. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[64], line[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	fclose(f);
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Waits up to `ms` for the thread to be in state `want`; returns whether it got there. */
static int wait_state(pid_t pid, pid_t tid, char want, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (thread_state(pid, tid) == want)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

/*
 * config-stop: a flush that the worker runs from get_signal() counts as much
 * as one it runs from its work function. The worker's pass is stuck while
 * VHOST_SET_VRING_CALL waits for it (that thread is in D). Another process
 * stops this one (SIGSTOP), serves the page once the main thread has stopped,
 * waits for the worker to stop too, and continues the process (SIGCONT). On
 * the Rust device the worker ran the flush in get_signal() on its way to the
 * stop; on the C device the flush waits for SIGCONT. A buffer made available
 * after the ioctl returned must signal the new call eventfd, never the old
 * one.
 */
static void config_stop(void)
{
	struct vhost_vring_file f = { 0 };
	struct call c = { .drain_fd = -1 };
	struct stall s;
	uint64_t one = 1, old, new;
	pid_t helper, self = getpid();
	int st, worker;

	stall_setup(&s);
	worker = worker_tid();
	drain(s.call);
	stall_start(&s);
	f.fd = eventfd(0, EFD_NONBLOCK);
	call_start(&c, &s, VHOST_SET_VRING_CALL, &f);
	for (int i = 0; i < 300 && !c.tid; i++)
		sleep_ms(10);
	if (!c.tid || !wait_state(self, c.tid, 'D', 3000)) {
		printf("FAIL %s: VHOST_SET_VRING_CALL is not waiting (state %c)\n", dev_path(),
		       c.tid ? thread_state(self, c.tid) : '?');
		exit(1);
	}
	helper = fork();
	if (helper == 0) {
		static char page[PAGE] __attribute__((aligned(PAGE)));
		int rc = 0;

		kill(self, SIGSTOP);
		if (!wait_state(self, self, 'T', 3000))
			rc = 3;
		memset(page, 0xff, PAGE);
		uffd_copy(&s, missing_page(&s), page);
		/* The pass ends; the worker's signal handling stops it. */
		if (!rc && (worker < 0 || !wait_state(self, worker, 'T', 3000)))
			rc = 4;
		kill(self, SIGCONT);
		_exit(rc);
	}
	if (helper < 0 || !reap(helper, 15000, &st) || !WIFEXITED(st) || WEXITSTATUS(st)) {
		kill(self, SIGCONT);
		printf("FAIL %s: the stop did not happen as planned (helper status %#x: 3 the main thread did not stop, 4 the worker did not)\n",
		       dev_path(), st);
		exit(1);
	}
	call_wait(&c, "VHOST_SET_VRING_CALL", 3000);
	CHECK(c.ret == 0, "VHOST_SET_VRING_CALL: %s", strerror(c.err));
	stall_done(&s, "config-stop");
	drain(s.call);
	drain(f.fd);
	/* A second buffer, after the ioctl returned. */
	s.desc[HEAD + 1].addr = (uintptr_t)s.buf;
	s.desc[HEAD + 1].len = 512;
	s.avail->ring[(BASE + 1) % NUM] = HEAD + 1;
	__sync_synchronize();
	s.avail->idx = BASE + 2;
	__sync_synchronize();
	if (write(s.kick, &one, sizeof(one)) != sizeof(one))
		exit(2);
	for (int i = 0; i < 200 && used_idx(&s) != BASE + 2; i++)
		sleep_ms(10);
	CHECK(used_idx(&s) == BASE + 2, "used index %u 2 s after the second kick, want %u",
	      used_idx(&s), BASE + 2);
	sleep_ms(200);
	old = drain(s.call);
	new = drain(f.fd);
	CHECK(old == 0 && new > 0,
	      "after VHOST_SET_VRING_CALL returned, the old call eventfd was signalled %llu times and the new one %llu",
	      (unsigned long long)old, (unsigned long long)new);
	printf("config-stop: the worker stopped with the ioctl waiting; then old call eventfd %llu, new %llu\n",
	       (unsigned long long)old, (unsigned long long)new);
	close(f.fd);
	stall_close(&s);
}

/*
 * features-stopped: VHOST_SET_FEATURES needs no worker that runs. test.c's
 * vhost_test_set_features() takes only vq->mutex, so it returns at once
 * while the owner (and so its worker) is stopped. Another process that
 * shares the device calls it with the owner stopped; a timer process
 * continues the owner after 1.5 s in any case.
 */
static void features_stopped(void)
{
	static char page[PAGE] __attribute__((aligned(PAGE)));
	uint64_t features = FEATURES;
	pid_t other, self = getpid();
	struct stall s;
	int st;

	stall_setup(&s);
	memset(page, 0xff, PAGE);
	uffd_copy(&s, missing_page(&s), page);
	/* One buffer through, so the worker has run and holds a config. */
	stall_kick(&s);
	stall_done(&s, "features-stopped");
	other = fork();
	if (other == 0) {
		pid_t timer;
		double t0, t;
		int r;

		kill(self, SIGSTOP);
		if (!wait_state(self, self, 'T', 3000)) {
			kill(self, SIGCONT);
			_exit(3);
		}
		timer = fork();
		if (timer == 0) {
			sleep_ms(1500);
			kill(self, SIGCONT);
			_exit(0);
		}
		t0 = now();
		r = ioctl(s.fd, VHOST_SET_FEATURES, &features);
		t = now() - t0;
		printf("features-stopped: VHOST_SET_FEATURES returned %d after %.2f s with the owner stopped\n",
		       r, t);
		waitpid(timer, NULL, 0);
		_exit(r ? 4 : t < 1.0 ? 0 : 5);
	}
	if (other < 0 || !reap(other, 10000, &st) || !WIFEXITED(st) || WEXITSTATUS(st)) {
		kill(self, SIGCONT);
		CHECK(0, "VHOST_SET_FEATURES with the owner stopped: status %#x (3 the owner did not stop, 4 the ioctl failed, 5 it waited for SIGCONT)",
		      st);
	}
	stall_close(&s);
}

/*
 * flush-spin: a worker stuck on a page sleeps, even when an ioctl waits for
 * it. vhost.c's stop (VHOST_TEST_RUN 0) waits on vq->mutex and sends the
 * worker nothing; a flush queued as task work with TWA_SIGNAL makes signal_pending()
 * true in the worker, its interruptible userfault wait returns at once, and
 * the fault retries in a busy loop until the page is served.
 */
static void flush_spin(void)
{
	struct vhost_vring_state st = { 0 };
	int zero = 0;
	uint64_t before[6], after[6];
	struct call c = { .drain_fd = -1 };
	struct stall s;
	long cpu0, cpu1;
	int tid, rust;
	double t0, t1, busy;

	stall_setup(&s);
	/*
	 * Before the stall: the C device answers an ioctl it does not know
	 * (ENOTTY) only once it has vq->mutex, which the stuck worker holds.
	 */
	rust = stats(&s, before) == 0;
	stall_start(&s);
	tid = worker_tid();
	CHECK(tid > 0, "no vhost- thread in this process");
	if (tid <= 0)
		exit(1);
	/*
	 * A stop waits for the pass in flight: with a flush on the Rust device
	 * (task work on the worker), with vq->mutex on the C device.
	 */
	call_start(&c, &s, VHOST_TEST_RUN, &zero);
	sleep_ms(200);
	cpu0 = cpu_ticks(tid);
	t0 = now();
	sleep_ms(2000);
	cpu1 = cpu_ticks(tid);
	t1 = now();
	busy = (double)(cpu1 - cpu0) / sysconf(_SC_CLK_TCK) / (t1 - t0);
	CHECK(cpu0 >= 0 && cpu1 >= 0, "cannot read the worker's CPU time");
	CHECK(busy <= 0.2,
	      "the stuck worker used %.0f%% of a CPU over %.1f s while VHOST_TEST_RUN 0 waited",
	      100 * busy, t1 - t0);
	stall_serve(&s);
	stall_done(&s, "flush-spin");
	call_wait(&c, "VHOST_TEST_RUN 0", 3000);
	CHECK(c.ret == 0, "VHOST_TEST_RUN 0: %s", strerror(c.err));
	OK(s.fd, VHOST_GET_VRING_BASE, &st);
	CHECK(st.num == BASE + 1, "VHOST_GET_VRING_BASE: base %u, want %u",
	      st.num, BASE + 1);
	if (rust) {
		stats(&s, after);
		CHECK(after[1] == before[1], "errors went from %llu to %llu",
		      (unsigned long long)before[1], (unsigned long long)after[1]);
	}
	printf("flush-spin: the stuck worker used %.0f%% of a CPU over %.1f s; VHOST_GET_VRING_BASE returned %u\n",
	       100 * busy, t1 - t0, st.num);
	stall_close(&s);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "control", control },
	{ "trace-stall", trace_stall },
	{ "stop-retry", stop_retry },
	{ "config-wait", config_wait },
	{ "config-stop", config_stop },
	{ "features-stopped", features_stopped },
	{ "flush-spin", flush_spin },
};

/* Runs a case in a child, killed after 30 s. */
static int run(int i)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0) {
		cases[i].fn();
		exit(failed);
	}
	if (!reap(pid, 30000, &st)) {
		printf("FAIL %s: %s: not done after 30 s\n", dev_path(), cases[i].name);
		kill(pid, SIGKILL);
		reap(pid, 10000, &st);
		return 1;
	}
	return !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	int ran = 0, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(c, cases[i].name) && strcmp(c, "all"))
			continue;
		ran = 1;
		bad |= run(i);
	}
	if (!ran) {
		fprintf(stderr, "usage: %s all|control|trace-stall|stop-retry|config-wait|config-stop|features-stopped|flush-spin\n",
			argv[0]);
		return 2;
	}
	printf("%s: %s: %s\n", dev_path(), c, bad ? "FAILED" : "ok");
	return bad;
}
