// SPDX-License-Identifier: GPL-2.0

//! Micro-benchmarks of the Tasks RCU and task_work abstractions, run at load and printed to the
//! kernel log (`make bench`). Nothing here is asserted: these are numbers to read.

use kernel::{
    bindings,
    prelude::*,
    sync::rcu_tasks::{CallFlavour, Flavour, RcuHead, Tasks, TasksRude, TasksTrace},
    task_work::{self, ModuleBarrier, Notify, TaskWork, TaskWorkItem},
};

module! {
    type: Bench,
    name: "rust_vhost_bench",
    author: "rust-vhost developers",
    description: "Micro-benchmarks of the task_work and Tasks RCU abstractions",
    license: "GPL",
}

fn now_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe { bindings::ktime_get() as u64 }
}

/// Median, min and max of `rounds` timings of `f`, in ns.
fn stats(rounds: usize, mut f: impl FnMut()) -> Result<(u64, u64, u64)> {
    let mut v = KVec::with_capacity(rounds, GFP_KERNEL)?;
    for _ in 0..rounds {
        let t = now_ns();
        f();
        v.push(now_ns() - t, GFP_KERNEL)?;
    }
    v.sort_unstable();
    Ok((v[rounds / 2], v[0], v[rounds - 1]))
}

fn grace_period<F: Flavour>() -> Result {
    let (med, min, max) = stats(20, F::synchronize)?;
    pr_info!(
        "synchronize {}: median {} us (min {}, max {}) over 20\n",
        F::NAME,
        med / 1000,
        min / 1000,
        max / 1000
    );
    Ok(())
}

struct Cb {
    rcu: RcuHead<Cb>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Cb> for Cb { self.rcu } }

const N: usize = 100_000;

/// The cost of queueing one callback: boxes are allocated before the clock starts.
fn call_cost<F: CallFlavour>() -> Result {
    let mut cbs = KVec::with_capacity(N, GFP_KERNEL)?;
    for _ in 0..N {
        cbs.push(
            KBox::pin(
                Cb {
                    rcu: RcuHead::new(),
                },
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }
    let t = now_ns();
    for cb in cbs {
        F::free(cb)?;
    }
    let dt = now_ns() - t;
    let t = now_ns();
    F::barrier();
    pr_info!(
        "call {}: {} ns/op over {} calls; barrier after them {} us\n",
        F::NAME,
        dt / N as u64,
        N,
        (now_ns() - t) / 1000
    );
    Ok(())
}

struct Nop {
    work: TaskWork<Nop>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Nop> for Nop { self.work } }

impl TaskWorkItem for Nop {
    type Pointer = Pin<KBox<Nop>>;

    fn run(_this: Pin<KBox<Nop>>) {}
}

fn task_work_cost() -> Result {
    let cur = current!();
    let mut item = KBox::pin(
        Nop {
            work: TaskWork::new(),
        },
        GFP_KERNEL,
    )?;
    let t = now_ns();
    for _ in 0..N {
        task_work::add(cur, item, Notify::None)?;
        item = task_work::cancel_first::<Nop, 0>(cur).ok_or(EINVAL)?;
    }
    let add_cancel = (now_ns() - t) / N as u64;
    let mut items = KVec::with_capacity(N, GFP_KERNEL)?;
    for _ in 0..N {
        items.push(
            KBox::pin(
                Nop {
                    work: TaskWork::new(),
                },
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }
    let t = now_ns();
    for item in items {
        task_work::add(cur, item, Notify::None)?;
        task_work::run_pending();
    }
    pr_info!(
        "task_work: add+cancel_first {} ns/op, add+run_pending {} ns/op (incl. free), over {}\n",
        add_cancel,
        (now_ns() - t) / N as u64,
        N
    );
    Ok(())
}

fn trace_reader_cost() {
    let t = now_ns();
    for _ in 0..N {
        drop(TasksTrace::read_lock());
    }
    pr_info!(
        "rcu_tasks_trace read_lock+unlock: {} ns/op over {}\n",
        (now_ns() - t) / N as u64,
        N
    );
}

struct Bench {
    _tw: ModuleBarrier,
}

impl kernel::Module for Bench {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        grace_period::<Tasks>()?;
        grace_period::<TasksTrace>()?;
        grace_period::<TasksRude>()?;
        call_cost::<Tasks>()?;
        call_cost::<TasksTrace>()?;
        trace_reader_cost();
        task_work_cost()?;
        Ok(Self {
            _tw: ModuleBarrier::new(),
        })
    }
}
