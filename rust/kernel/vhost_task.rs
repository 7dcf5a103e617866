// SPDX-License-Identifier: GPL-2.0

//! vhost workers: kernel threads that belong to a user process.
//!
//! `vhost_task_create()` makes a thread in the calling process's thread group that shares its
//! memory (`CLONE_VM | CLONE_THREAD`), so it can read the process's memory with the usual user
//! copy functions. It runs a work function in a loop, sleeping while that finds no work, until
//! it is stopped or the process is killed.
//!
//! A [`VhostWorker`] is the Rust side: [`VhostWorker::work`] is the work function and
//! [`VhostWorker::killed`] the `SIGKILL` handler. [`VhostTask::start`] creates and starts the
//! thread in one step and returns the handle; dropping the handle stops the thread and waits for
//! it. Since stopping consumes the handle, a worker cannot be stopped twice or woken after
//! being stopped.
//!
//! C header: [`include/linux/sched/vhost_task.h`](srctree/include/linux/sched/vhost_task.h).
//!
//! # Examples
//!
//! A worker must be created by a user process (it becomes one of its threads), so this example
//! only shows the shape; `samples/rust/rust_vhost_selftest.rs` uses it for real.
//!
//! ```
//! use core::sync::atomic::{
//!     AtomicU32,
//!     Ordering, //
//! };
//! use kernel::vhost_task::{
//!     VhostTask,
//!     VhostWorker,
//!     WorkerContext, //
//! };
//!
//! struct Kicks {
//!     pending: AtomicU32,
//!     done: AtomicU32,
//! }
//!
//! impl VhostWorker for Kicks {
//!     fn work(&self, ctx: &mut WorkerContext) -> bool {
//!         if self.pending.swap(0, Ordering::AcqRel) == 0 {
//!             return false; // Sleep until woken.
//!         }
//!         ctx.set_running(); // From here on, sleeping is fine.
//!         self.done.fetch_add(1, Ordering::Relaxed);
//!         true
//!     }
//!
//!     fn killed(&self) {}
//! }
//!
//! fn kick(worker: &VhostTask<Kicks>) {
//!     worker.data().pending.store(1, Ordering::Release);
//!     worker.wake();
//! }
//! ```

use crate::{
    bindings,
    error::from_err_ptr,
    mm::Mm,
    owned::ModuleRef,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        Arc, //
    },
    task::{
        Pid,
        Task, //
    },
    ThisModule, //
};
use core::{
    mem::ManuallyDrop,
    ptr::{
        self,
        NonNull, //
    },
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    }, //
};

/// The work of a vhost worker thread.
pub trait VhostWorker: Send + Sync + 'static {
    /// Looks for work and does it; returns whether it did any.
    ///
    /// It is called in a loop. It returns `true` to be called again at once, and `false` to
    /// sleep until [`VhostTask::wake`].
    ///
    /// To avoid lost wake-ups, it is called with the task already in `TASK_INTERRUPTIBLE`: a
    /// wake that comes after the check for work makes the sleep return at once. So it must check
    /// for work without sleeping, and call [`WorkerContext::set_running`] before it does anything
    /// that may sleep (take a mutex, copy from user memory...). A call that returns `false` after
    /// `set_running` is called again before sleeping, so it does not spin and loses nothing.
    ///
    /// Every call comes after `set_current_state()`, a full barrier, and [`VhostTask::wake`]
    /// reads the task's state after a full barrier too. So a flag that the waker stores before
    /// it calls [`VhostTask::wake`] may be checked here with a relaxed load: either the load
    /// sees it, or the wake finds the task about to sleep and the sleep returns at once.
    fn work(&self, ctx: &mut WorkerContext) -> bool;

    /// Called at most once, on the worker thread, if the owning process is killed before the
    /// worker is stopped. The worker thread exits afterwards.
    ///
    /// It runs under the C `exit_mutex`, which [`VhostTask`]'s drop also takes: it must not drop
    /// the worker's own handle (that cannot stop the thread, and leaks the handle, as below). It
    /// should make the worker's users stop using it; the handle is then dropped from elsewhere,
    /// and that stop completes at once.
    ///
    /// Task work still queued on the worker runs only when the thread exits, which a core dump
    /// of the process holds up until every other thread of it has stopped. A worker whose users
    /// wait for items they queued on it should complete those here (it runs on the worker, so
    /// [`task_work::cancel_first`] on `current` takes them back), and record the kill under a
    /// lock that whoever queues such an item takes to look, as C's `vhost_worker_killed()` does
    /// with its work list (`samples/rust/rust_vhost_test.rs` shows how).
    ///
    /// [`task_work::cancel_first`]: crate::task_work::cancel_first
    fn killed(&self);
}

/// What [`VhostWorker::work`] may do to its thread's state.
pub struct WorkerContext {
    running: bool,
}

impl WorkerContext {
    /// Sets the worker thread to `TASK_RUNNING`, after which the work function may sleep.
    #[inline]
    pub fn set_running(&mut self) {
        if !self.running {
            // SAFETY: Only changes the current task's own state.
            unsafe { bindings::vhost_task_set_current_running() };
            self.running = true;
        }
    }

    /// Returns whether task work is queued on the worker thread. It does not sleep, so it may be
    /// called before [`WorkerContext::set_running`], to decide whether there is work.
    #[inline]
    pub fn has_task_work(&self) -> bool {
        crate::task_work::current_pending()
    }

    /// Sets the thread running and runs the task work queued on it (`task_work_run()`).
    ///
    /// A vhost worker never returns to user mode, so work queued on it with
    /// [`Notify::None`](crate::task_work::Notify::None) or [`Notify::Resume`] runs only here,
    /// or when it exits; the C loop runs it after a signal too. So another thread can queue
    /// work on the worker with `Notify::None` and [`VhostTask::wake`] it: the work runs between
    /// two calls of [`VhostWorker::work`] that call this first, and sets no signal pending that
    /// would break an interruptible sleep inside a call (a user fault, say).
    ///
    /// The items run right here and may sleep: the caller must hold no lock that an item may
    /// take, and no RCU read lock.
    ///
    /// [`Notify::Resume`]: crate::task_work::Notify::Resume
    #[inline(never)]
    pub fn run_task_work(&mut self) {
        self.set_running();
        crate::task_work::run_current();
    }
}

/// The data the C side holds: the worker and its thread, once it has run.
struct Shared<W> {
    worker: Arc<W>,
    task: AtomicPtr<bindings::task_struct>,
}

/// A running vhost worker thread. Dropping it stops the thread and waits for it to exit, which
/// may sleep.
///
/// Dropped on its own worker thread (in [`VhostWorker::work`] or [`VhostWorker::killed`]), a
/// handle cannot stop that thread, which would wait for itself: it prints an error and leaks,
/// with the worker's data, the `mm` and the module reference. The data then stays valid for
/// ever, and the module cannot be unloaded.
///
/// # Invariants
///
/// `vtsk` was created and started with `shared` as its data, and has not been stopped. `mm` is
/// the creator's `mm_struct`. `module` holds the module whose code the thread runs (nothing for
/// built-in code), live when the thread started: a handle that is leaked keeps the module
/// loaded, rather than a thread running freed code.
pub struct VhostTask<W: VhostWorker> {
    vtsk: NonNull<bindings::vhost_task>,
    shared: NonNull<Shared<W>>,
    /// The creator's `mm`, pinned with `mmgrab` (not its address space). Dropped by hand in
    /// [`Drop`], after the thread has exited, and leaked with the handle otherwise.
    mm: ManuallyDrop<ARef<Mm>>,
    /// The module whose code the thread runs. Dropped by hand in [`Drop`], last, and leaked
    /// with the handle when the thread cannot be stopped.
    module: ManuallyDrop<ModuleRef>,
}

// SAFETY: All the handle's methods may be called from any thread; `W` is `Send + Sync`.
unsafe impl<W: VhostWorker> Send for VhostTask<W> {}
// SAFETY: `wake` and `data` only need shared access.
unsafe impl<W: VhostWorker> Sync for VhostTask<W> {}

impl<W: VhostWorker> VhostTask<W> {
    /// Creates and starts a worker thread named `vhost-<pid>` in the calling process.
    ///
    /// `module` is the caller's module. The calling task must be a user process: creation from
    /// a kernel thread fails with `EPERM`, and so does creation from `module`'s init function,
    /// which would make the worker a thread of `insmod`. Errors from `vhost_task_create()` are
    /// passed on; `ERESTARTNOINTR` means that the caller may retry.
    pub fn start(module: &'static ThisModule, worker: Arc<W>) -> Result<Self> {
        let cur = current!();
        // SAFETY: Only reads the current task's own flags.
        if unsafe { (*cur.as_ptr()).flags } & bindings::PF_KTHREAD != 0 {
            return Err(EPERM);
        }
        // The creator's `mm`, to recognise its process by; `mmgrab` pins the `mm_struct` only.
        let mm: ARef<Mm> = ARef::from(&**cur.mm().ok_or(EPERM)?);
        // The thread calls the worker's code until the handle stops it: hold the module that
        // much. A module still in its init function is refused (a failing init frees the module
        // whatever its references, and the thread would belong to `insmod`).
        let module = ModuleRef::get(module.as_ptr()).ok_or(EPERM)?;
        let (vtsk, shared) = Self::start_thread(worker, cur.pid())?;
        // INVARIANT: The thread is started with `shared`; `mm` is the creator's; the module
        // reference is taken above.
        Ok(Self {
            vtsk,
            shared,
            mm: ManuallyDrop::new(mm),
            module: ManuallyDrop::new(module),
        })
    }

    fn start_thread(
        worker: Arc<W>,
        pid: Pid,
    ) -> Result<(NonNull<bindings::vhost_task>, NonNull<Shared<W>>)> {
        let name = CString::try_from_fmt(fmt!("vhost-{}", pid))?;
        let shared = Arc::into_raw(Arc::new(
            Shared {
                worker,
                task: AtomicPtr::new(ptr::null_mut()),
            },
            GFP_KERNEL,
        )?)
        .cast_mut();
        // SAFETY: The functions match the C prototypes; `shared` stays alive until the task
        // has exited (`drop` frees it after `vhost_task_stop`); `name` is copied into the task.
        let raw = unsafe {
            bindings::vhost_task_create(
                Some(work_trampoline::<W>),
                Some(kill_trampoline::<W>),
                shared.cast(),
                name.as_char_ptr(),
            )
        };
        // Older 6.12.y returned NULL on failure.
        let vtsk = from_err_ptr(raw)
            .and_then(|v| NonNull::new(v).ok_or(ENOMEM))
            .inspect_err(|_| {
                // SAFETY: No task was created, so nothing else holds `shared`.
                drop(unsafe { Arc::from_raw(shared) });
            })?;
        raw_start(vtsk.as_ptr());
        // SAFETY: `shared` came from `Arc::into_raw` and is not null.
        let shared = unsafe { NonNull::new_unchecked(shared) };
        Ok((vtsk, shared))
    }

    /// Wakes the worker, so that it calls [`VhostWorker::work`] again.
    ///
    /// Callable from any context, including hard interrupts, like `wake_up_process()`.
    #[inline]
    pub fn wake(&self) {
        raw_wake(self.vtsk.as_ptr());
    }

    /// Returns whether the calling task belongs to the process that started the worker (shares
    /// its `mm`), as C `vhost_dev_check_owner()` checks. It stays false for everyone else after
    /// that process is gone.
    pub fn is_owner(&self) -> bool {
        current!()
            .mm()
            .is_some_and(|mm| ptr::eq(mm.as_raw(), self.mm.as_raw()))
    }

    /// Returns the worker's data.
    pub fn data(&self) -> &W {
        // SAFETY: `shared` lives as long as `self`.
        unsafe { &self.shared.as_ref().worker }
    }

    /// Returns the worker thread, once it has started running (`None` before).
    pub fn task(&self) -> Option<ARef<Task>> {
        // SAFETY: `shared` lives as long as `self`.
        let t = unsafe { self.shared.as_ref() }.task.load(Ordering::Acquire);
        // SAFETY: The C `vhost_task` holds a reference on its task until `vhost_task_stop`,
        // which has not been called, so the task is valid; `into` takes our own reference.
        NonNull::new(t).map(|t| unsafe { &*t.as_ptr().cast::<Task>() }.into())
    }
}

impl<W: VhostWorker> Drop for VhostTask<W> {
    fn drop(&mut self) {
        // SAFETY: `shared` is alive until the end of this function.
        let task = unsafe { self.shared.as_ref() }.task.load(Ordering::Acquire);
        if !task.is_null() && task == Task::current_raw() {
            // Stopping from the worker itself would wait for its own exit (or take the
            // `exit_mutex` it holds in `killed`): leak the handle rather than deadlock. The
            // thread goes on running the module's code, so the module reference is leaked with
            // it (`ManuallyDrop`): the module stays loaded rather than being freed under it.
            crate::pr_err!("vhost_task: a worker must not stop itself; leaking it\n");
            return;
        }
        // By the type invariant, `vtsk` was started and not stopped; it is stopped once, here.
        raw_stop(self.vtsk.as_ptr());
        // SAFETY: The task has exited, so the C side no longer uses `shared`; it came from
        // `Arc::into_raw`.
        drop(unsafe { Arc::from_raw(self.shared.as_ptr()) });
        // SAFETY: `mm` is not used again: `self` is being dropped.
        unsafe { ManuallyDrop::drop(&mut self.mm) };
        // SAFETY: As above. The module goes last: the thread has exited, so no more of the
        // worker's code runs on it.
        unsafe { ManuallyDrop::drop(&mut self.module) };
    }
}

/// # Safety
///
/// Only for `vhost_task_create` with a `Shared<W>` from `start`.
unsafe extern "C" fn work_trampoline<W: VhostWorker>(data: *mut c_void) -> bool {
    // SAFETY: `data` is the `Shared<W>` that lives until the task has exited.
    let shared = unsafe { &*data.cast::<Shared<W>>() };
    if shared.task.load(Ordering::Relaxed).is_null() {
        // `current` is the worker thread.
        shared.task.store(Task::current_raw(), Ordering::Release);
    }
    let mut ctx = WorkerContext { running: false };
    let did_work = shared.worker.work(&mut ctx);
    // After `set_running`, a wake during `work` may have been consumed: call again rather than
    // sleep.
    did_work || ctx.running
}

/// # Safety
///
/// Only for `vhost_task_create` with a `Shared<W>` from `start`.
unsafe extern "C" fn kill_trampoline<W: VhostWorker>(data: *mut c_void) {
    // SAFETY: `data` is the `Shared<W>` that lives until the task has exited.
    let shared = unsafe { &*data.cast::<Shared<W>>() };
    // The kill may come before the first `work`: record the thread here too, so that a drop of
    // the handle from `killed` is recognised as the worker stopping itself.
    if shared.task.load(Ordering::Relaxed).is_null() {
        // `current` is the worker thread.
        shared.task.store(Task::current_raw(), Ordering::Release);
    }
    shared.worker.killed();
}

/// KUnit tests; the rest need a user process and run from `tools/guest/selftest.c`.
#[macros::kunit_tests(rust_vhost_task)]
mod tests {
    use crate::{
        prelude::*,
        sync::Arc,
        vhost_task::{
            VhostTask,
            VhostWorker,
            WorkerContext, //
        }, //
    };

    /// Creation from a kernel thread (KUnit runs tests in one) is refused with `EPERM`, and
    /// the worker's data is dropped.
    #[test]
    fn kthread_refused() -> Result {
        struct Idle;
        impl VhostWorker for Idle {
            fn work(&self, _ctx: &mut WorkerContext) -> bool {
                false
            }
            fn killed(&self) {}
        }

        let module = crate::module::this_module::<crate::LocalModule>();
        let data = Arc::new(Idle, GFP_KERNEL)?;
        let r = VhostTask::start(module, data.clone());
        assert_eq!(r.err(), Some(EPERM));
        // Only our reference is left.
        assert!(Arc::into_unique_or_drop(data).is_some());
        Ok(())
    }
}

#[inline(never)]
fn raw_start(vtsk: *mut bindings::vhost_task) {
    // SAFETY: `vtsk` was just created and not started.
    unsafe { bindings::vhost_task_start(vtsk) }
}

#[inline(never)]
fn raw_wake(vtsk: *mut bindings::vhost_task) {
    // SAFETY: `vtsk` is started and not stopped.
    unsafe { bindings::vhost_task_wake(vtsk) }
}

#[inline(never)]
fn raw_stop(vtsk: *mut bindings::vhost_task) {
    // SAFETY: `vtsk` is started and not stopped; it is freed here.
    unsafe { bindings::vhost_task_stop(vtsk) }
}
