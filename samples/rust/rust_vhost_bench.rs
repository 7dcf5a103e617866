// SPDX-License-Identifier: GPL-2.0

//! Micro-benchmarks of the task_work and Tasks RCU abstractions against the bare C calls, printed
//! to the kernel log (`make bench`) when the module loads, or at boot when it is built in.
//! Nothing here is asserted.
//!
//! They run in a kernel thread of their own: only a kernel thread may run its own task work
//! ([`task_work::run_pending`]), and a module may queue work and callbacks only once its init
//! function has returned. The thread waits for that, and prints `done` at the end; the module's
//! exit stops it.
//!
//! Each primitive is timed in rounds that alternate the Rust API and the C calls on the same
//! kernel, so drifts of the machine hit both. Every round is `N` operations; a line
//! `PRIM <name> rust <median> <min> <max> c <median> <min> <max> paired <ratio>` gives ns/op (in
//! tenths) over the rounds, and the median of the rounds' own Rust/C ratios (in thousandths).
//! The C side calls the C functions directly where they are exported. Where they are not
//! (`task_work_cancel_func()`, `task_work_run()`), only built-in code can call them; the C side
//! then goes through `kernel::task_work::raw`, whose functions are the built-in `kernel` crate's
//! bare calls. Tasks Trace RCU's calls are static inlines over SRCU since 7.3
//! (`call_rcu_tasks_trace()` is `call_srcu()` on `rcu_tasks_trace_srcu_struct`, and the read
//! side hands out the counter that the unlock takes back): both sides call the same `kernel`
//! crate helpers for them.
//!
//! Built in, the task_work API takes no module reference, as in C. In a module it takes one per
//! queued item, so that the module cannot be unloaded under it; the names of the figures then end
//! in `/module`, and one more comparison adds the same reference to the C side.

use core::ptr;
use kernel::{
    bindings,
    module::this_module,
    prelude::*,
    sync::{
        aref::ARef,
        rcu_tasks::{
            CallFlavour,
            Flavour,
            RcuHead,
            Tasks,
            TasksRude,
            TasksTrace, //
        },
    },
    task::Task,
    task_work::{
        self,
        Notify,
        TaskWork,
        TaskWorkItem, //
    },
    time::{
        delay::fsleep,
        Delta,
        Instant,
        Monotonic, //
    },
};

module! {
    type: Bench,
    name: "rust_vhost_bench",
    authors: ["Rust for Linux Contributors"],
    description: "Micro-benchmarks of the task_work and Tasks RCU abstractions",
    license: "GPL",
}

const N: usize = 100_000;

/// Appended to every name when the benchmarks run in a module, where the task_work API takes a
/// module reference per queued item; built-in code has no module to pin.
const MODE: &str = if cfg!(MODULE) { "/module" } else { "" };
const ROUNDS: usize = 31;

/// The time since `t`, in ns.
fn ns_since(t: Instant<Monotonic>) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(0)
}

/// Median, min and max of a few values.
fn spread(mut v: KVec<u64>) -> (u64, u64, u64) {
    v.sort_unstable();
    let n = v.len();
    (v[n / 2], v[0], v[n - 1])
}

/// Runs `rust` and `c` alternately, `ROUNDS` times each after a warm-up round; each returns
/// tenths of ns per op.
///
/// Which side goes first changes every round, so that neither always runs right after the
/// other's clean-up (a barrier, say).
fn compare(
    name: &str,
    mut rust: impl FnMut() -> Result<u64>,
    mut c: impl FnMut() -> Result<u64>,
) -> Result {
    let mut r = KVec::with_capacity(ROUNDS, GFP_KERNEL)?;
    let mut k = KVec::with_capacity(ROUNDS, GFP_KERNEL)?;
    // A warm-up round, not counted: the first barrier of a boot, say, takes several times as
    // long as the later ones.
    rust()?;
    c()?;
    for i in 0..ROUNDS {
        if i % 2 == 0 {
            r.push(rust()?, GFP_KERNEL)?;
            k.push(c()?, GFP_KERNEL)?;
        } else {
            k.push(c()?, GFP_KERNEL)?;
            r.push(rust()?, GFP_KERNEL)?;
        }
    }
    // The paired figure: the Rust/C ratio of each round (in thousandths), whose two runs were
    // next to each other in time.
    let mut pairs = KVec::with_capacity(ROUNDS, GFP_KERNEL)?;
    for (a, b) in r.iter().zip(k.iter()) {
        pairs.push(a * 1000 / (*b).max(1), GFP_KERNEL)?;
    }
    let (pm, _, _) = spread(pairs);
    let (rm, rl, rh) = spread(r);
    let (cm, cl, ch) = spread(k);
    pr_info!("PRIM {name}{MODE} rust {rm} {rl} {rh} c {cm} {cl} {ch} paired {pm}\n");
    Ok(())
}

/// Tenths of ns per op of `N` ops that took `dt` ns.
fn per_op(dt: u64) -> u64 {
    dt * 10 / N as u64
}

fn grace_period<F: Flavour>() -> Result {
    let mut v = KVec::with_capacity(20, GFP_KERNEL)?;
    for _ in 0..20 {
        let t = Instant::now();
        F::synchronize();
        v.push(ns_since(t), GFP_KERNEL)?;
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

/// A bare `callback_head` in a box, for the C side. It is padded to the size of the Rust items
/// ([`Cb`] and [`Nop`]), so that both sides allocate from the same slab cache and touch as many
/// pages.
#[repr(C)]
struct RawHead(bindings::callback_head, [u64; 2]);

const _: () = assert!(
    core::mem::size_of::<RawHead>() == core::mem::size_of::<Cb>()
        && core::mem::size_of::<RawHead>() == core::mem::size_of::<Nop>()
);

/// Frees a `RawHead` (the C side's callback).
///
/// # Safety
///
/// `head` comes from `KBox::into_raw` of a `RawHead`.
unsafe extern "C" fn raw_free(head: *mut bindings::callback_head) {
    // SAFETY: The head is the first field of the `repr(C)` `RawHead`; see above.
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
            RawHead(
                bindings::callback_head {
                    next: core::ptr::null_mut(),
                    func: Some(func),
                },
                [0; 2],
            ),
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

/// The C side of [`call_cost`]: `N` bare `call_rcu_tasks*()` calls.
fn c_queue(
    c_call: unsafe extern "C" fn(*mut bindings::callback_head, bindings::rcu_callback_t),
    c_barrier: unsafe extern "C" fn(),
) -> Result<u64> {
    let heads = raw_heads(raw_free)?;
    let t = Instant::now();
    for h in heads {
        // SAFETY: `h` is a fresh `RawHead`, which `raw_free` frees after the GP.
        unsafe { c_call(h as *mut bindings::callback_head, Some(raw_free)) };
    }
    let dt = ns_since(t);
    // SAFETY: Process context.
    unsafe { c_barrier() };
    Ok(per_op(dt))
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
            let t = Instant::now();
            for b in boxes {
                F::free(b)?;
            }
            let dt = ns_since(t);
            F::barrier();
            Ok(per_op(dt))
        },
        || c_queue(c_call, c_barrier),
    )
}

/// The barrier with `N` callbacks queued, in tenths of ns, Rust against C.
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
            let t = Instant::now();
            F::barrier();
            Ok(ns_since(t) * 10)
        },
        || {
            for h in raw_heads(raw_free)? {
                // SAFETY: As in `call_cost`.
                unsafe { c_call(h as *mut bindings::callback_head, Some(raw_free)) };
            }
            let t = Instant::now();
            // SAFETY: Process context.
            unsafe { c_barrier() };
            Ok(ns_since(t) * 10)
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

/// `init_task_work(head, func)` and `task_work_add(task, head, TWA_NONE)`, as C callers queue
/// work (the Rust API also sets the function at every add).
///
/// # Safety
///
/// As for `task_work_add()`.
#[inline(always)]
unsafe fn c_add(
    task: &kernel::task::Task,
    head: *mut bindings::callback_head,
    func: unsafe extern "C" fn(*mut bindings::callback_head),
) -> Result {
    // `Task` is a `repr(transparent)` wrapper of the `task_struct`.
    let task = ptr::from_ref(task).cast_mut().cast();
    // SAFETY: As the caller promises; `init_task_work()` is this store.
    unsafe { (*head).func = Some(func) };
    // SAFETY: As the caller promises.
    let ret =
        unsafe { bindings::task_work_add(task, head, bindings::task_work_notify_mode_TWA_NONE) };
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// The Rust side of the add + cancel comparisons: one boxed item, added and taken back.
fn rust_add_cancel(cur: &kernel::task::Task) -> Result<u64> {
    let mut item = KBox::pin(
        Nop {
            work: TaskWork::new(),
        },
        GFP_KERNEL,
    )?;
    let t = Instant::now();
    for _ in 0..N {
        task_work::add(cur, item, Notify::None)?;
        item = task_work::cancel_first::<Nop, 0>(cur).ok_or(EINVAL)?;
    }
    Ok(per_op(ns_since(t)))
}

/// The C side: one head, added and taken back with the bare calls. `task_work_cancel_func()` is
/// not exported; `raw::cancel_func` is the built-in `kernel` crate's call of it.
fn c_add_cancel(cur: &kernel::task::Task) -> Result<u64> {
    let mut head = bindings::callback_head {
        next: ptr::null_mut(),
        func: Some(raw_nop),
    };
    let t = Instant::now();
    for _ in 0..N {
        // SAFETY: `head` is valid, and dequeued again before the next add.
        unsafe { c_add(cur, &mut head, raw_nop)? };
        // SAFETY: Only this function queues `raw_nop`, on this stack head.
        if unsafe { task_work::raw::cancel_func(cur, raw_nop) }.is_null() {
            return Err(EINVAL);
        }
    }
    Ok(per_op(ns_since(t)))
}

fn task_work_cost() -> Result {
    let cur = current!();
    compare(
        "task_work_add+cancel",
        || rust_add_cancel(cur),
        || c_add_cancel(cur),
    )?;
    // The method's own noise: the C side against itself.
    let add_cancel = || c_add_cancel(cur);
    compare("null:task_work_add+cancel", add_cancel, add_cancel)?;
    if cfg!(MODULE) {
        // What the Rust API does in a module on top of the bare calls, done in C: a module
        // reference while the item is queued.
        let me = this_module::<LocalModule>().as_ptr();
        compare(
            "task_work_add+cancel/c-with-module-ref",
            || rust_add_cancel(cur),
            || {
                let mut head = bindings::callback_head {
                    next: ptr::null_mut(),
                    func: Some(raw_nop),
                };
                let t = Instant::now();
                for _ in 0..N {
                    // SAFETY: Our own, live module.
                    if !unsafe { bindings::try_module_get(me) } {
                        return Err(ENODEV);
                    }
                    // SAFETY: `head` is valid, and dequeued again before the next add.
                    unsafe { c_add(cur, &mut head, raw_nop)? };
                    // SAFETY: Only this closure queues `raw_nop`, on this stack head.
                    if unsafe { task_work::raw::cancel_func(cur, raw_nop) }.is_null() {
                        return Err(EINVAL);
                    }
                    // SAFETY: Taken above.
                    unsafe { bindings::module_put(me) };
                }
                Ok(per_op(ns_since(t)))
            },
        )?;
    }
    compare(
        "task_work_add+run",
        || {
            let items = nops()?;
            let t = Instant::now();
            for item in items {
                task_work::add(cur, item, Notify::None)?;
                task_work::run_pending()?;
            }
            Ok(per_op(ns_since(t)))
        },
        || c_add_run(cur),
    )
}

/// The C side of add + run: `N` fresh heads, each queued and run with the bare calls.
fn c_add_run(cur: &kernel::task::Task) -> Result<u64> {
    let heads = raw_heads(raw_free)?;
    let t = Instant::now();
    for h in heads {
        // SAFETY: `h` is a fresh head, freed by `raw_free` when it runs; we are in process
        // context.
        unsafe {
            c_add(cur, h as *mut _, raw_free)?;
            bindings::clear_notify_signal();
            task_work::raw::run();
        }
    }
    Ok(per_op(ns_since(t)))
}

/// The read-side pair: the Rust guard against the C functions it wraps, called through the
/// same function pointers a C caller would link to.
fn trace_reader_cost(
    lock: unsafe extern "C" fn() -> *mut bindings::srcu_ctr,
    unlock: unsafe extern "C" fn(*mut bindings::srcu_ctr),
) -> Result {
    compare(
        "rcu_read_lock_tasks_trace+unlock",
        || {
            let t = Instant::now();
            for _ in 0..N {
                drop(TasksTrace::read_lock());
            }
            Ok(per_op(ns_since(t)))
        },
        || {
            let t = Instant::now();
            for _ in 0..N {
                // SAFETY: A balanced pair on this task: the unlock takes back what the lock
                // handed out.
                unsafe { unlock(lock()) };
            }
            Ok(per_op(ns_since(t)))
        },
    )
}

struct Bench {
    thread: ARef<Task>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        // SAFETY: We hold a reference on the thread, which may have returned already; this waits
        // until it has, so no code of the module runs on it after this.
        unsafe { bindings::kthread_stop(self.thread.as_ptr()) };
    }
}

fn module_is_live() -> bool {
    if !cfg!(MODULE) {
        return true;
    }
    // SAFETY: Our own module, which is alive while its code runs; `state` is read as a number.
    let state =
        unsafe { ptr::read_volatile(&raw const (*this_module::<LocalModule>().as_ptr()).state) };
    state == bindings::module_state_MODULE_STATE_LIVE
}

/// The benchmark thread: waits until the module is live, runs everything once, prints `done`,
/// then waits to be stopped.
///
/// # Safety
///
/// Only for `kthread_create_on_node`.
unsafe extern "C" fn bench_thread(_data: *mut core::ffi::c_void) -> i32 {
    // SAFETY: Called in the kthread's own context.
    let should_stop = || unsafe { bindings::kthread_should_stop() };
    while !module_is_live() && !should_stop() {
        fsleep(Delta::from_millis(10));
    }
    if !should_stop() {
        match run_all() {
            Ok(()) => pr_info!("done\n"),
            Err(e) => pr_info!("done: errno {}\n", e.to_errno()),
        }
    }
    // Built in, nothing stops the thread; in a module, the exit does.
    while cfg!(MODULE) && !should_stop() {
        fsleep(Delta::from_millis(100));
    }
    0
}

impl kernel::Module for Bench {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `bench_thread` is a valid thread function and the name a valid C string.
        let t = unsafe {
            bindings::kthread_create_on_node(
                Some(bench_thread),
                ptr::null_mut(),
                bindings::NUMA_NO_NODE,
                c"rust_vhost_bench".as_char_ptr(),
            )
        };
        let t = kernel::error::from_err_ptr(t)?;
        // SAFETY: `t` is a new, valid task, which lives at least until we take a reference of
        // our own here: it cannot exit before it is woken.
        // `Task` is a transparent wrapper of the `task_struct`.
        let thread: ARef<Task> = unsafe { &*t.cast::<Task>() }.into();
        thread.wake_up();
        Ok(Self { thread })
    }
}

fn run_all() -> Result {
    {
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
            "rcu_barrier_tasks/100k-queued",
            bindings::call_rcu_tasks,
            bindings::rcu_barrier_tasks,
        )?;
        barrier_cost::<TasksTrace>(
            "rcu_barrier_tasks_trace/100k-queued",
            bindings::call_rcu_tasks_trace,
            bindings::rcu_barrier_tasks_trace,
        )?;
        trace_reader_cost(
            bindings::rcu_read_lock_tasks_trace,
            bindings::rcu_read_unlock_tasks_trace,
        )?;
        task_work_cost()?;
        if !cfg!(MODULE) {
            // The method's own noise, for the other two kinds of figure: C against itself.
            // Each side is the same `Copy` closure.
            let queue = || {
                c_queue(
                    bindings::call_rcu_tasks_trace,
                    bindings::rcu_barrier_tasks_trace,
                )
            };
            compare("null:call_rcu_tasks_trace", queue, queue)?;
            let cur = current!();
            let add_run = || c_add_run(cur);
            compare("null:task_work_add+run", add_run, add_run)?;
        }
        Ok(())
    }
}
