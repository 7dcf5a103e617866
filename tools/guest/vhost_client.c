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
 *   vhost_client notify
 *
 * Every used element the device writes on a checked ring is compared with
 * what was made available: the head, in avail order, once, with test.c's
 * length of 0. "notify" also counts the call eventfd's signals after every
 * batch and compares them with what vhost.c's vhost_notify() decides, with
 * and without EVENT_IDX and NOTIFY_ON_EMPTY.
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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
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
 * Sets up a ring on an owned fd with `features`, its avail and used indices
 * starting at `base`, and the backend running.
 */
static void setup_ring(struct dev *d, int fd, uint64_t features, uint16_t base)
{
	struct vhost_vring_state s = { .num = NUM };
	struct vhost_vring_file f = { 0 };
	int one = 1;

	memset(d, 0, sizeof(*d));
	d->checked = 1;
	d->fd = fd;
	d->kick = eventfd(0, EFD_NONBLOCK);
	d->call = eventfd(0, EFD_NONBLOCK);
	d->buf = aligned_alloc(4096, BUFSZ);
	if (posix_memalign(&d->ring, 4096, vring_size(NUM, 4096)))
		exit(2);
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
	int fd = dev_open(), p[2], one = 1, two = 2;
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
	else if (!strcmp(c, "hold"))
		hold(argc > 2 ? atoi(argv[2]) : 64);
	else {
		fprintf(stderr, "usage: %s errors|chains|two-procs|owner-killed|hold [N]|hostile SEED N M|threads|close-running|notify|notify-unbound\n",
			argv[0]);
		return 2;
	}
	printf("%s: %s\n", c, failed ? "FAILED" : "ok");
	return failed;
}
