// SPDX-License-Identifier: GPL-2.0
/*
 * Binder closes the fds of a BINDER_TYPE_FDA object when the receiver frees
 * the buffer with BC_FREE_BUFFER, and releases their files on its way back to
 * user space (drivers/android/binder/deferred_close.rs). Usage:
 *
 *	binder_fda [DEVICE]
 *	binder_fda bench ROUNDS N K
 *
 * DEVICE defaults to /dev/binderfs/binder; binderfs is mounted on
 * /dev/binderfs if that device is not there. Exits 0 when every check
 * passes, 1 when one fails (with a FAIL line that says why), and 77 when the
 * kernel has no binder file system.
 *
 * The parent becomes the context manager. A child sends it NTX transactions,
 * each with an fd array (BINDER_TYPE_FDA, in a BINDER_TYPE_PTR buffer) of the
 * write ends of NFDS pipes, whose read ends the parent keeps. The parent
 * replies to each at once, and keeps its buffer. The child then closes its
 * write ends, so the fds that binder installed in the parent hold the last
 * references to the write ends, and a read end sees EOF only once its write
 * end is released.
 *
 * The parent checks that the received fds are open, and the pipes not at
 * EOF, before BC_FREE_BUFFER; and that the fds are closed, and the pipes at
 * EOF, as soon as the BINDER_WRITE_READ call that frees the buffer has
 * returned. It frees the buffers in three ways:
 *
 *  - transaction 0 alone, and the others' fds stay open;
 *  - transaction 1 after closing one of its fds itself: binder finds that fd
 *    closed (EBADF), and still closes the other two;
 *  - transactions 2 and 3 with two BC_FREE_BUFFER in one BINDER_WRITE_READ,
 *    so that the task work of both is queued at once.
 *
 * "bench" times the close path: ROUNDS rounds of N transactions, each with
 * an fd array of K copies of one pipe's write end. The parent frees each
 * buffer before it replies, so the child is blocked in its transaction
 * meanwhile, and times the BINDER_WRITE_READ of that BC_FREE_BUFFER alone:
 * K fds taken out of the table and K task work items queued in the ioctl,
 * and run on its way back to user space. Each round prints
 *
 *	BINDER close K <k> n <n> round <r> median_ns <m> min_ns <lo> max_ns <hi>
 *
 * and every freed fd is checked to be closed after the call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/android/binder.h>

#define NTX		4	/* transactions */
#define NFDS		3	/* fds in each */
#define MAP_SIZE	(128 * 1024)
#define BINDERFS	"/dev/binderfs"
#define DEFAULT_DEV	BINDERFS "/binder"
#define TIMEOUT		60	/* seconds, for each process */
#define MGR_TRIES	500	/* of 10 ms each, while a last run's manager goes */
#define TX_CODE		0x46444131	/* "FDA1" */

static const char *role = "parent";
static pid_t child_pid;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		printf("FAIL %s %s:%d: %s: ", role, __func__, __LINE__,	\
		       #cond);						\
		printf(__VA_ARGS__);					\
		printf(" (errno %d %s)\n", errno, strerror(errno));	\
		exit(1);						\
	}								\
} while (0)

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL timeout: binder_fda did not finish\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static void kill_child(void)
{
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
}

/* Makes sure that @dev exists, mounting binderfs for the default device. */
static void setup_device(const char *dev)
{
	if (access(dev, F_OK) == 0)
		return;
	CHECK(strcmp(dev, DEFAULT_DEV) == 0, "no %s", dev);
	CHECK(mkdir(BINDERFS, 0755) == 0 || errno == EEXIST, "mkdir " BINDERFS);
	if (mount("binder", BINDERFS, "binder", 0, NULL) < 0) {
		if (errno == ENODEV) {
			printf("SKIP no binder file system (CONFIG_ANDROID_BINDER_IPC_RUST)\n");
			exit(77);
		}
		CHECK(0, "mount binderfs on " BINDERFS);
	}
	CHECK(access(dev, F_OK) == 0, "no %s after mounting binderfs", dev);
}

static int binder_open(const char *dev)
{
	struct binder_version v = { 0 };
	void *map;
	int fd;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "open %s", dev);
	CHECK(ioctl(fd, BINDER_VERSION, &v) == 0, "BINDER_VERSION");
	CHECK(v.protocol_version == BINDER_CURRENT_PROTOCOL_VERSION,
	      "protocol version %d", v.protocol_version);
	/* The receiver's buffers live in this mapping; binder wants it read-only. */
	map = mmap(NULL, MAP_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(map != MAP_FAILED, "mmap %s", dev);
	return fd;
}

/* Commands for binder, packed in a row, each followed by its argument. */
struct cmds {
	size_t len;
	unsigned char buf[2 * (sizeof(uint32_t) + sizeof(struct binder_transaction_data_sg))];
};

static void cmd_add(struct cmds *c, uint32_t cmd, const void *arg, size_t size)
{
	CHECK(c->len + sizeof(cmd) + size <= sizeof(c->buf), "command %#x does not fit", cmd);
	memcpy(c->buf + c->len, &cmd, sizeof(cmd));
	c->len += sizeof(cmd);
	if (size)
		memcpy(c->buf + c->len, arg, size);
	c->len += size;
}

/* Hands the commands of @c to binder in one BINDER_WRITE_READ. */
static void binder_write(int fd, const struct cmds *c)
{
	struct binder_write_read bwr = {
		.write_size = c->len,
		.write_buffer = (uintptr_t)c->buf,
	};

	CHECK(ioctl(fd, BINDER_WRITE_READ, &bwr) == 0, "BINDER_WRITE_READ write");
	CHECK(bwr.write_consumed == c->len, "consumed %llu of %zu bytes",
	      (unsigned long long)bwr.write_consumed, c->len);
}

static void binder_command(int fd, uint32_t cmd, const void *arg, size_t size)
{
	struct cmds c = { 0 };

	cmd_add(&c, cmd, arg, size);
	binder_write(fd, &c);
}

/* What binder returned, read a block at a time. */
struct reader {
	int fd;
	size_t pos, len;
	unsigned char buf[256];
};

/*
 * Returns the next command from binder, waiting for one, and copies its
 * argument (whose size the command encodes) to @arg, of @size bytes.
 */
static uint32_t binder_next(struct reader *r, void *arg, size_t size)
{
	size_t n;
	uint32_t cmd;

	if (r->pos == r->len) {
		struct binder_write_read bwr = {
			.read_size = sizeof(r->buf),
			.read_buffer = (uintptr_t)r->buf,
		};

		CHECK(ioctl(r->fd, BINDER_WRITE_READ, &bwr) == 0, "BINDER_WRITE_READ read");
		CHECK(bwr.read_consumed >= sizeof(cmd), "read %llu bytes",
		      (unsigned long long)bwr.read_consumed);
		r->pos = 0;
		r->len = bwr.read_consumed;
	}
	CHECK(r->len - r->pos >= sizeof(cmd), "a partial command");
	memcpy(&cmd, r->buf + r->pos, sizeof(cmd));
	r->pos += sizeof(cmd);
	n = _IOC_SIZE(cmd);
	CHECK(r->len - r->pos >= n, "command %#x: %zu of %zu argument bytes", cmd,
	      r->len - r->pos, n);
	memset(arg, 0, size);
	memcpy(arg, r->buf + r->pos, n < size ? n : size);
	r->pos += n;
	return cmd;
}

/* The child: sends each row of write ends @wfds in an fd array, then closes them. */
static int sender(const char *dev, int wfds[NTX][NFDS], int from_parent, int to_parent)
{
	struct {
		struct binder_buffer_object buf;
		struct binder_fd_array_object fda;
	} data;
	binder_size_t offsets[2] = {
		offsetof(typeof(data), buf),
		offsetof(typeof(data), fda),
	};
	struct binder_transaction_data_sg tx;
	struct binder_transaction_data arg;
	struct reader r = { 0 };
	uint32_t fds[NFDS];
	uint32_t cmd;
	int i, t;
	char c;

	role = "child";
	CHECK(read(from_parent, &c, 1) == 1 && c == 'r', "the parent is not ready");
	r.fd = binder_open(dev);

	memset(&data, 0, sizeof(data));
	data.buf.hdr.type = BINDER_TYPE_PTR;
	data.buf.buffer = (uintptr_t)fds;
	data.buf.length = sizeof(fds);
	data.fda.hdr.type = BINDER_TYPE_FDA;
	data.fda.num_fds = NFDS;
	data.fda.parent = 0;		/* offsets[0], the buffer object */
	data.fda.parent_offset = 0;	/* fds[] is the whole buffer */

	memset(&tx, 0, sizeof(tx));
	tx.transaction_data.target.handle = 0;	/* the context manager */
	tx.transaction_data.code = TX_CODE;
	tx.transaction_data.data_size = sizeof(data);
	tx.transaction_data.offsets_size = sizeof(offsets);
	tx.transaction_data.data.ptr.buffer = (uintptr_t)&data;
	tx.transaction_data.data.ptr.offsets = (uintptr_t)offsets;
	tx.buffers_size = (sizeof(fds) + 7) & ~(size_t)7;

	/*
	 * Two-way transactions: binder delivers one one-way transaction to a
	 * node at a time, until its buffer is freed.
	 */
	for (t = 0; t < NTX; t++) {
		for (i = 0; i < NFDS; i++)
			fds[i] = wfds[t][i];
		binder_command(r.fd, BC_TRANSACTION_SG, &tx, sizeof(tx));
		do {
			cmd = binder_next(&r, &arg, sizeof(arg));
			CHECK(cmd == BR_NOOP || cmd == BR_TRANSACTION_COMPLETE || cmd == BR_REPLY,
			      "transaction %d: got %#x instead of BR_REPLY%s", t, cmd,
			      cmd == BR_FAILED_REPLY ? " (BR_FAILED_REPLY)" :
			      cmd == BR_DEAD_REPLY ? " (BR_DEAD_REPLY)" : "");
		} while (cmd != BR_REPLY);
		binder_command(r.fd, BC_FREE_BUFFER, &arg.data.ptr.buffer,
			       sizeof(binder_uintptr_t));
	}
	printf("PASS child: %d transactions with %d fds in a BINDER_TYPE_FDA sent\n", NTX, NFDS);

	/* From here on, the parent's fds are the write ends' last references. */
	for (t = 0; t < NTX; t++)
		for (i = 0; i < NFDS; i++)
			CHECK(close(wfds[t][i]) == 0, "close write end %d of transaction %d", i, t);
	CHECK(write(to_parent, "c", 1) == 1, "tell the parent");
	/* Stay until the parent is done with the transactions (or gone). */
	if (read(from_parent, &c, 1) < 0)
		return 1;
	return 0;
}

/*
 * Whether pipe read end @fd is at EOF, that is, no write end is left: poll()
 * reports POLLHUP, and read() returns 0 (the read end is O_NONBLOCK, so
 * read() fails with EAGAIN while a writer is left). The two must agree.
 */
static int at_eof(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	char c;

	CHECK(poll(&p, 1, 0) >= 0, "poll");
	n = read(fd, &c, 1);
	CHECK(n == 0 || (n < 0 && errno == EAGAIN), "read() on a pipe nobody writes to: %zd", n);
	CHECK(!(p.revents & POLLHUP) == !!n, "poll() and read() disagree on EOF: %#x, %zd",
	      p.revents, n);
	return !n;
}

/* A transaction that the parent received, and whose buffer it holds. */
struct received {
	binder_uintptr_t buffer;
	uint32_t fds[NFDS];
};

/* Receives transaction @t in @rx, and replies to it at once. */
static void receive(struct reader *r, struct received *rx, int t)
{
	const struct binder_buffer_object *buf;
	const struct binder_fd_array_object *fda;
	const binder_size_t *offsets;
	struct binder_transaction_data tr;
	struct binder_transaction_data reply;
	uint32_t cmd;
	int i;

	for (;;) {
		cmd = binder_next(r, &tr, sizeof(tr));
		if (cmd == BR_TRANSACTION)
			break;
		CHECK(cmd == BR_NOOP || cmd == BR_SPAWN_LOOPER || cmd == BR_TRANSACTION_COMPLETE,
		      "transaction %d: unexpected command %#x", t, cmd);
	}
	CHECK(tr.code == TX_CODE, "code %#x", tr.code);
	CHECK(tr.offsets_size == 2 * sizeof(binder_size_t), "offsets_size %llu",
	      (unsigned long long)tr.offsets_size);
	CHECK(tr.data_size == sizeof(*buf) + sizeof(*fda), "data_size %llu",
	      (unsigned long long)tr.data_size);
	offsets = (const binder_size_t *)(uintptr_t)tr.data.ptr.offsets;
	buf = (const void *)(uintptr_t)(tr.data.ptr.buffer + offsets[0]);
	fda = (const void *)(uintptr_t)(tr.data.ptr.buffer + offsets[1]);
	CHECK(buf->hdr.type == BINDER_TYPE_PTR, "object 0 is %#x", buf->hdr.type);
	CHECK(fda->hdr.type == BINDER_TYPE_FDA, "object 1 is %#x", fda->hdr.type);
	CHECK(fda->num_fds == NFDS, "num_fds %llu", (unsigned long long)fda->num_fds);
	CHECK(buf->length == sizeof(rx->fds), "buffer length %llu",
	      (unsigned long long)buf->length);
	memcpy(rx->fds, (const void *)(uintptr_t)(buf->buffer + fda->parent_offset),
	       sizeof(rx->fds));
	rx->buffer = tr.data.ptr.buffer;

	memset(&reply, 0, sizeof(reply));
	binder_command(r->fd, BC_REPLY, &reply, sizeof(reply));
	printf("PASS parent: transaction %d with fds", t);
	for (i = 0; i < NFDS; i++)
		printf(" %u", rx->fds[i]);
	printf("\n");
}

/* The fds of @rx are open, each the write end of its pipe in @rfds, not at EOF. */
static void check_open(const struct received *rx, const int rfds[NFDS], int t)
{
	struct stat want, got;
	int i, flags;

	for (i = 0; i < NFDS; i++) {
		flags = fcntl((int)rx->fds[i], F_GETFD);
		CHECK(flags >= 0, "transaction %d: fd %u is not open", t, rx->fds[i]);
		CHECK(flags & FD_CLOEXEC, "fd %u: no FD_CLOEXEC", rx->fds[i]);
		CHECK(fstat(rfds[i], &want) == 0 && fstat((int)rx->fds[i], &got) == 0, "fstat");
		CHECK(S_ISFIFO(got.st_mode) && got.st_ino == want.st_ino &&
		      got.st_dev == want.st_dev, "fd %u is not an end of pipe %d of transaction %d",
		      rx->fds[i], i, t);
		flags = fcntl((int)rx->fds[i], F_GETFL);
		CHECK(flags >= 0 && (flags & O_ACCMODE) == O_WRONLY,
		      "fd %u is not the write end of its pipe: flags %#x", rx->fds[i], flags);
		CHECK(!at_eof(rfds[i]), "pipe %d of transaction %d at EOF", i, t);
	}
}

/* The fds of @rx are closed, and their pipes in @rfds at EOF. */
static void check_closed(const struct received *rx, const int rfds[NFDS], int t)
{
	int i;

	for (i = 0; i < NFDS; i++) {
		errno = 0;
		CHECK(fcntl((int)rx->fds[i], F_GETFD) < 0 && errno == EBADF,
		      "transaction %d: fd %u still open after BC_FREE_BUFFER", t, rx->fds[i]);
		CHECK(at_eof(rfds[i]),
		      "pipe %d of transaction %d not at EOF: its write end was not released", i, t);
	}
}

/* Frees the buffers of the @n transactions @rx in one BINDER_WRITE_READ. */
static void free_buffers(int fd, const struct received *rx, int n)
{
	struct cmds c = { 0 };
	int i;

	for (i = 0; i < n; i++)
		cmd_add(&c, BC_FREE_BUFFER, &rx[i].buffer, sizeof(rx[i].buffer));
	binder_write(fd, &c);
}

/* Becomes the context manager, once the one of a last run (if any) is gone. */
static void set_context_mgr(int fd, const char *dev)
{
	struct flat_binder_object mgr = {
		.hdr.type = BINDER_TYPE_BINDER,
		.flags = FLAT_BINDER_FLAG_ACCEPTS_FDS,
	};
	int tries = 0;

	while (ioctl(fd, BINDER_SET_CONTEXT_MGR_EXT, &mgr) < 0) {
		CHECK(errno == EBUSY && ++tries < MGR_TRIES,
		      "BINDER_SET_CONTEXT_MGR_EXT (another context manager on %s?)", dev);
		usleep(10000);
	}
}

/* The parent: receives the fds, checks them, frees the buffers, checks again. */
static void receiver(const char *dev, int rfds[NTX][NFDS], int to_child, int from_child)
{
	struct received rx[NTX];
	struct reader r = { 0 };
	int t;
	char c;

	r.fd = binder_open(dev);
	set_context_mgr(r.fd, dev);
	/* A thread only takes the process's transactions as a looper. */
	binder_command(r.fd, BC_ENTER_LOOPER, NULL, 0);
	CHECK(write(to_child, "r", 1) == 1, "tell the child");

	for (t = 0; t < NTX; t++)
		receive(&r, &rx[t], t);
	/* Wait until the child has closed its own write ends. */
	CHECK(read(from_child, &c, 1) == 1 && c == 'c', "the child did not close its fds");
	for (t = 0; t < NTX; t++)
		check_open(&rx[t], rfds[t], t);
	printf("PASS parent: the %d fds are open before BC_FREE_BUFFER, no pipe at EOF\n",
	       NTX * NFDS);

	free_buffers(r.fd, &rx[0], 1);
	check_closed(&rx[0], rfds[0], 0);
	for (t = 1; t < NTX; t++)
		check_open(&rx[t], rfds[t], t);
	printf("PASS parent: one buffer freed: its fds closed and files released, no others\n");

	/* Binder's own close of that fd fails with EBADF; the others still go. */
	CHECK(close((int)rx[1].fds[1]) == 0, "close fd %u", rx[1].fds[1]);
	CHECK(at_eof(rfds[1][1]), "pipe 1 of transaction 1 not at EOF after close()");
	free_buffers(r.fd, &rx[1], 1);
	check_closed(&rx[1], rfds[1], 1);
	printf("PASS parent: one fd closed before BC_FREE_BUFFER: the other fds closed\n");

	free_buffers(r.fd, &rx[2], 2);
	check_closed(&rx[2], rfds[2], 2);
	check_closed(&rx[3], rfds[3], 3);
	printf("PASS parent: two BC_FREE_BUFFER in one write: all their fds closed\n");
}

/*
 * The bench's child: sends @rounds * @n transactions, each with an fd array
 * of @k copies of @wfd, one at a time (a two-way transaction waits for its
 * reply).
 */
static int bench_sender(const char *dev, int wfd, int rounds, int n, int k,
			int from_parent)
{
	struct {
		struct binder_buffer_object buf;
		struct binder_fd_array_object fda;
	} data;
	binder_size_t offsets[2] = {
		offsetof(typeof(data), buf),
		offsetof(typeof(data), fda),
	};
	struct binder_transaction_data_sg tx;
	struct binder_transaction_data arg;
	struct reader r = { 0 };
	uint32_t *fds;
	uint32_t cmd;
	int i, t;
	char c;

	role = "child";
	CHECK(read(from_parent, &c, 1) == 1 && c == 'r', "the parent is not ready");
	r.fd = binder_open(dev);
	fds = calloc(k, sizeof(*fds));
	CHECK(fds, "calloc");
	for (i = 0; i < k; i++)
		fds[i] = wfd;

	memset(&data, 0, sizeof(data));
	data.buf.hdr.type = BINDER_TYPE_PTR;
	data.buf.buffer = (uintptr_t)fds;
	data.buf.length = k * sizeof(*fds);
	data.fda.hdr.type = BINDER_TYPE_FDA;
	data.fda.num_fds = k;
	memset(&tx, 0, sizeof(tx));
	tx.transaction_data.code = TX_CODE;
	tx.transaction_data.data_size = sizeof(data);
	tx.transaction_data.offsets_size = sizeof(offsets);
	tx.transaction_data.data.ptr.buffer = (uintptr_t)&data;
	tx.transaction_data.data.ptr.offsets = (uintptr_t)offsets;
	tx.buffers_size = (k * sizeof(*fds) + 7) & ~(size_t)7;

	for (t = 0; t < rounds * n; t++) {
		binder_command(r.fd, BC_TRANSACTION_SG, &tx, sizeof(tx));
		do {
			cmd = binder_next(&r, &arg, sizeof(arg));
			CHECK(cmd == BR_NOOP || cmd == BR_TRANSACTION_COMPLETE || cmd == BR_REPLY,
			      "transaction %d: got %#x instead of BR_REPLY", t, cmd);
		} while (cmd != BR_REPLY);
		binder_command(r.fd, BC_FREE_BUFFER, &arg.data.ptr.buffer,
			       sizeof(binder_uintptr_t));
	}
	free(fds);
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* The bench's parent: frees each buffer, timed, then replies. */
static void bench_receiver(const char *dev, int rounds, int n, int k, int to_child)
{
	struct binder_transaction_data tr, reply;
	const struct binder_fd_array_object *fda;
	const struct binder_buffer_object *buf;
	const binder_size_t *offsets;
	struct received rx;
	struct reader r = { 0 };
	struct timespec t0, t1;
	long long *ns;
	uint32_t *got;
	uint32_t cmd;
	int round, t, i;

	ns = calloc(n, sizeof(*ns));
	got = calloc(k, sizeof(*got));
	CHECK(ns && got, "calloc");
	r.fd = binder_open(dev);
	set_context_mgr(r.fd, dev);
	binder_command(r.fd, BC_ENTER_LOOPER, NULL, 0);
	CHECK(write(to_child, "r", 1) == 1, "tell the child");
	memset(&reply, 0, sizeof(reply));

	for (round = 1; round <= rounds; round++) {
		for (t = 0; t < n; t++) {
			do {
				cmd = binder_next(&r, &tr, sizeof(tr));
				CHECK(cmd == BR_NOOP || cmd == BR_SPAWN_LOOPER ||
				      cmd == BR_TRANSACTION_COMPLETE || cmd == BR_TRANSACTION,
				      "unexpected command %#x", cmd);
			} while (cmd != BR_TRANSACTION);
			CHECK(tr.code == TX_CODE, "code %#x", tr.code);
			CHECK(tr.offsets_size == 2 * sizeof(binder_size_t) &&
			      tr.data_size == sizeof(*buf) + sizeof(*fda),
			      "offsets_size %llu, data_size %llu",
			      (unsigned long long)tr.offsets_size,
			      (unsigned long long)tr.data_size);
			offsets = (const binder_size_t *)(uintptr_t)tr.data.ptr.offsets;
			buf = (const void *)(uintptr_t)(tr.data.ptr.buffer + offsets[0]);
			fda = (const void *)(uintptr_t)(tr.data.ptr.buffer + offsets[1]);
			CHECK(buf->hdr.type == BINDER_TYPE_PTR, "object 0 is %#x", buf->hdr.type);
			CHECK(fda->hdr.type == BINDER_TYPE_FDA && fda->num_fds == (unsigned int)k,
			      "object 1: type %#x, %llu fds", fda->hdr.type,
			      (unsigned long long)fda->num_fds);
			CHECK(buf->length == k * sizeof(*got) && fda->parent_offset == 0,
			      "buffer length %llu", (unsigned long long)buf->length);
			/* The fd numbers, before the buffer that holds them goes. */
			memcpy(got, (const void *)(uintptr_t)(buf->buffer + fda->parent_offset),
			       k * sizeof(*got));
			rx.buffer = tr.data.ptr.buffer;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			free_buffers(r.fd, &rx, 1);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ns[t] = (t1.tv_sec - t0.tv_sec) * 1000000000LL + t1.tv_nsec - t0.tv_nsec;
			for (i = 0; i < k; i++) {
				errno = 0;
				CHECK(fcntl((int)got[i], F_GETFD) < 0 && errno == EBADF,
				      "fd %u still open after BC_FREE_BUFFER", got[i]);
			}
			/* After the last reply the child may end, as it should. */
			if (round == rounds && t == n - 1)
				signal(SIGCHLD, SIG_DFL);
			binder_command(r.fd, BC_REPLY, &reply, sizeof(reply));
		}
		qsort(ns, n, sizeof(*ns), cmp_ll);
		printf("BINDER close K %d n %d round %d median_ns %lld min_ns %lld max_ns %lld\n",
		       k, n, round, ns[n / 2], ns[0], ns[n - 1]);
	}
	free(got);
	free(ns);
}

/*
 * The bench's parent waits in binder for the next transaction, and binder
 * does not tell a context manager that a sender died: without this, a child
 * that fails would leave the parent waiting until the alarm.
 */
static void on_child(int sig)
{
	static const char msg[] = "FAIL bench: the sending child ended early\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

/* binder_fda bench ROUNDS N K */
static int bench(int argc, char **argv)
{
	int rounds, n, k, p[2], to_child[2], status;

	CHECK(argc == 5, "usage: binder_fda bench ROUNDS N K");
	rounds = atoi(argv[2]);
	n = atoi(argv[3]);
	k = atoi(argv[4]);
	/* K fds at once in the parent, well under its RLIMIT_NOFILE. */
	CHECK(rounds > 0 && n > 0 && k > 0 && k <= 256, "ROUNDS %d N %d K %d", rounds, n, k);
	alarm(10 * TIMEOUT);
	setup_device(DEFAULT_DEV);
	CHECK(pipe2(p, O_CLOEXEC) == 0 && pipe2(to_child, O_CLOEXEC) == 0, "pipe");
	child_pid = fork();
	CHECK(child_pid >= 0, "fork");
	if (!child_pid) {
		alarm(10 * TIMEOUT);
		close(to_child[1]);
		exit(bench_sender(DEFAULT_DEV, p[1], rounds, n, k, to_child[0]));
	}
	atexit(kill_child);
	signal(SIGCHLD, on_child);
	close(to_child[0]);
	close(p[1]);
	CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	bench_receiver(DEFAULT_DEV, rounds, n, k, to_child[1]);
	CHECK(waitpid(child_pid, &status, 0) == child_pid, "waitpid");
	child_pid = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	/*
	 * The child's own write end went with it: the pipe is at EOF only if
	 * every file that a freed buffer's fds held was released too.
	 */
	CHECK(at_eof(p[0]), "pipe not at EOF: the %d freed fds did not all release their file",
	      rounds * n * k);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : DEFAULT_DEV;
	int rfds[NTX][NFDS], wfds[NTX][NFDS], p[2];
	int to_child[2], to_parent[2];
	int i, t, status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return bench(argc, argv);
	setup_device(dev);

	for (t = 0; t < NTX; t++) {
		for (i = 0; i < NFDS; i++) {
			CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
			rfds[t][i] = p[0];
			wfds[t][i] = p[1];
		}
	}
	CHECK(pipe2(to_child, O_CLOEXEC) == 0 && pipe2(to_parent, O_CLOEXEC) == 0, "pipe");

	/* Each process opens binder itself: a binder fd stands for its opener. */
	child_pid = fork();
	CHECK(child_pid >= 0, "fork");
	if (!child_pid) {
		alarm(TIMEOUT);
		close(to_child[1]);
		close(to_parent[0]);
		for (t = 0; t < NTX; t++)
			for (i = 0; i < NFDS; i++)
				close(rfds[t][i]);
		exit(sender(dev, wfds, to_child[0], to_parent[1]));
	}
	atexit(kill_child);
	alarm(TIMEOUT);
	close(to_child[0]);
	close(to_parent[1]);
	for (t = 0; t < NTX; t++) {
		for (i = 0; i < NFDS; i++) {
			close(wfds[t][i]);
			CHECK(fcntl(rfds[t][i], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
		}
	}

	receiver(dev, rfds, to_child[1], to_parent[0]);

	CHECK(write(to_child[1], "x", 1) == 1, "tell the child");
	CHECK(waitpid(child_pid, &status, 0) == child_pid, "waitpid");
	child_pid = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	printf("binder_fda: ok\n");
	return 0;
}
