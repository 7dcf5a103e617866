// SPDX-License-Identifier: GPL-2.0
/*
 * A small vhost-test driver for the cases virtio_test does not cover: error
 * paths with their errno, descriptor chains and indirect tables, two
 * processes on one fd, and the call eventfd buffer by buffer. It drives the
 * device named by $VHOST_DEV (default /dev/vhost-test) through one split ring
 * of 16 entries.
 *
 *   vhost_client errors | chains | two-procs | owner-killed | hold [N]
 *   vhost_client hostile SEED IOCTLS CORRUPTIONS
 *   vhost_client threads | close-running
 *   vhost_client notify | notify-unbound
 *   vhost_client divergences [CASE]
 *
 * Every used element the device writes on a checked ring is compared with
 * what was made available: the head, in avail order, once, with test.c's
 * length of 0. "notify" also counts the call eventfd's signals after every
 * batch and compares them with what vhost.c's vhost_notify() decides, with
 * and without EVENT_IDX and NOTIFY_ON_EMPTY.
 *
 * "divergences" runs the cases where the Rust device has parted from vhost.c
 * and test.c, each of which passes on the C device; a CASE runs one of them.
 *
 * It exits 0 when every check holds, and says which one failed otherwise.
 * The hostile mode is seeded and reproducible: random ioctl sequences with
 * random arguments, and random writes into a live ring; the device must
 * answer every call (any errno) and still serve a good ring afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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
#include <linux/userfaultfd.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* drivers/vhost/test.h */
#define VHOST_TEST_RUN _IOW(VHOST_VIRTIO, 0x31, int)
#define VHOST_TEST_SET_BACKEND _IOW(VHOST_VIRTIO, 0x32, int)
/* rust_vhost_test only: buffers, errors, kicks, signals, passes, flushes */
#define RUST_VHOST_TEST_STATS _IOR(VHOST_VIRTIO, 0x3F, uint64_t[6])

#define NUM 16
#define BUFSZ 65536

static int failed;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		printf("FAIL %s:%d: ", __func__, __LINE__);		\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		failed = 1;						\
	}								\
} while (0)

/* Checks that an ioctl fails with the errno `want` (0: succeeds). */
#define EXPECT(want, fd, req, arg) do {					\
	int _r = ioctl(fd, req, arg);					\
	int _e = _r < 0 ? errno : 0;					\
	CHECK(_e == (want), "%s: got %s, want %s", #req,		\
	      _e ? strerror(_e) : "success",				\
	      (want) ? strerror(want) : "success");			\
} while (0)

struct dev {
	int fd, kick, call;
	struct vring vr;
	void *ring;
	char *buf;
	uint16_t avail_idx, used_seen;
	/* Check every used element against sent[] (off for hostile rings). */
	int checked;
	/* The head made available at each avail index, modulo NUM. */
	uint16_t sent[NUM];
};

/* What a checked element is set to once it has been read. */
#define POISON 0xdeadbeefU

static const char *dev_path(void)
{
	const char *p = getenv("VHOST_DEV");

	return p ? p : "/dev/vhost-test";
}

static int dev_open(void)
{
	int fd = open(dev_path(), O_RDWR);

	if (fd < 0) {
		perror(dev_path());
		exit(2);
	}
	return fd;
}

static void set_mem(struct dev *d)
{
	struct {
		struct vhost_memory m;
		struct vhost_memory_region r;
	} mem = { .m.nregions = 1 };

	mem.r.guest_phys_addr = (uintptr_t)d->buf;
	mem.r.userspace_addr = (uintptr_t)d->buf;
	mem.r.memory_size = BUFSZ;
	EXPECT(0, d->fd, VHOST_SET_MEM_TABLE, &mem);
}

static void set_addr(struct dev *d)
{
	struct vhost_vring_addr a = {
		.desc_user_addr = (uintptr_t)d->vr.desc,
		.avail_user_addr = (uintptr_t)d->vr.avail,
		.used_user_addr = (uintptr_t)d->vr.used,
	};

	EXPECT(0, d->fd, VHOST_SET_VRING_ADDR, &a);
}

#define DEFAULT_FEATURES (1ULL << VIRTIO_RING_F_INDIRECT_DESC | \
			  1ULL << VIRTIO_F_VERSION_1)

/*
 * Sets up a ring at `ring` on an owned fd with `features`, its avail and used
 * indices starting at `base`, and the memory table mapping `buf` (BUFSZ) at
 * its own address; the backend is not started.
 */
static void init_ring(struct dev *d, int fd, uint64_t features, uint16_t base,
		      void *ring, char *buf)
{
	struct vhost_vring_state s = { .num = NUM };
	struct vhost_vring_file f = { 0 };

	memset(d, 0, sizeof(*d));
	d->checked = 1;
	d->fd = fd;
	d->kick = eventfd(0, EFD_NONBLOCK);
	d->call = eventfd(0, EFD_NONBLOCK);
	d->buf = buf;
	d->ring = ring;
	memset(d->ring, 0, vring_size(NUM, 4096));
	vring_init(&d->vr, NUM, d->ring, 4096);
	d->vr.avail->idx = d->vr.used->idx = base;
	d->avail_idx = d->used_seen = base;
	EXPECT(0, fd, VHOST_SET_FEATURES, &features);
	set_mem(d);
	EXPECT(0, fd, VHOST_SET_VRING_NUM, &s);
	s.num = base;
	EXPECT(0, fd, VHOST_SET_VRING_BASE, &s);
	set_addr(d);
	f.fd = d->kick;
	EXPECT(0, fd, VHOST_SET_VRING_KICK, &f);
	f.fd = d->call;
	EXPECT(0, fd, VHOST_SET_VRING_CALL, &f);
}

/*
 * Sets up a ring on an owned fd with `features`, its avail and used indices
 * starting at `base`, and the backend running.
 */
static void setup_ring(struct dev *d, int fd, uint64_t features, uint16_t base)
{
	void *ring;
	int one = 1;

	if (posix_memalign(&ring, 4096, vring_size(NUM, 4096)))
		exit(2);
	init_ring(d, fd, features, base, ring, aligned_alloc(4096, BUFSZ));
	EXPECT(0, fd, VHOST_TEST_RUN, &one);
}

/* Opens the device and sets up a ring, with the backend running. */
static void setup(struct dev *d, int fd)
{
	setup_ring(d, fd, DEFAULT_FEATURES, 0);
}

/* Puts `head` in the avail ring at the index after the last one published. */
static void post(struct dev *d, uint16_t i, uint16_t head)
{
	d->vr.avail->ring[i % NUM] = head;
	d->sent[i % NUM] = head;
}

/* Publishes the avail index `idx` with one store, and kicks. */
static void publish(struct dev *d, uint16_t idx)
{
	uint64_t one = 1;

	__sync_synchronize();
	d->vr.avail->idx = d->avail_idx = idx;
	__sync_synchronize();
	if (write(d->kick, &one, sizeof(one)) != sizeof(one))
		exit(2);
}

/* Makes the chain at `head` available and kicks. */
static void add(struct dev *d, uint16_t head)
{
	post(d, d->avail_idx, head);
	publish(d, d->avail_idx + 1);
}

/*
 * $VHOST_CLIENT_BREAK names an expectation to get wrong on purpose ("id",
 * "len", "signal" or "nosignal"), to show that its check can fail.
 */
static int broken(const char *what)
{
	const char *b = getenv("VHOST_CLIENT_BREAK");

	return b && !strcmp(b, what);
}

/*
 * Checks every used element the device wrote since the last check: test.c
 * completes the heads in avail order, each once, with a length of 0. A
 * checked element is poisoned, so that one the device skips the next time
 * round the ring cannot pass for new.
 */
static void check_used(struct dev *d, const char *what)
{
	uint16_t idx;

	if (!d->checked)
		return;
	__sync_synchronize();
	idx = d->vr.used->idx;
	for (; d->used_seen != idx; d->used_seen++) {
		struct vring_used_elem *e = &d->vr.used->ring[d->used_seen % NUM];
		uint16_t ahead = d->avail_idx - d->used_seen;
		uint32_t want;

		if (ahead == 0 || ahead > NUM) {
			CHECK(0, "%s: used index %u, beyond avail index %u",
			      what, idx, d->avail_idx);
			d->used_seen = idx;
			break;
		}
		want = d->sent[d->used_seen % NUM] ^ broken("id");
		CHECK(e->id == want && e->len == (uint32_t)broken("len"),
		      "%s: used element %u is {id %u, len %u}, want {id %u, len %u}",
		      what, d->used_seen, e->id, e->len, want, broken("len"));
		e->id = e->len = POISON;
	}
}

/* Waits up to `ms` for the used index to reach `want`; returns it. */
static uint16_t wait_used(struct dev *d, uint16_t want, int ms)
{
	struct pollfd p = { .fd = d->call, .events = POLLIN };
	uint64_t v;

	for (int i = 0; i < ms / 10; i++) {
		__sync_synchronize();
		if (d->vr.used->idx == want)
			break;
		if (poll(&p, 1, 10) > 0 && read(d->call, &v, sizeof(v)) < 0)
			break;
	}
	check_used(d, "wait");
	return d->vr.used->idx;
}

static void desc(struct dev *d, int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	d->vr.desc[i].addr = addr;
	d->vr.desc[i].len = len;
	d->vr.desc[i].flags = flags;
	d->vr.desc[i].next = next;
}

/* Reads the Rust device's counters; returns 0, or -1 (the C device has none). */
static int stats(struct dev *d, uint64_t s[6])
{
	memset(s, 0, 6 * sizeof(*s));
	return ioctl(d->fd, RUST_VHOST_TEST_STATS, s);
}

/*
 * Stops the backend, rewinds the ring to empty, and starts it again. Returns
 * the avail index the device had got to.
 */
static uint16_t reset_ring(struct dev *d)
{
	struct vhost_vring_file off = { .fd = -1 }, on = { .fd = 1 };
	struct vhost_vring_state s = { 0 };
	uint16_t base;

	EXPECT(0, d->fd, VHOST_TEST_SET_BACKEND, &off);
	EXPECT(0, d->fd, VHOST_GET_VRING_BASE, &s);
	memset(d->ring, 0, vring_size(NUM, 4096));
	d->avail_idx = d->used_seen = 0;
	base = s.num;
	s.num = 0;
	EXPECT(0, d->fd, VHOST_SET_VRING_BASE, &s);
	EXPECT(0, d->fd, VHOST_TEST_SET_BACKEND, &on);
	return base;
}

/* A good one-descriptor buffer completes. */
static void good_buffer(struct dev *d, const char *after)
{
	uint16_t want = d->vr.used->idx + 1;

	desc(d, 0, (uintptr_t)d->buf, 512, 0, 0);
	add(d, 0);
	CHECK(wait_used(d, want, 2000) == want,
	      "a good buffer after %s did not complete", after);
}

/*
 * A bad chain at head 0 that vhost_get_vq_desc() refuses is not completed,
 * and counts as an error (on the Rust device, which counts them). The ring
 * stalls on it until it is reset.
 */
static void bad_chain(struct dev *d, const char *what)
{
	uint64_t before[6], after[6];
	uint16_t used = d->vr.used->idx, avail = d->avail_idx, base;
	int counted = stats(d, before) == 0;

	add(d, 0);
	CHECK(wait_used(d, used + 1, 200) == used, "%s was completed", what);
	stats(d, after);
	CHECK(!counted || after[1] > before[1], "%s did not count as an error",
	      what);
	base = reset_ring(d);
	CHECK(base == avail, "%s was consumed: avail index %u, want %u", what,
	      base, avail);
	good_buffer(d, what);
}

/*
 * A chain at head 0 that vhost_get_vq_desc() takes but test.c refuses (a
 * device-writable buffer, or nothing to read) is consumed without a used
 * element; test.c stops until the next kick, and the next chain completes.
 */
static void dropped_chain(struct dev *d, const char *what)
{
	uint16_t used = d->vr.used->idx, avail = d->avail_idx, base;
	struct vring_used_elem *e = &d->vr.used->ring[used % NUM];

	/* The used ring runs one behind the avail ring from here. */
	d->checked = 0;
	add(d, 0);
	CHECK(wait_used(d, used + 1, 200) == used, "%s was completed", what);
	desc(d, 1, (uintptr_t)d->buf, 512, 0, 0);
	add(d, 1);
	wait_used(d, used + 1, 2000);
	CHECK(d->vr.used->idx == (uint16_t)(used + 1) && e->id == 1,
	      "%s was not dropped: used index %u (want %u), id %u (want 1)",
	      what, d->vr.used->idx, used + 1, e->id);
	d->checked = 1;
	base = reset_ring(d);
	CHECK(base == (uint16_t)(avail + 2),
	      "%s: avail index %u, want %u (both chains consumed)", what,
	      base, avail + 2);
	good_buffer(d, what);
}

static void errors(void)
{
	struct vhost_vring_state s = { .num = NUM };
	struct vhost_vring_file f = { 0 };
	struct vhost_vring_addr a = { 0 };
	uint64_t features = 1ULL << 40;
	int fd = dev_open(), p[2], zero = 0, one = 1, two = 2;
	struct {
		struct vhost_memory m;
		struct vhost_memory_region r[2];
	} mem = { .m.nregions = 1 };
	struct vhost_memory *big;
	struct dev d;
	uint16_t used;
	void *gone;

	/* Nothing but the features before VHOST_SET_OWNER. */
	EXPECT(EPERM, fd, VHOST_SET_VRING_NUM, &s);
	EXPECT(EPERM, fd, VHOST_SET_MEM_TABLE, &mem);
	EXPECT(EPERM, fd, VHOST_TEST_RUN, &one);
	EXPECT(EPERM, fd, VHOST_GET_VRING_BASE, &s);
	EXPECT(EPERM, fd, VHOST_RESET_OWNER, NULL);
	EXPECT(0, fd, VHOST_GET_FEATURES, &features);
	CHECK(features & (1ULL << VIRTIO_F_VERSION_1), "no VERSION_1");
	features = 1ULL << 40;
	EXPECT(EOPNOTSUPP, fd, VHOST_SET_FEATURES, &features);
	/* vhost_dev_ioctl() asks for the owner before it looks at the command. */
	EXPECT(EPERM, fd, _IO(VHOST_VIRTIO, 0x7f), NULL);
	EXPECT(EFAULT, fd, VHOST_GET_FEATURES, (void *)8);

	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	EXPECT(EBUSY, fd, VHOST_SET_OWNER, NULL);
	EXPECT(ENOTTY, fd, _IO(VHOST_VIRTIO, 0x7f), &s);

	/* Ring sizes: a power of two from 1 to 32768. */
	for (unsigned int n = 0; n < 5; n++) {
		unsigned int bad[] = { 0, 3, 100, 65536, 0xffffffff };

		s.num = bad[n];
		EXPECT(EINVAL, fd, VHOST_SET_VRING_NUM, &s);
	}
	s.index = 1;
	s.num = 16;
	EXPECT(ENOBUFS, fd, VHOST_SET_VRING_NUM, &s);
	s.index = 0;
	s.num = 32768;
	EXPECT(0, fd, VHOST_SET_VRING_NUM, &s);
	EXPECT(EFAULT, fd, VHOST_SET_VRING_NUM, (void *)8);

	/*
	 * Ring addresses: avail and used aligned (vhost_vring_set_addr() does
	 * not look at desc's alignment). Whether they are user memory is only
	 * checked with a backend, here when it starts.
	 */
	a.desc_user_addr = 0x10000;
	a.avail_user_addr = 0x20001;
	a.used_user_addr = 0x30000;
	EXPECT(EINVAL, fd, VHOST_SET_VRING_ADDR, &a);
	a.avail_user_addr = 0x20000;
	a.used_user_addr = 0x30002;
	EXPECT(EINVAL, fd, VHOST_SET_VRING_ADDR, &a);
	a.used_user_addr = 0x30000;
	a.desc_user_addr = 0x10008;
	EXPECT(0, fd, VHOST_SET_VRING_ADDR, &a);
	a.desc_user_addr = 0xffff888000000000ULL;
	EXPECT(0, fd, VHOST_SET_VRING_ADDR, &a);
	EXPECT(EFAULT, fd, VHOST_TEST_RUN, &one);
	a.desc_user_addr = 0x10000;
	/* VHOST_VRING_F_LOG is the only flag. */
	a.flags = 2;
	EXPECT(EOPNOTSUPP, fd, VHOST_SET_VRING_ADDR, &a);
	a.flags = 1;
	EXPECT(0, fd, VHOST_SET_VRING_ADDR, &a);

	/* Memory tables. */
	mem.m.padding = 1;
	EXPECT(EOPNOTSUPP, fd, VHOST_SET_MEM_TABLE, &mem);
	mem.m.padding = 0;
	mem.r[0].guest_phys_addr = 0x1000;
	mem.r[0].userspace_addr = 0x100000;
	mem.r[0].memory_size = 0;
	EXPECT(EFAULT, fd, VHOST_SET_MEM_TABLE, &mem);
	mem.r[0].memory_size = ~0ULL - 0x10;
	EXPECT(EFAULT, fd, VHOST_SET_MEM_TABLE, &mem);
	/*
	 * memory_access_ok() checks that regions are user memory only for a
	 * ring with a backend (see below), and nothing checks for overlaps.
	 */
	mem.r[0].memory_size = 0x1000;
	mem.r[0].userspace_addr = 0xffff888000000000ULL;
	EXPECT(0, fd, VHOST_SET_MEM_TABLE, &mem);
	mem.r[0].userspace_addr = 0x100000;
	mem.m.nregions = 2;
	mem.r[1] = mem.r[0];
	mem.r[1].guest_phys_addr = 0x1800;
	EXPECT(0, fd, VHOST_SET_MEM_TABLE, &mem);
	big = calloc(1, sizeof(*big) + 65 * sizeof(big->regions[0]));
	big->nregions = 65;
	EXPECT(E2BIG, fd, VHOST_SET_MEM_TABLE, big);
	big->nregions = 0;
	EXPECT(0, fd, VHOST_SET_MEM_TABLE, big);
	free(big);
	EXPECT(EFAULT, fd, VHOST_SET_MEM_TABLE, (void *)8);

	/* Kick and call fds must be eventfds. */
	if (pipe(p))
		exit(2);
	f.fd = p[0];
	EXPECT(EINVAL, fd, VHOST_SET_VRING_KICK, &f);
	EXPECT(EINVAL, fd, VHOST_SET_VRING_CALL, &f);
	f.fd = 999;
	EXPECT(EBADF, fd, VHOST_SET_VRING_KICK, &f);
	EXPECT(EBADF, fd, VHOST_SET_VRING_CALL, &f);
	f.fd = -1;
	EXPECT(0, fd, VHOST_SET_VRING_KICK, &f);
	EXPECT(0, fd, VHOST_SET_VRING_CALL, &f);

	/* Running without a complete ring. */
	EXPECT(EINVAL, fd, VHOST_TEST_RUN, &two);
	EXPECT(EFAULT, fd, VHOST_TEST_RUN, &one);

	/* Ring memory that is not mapped any more. */
	gone = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, 1 << 20);
	a.flags = 0;
	a.desc_user_addr = (uintptr_t)gone;
	a.avail_user_addr = (uintptr_t)gone + 0x40000;
	a.used_user_addr = (uintptr_t)gone + 0x80000;
	EXPECT(0, fd, VHOST_SET_VRING_ADDR, &a);
	EXPECT(EFAULT, fd, VHOST_TEST_RUN, &one);
	EXPECT(0, fd, VHOST_RESET_OWNER, NULL);
	EXPECT(EPERM, fd, VHOST_TEST_RUN, &one);
	close(fd);

	/* Rings that are set up right, then bad descriptors. */
	fd = dev_open();
	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	setup(&d, fd);
	good_buffer(&d, "setup");
	/* A running ring cannot be moved. */
	s.num = NUM;
	EXPECT(EBUSY, fd, VHOST_SET_VRING_NUM, &s);
	EXPECT(EBUSY, fd, VHOST_SET_VRING_BASE, &s);
	/* With a backend, a region must be user memory. */
	mem.m.nregions = 1;
	mem.r[0].userspace_addr = 0xffff888000000000ULL;
	EXPECT(EFAULT, fd, VHOST_SET_MEM_TABLE, &mem);
	good_buffer(&d, "a refused memory table");
	/*
	 * Taken while the backend is stopped, but starting it checks the
	 * table too (vhost_vq_access_ok(), vq_memory_access_ok()).
	 */
	EXPECT(0, fd, VHOST_TEST_RUN, &zero);
	EXPECT(0, fd, VHOST_SET_MEM_TABLE, &mem);
	EXPECT(EFAULT, fd, VHOST_TEST_RUN, &one);
	set_mem(&d);
	EXPECT(0, fd, VHOST_TEST_RUN, &one);
	good_buffer(&d, "a memory table checked at start");

	desc(&d, 0, 0x10, 512, 0, 0);
	bad_chain(&d, "an address outside the memory table");
	desc(&d, 0, (uintptr_t)d.buf + BUFSZ - 10, 512, 0, 0);
	bad_chain(&d, "a buffer running off the memory table");
	desc(&d, 0, ~0ULL - 100, 512, 0, 0);
	bad_chain(&d, "an address that wraps");
	desc(&d, 0, (uintptr_t)d.buf, 0, 0, 0);
	dropped_chain(&d, "a zero length");
	desc(&d, 0, (uintptr_t)d.buf, 0xffffffff, 0, 0);
	bad_chain(&d, "a huge length");
	desc(&d, 0, (uintptr_t)d.buf, 512, VRING_DESC_F_NEXT, 0);
	bad_chain(&d, "a chain that loops");
	desc(&d, 0, (uintptr_t)d.buf, 512, VRING_DESC_F_NEXT, NUM);
	bad_chain(&d, "a next index beyond num");
	desc(&d, 0, (uintptr_t)d.buf, 512, VRING_DESC_F_WRITE, 0);
	dropped_chain(&d, "a device-writable buffer");
	desc(&d, 0, (uintptr_t)d.buf, 24, VRING_DESC_F_INDIRECT, 0);
	bad_chain(&d, "an indirect table of a bad size");
	desc(&d, 0, (uintptr_t)d.buf + 4096, 16, VRING_DESC_F_INDIRECT, 0);
	memset(d.buf + 4096, 0, 16);
	((struct vring_desc *)(d.buf + 4096))->addr = (uintptr_t)d.buf;
	((struct vring_desc *)(d.buf + 4096))->len = 32;
	((struct vring_desc *)(d.buf + 4096))->flags = VRING_DESC_F_INDIRECT;
	bad_chain(&d, "a nested indirect table");

	/* A head index beyond num. */
	used = d.vr.used->idx;
	add(&d, NUM + 3);
	CHECK(wait_used(&d, used + 1, 200) == used, "a head beyond num was used");
	reset_ring(&d);
	good_buffer(&d, "a head beyond num");

	/* An avail index that runs more than num ahead. */
	used = d.vr.used->idx;
	d.avail_idx += NUM + 5;
	add(&d, 0);
	CHECK(wait_used(&d, used + 1, 200) == used, "avail index too far ahead");
	reset_ring(&d);
	good_buffer(&d, "an avail index too far ahead");

	EXPECT(0, fd, VHOST_RESET_OWNER, NULL);
	close(fd);
}

/* Chains and indirect tables that virtio_test never sends. */
static void chains(void)
{
	struct vring_desc *ind;
	struct dev d;
	int fd = dev_open();
	uint64_t s[6];

	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	setup(&d, fd);
	/* Three descriptors chained, out of order. */
	desc(&d, 5, (uintptr_t)d.buf, 100, VRING_DESC_F_NEXT, 2);
	desc(&d, 2, (uintptr_t)d.buf + 100, 100, VRING_DESC_F_NEXT, 9);
	desc(&d, 9, (uintptr_t)d.buf + 200, 100, 0, 0);
	add(&d, 5);
	CHECK(wait_used(&d, 1, 2000) == 1, "chain not completed");
	/* An indirect table of four, in the memory table. */
	ind = (struct vring_desc *)(d.buf + 8192);
	for (int i = 0; i < 4; i++) {
		ind[i].addr = (uintptr_t)d.buf + 512 * i;
		ind[i].len = 512;
		ind[i].flags = i < 3 ? VRING_DESC_F_NEXT : 0;
		ind[i].next = i + 1;
	}
	desc(&d, 7, (uintptr_t)ind, 4 * sizeof(*ind), VRING_DESC_F_INDIRECT, 0);
	add(&d, 7);
	CHECK(wait_used(&d, 2, 2000) == 2, "indirect not completed");
	/* A full ring, then more than the ring holds, in order. */
	for (int i = 0; i < 200; i++) {
		desc(&d, i % NUM, (uintptr_t)d.buf, 64, 0, 0);
		add(&d, i % NUM);
		if (i % NUM == NUM - 1)
			wait_used(&d, d.avail_idx, 2000);
	}
	CHECK(wait_used(&d, 202, 2000) == 202, "used %u of 202",
	      d.vr.used->idx);
	/* The worker counts a buffer just after it publishes it: allow for that. */
	for (int i = 0; i < 100; i++) {
		if (stats(&d, s) < 0 && errno == ENOTTY)
			goto out;
		if (s[0] == 202)
			break;
		usleep(10000);
	}
	CHECK(s[0] == 202 && s[1] == 0, "stats: %llu buffers, %llu errors",
	      (unsigned long long)s[0], (unsigned long long)s[1]);
out:
	close(fd);
}

/* A second process on the same fd is not the owner. */
static void two_procs(void)
{
	int fd = dev_open(), one = 1, st;
	struct vhost_vring_state s = { .num = 16 };
	pid_t c;

	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	c = fork();
	if (c == 0) {
		EXPECT(EPERM, fd, VHOST_SET_VRING_NUM, &s);
		EXPECT(EPERM, fd, VHOST_TEST_RUN, &one);
		EXPECT(EBUSY, fd, VHOST_SET_OWNER, NULL);
		exit(failed);
	}
	waitpid(c, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child checks failed");
	EXPECT(0, fd, VHOST_SET_VRING_NUM, &s);
	close(fd);
}

/*
 * The owner is killed with buffers in flight: the fd, still open in the
 * parent, refuses calls, and closes; a new open works.
 */
static void owner_killed(void)
{
	int fd = dev_open(), st, ready[2];
	struct vhost_vring_state s = { .num = 16 };
	struct dev d;
	char c;
	pid_t pid;

	if (pipe(ready))
		exit(2);
	pid = fork();
	if (pid == 0) {
		EXPECT(0, fd, VHOST_SET_OWNER, NULL);
		setup(&d, fd);
		/* It may run more than a ring ahead: it is only killed. */
		d.checked = 0;
		if (write(ready[1], "x", 1) != 1)
			exit(2);
		for (uint32_t i = 0;; i++) {
			desc(&d, i % NUM, (uintptr_t)d.buf, 64, 0, 0);
			add(&d, i % NUM);
			wait_used(&d, d.avail_idx, 100);
		}
	}
	CHECK(read(ready[0], &c, 1) == 1, "child did not start");
	usleep(300000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st), "child was not killed");
	EXPECT(EPERM, fd, VHOST_SET_VRING_NUM, &s);
	EXPECT(EPERM, fd, VHOST_RESET_OWNER, NULL);
	EXPECT(EBUSY, fd, VHOST_SET_OWNER, NULL);
	CHECK(close(fd) == 0, "close failed");
	fd = dev_open();
	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	setup(&d, fd);
	good_buffer(&d, "a new open");
	close(fd);
}

/*
 * The call eventfd, batch by batch. The client keeps the state that vhost.c's
 * vhost_notify() keeps (signalled_used, and whether it is valid), predicts
 * from it how many signals each batch must bring, and compares that with the
 * eventfd's counter once the device has finished the batch.
 */
struct notify {
	struct dev d;
	uint64_t features;
	uint16_t signalled_used;
	int valid, call_bound;
	int batches, buffers, signals, wrong_once;
};

static int has(struct notify *n, int bit)
{
	return !!(n->features & 1ULL << bit);
}

/*
 * test.c calls vhost_add_used_and_signal() for each buffer, so vhost_signal()
 * decides once per buffer. The device sees the `count` buffers after `used`
 * at once: one avail index store made them all visible.
 */
static int expect_signals(struct notify *n, uint16_t used, int count)
{
	int want = 0;

	for (int i = 1; i <= count; i++) {
		uint16_t new = used + i, old;
		int v;

		/* vhost_add_used_n(): an index that wrapped onto it. */
		if (new == n->signalled_used)
			n->valid = 0;
		/* vhost_signal(): without a call eventfd, no vhost_notify(). */
		if (!n->call_bound)
			continue;
		/* vhost_notify(): the avail ring is empty after the last one. */
		if (has(n, VIRTIO_F_NOTIFY_ON_EMPTY) && i == count) {
			want++;
			continue;
		}
		if (!has(n, VIRTIO_RING_F_EVENT_IDX)) {
			want += !(n->d.vr.avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
			continue;
		}
		old = n->signalled_used;
		v = n->valid;
		n->signalled_used = new;
		n->valid = 1;
		/* The first decision after a start signals anyway. */
		want += !v || vring_need_event(vring_used_event(&n->d.vr), new, old);
	}
	if (!n->wrong_once && ((want == 0 && broken("signal")) ||
			       (want > 0 && broken("nosignal")))) {
		n->wrong_once = 1;
		want = !want;
	}
	return want;
}

/*
 * Waits, for up to 5 s, until the device has used `to` and, its batch done,
 * asked for kicks again: with EVENT_IDX it writes avail_event, without it
 * clears VRING_USED_F_NO_NOTIFY. It signals before that, so every signal
 * of the batch is counted when this returns.
 */
static int wait_idle(struct notify *n, uint16_t to)
{
	struct vring *vr = &n->d.vr;

	for (int ms = 0; ms < 5000; ms++) {
		__sync_synchronize();
		if (vr->used->idx == to &&
		    (has(n, VIRTIO_RING_F_EVENT_IDX) ?
		     vring_avail_event(vr) == to :
		     !(vr->used->flags & VRING_USED_F_NO_NOTIFY)))
			return 1;
		usleep(1000);
	}
	return 0;
}

/*
 * Makes `count` buffers available with one index store and one kick, with
 * `flags` in the avail ring and used_event at the used index plus `ev`, then
 * checks the used ring and the number of signals.
 */
static void batch(struct notify *n, int count, uint16_t flags, int ev)
{
	struct dev *d = &n->d;
	uint16_t from = d->avail_idx, to = from + count;
	char what[200];
	uint64_t v = 0;
	int want, got;

	d->vr.avail->flags = flags;
	vring_used_event(&d->vr) = from + ev;
	snprintf(what, sizeof(what),
		 "%s: features %#llx, call %s, %d buffers at %u, avail flags %#x, used_event %u",
		 dev_path(), (unsigned long long)n->features,
		 n->call_bound ? "bound" : "unbound", count, from, flags,
		 (uint16_t)(from + ev));
	want = expect_signals(n, from, count);
	for (uint16_t i = from; i != to; i++) {
		/* Heads out of order, and distinct over any NUM in a row. */
		uint16_t head = (i * 7 + 3) % NUM;

		desc(d, head, (uintptr_t)d->buf + head * 512, 512, 0, 0);
		post(d, i, head);
	}
	publish(d, to);
	CHECK(wait_idle(n, to),
	      "%s: not done after 5 s: used index %u (want %u), used flags %#x, avail_event %u",
	      what, d->vr.used->idx, to, d->vr.used->flags,
	      vring_avail_event(&d->vr));
	check_used(d, what);
	CHECK(d->used_seen == to, "%s: used index %u, want %u", what,
	      d->used_seen, to);
	if (read(d->call, &v, sizeof(v)) != sizeof(v))
		v = 0;
	got = v;
	CHECK(got == want, "%s: call eventfd signalled %d times, want %d",
	      what, got, want);
	n->batches++;
	n->buffers += count;
	n->signals += got;
}

static void bind_call(struct notify *n, int on)
{
	struct vhost_vring_file f = { .fd = on ? n->d.call : -1 };

	EXPECT(0, n->d.fd, VHOST_SET_VRING_CALL, &f);
	n->call_bound = on;
}

/* One ring with `extra` features, its indices starting at `base`. */
static void notify_ring(uint64_t extra, uint16_t base, int unbind)
{
	struct notify n = { .features = DEFAULT_FEATURES | extra };
	int fd = dev_open();
	uint64_t v;

	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	setup_ring(&n.d, fd, n.features, base);
	n.call_bound = 1;
	CHECK(read(n.d.call, &v, sizeof(v)) < 0, "signalled before any buffer");
	if (!has(&n, VIRTIO_RING_F_EVENT_IDX)) {
		batch(&n, 1, 0, 0);
		batch(&n, 4, 0, 0);
		batch(&n, 4, VRING_AVAIL_F_NO_INTERRUPT, 0);
		batch(&n, 1, VRING_AVAIL_F_NO_INTERRUPT, 0);
		batch(&n, NUM, 0, 0);
		batch(&n, NUM, VRING_AVAIL_F_NO_INTERRUPT, 0);
		batch(&n, 3, 0, 0);
	} else {
		/* The first after the start signals, used_event or not. */
		batch(&n, 1, 0, 100);
		/* used_event at the used index: the next buffer signals. */
		batch(&n, 1, 0, 0);
		/* In the past: none. */
		batch(&n, 1, 0, -3);
		batch(&n, 4, 0, 0);
		batch(&n, 4, 0, 2);
		/* The last of the batch, then just beyond it. */
		batch(&n, 4, 0, 3);
		batch(&n, 4, 0, 4);
		batch(&n, 4, 0, 100);
		batch(&n, 4, 0, -1);
		/* VRING_AVAIL_F_NO_INTERRUPT means nothing with EVENT_IDX. */
		batch(&n, 4, VRING_AVAIL_F_NO_INTERRUPT, 0);
		batch(&n, 4, VRING_AVAIL_F_NO_INTERRUPT, 100);
		batch(&n, NUM, 0, 8);
		batch(&n, NUM, 0, -1);
		/* When: used_event 2 ahead, one buffer at a time. */
		for (int i = 0; i < 4; i++)
			batch(&n, 1, 0, 2 - i);
	}
	if (unbind) {
		/*
		 * Without a call eventfd vhost_signal() skips vhost_notify(),
		 * and signalled_used stays where it was: used_event 2 back is
		 * then still ahead of it.
		 */
		bind_call(&n, 0);
		batch(&n, 3, 0, 0);
		bind_call(&n, 1);
		batch(&n, 1, 0, -2);
		batch(&n, 1, 0, -2);
	}
	printf("notify: features %#llx, base %#x%s: %d batches, %d buffers, %d signals\n",
	       (unsigned long long)n.features, base,
	       unbind ? ", call unbound and bound" : "", n.batches,
	       n.buffers, n.signals);
	close(fd);
}

static void notify(int unbind)
{
	const uint64_t ev = 1ULL << VIRTIO_RING_F_EVENT_IDX;
	const uint64_t noe = 1ULL << VIRTIO_F_NOTIFY_ON_EMPTY;

	notify_ring(0, 0, unbind);
	notify_ring(noe, 0xfff0, unbind);
	notify_ring(ev, 0xfff6, unbind);
	notify_ring(ev | noe, 0x7ff0, unbind);
	notify_ring(ev | noe, 0xffe0, unbind);
}

/* Opens n devices with a running ring each, says "ready", and waits. */
static void hold(int n)
{
	struct dev *d = calloc(n, sizeof(*d));

	for (int i = 0; i < n; i++) {
		int fd = dev_open();

		EXPECT(0, fd, VHOST_SET_OWNER, NULL);
		setup(&d[i], fd);
		good_buffer(&d[i], "setup");
	}
	printf("ready\n");
	for (;;)
		pause();
}

/* Scratch memory that random ring and region addresses point into. */
#define SCRATCH (1 << 20)
static char *scratch;

static uint64_t rnd64(void)
{
	return (uint64_t)random() << 33 ^ (uint64_t)random() << 11 ^ random();
}

/* A random address: mostly in the scratch area, sometimes hostile. */
static uint64_t rnd_addr(void)
{
	static const uint64_t bad[] = { 0, 1, 8, 0xffff888000000000ULL,
		0x7ffffffff000ULL, ~0ULL, ~0ULL - 15, 0x800000000000ULL };

	if (random() % 4 == 0)
		return bad[random() % 8];
	return (uintptr_t)scratch + (random() % SCRATCH & ~(uint64_t)(random() % 2 ? 15 : 0));
}

static const unsigned long cmds[] = {
	VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER,
	VHOST_RESET_OWNER, VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM,
	VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE, VHOST_SET_VRING_ADDR,
	VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_TEST_RUN,
	VHOST_TEST_SET_BACKEND, RUST_VHOST_TEST_STATS, _IO(VHOST_VIRTIO, 0x7e),
	VHOST_SET_VRING_ERR, VHOST_SET_LOG_BASE,
};

/* One random ioctl with a random argument. */
static void rnd_ioctl(int fd, int efd)
{
	unsigned long cmd = cmds[random() % (sizeof(cmds) / sizeof(cmds[0]))];
	uint64_t arg[64];
	void *p = arg;

	for (int i = 0; i < 64; i++)
		arg[i] = random() % 3 ? rnd64() : rnd_addr();
	switch (random() % 8) {
	case 0: /* small numbers: indices, fds, nregions */
		for (int i = 0; i < 8; i++)
			arg[i] = random() % 4 ? (uint64_t)(random() % 70) : ~0ULL;
		break;
	case 1: /* a plausible ring size or base */
		arg[0] = (uint64_t)(1u << (random() % 17)) << 32;
		break;
	case 2: /* an eventfd */
		arg[0] = (uint64_t)efd << 32;
		break;
	case 3: /* a bad pointer */
		p = (void *)(uintptr_t)rnd_addr();
		break;
	case 4: /* a plausible memory table */
		arg[0] = random() % 4;
		for (int i = 0; i < 4; i++) {
			arg[1 + i * 4] = rnd_addr();
			arg[2 + i * 4] = random() % SCRATCH;
			arg[3 + i * 4] = rnd_addr();
		}
		break;
	}
	ioctl(fd, cmd, p);
}

static void hostile(unsigned int seed, long ioctls, long corruptions)
{
	int fds[4], efd = eventfd(0, EFD_NONBLOCK);
	long done_ioctls = 0, done_corrupt = 0;
	struct dev d;

	srandom(seed);
	scratch = mmap(NULL, SCRATCH, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 4; i++)
		fds[i] = dev_open();
	while (done_ioctls < ioctls) {
		int i = random() % 4;

		if (random() % 200 == 0) {
			close(fds[i]);
			fds[i] = dev_open();
		}
		rnd_ioctl(fds[i], efd);
		done_ioctls++;
	}
	for (int i = 0; i < 4; i++)
		close(fds[i]);

	/* A live ring, written at random while the worker runs. */
	while (done_corrupt < corruptions) {
		int fd = dev_open();
		uint8_t *r;
		size_t sz = vring_size(NUM, 4096);

		EXPECT(0, fd, VHOST_SET_OWNER, NULL);
		setup(&d, fd);
		d.checked = 0;
		r = d.ring;
		for (int k = 0; k < 100 && done_corrupt < corruptions; k++) {
			int n = 1 + random() % 8;

			for (int j = 0; j < n; j++)
				r[random() % sz] = random();
			if (random() % 2)
				desc(&d, random() % NUM, rnd_addr(), random(), random() % 8,
				     random() % (NUM + 2));
			add(&d, random() % (NUM + 2));
			if (random() % 16 == 0)
				rnd_ioctl(fd, efd);
			done_corrupt++;
		}
		close(fd);
	}
	printf("hostile: seed %u, %ld ioctls, %ld ring corruptions\n", seed,
	       done_ioctls, done_corrupt);
	/* The device still serves a good ring. */
	chains();
}

/* Several threads issuing ioctls on one owned fd with a running ring. */
static int shared_fd;
static void *ioctl_thread(void *arg)
{
	struct vhost_vring_state s = { 0 };
	uint64_t st[6];

	srandom((uintptr_t)arg);
	for (int i = 0; i < 2000; i++) {
		switch (random() % 4) {
		case 0:
			ioctl(shared_fd, VHOST_GET_VRING_BASE, &s);
			break;
		case 1:
			ioctl(shared_fd, RUST_VHOST_TEST_STATS, st);
			break;
		case 2: {
			struct vhost_vring_file off = { .fd = -1 }, on = { .fd = 1 };

			ioctl(shared_fd, VHOST_TEST_SET_BACKEND, random() % 2 ? &off : &on);
			break;
		}
		default: {
			uint64_t f = 1ULL << VIRTIO_F_VERSION_1;

			ioctl(shared_fd, VHOST_SET_FEATURES, &f);
		}
		}
	}
	return NULL;
}

static void threads(void)
{
	struct vhost_vring_file on = { .fd = 1 };
	pthread_t t[4];
	struct dev d;

	shared_fd = dev_open();
	EXPECT(0, shared_fd, VHOST_SET_OWNER, NULL);
	setup(&d, shared_fd);
	d.checked = 0;
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, ioctl_thread, (void *)i);
	for (int i = 0; i < 200; i++) {
		desc(&d, i % NUM, (uintptr_t)d.buf, 64, 0, 0);
		add(&d, i % NUM);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	EXPECT(0, shared_fd, VHOST_TEST_SET_BACKEND, &on);
	close(shared_fd);
	chains();
}

/* Closing the fd while another thread keeps the ring busy. */
static struct dev busy;
static volatile int stop_busy;
static void *busy_thread(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; !stop_busy; i++) {
		desc(&busy, i % NUM, (uintptr_t)busy.buf, 64, 0, 0);
		add(&busy, i % NUM);
	}
	return NULL;
}

static void close_running(void)
{
	for (int round = 0; round < 20; round++) {
		pthread_t t;
		int fd = dev_open();

		EXPECT(0, fd, VHOST_SET_OWNER, NULL);
		setup(&busy, fd);
		busy.checked = 0;
		stop_busy = 0;
		pthread_create(&t, NULL, busy_thread, NULL);
		usleep(20000);
		close(fd);
		stop_busy = 1;
		pthread_join(t, NULL);
	}
	chains();
}

/*
 * Where the Rust device has parted from vhost.c and test.c. Each case passes
 * on the C device, which shows that its expectation is what C does.
 */

/* A new fd, owned, with a running ring with `features`. */
static void open_ring(struct dev *d, uint64_t features)
{
	int fd = dev_open();

	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	setup_ring(d, fd, features, 0);
}

static void close_ring(struct dev *d)
{
	close(d->fd);
	close(d->kick);
	close(d->call);
}

/* Kicks without making anything available. */
static void kick(struct dev *d)
{
	uint64_t one = 1;

	if (write(d->kick, &one, sizeof(one)) != sizeof(one))
		exit(2);
}

/* Stops the backend; returns the device's last_avail_idx. */
static uint16_t stopped_base(struct dev *d)
{
	struct vhost_vring_state s = { 0 };
	int zero = 0;

	EXPECT(0, d->fd, VHOST_TEST_RUN, &zero);
	EXPECT(0, d->fd, VHOST_GET_VRING_BASE, &s);
	return s.num;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Flips the avail index between empty and NUM + 5 ahead, holding each value
 * for a little while, until told; says it runs by setting `toggling` to 1.
 */
static volatile int toggling;
static void *toggle_thread(void *arg)
{
	volatile uint16_t *idx = arg;

	while (toggling) {
		*idx = 0;
		for (volatile int i = 0; i < 100; i++)
			;
		*idx = NUM + 5;
		if (toggling == 2)
			toggling = 1;
		for (volatile int i = 0; i < 100; i++)
			;
	}
	*idx = 0;
	return NULL;
}

/*
 * A userfaultfd on the used ring's page, write-protected: the first write
 * the device makes there waits until the handler has set the avail index to
 * `idx`.
 */
struct wp_fault {
	int uffd;
	struct uffdio_range range;
	volatile uint16_t *avail_idx;
	uint16_t idx;
	int faulted;
};

static int wp_protect(struct wp_fault *w, int on)
{
	struct uffdio_writeprotect wp = {
		.range = w->range,
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp);
}

static void *wp_thread(void *arg)
{
	struct wp_fault *w = arg;
	struct pollfd p = { .fd = w->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&p, 1, 2000) > 0 &&
	    read(w->uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	    msg.event == UFFD_EVENT_PAGEFAULT) {
		*w->avail_idx = w->idx;
		__sync_synchronize();
		w->faulted = 1;
	}
	wp_protect(w, 0);
	return NULL;
}

static int wp_start(struct wp_fault *w, void *page, volatile uint16_t *idx,
		    uint16_t to)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };

	memset(w, 0, sizeof(*w));
	w->range.start = (uintptr_t)page;
	w->range.len = 4096;
	w->avail_idx = idx;
	w->idx = to;
	reg.range = w->range;
	w->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (w->uffd < 0 || ioctl(w->uffd, UFFDIO_API, &api) ||
	    ioctl(w->uffd, UFFDIO_REGISTER, &reg) || wp_protect(w, 1)) {
		CHECK(0, "userfaultfd write-protect: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The same without a race: with EVENT_IDX the first write of a pass over an
 * empty ring is vhost_enable_notify()'s avail_event, and the index moves
 * NUM + 5 ahead while that write waits on a userfaultfd.
 */
static void avail_recheck_wp(void)
{
	struct wp_fault w;
	pthread_t t;
	struct dev d;

	open_ring(&d, DEFAULT_FEATURES | 1ULL << VIRTIO_RING_F_EVENT_IDX);
	d.checked = 0;
	for (int i = 0; i < NUM; i++) {
		desc(&d, i, (uintptr_t)d.buf + 512 * i, 512, 0, 0);
		d.vr.avail->ring[i] = i;
	}
	/* The pass a start may make, over the empty ring, is over. */
	usleep(100000);
	if (wp_start(&w, d.vr.used, &d.vr.avail->idx, NUM + 5))
		return;
	pthread_create(&t, NULL, wp_thread, &w);
	kick(&d);
	pthread_join(t, NULL);
	wait_used(&d, 1, 300);
	printf("avail-recheck: avail_event write %s, used index %u\n",
	       w.faulted ? "faulted" : "did not fault", d.vr.used->idx);
	CHECK(w.faulted, "the device did not write avail_event");
	CHECK(!d.vr.used->idx,
	      "%u buffers completed: the avail index %u ahead of last_avail_idx 0 that enable_notify read was taken",
	      d.vr.used->idx, NUM + 5);
	close(w.uffd);
	close_ring(&d);
}

/*
 * vhost_enable_notify() re-reads the avail index with vhost_get_avail_idx(),
 * which refuses one more than num ahead: no index the driver shows here is
 * both valid and non-empty, so no buffer may ever complete.
 */
static void avail_recheck(void)
{
	long t0, kicks = 0, seen[2] = { 0 };
	pthread_t t;
	uint64_t st[6];
	struct dev d;

	open_ring(&d, DEFAULT_FEATURES);
	d.checked = 0;
	for (int i = 0; i < NUM; i++) {
		desc(&d, i, (uintptr_t)d.buf + 512 * i, 512, 0, 0);
		d.vr.avail->ring[i] = i;
	}
	toggling = 2;
	pthread_create(&t, NULL, toggle_thread, (void *)&d.vr.avail->idx);
	while (toggling != 1)
		sched_yield();
	t0 = now_ms();
	while (now_ms() - t0 < 3000 && !d.vr.used->idx) {
		kick(&d);
		kicks++;
		seen[d.vr.avail->idx != 0]++;
		usleep(100);
	}
	toggling = 0;
	pthread_join(t, NULL);
	usleep(100000);
	printf("avail-recheck: %ld kicks in %ld ms, used index %u; avail index seen empty %ld, %d ahead %ld times\n",
	       kicks, now_ms() - t0, d.vr.used->idx, seen[0], NUM + 5, seen[1]);
	if (!stats(&d, st))
		printf("avail-recheck: device: %llu passes, %llu errors, %llu buffers\n",
		       (unsigned long long)st[4], (unsigned long long)st[1],
		       (unsigned long long)st[0]);
	CHECK(!d.vr.used->idx,
	      "%u buffers completed: an avail index %u ahead of last_avail_idx 0 was taken",
	      d.vr.used->idx, NUM + 5);
	close_ring(&d);
	avail_recheck_wp();
}

/*
 * An avail index refused (more than num ahead) is not kept: once the driver
 * puts a good one, exactly the buffers it makes available complete.
 */
static void avail_bad_kept(void)
{
	struct dev d;

	open_ring(&d, DEFAULT_FEATURES);
	d.checked = 0;
	for (int i = 0; i < NUM; i++) {
		desc(&d, i, (uintptr_t)d.buf + 512 * i, 512, 0, 0);
		d.vr.avail->ring[i] = i;
	}
	publish(&d, NUM + 5);
	wait_used(&d, 1, 300);
	CHECK(!d.vr.used->idx, "an avail index %u ahead: %u buffers completed",
	      NUM + 5, d.vr.used->idx);
	publish(&d, 1);
	wait_used(&d, 1, 1000);
	usleep(200000);
	CHECK(d.vr.used->idx == 1,
	      "avail index %u, then 1: used index %u, want 1", NUM + 5,
	      d.vr.used->idx);
	close_ring(&d);
}

/*
 * Three regions: guest 0x0 and 0x2000 are 0x0 and 0x2000 in one 0x3000
 * allocation, guest 0x1000 is another page. An indirect table at guest 0xff0
 * runs through all three.
 */
static char *span_u, *span_v;

static struct vring_desc *span_entry(int k)
{
	uint64_t g = 0xff0 + 16 * k;

	return (struct vring_desc *)(g >= 0x1000 && g < 0x2000 ?
				     span_v + g - 0x1000 : span_u + g);
}

static void span_ring(struct dev *d, int entries)
{
	struct {
		struct vhost_memory m;
		struct vhost_memory_region r[4];
	} mem = { .m.nregions = 4 };
	uint64_t user[] = { (uintptr_t)span_u, (uintptr_t)span_v,
			    (uintptr_t)span_u + 0x2000 };

	for (int i = 0; i < 3; i++) {
		mem.r[i].guest_phys_addr = 0x1000 * i;
		mem.r[i].memory_size = 0x1000;
		mem.r[i].userspace_addr = user[i];
	}
	open_ring(d, DEFAULT_FEATURES);
	/* The ring's buffers keep their own region. */
	mem.r[3].guest_phys_addr = (uintptr_t)d->buf;
	mem.r[3].memory_size = BUFSZ;
	mem.r[3].userspace_addr = (uintptr_t)d->buf;
	EXPECT(0, d->fd, VHOST_SET_MEM_TABLE, &mem);
	/* What the middle of the table would be if it were one run from U. */
	for (int off = 0x1000; off < 0x2000; off += 16)
		*(struct vring_desc *)(span_u + off) = (struct vring_desc) {
			.addr = 0x10, .len = 1, .flags = VRING_DESC_F_WRITE };
	/* Each entry a byte of the table itself. */
	for (int k = 0; k < entries; k++)
		*span_entry(k) = (struct vring_desc) {
			.addr = 0xff0 + 16 * k, .len = 1,
			.flags = k < entries - 1 ? VRING_DESC_F_NEXT : 0,
			.next = k + 1 };
	desc(d, 0, 0xff0, 16 * entries, VRING_DESC_F_INDIRECT, 0);
	add(d, 0);
}

static void indirect_span(void)
{
	struct dev d;

	span_u = aligned_alloc(4096, 0x3000);
	span_v = aligned_alloc(4096, 0x1000);
	/* 1 entry in A, 256 in B, 1 in C. */
	span_ring(&d, 258);
	CHECK(wait_used(&d, 1, 2000) == 1,
	      "an indirect table across three regions (258 entries at 0xff0) was not completed");
	close_ring(&d);
	/* 1 in A, 1 in B. */
	span_ring(&d, 2);
	CHECK(wait_used(&d, 1, 2000) == 1,
	      "an indirect table across two regions (2 entries at 0xff0) was not completed");
	close_ring(&d);
	free(span_u);
	free(span_v);
}

/*
 * A bad chain at head 0, then a good one at head 1. test.c's own refusals
 * (in > 0, a length of 0) come after vhost_get_vq_desc() has taken the
 * chain: it is dropped, and the next kick completes head 1. Errors of
 * vhost_get_vq_desc() itself take nothing: the ring stalls on head 0.
 */
enum { STALLS, DROPPED, COMPLETES };
static const struct {
	const char *what;
	int want;
} bad_heads[] = {
	{ "a device-writable descriptor", DROPPED },
	{ "a zero-length descriptor", DROPPED },
	{ "an indirect table with a device-writable entry", DROPPED },
	{ "a zero-length descriptor outside the memory table", DROPPED },
	{ "a zero-length descriptor outside the memory table chained to a good one",
	  COMPLETES },
	{ "a head beyond num", STALLS },
	{ "a chain that loops", STALLS },
	{ "an address outside the memory table", STALLS },
	{ "a readable descriptor after a writable one", STALLS },
};

/* Writes bad chain `c`; returns its head. */
static uint16_t bad_head(struct dev *d, int c)
{
	struct vring_desc *ind = (struct vring_desc *)(d->buf + 8192);
	uint64_t buf = (uintptr_t)d->buf;

	switch (c) {
	case 0:
		desc(d, 0, buf, 64, VRING_DESC_F_WRITE, 0);
		break;
	case 1:
		desc(d, 0, buf, 0, 0, 0);
		break;
	case 2:
		ind[0] = (struct vring_desc) { .addr = buf, .len = 64,
			.flags = VRING_DESC_F_NEXT, .next = 1 };
		ind[1] = (struct vring_desc) { .addr = buf + 64, .len = 64,
			.flags = VRING_DESC_F_WRITE };
		desc(d, 0, (uintptr_t)ind, 2 * sizeof(*ind),
		     VRING_DESC_F_INDIRECT, 0);
		break;
	case 3:
		desc(d, 0, 0x10, 0, 0, 0);
		break;
	case 4:
		desc(d, 0, 0x10, 0, VRING_DESC_F_NEXT, 2);
		desc(d, 2, buf, 64, 0, 0);
		break;
	case 5:
		return NUM + 3;
	case 6:
		desc(d, 0, buf, 64, VRING_DESC_F_NEXT, 2);
		desc(d, 2, buf, 64, VRING_DESC_F_NEXT, 0);
		break;
	case 7:
		desc(d, 0, 0x10, 64, 0, 0);
		break;
	case 8:
		desc(d, 0, buf, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
		desc(d, 2, buf + 64, 64, 0, 0);
		break;
	}
	return 0;
}

static void bad_consumed(void)
{
	for (size_t c = 0; c < sizeof(bad_heads) / sizeof(bad_heads[0]); c++) {
		int want = bad_heads[c].want;
		/* Used elements and avail index wanted, and their ids. */
		uint16_t want_used = want == STALLS ? 0 : want == DROPPED ? 1 : 2;
		uint16_t want_base = want == STALLS ? 0 : 2, used, base;
		uint32_t id0, id1;
		struct dev d;

		open_ring(&d, DEFAULT_FEATURES);
		d.checked = 0;
		desc(&d, 1, (uintptr_t)d.buf + 4096, 512, 0, 0);
		post(&d, 0, bad_head(&d, c));
		post(&d, 1, 1);
		publish(&d, 2);
		/* test.c stops at a dropped chain: kick again. */
		wait_used(&d, want_used ? want_used : 1, 300);
		kick(&d);
		wait_used(&d, want_used ? want_used : 1, want_used ? 2000 : 300);
		used = d.vr.used->idx;
		id0 = d.vr.used->ring[0].id;
		id1 = d.vr.used->ring[1].id;
		base = stopped_base(&d);
		CHECK(used == want_used && base == want_base &&
		      (want != DROPPED || id0 == 1) &&
		      (want != COMPLETES || (id0 == 0 && id1 == 1)),
		      "%s, then a good one: used index %u, ids %u %u, avail index %u; want %s",
		      bad_heads[c].what, used, used > 0 ? id0 : 0,
		      used > 1 ? id1 : 0, base,
		      want == STALLS ? "0, 0 (stalls)" :
		      want == DROPPED ? "1, id 1, 2 (dropped)" :
		      "2, ids 0 1, 2 (completes)");
		close_ring(&d);
	}
}

/*
 * More descriptors than UIO_MAXIOV (1024): translate_desc() runs out of
 * iovecs (ENOBUFS), and the ring stalls. 1024 still fit.
 */
static void indirect_n(int n)
{
	struct vring_desc *t;
	struct dev d;
	int want = n <= 1024;
	uint16_t used, base;

	open_ring(&d, DEFAULT_FEATURES);
	t = (struct vring_desc *)(d.buf + 0x8000);
	for (int k = 0; k < n; k++)
		t[k] = (struct vring_desc) { .addr = (uintptr_t)d.buf + k,
			.len = 1, .flags = k < n - 1 ? VRING_DESC_F_NEXT : 0,
			.next = k + 1 };
	desc(&d, 0, (uintptr_t)t, n * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	add(&d, 0);
	used = wait_used(&d, 1, want ? 2000 : 500);
	base = stopped_base(&d);
	CHECK(used == want && base == want,
	      "an indirect table of %d one-byte buffers: used index %u, avail index %u; want %d, %d",
	      n, used, base, want, want);
	close_ring(&d);
}

static void maxiov(void)
{
	indirect_n(1024);
	indirect_n(1100);
}

/*
 * vhost_vq_init_access() writes the used flags (vhost_update_used_flags()):
 * after a start they are the device's, 0 on a new ring.
 */
static void used_flags(void)
{
	int zero = 0, one = 1;
	uint16_t flags;
	struct dev d;

	open_ring(&d, DEFAULT_FEATURES);
	EXPECT(0, d.fd, VHOST_TEST_RUN, &zero);
	d.vr.used->flags = VRING_USED_F_NO_NOTIFY;
	/*
	 * An avail index too far ahead: a pass the device makes by itself
	 * stops after vhost_disable_notify(), and cannot clear the flag in
	 * vhost_enable_notify(). (C makes none: nothing kicked.)
	 */
	d.vr.avail->idx = NUM + 5;
	__sync_synchronize();
	EXPECT(0, d.fd, VHOST_TEST_RUN, &one);
	__sync_synchronize();
	flags = d.vr.used->flags;
	CHECK(flags == 0,
	      "used flags %#x after VHOST_TEST_RUN 1, want 0 (written by vhost_vq_init_access)",
	      flags);
	close_ring(&d);
}

/* Whether the guest has 5-level paging, by /proc/cpuinfo's flags. */
static int cpu_has_la57(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int has = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) &&
		    (strstr(line, " la57 ") || strstr(line, " la57\n")))
			has = 1;
	fclose(f);
	return has;
}

/*
 * With 5-level paging user memory goes up to 1 << 56: a ring and buffers
 * above 1 << 47 are user memory (access_ok()), and work.
 */
static void la57(void)
{
	int has = cpu_has_la57(), fd, one = 1;
	char *p = mmap((void *)(1UL << 50), 0x20000, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dev d;

	printf("la57: %s in /proc/cpuinfo, mmap at 1 << 50: %p\n",
	       has ? "la57" : "no la57", p);
	CHECK(has, "the guest has no la57: no 5-level paging");
	CHECK(p != MAP_FAILED && (uintptr_t)p >= 1UL << 47,
	      "mmap with a hint at 1 << 50 gave %p, not an address above 1 << 47",
	      p);
	if (!has || p == MAP_FAILED || (uintptr_t)p < 1UL << 47)
		return;
	fd = dev_open();
	EXPECT(0, fd, VHOST_SET_OWNER, NULL);
	/* The ring in the first 64 KiB, the buffers in the second. */
	init_ring(&d, fd, DEFAULT_FEATURES, 0, p, p + 0x10000);
	EXPECT(0, fd, VHOST_TEST_RUN, &one);
	good_buffer(&d, "a ring and a buffer above 1 << 47");
	close_ring(&d);
	munmap(p, 0x20000);
}

/*
 * A region whose last byte is the top of the driver's address space
 * (vhost_iotlb_add_range() takes last == U64_MAX), and a buffer that ends on
 * that byte: the chain completes.
 */
static void top(void)
{
	struct {
		struct vhost_memory m;
		struct vhost_memory_region r;
	} mem = { .m.nregions = 1 };
	struct dev d;
	uint16_t used;

	open_ring(&d, DEFAULT_FEATURES);
	mem.r.guest_phys_addr = UINT64_MAX - 0xfff;
	mem.r.memory_size = 0x1000;
	mem.r.userspace_addr = (uintptr_t)d.buf;
	EXPECT(0, d.fd, VHOST_SET_MEM_TABLE, &mem);
	desc(&d, 0, UINT64_MAX - 0xf, 0x10, 0, 0);
	add(&d, 0);
	used = wait_used(&d, 1, 2000);
	CHECK(used == 1, "a buffer ending at 2^64 - 1: used index %u, want 1",
	      used);
	close_ring(&d);
}

static const struct {
	const char *name;
	void (*run)(void);
} divergence_cases[] = {
	{ "avail-recheck", avail_recheck },
	{ "avail-bad-kept", avail_bad_kept },
	{ "indirect-span", indirect_span },
	{ "bad-consumed", bad_consumed },
	{ "maxiov", maxiov },
	{ "used-flags", used_flags },
	{ "la57", la57 },
	{ "top", top },
};

/* Runs every case, or the one named `only`, and says how each went. */
static void divergences(const char *only)
{
	int any = 0, ran = 0;

	for (size_t i = 0; i < sizeof(divergence_cases) /
			       sizeof(divergence_cases[0]); i++) {
		if (only && strcmp(only, divergence_cases[i].name))
			continue;
		failed = 0;
		divergence_cases[i].run();
		printf("%s: %s %s\n", dev_path(), divergence_cases[i].name,
		       failed ? "FAIL" : "PASS");
		any |= failed;
		ran++;
	}
	if (!ran) {
		fprintf(stderr, "no case %s\n", only);
		exit(2);
	}
	failed = any;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "errors"))
		errors();
	else if (!strcmp(c, "chains"))
		chains();
	else if (!strcmp(c, "two-procs"))
		two_procs();
	else if (!strcmp(c, "owner-killed"))
		owner_killed();
	else if (!strcmp(c, "hostile"))
		hostile(argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atol(argv[3]) : 10000,
			argc > 4 ? atol(argv[4]) : 100);
	else if (!strcmp(c, "threads"))
		threads();
	else if (!strcmp(c, "close-running"))
		close_running();
	else if (!strcmp(c, "notify"))
		notify(0);
	else if (!strcmp(c, "notify-unbound"))
		notify(1);
	else if (!strcmp(c, "divergences"))
		divergences(argc > 2 ? argv[2] : NULL);
	else if (!strcmp(c, "hold"))
		hold(argc > 2 ? atoi(argv[2]) : 64);
	else {
		fprintf(stderr, "usage: %s errors|chains|two-procs|owner-killed|hold [N]|hostile SEED N M|threads|close-running|notify|notify-unbound|divergences [CASE]\n",
			argv[0]);
		return 2;
	}
	printf("%s: %s\n", c, failed ? "FAILED" : "ok");
	return failed;
}
