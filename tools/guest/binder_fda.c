// SPDX-License-Identifier: GPL-2.0
/*
 * Binder closes the fds of a BINDER_TYPE_FDA object when the receiver frees
 * the buffer with BC_FREE_BUFFER, and releases their files on its way back to
 * user space (drivers/android/binder/deferred_close.rs). Usage:
 *
 *	binder_fda [DEVICE]
 *
 * DEVICE defaults to /dev/binderfs/binder; binderfs is mounted on
 * /dev/binderfs if that device is not there. Exits 0 when every check
 * passes, 1 when one fails (with a FAIL line that says why), and 77 when the
 * kernel has no binder file system.
 *
 * The parent becomes the context manager. A child sends it a one-way
 * transaction with an fd array (BINDER_TYPE_FDA, in a BINDER_TYPE_PTR
 * buffer) of the write ends of NFDS pipes, whose read ends the parent keeps.
 * The child closes its write ends once the transaction is sent, so the fds
 * that binder installs in the parent hold the last references to the write
 * ends, and a read end sees EOF only once its write end is released.
 *
 * The parent checks that the received fds are open, and the pipes not at
 * EOF, before BC_FREE_BUFFER; and that the fds are closed, and every pipe at
 * EOF, as soon as the BINDER_WRITE_READ call that frees the buffer has
 * returned.
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/android/binder.h>

#define NFDS		3
#define MAP_SIZE	(128 * 1024)
#define BINDERFS	"/dev/binderfs"
#define DEFAULT_DEV	BINDERFS "/binder"
#define TIMEOUT		60	/* seconds, for each process */
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

/* Hands @size bytes of commands to binder. */
static void binder_write(int fd, const void *buf, size_t size)
{
	struct binder_write_read bwr = {
		.write_size = size,
		.write_buffer = (uintptr_t)buf,
	};

	CHECK(ioctl(fd, BINDER_WRITE_READ, &bwr) == 0, "BINDER_WRITE_READ write");
	CHECK(bwr.write_consumed == size, "consumed %llu of %zu bytes",
	      (unsigned long long)bwr.write_consumed, size);
}

/* One command and its argument, as binder reads them: packed, in a row. */
static void binder_command(int fd, uint32_t cmd, const void *arg, size_t size)
{
	unsigned char buf[sizeof(cmd) + sizeof(struct binder_transaction_data_sg)];

	CHECK(size <= sizeof(buf) - sizeof(cmd), "command %#x too large", cmd);
	memcpy(buf, &cmd, sizeof(cmd));
	if (size)
		memcpy(buf + sizeof(cmd), arg, size);
	binder_write(fd, buf, sizeof(cmd) + size);
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

/* The child: sends the write ends @wfds in an fd array, then closes them. */
static int sender(const char *dev, const int wfds[NFDS], int from_parent, int to_parent)
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
	char c;
	int i;

	role = "child";
	CHECK(read(from_parent, &c, 1) == 1 && c == 'r', "the parent is not ready");
	r.fd = binder_open(dev);

	for (i = 0; i < NFDS; i++)
		fds[i] = wfds[i];
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
	tx.transaction_data.flags = TF_ONE_WAY;
	tx.transaction_data.data_size = sizeof(data);
	tx.transaction_data.offsets_size = sizeof(offsets);
	tx.transaction_data.data.ptr.buffer = (uintptr_t)&data;
	tx.transaction_data.data.ptr.offsets = (uintptr_t)offsets;
	tx.buffers_size = (sizeof(fds) + 7) & ~(size_t)7;
	binder_command(r.fd, BC_TRANSACTION_SG, &tx, sizeof(tx));

	do {
		cmd = binder_next(&r, &arg, sizeof(arg));
		CHECK(cmd == BR_NOOP || cmd == BR_TRANSACTION_COMPLETE,
		      "got %#x instead of BR_TRANSACTION_COMPLETE%s", cmd,
		      cmd == BR_FAILED_REPLY ? " (BR_FAILED_REPLY)" :
		      cmd == BR_DEAD_REPLY ? " (BR_DEAD_REPLY)" : "");
	} while (cmd != BR_TRANSACTION_COMPLETE);
	printf("PASS child: one-way transaction with %d fds in a BINDER_TYPE_FDA sent\n", NFDS);

	/* From here on, the parent's fds are the write ends' last references. */
	for (i = 0; i < NFDS; i++)
		CHECK(close(wfds[i]) == 0, "close write end %d", i);
	CHECK(write(to_parent, "c", 1) == 1, "tell the parent");
	/* Stay until the parent is done with the transaction (or gone). */
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

/* The parent: receives the fds, checks them, frees the buffer, checks again. */
static void receiver(const char *dev, const int rfds[NFDS], int to_child, int from_child)
{
	struct flat_binder_object mgr = {
		.hdr.type = BINDER_TYPE_BINDER,
		.flags = FLAT_BINDER_FLAG_ACCEPTS_FDS,
	};
	const struct binder_buffer_object *buf;
	const struct binder_fd_array_object *fda;
	const binder_size_t *offsets;
	struct binder_transaction_data tr;
	struct reader r = { 0 };
	struct stat want, got;
	uint32_t fds[NFDS];
	uint32_t cmd;
	int i, flags;
	char c;

	r.fd = binder_open(dev);
	CHECK(ioctl(r.fd, BINDER_SET_CONTEXT_MGR_EXT, &mgr) == 0,
	      "BINDER_SET_CONTEXT_MGR_EXT (is another context manager running on %s?)", dev);
	/* A thread only takes the process's transactions as a looper. */
	binder_command(r.fd, BC_ENTER_LOOPER, NULL, 0);
	CHECK(write(to_child, "r", 1) == 1, "tell the child");

	for (;;) {
		cmd = binder_next(&r, &tr, sizeof(tr));
		if (cmd == BR_TRANSACTION)
			break;
		CHECK(cmd == BR_NOOP || cmd == BR_SPAWN_LOOPER, "unexpected command %#x", cmd);
	}
	CHECK(tr.code == TX_CODE, "code %#x", tr.code);
	CHECK(tr.flags & TF_ONE_WAY, "flags %#x", tr.flags);
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
	CHECK(buf->length == sizeof(fds), "buffer length %llu",
	      (unsigned long long)buf->length);
	memcpy(fds, (const void *)(uintptr_t)(buf->buffer + fda->parent_offset), sizeof(fds));
	printf("PASS parent: BR_TRANSACTION with fds");
	for (i = 0; i < NFDS; i++)
		printf(" %u", fds[i]);
	printf("\n");

	/* Wait until the child has closed its own write ends. */
	CHECK(read(from_child, &c, 1) == 1 && c == 'c', "the child did not close its fds");

	/* Before BC_FREE_BUFFER: open, each the write end of its own pipe. */
	for (i = 0; i < NFDS; i++) {
		flags = fcntl((int)fds[i], F_GETFD);
		CHECK(flags >= 0, "fd %u (fds[%d]) is not open before BC_FREE_BUFFER", fds[i], i);
		CHECK(flags & FD_CLOEXEC, "fd %u: no FD_CLOEXEC", fds[i]);
		CHECK(fstat(rfds[i], &want) == 0 && fstat((int)fds[i], &got) == 0, "fstat");
		CHECK(S_ISFIFO(got.st_mode) && got.st_ino == want.st_ino &&
		      got.st_dev == want.st_dev, "fd %u is not the write end of pipe %d",
		      fds[i], i);
		CHECK(!at_eof(rfds[i]), "pipe %d at EOF before BC_FREE_BUFFER", i);
	}
	printf("PASS parent: the %d fds are open before BC_FREE_BUFFER, no pipe at EOF\n", NFDS);

	binder_command(r.fd, BC_FREE_BUFFER, &tr.data.ptr.buffer, sizeof(binder_uintptr_t));

	/* Back in user space: the fds are gone, and so are the files. */
	for (i = 0; i < NFDS; i++) {
		errno = 0;
		CHECK(fcntl((int)fds[i], F_GETFD) < 0 && errno == EBADF,
		      "fd %u (fds[%d]) still open after BC_FREE_BUFFER", fds[i], i);
		CHECK(at_eof(rfds[i]),
		      "pipe %d not at EOF after BC_FREE_BUFFER: its write end was not released", i);
	}
	printf("PASS parent: %d fds closed, their files released, when BC_FREE_BUFFER returned\n",
	       NFDS);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : DEFAULT_DEV;
	int pipes[NFDS][2], rfds[NFDS], wfds[NFDS];
	int to_child[2], to_parent[2];
	int i, status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	setup_device(dev);

	for (i = 0; i < NFDS; i++) {
		CHECK(pipe2(pipes[i], O_CLOEXEC) == 0, "pipe");
		rfds[i] = pipes[i][0];
		wfds[i] = pipes[i][1];
	}
	CHECK(pipe2(to_child, O_CLOEXEC) == 0 && pipe2(to_parent, O_CLOEXEC) == 0, "pipe");

	/* Each process opens binder itself: a binder fd stands for its opener. */
	child_pid = fork();
	CHECK(child_pid >= 0, "fork");
	if (!child_pid) {
		alarm(TIMEOUT);
		close(to_child[1]);
		close(to_parent[0]);
		for (i = 0; i < NFDS; i++)
			close(rfds[i]);
		exit(sender(dev, wfds, to_child[0], to_parent[1]));
	}
	atexit(kill_child);
	alarm(TIMEOUT);
	close(to_child[0]);
	close(to_parent[1]);
	for (i = 0; i < NFDS; i++) {
		close(wfds[i]);
		CHECK(fcntl(rfds[i], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	}

	receiver(dev, rfds, to_child[1], to_parent[0]);

	CHECK(write(to_child[1], "x", 1) == 1, "tell the child");
	CHECK(waitpid(child_pid, &status, 0) == child_pid, "waitpid");
	child_pid = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	printf("binder_fda: ok\n");
	return 0;
}
