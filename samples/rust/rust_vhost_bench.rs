// SPDX-License-Identifier: GPL-2.0

//! Micro-benchmarks of the task_work and Tasks RCU abstractions against the bare C calls, run
//! at load and printed to the kernel log (`make bench`). Nothing here is asserted.
//!
//! Each primitive is timed in rounds that alternate the Rust API and the C calls on the same
//! kernel, so drifts of the machine hit both. Every round is `N` operations; a line
//! `PRIM <name> rust <median> <min> <max> c <median> <min> <max>` gives ns/op (in tenths) over
//! the rounds. The C side calls the C functions directly where they are exported, and through
//! `kernel::task_work::raw` (one call deeper, the bare C call) where they are not.

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

const N: usize = 100_000;
const ROUNDS: usize = 7;

fn now_ns() -> u64 {
    // SAFETY: No preconditions.
    unsafe { bindings::ktime_get() as u64 }
}

/// Median, min and max of a few values.
fn spread(mut v: KVec<u64>) -> (u64, u64, u64) {
    v.sort_unstable();
    let n = v.len();
    (v[n / 2], v[0], v[n - 1])
}

/// Runs `rust` and `c` alternately, `ROUNDS` times each; each returns tenths of ns per op.
fn compare(
    name: &str,
    mut rust: impl FnMut() -> Result<u64>,
    mut c: impl FnMut() -> Result<u64>,
) -> Result {
    let mut r = KVec::with_capacity(ROUNDS, GFP_KERNEL)?;
    let mut k = KVec::with_capacity(ROUNDS, GFP_KERNEL)?;
    for _ in 0..ROUNDS {
        r.push(rust()?, GFP_KERNEL)?;
        k.push(c()?, GFP_KERNEL)?;
    }
    let (rm, rl, rh) = spread(r);
    let (cm, cl, ch) = spread(k);
    pr_info!("PRIM {name} rust {rm} {rl} {rh} c {cm} {cl} {ch}\n");
    Ok(())
}

/// Tenths of ns per op of `N` ops that took `dt` ns.
fn per_op(dt: u64) -> u64 {
    dt * 10 / N as u64
}

fn grace_period<F: Flavour>() -> Result {
    let mut v = KVec::with_capacity(20, GFP_KERNEL)?;
    for _ in 0..20 {
        let t = now_ns();
        F::synchronize();
        v.push(now_ns() - t, GFP_KERNEL)?;
    }
    let (med, min, max) = spread(v);
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

/// A bare `callback_head` in a box, for the C side.
#[repr(transparent)]
struct RawHead(bindings::callback_head);

/// Frees a `RawHead` (the C side's callback).
///
/// # Safety
///
/// `head` comes from `KBox::into_raw` of a `RawHead`.
unsafe extern "C" fn raw_free(head: *mut bindings::callback_head) {
    // SAFETY: `RawHead` is `repr(transparent)` over the head; see above.
    drop(unsafe { KBox::from_raw(head.cast::<RawHead>()) });
}

/// Does nothing (the C side's task work function for add + cancel).
///
/// # Safety
///
/// Any head.
unsafe extern "C" fn raw_nop(_head: *mut bindings::callback_head) {}

fn raw_heads(func: unsafe extern "C" fn(*mut bindings::callback_head)) -> Result<KVec<usize>> {
    let mut v = KVec::with_capacity(N, GFP_KERNEL)?;
    for _ in 0..N {
        let h = KBox::new(
            RawHead(bindings::callback_head {
                next: core::ptr::null_mut(),
                func: Some(func),
            }),
            GFP_KERNEL,
        )?;
        v.push(KBox::into_raw(h) as usize, GFP_KERNEL)?;
    }
    Ok(v)
}

fn rust_boxes() -> Result<KVec<Pin<KBox<Cb>>>> {
    let mut v = KVec::with_capacity(N, GFP_KERNEL)?;
    for _ in 0..N {
        v.push(
            KBox::pin(
                Cb {
                    rcu: RcuHead::new(),
                },
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }
    Ok(v)
}

/// The cost of queueing one callback (boxes are made before the clock starts; the barrier
/// that frees them is not timed).
fn call_cost<F: CallFlavour>(
    name: &str,
    c_call: unsafe extern "C" fn(*mut bindings::callback_head, bindings::rcu_callback_t),
    c_barrier: unsafe extern "C" fn(),
) -> Result {
    compare(
        name,
        || {
            let boxes = rust_boxes()?;
            let t = now_ns();
            for b in boxes {
                F::free(b)?;
            }
            let dt = now_ns() - t;
            F::barrier();
            Ok(per_op(dt))
        },
        || {
            let heads = raw_heads(raw_free)?;
            let t = now_ns();
            for h in heads {
                // SAFETY: `h` is a fresh `RawHead`, which `raw_free` frees after the GP.
                unsafe { c_call(h as *mut bindings::callback_head, Some(raw_free)) };
            }
            let dt = now_ns() - t;
            // SAFETY: Process context.
            unsafe { c_barrier() };
            Ok(per_op(dt))
        },
    )
}

/// The barrier with `N` callbacks queued, in us, Rust against C.
fn barrier_cost<F: CallFlavour>(
    name: &str,
    c_call: unsafe extern "C" fn(*mut bindings::callback_head, bindings::rcu_callback_t),
    c_barrier: unsafe extern "C" fn(),
) -> Result {
    compare(
        name,
        || {
            for b in rust_boxes()? {
                F::free(b)?;
            }
            let t = now_ns();
            F::barrier();
            Ok((now_ns() - t) * 10)
        },
        || {
            for h in raw_heads(raw_free)? {
                // SAFETY: As in `call_cost`.
                unsafe { c_call(h as *mut bindings::callback_head, Some(raw_free)) };
            }
            let t = now_ns();
            // SAFETY: Process context.
            unsafe { c_barrier() };
            Ok((now_ns() - t) * 10)
        },
    )
}

struct Nop {
    work: TaskWork<Nop>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Nop> for Nop { self.work } }

impl TaskWorkItem for Nop {
    type Pointer = Pin<KBox<Nop>>;

    fn run(_this: Pin<KBox<Nop>>) {}
}

fn nops() -> Result<KVec<Pin<KBox<Nop>>>> {
    let mut v = KVec::with_capacity(N, GFP_KERNEL)?;
    for _ in 0..N {
        v.push(
            KBox::pin(
                Nop {
                    work: TaskWork::new(),
                },
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }
    Ok(v)
}

/// The Rust side of both add + cancel comparisons: one boxed item, added and taken back.
fn rust_add_cancel(cur: &kernel::task::Task) -> Result<u64> {
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
    Ok(per_op(now_ns() - t))
}

fn task_work_cost() -> Result {
    let cur = current!();
    compare(
        "task_work_add+cancel",
        || rust_add_cancel(cur),
        || {
            let mut head = bindings::callback_head {
                next: core::ptr::null_mut(),
                func: Some(raw_nop),
            };
            let t = now_ns();
            for _ in 0..N {
                // SAFETY: `head` is valid, and dequeued again before the next add.
                unsafe { task_work::raw::add(cur, &mut head, Notify::None.into())? };
                if task_work::raw::cancel_func(cur, raw_nop).is_null() {
                    return Err(EINVAL);
                }
            }
            Ok(per_op(now_ns() - t))
        },
    )?;
    // The same, with what the Rust API does for a module on top of the bare calls: a module
    // reference while the item is queued, and the "queued" flag.
    let me = THIS_MODULE.as_ptr();
    let queued = core::sync::atomic::AtomicBool::new(false);
    compare(
        "task_work_add+cancel/c-with-module-ref",
        || rust_add_cancel(cur),
        || {
            let mut head = bindings::callback_head {
                next: core::ptr::null_mut(),
                func: Some(raw_nop),
            };
            let t = now_ns();
            for _ in 0..N {
                // SAFETY: Our own, live module.
                if !unsafe { bindings::try_module_get(me) } {
                    return Err(ENODEV);
                }
                queued.store(true, core::sync::atomic::Ordering::Relaxed);
                // SAFETY: `head` is valid, and dequeued again before the next add.
                unsafe { task_work::raw::add(cur, &mut head, Notify::None.into())? };
                if task_work::raw::cancel_func(cur, raw_nop).is_null() {
                    return Err(EINVAL);
                }
                queued.store(false, core::sync::atomic::Ordering::Release);
                // SAFETY: Taken above.
                unsafe { bindings::module_put(me) };
            }
            Ok(per_op(now_ns() - t))
        },
    )?;
    compare(
        "task_work_add+run",
        || {
            let items = nops()?;
            let t = now_ns();
            for item in items {
                task_work::add(cur, item, Notify::None)?;
                task_work::run_pending();
            }
            Ok(per_op(now_ns() - t))
        },
        || {
            let heads = raw_heads(raw_free)?;
            let t = now_ns();
            for h in heads {
                // SAFETY: `h` is a fresh head, freed by `raw_free` when it runs; we are in
                // process context.
                unsafe {
                    task_work::raw::add(cur, h as *mut _, Notify::None.into())?;
                    bindings::clear_notify_signal();
                    task_work::raw::run();
                }
            }
            Ok(per_op(now_ns() - t))
        },
    )
}

/// The read-side pair: the Rust guard against the C functions it wraps, called through the
/// same function pointers a C caller would link to.
fn trace_reader_cost(lock: unsafe extern "C" fn(), unlock: unsafe extern "C" fn()) -> Result {
    compare(
        "rcu_read_lock_trace+unlock",
        || {
            let t = now_ns();
            for _ in 0..N {
                drop(TasksTrace::read_lock());
            }
            Ok(per_op(now_ns() - t))
        },
        || {
            let t = now_ns();
            for _ in 0..N {
                // SAFETY: A balanced pair on this task.
                unsafe {
                    lock();
                    unlock();
                }
            }
            Ok(per_op(now_ns() - t))
        },
    )
}

struct Bench {
    _tw: ModuleBarrier,
}

impl kernel::Module for Bench {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        grace_period::<Tasks>()?;
        grace_period::<TasksTrace>()?;
        grace_period::<TasksRude>()?;
        call_cost::<Tasks>(
            "call_rcu_tasks",
            bindings::call_rcu_tasks,
            bindings::rcu_barrier_tasks,
        )?;
        call_cost::<TasksTrace>(
            "call_rcu_tasks_trace",
            bindings::call_rcu_tasks_trace,
            bindings::rcu_barrier_tasks_trace,
        )?;
        barrier_cost::<Tasks>(
            "rcu_barrier_tasks(100k queued)",
            bindings::call_rcu_tasks,
            bindings::rcu_barrier_tasks,
        )?;
        barrier_cost::<TasksTrace>(
            "rcu_barrier_tasks_trace(100k queued)",
            bindings::call_rcu_tasks_trace,
            bindings::rcu_barrier_tasks_trace,
        )?;
        trace_reader_cost(
            bindings::rcu_read_lock_trace,
            bindings::rcu_read_unlock_trace,
        )?;
        task_work_cost()?;
        Ok(Self {
            _tw: ModuleBarrier::new(),
        })
    }
}
