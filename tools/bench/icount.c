// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin that counts guest instructions, split into kernel and
 * user mode, and the kernel's memory accesses, between two marker
 * instructions that a guest program executes.
 *
 * The markers are the user-mode multi-byte NOP "nopl 0x525648NN(%rax)"
 * (0f 1f 80 NN 48 56 52): NN = 01 starts a window, NN = 02 ends it and
 * writes one line "ICOUNT <n> <kernel insns> <user insns> <kernel mem>" to
 * the file named by the plugin argument out=FILE. tools/guest/mark.c
 * executes them.
 *
 * The counts are per translation block, added when the block starts, so an
 * interrupt in the middle of a block counts the whole block. make bench boots
 * the guest with one vCPU for it, so the plain, non-atomic inline adds are
 * exact; with more, they race, and a window counts every vCPU.
 *
 * Each window also writes "ICLOCK <n> <kernel locked RMWs>": the kernel's
 * lock-prefixed instructions and xchg with memory, which MTTCG runs as
 * helper calls, dearer than plain instructions.
 *
 * With profile=on, each window also writes "ICTB <n> <address> <insns> <runs>"
 * for every kernel translation block that ran in it: its start address, the
 * instructions it executed and how often it ran, for tools/bench/profile.py
 * to put names on. profile=user does the same for user-mode blocks.
 *
 * Build: gcc -shared -fPIC -O2 -I<qemu>/include/qemu -o icount.so icount.c
 * Use:   qemu-system-x86_64 -plugin ./icount.so,out=icount.txt[,mem=off][,profile=on] ...
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MARK_LEN 7
#define MARK_TAG 0x52564800u
#define MARK_START 1
#define MARK_STOP 2

static uint64_t kinsn, uinsn, kmem, klock, s_klock;
static uint64_t s_kinsn, s_uinsn, s_kmem;
static unsigned int windows;
static int count_mem = 1;
static FILE *out;

/*
 * The kernel blocks, for profile=on. Entries never move: the inline ops
 * point into them. A block translated again gets a second entry.
 */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t execs;
	uint64_t base;
};

#define CHUNK 4096
static struct block **chunks;
static size_t nblocks, nchunks;
static int profile, profile_user;

static struct block *new_block(uint64_t vaddr, uint64_t insns)
{
	struct block *b;

	if (nblocks == nchunks * CHUNK) {
		struct block **c = realloc(chunks, (nchunks + 1) * sizeof(*c));

		if (!c)
			return NULL;
		chunks = c;
		chunks[nchunks] = calloc(CHUNK, sizeof(struct block));
		if (!chunks[nchunks])
			return NULL;
		nchunks++;
	}
	b = &chunks[nblocks / CHUNK][nblocks % CHUNK];
	nblocks++;
	b->vaddr = vaddr;
	b->insns = insns;
	return b;
}

static void profile_mark(int stop)
{
	size_t i;

	for (i = 0; i < nblocks; i++) {
		struct block *b = &chunks[i / CHUNK][i % CHUNK];

		if (stop && b->execs != b->base)
			fprintf(out, "ICTB %u %" PRIx64 " %" PRIu64 " %" PRIu64 "\n", windows,
				b->vaddr, (b->execs - b->base) * b->insns, b->execs - b->base);
		b->base = b->execs;
	}
}

static int is_kernel(uint64_t vaddr)
{
	return vaddr >> 63;
}

/* The marker's operation, or 0 if @insn is not a marker. */
static unsigned int mark_op(const struct qemu_plugin_insn *insn)
{
	const unsigned char *b = qemu_plugin_insn_data(insn);
	uint32_t disp;

	if (qemu_plugin_insn_size(insn) != MARK_LEN ||
	    b[0] != 0x0f || b[1] != 0x1f || b[2] != 0x80)
		return 0;
	memcpy(&disp, b + 3, sizeof(disp));
	if ((disp & ~0xffu) != MARK_TAG)
		return 0;
	return disp & 0xff;
}

static void mark(unsigned int vcpu, void *udata)
{
	(void)vcpu;
	if ((uintptr_t)udata == MARK_START) {
		s_kinsn = kinsn;
		s_uinsn = uinsn;
		s_kmem = kmem;
		s_klock = klock;
		profile_mark(0);
		return;
	}
	profile_mark(1);
	fprintf(out, "ICLOCK %u %" PRIu64 "\n", windows, klock - s_klock);
	fprintf(out, "ICOUNT %u %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", windows++,
		kinsn - s_kinsn, uinsn - s_uinsn, kmem - s_kmem);
	fflush(out);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	int kernel = is_kernel(qemu_plugin_tb_vaddr(tb));
	size_t i;

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 kernel ? &kinsn : &uinsn, n);
	if ((kernel && profile) || (!kernel && profile_user)) {
		struct block *b = new_block(qemu_plugin_tb_vaddr(tb), n);

		if (b)
			qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
								 &b->execs, 1);
	}
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		unsigned int op;

		if (kernel) {
			const unsigned char *d = qemu_plugin_insn_data(insn);
			size_t k = 0, sz = qemu_plugin_insn_size(insn);

			while (k < sz && (d[k] == 0x66 || d[k] == 0x2e || d[k] == 0x3e))
				k++;
			if (k < sz && (d[k] == 0xf0 ||
				       ((d[k] == 0x86 || d[k] == 0x87) && k + 1 < sz && (d[k + 1] >> 6) != 3) ||
				       ((d[k] & 0xf0) == 0x40 && k + 2 < sz && d[k + 1] == 0xf0) ||
				       ((d[k] & 0xf0) == 0x40 && k + 2 < sz && (d[k + 1] == 0x86 || d[k + 1] == 0x87) && (d[k + 2] >> 6) != 3)))
				qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &klock, 1);
			if (count_mem)
				qemu_plugin_register_vcpu_mem_inline(insn, QEMU_PLUGIN_MEM_RW,
								     QEMU_PLUGIN_INLINE_ADD_U64,
								     &kmem, 1);
			continue;
		}
		op = mark_op(insn);
		if (op == MARK_START || op == MARK_STOP)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, mark, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)op);
	}
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	(void)id;
	(void)p;
	fprintf(out, "ICOUNT-TOTAL %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", kinsn, uinsn, kmem);
	fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *path = NULL;
	int i;

	if (strcmp(info->target_name, "x86_64") != 0)
		return -1;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
		else if (!strcmp(argv[i], "mem=off"))
			count_mem = 0;
		else if (!strcmp(argv[i], "profile=on"))
			profile = 1;
		else if (!strcmp(argv[i], "profile=user"))
			profile_user = 1;
		else
			return -1;
	}
	out = path ? fopen(path, "w") : NULL;
	if (!out)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
