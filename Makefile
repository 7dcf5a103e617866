# rust-vhost: safe Rust abstractions for task_work, vhost_task and Tasks RCU
# on Linux 6.12, with a vhost-test sample device. See README.md.
#
# Build trees live in $(RVH_CACHE) (default ~/.cache/rust-vhost), never here.

RVH := tools/harness/rvh.sh

.PHONY: run test build guest shell clean help check-notasks bench

help:
	@$(RVH) help || true

run:
	$(RVH) run

test:
	$(RVH) test

bench:
	$(RVH) bench

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
