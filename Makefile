# rust-vhost: safe Rust abstractions for task_work, vhost_task and Tasks RCU
# on Linux 7.3, with a vhost-test sample device. See README.md.
#
# Build trees live in $(RVH_CACHE) (default ~/.cache/rust-vhost), never here.

RVH := tools/harness/rvh.sh

.PHONY: run test build guest shell clean help check-notasks bench test-debug \
	patches patches-check rustdoc rust-analyzer real-config-check real-deb \
	binder-check

help:
	@$(RVH) help || true

run:
	$(RVH) run

test:
	$(RVH) test

# A kernel of its own (<cache>/build-bench), with the micro-benchmarks built in.
bench:
	RVH_FLAVOUR=bench $(RVH) bench

# The whole suite on a KASAN/kmemleak/lockdep kernel, with the long hostile
# client and lifecycle storms.
test-debug:
	RVH_FLAVOUR=debug RVH_SCALE=full RVH_TIMEOUT=$${RVH_TIMEOUT:-5400} \
		RVH_TEST_TIMEOUT=$${RVH_TEST_TIMEOUT:-2400} $(RVH) test

build:
	$(RVH) build

# CMD reaches the guest shell as typed: make does not expand its $(...).
export RVH_CMD := $(value CMD)
guest:
	$(RVH) guest "$$RVH_CMD"

shell:
	$(RVH) shell

clean:
	$(RVH) clean

# The kernel crate must build without Tasks RCU and vhost_task too.
check-notasks:
	RVH_FLAVOUR=notasks $(RVH) kernel

# The project as a git format-patch series on the Debian source (in the cache).
patches:
	tools/dev/export-patches.sh

# The same, then build the kernel and modules after each patch in turn.
patches-check:
	tools/dev/export-patches.sh --check

# Rust Binder without and with its kernel::task_work conversion, and with two
# broken closings: binder_fda passes, fails, and times the close path.
binder-check:
	tools/dev/binder-check.sh

rustdoc:
	$(RVH) rustdoc

rust-analyzer:
	$(RVH) rust-analyzer

# Debian's 7.3 config + Rust + the project must pass olddefconfig.
real-config-check:
	tools/harness/real-config.sh

# The real-hardware path, walked in QEMU: Debian's config plus the series,
# built into packages with bindeb-pkg, the packaged kernel booted and the
# sample loaded from the package (a full distribution build: hours on 2 cores).
real-deb:
	tools/harness/real-deb.sh
