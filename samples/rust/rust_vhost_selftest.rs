// SPDX-License-Identifier: GPL-2.0

//! Test driver for the vhost_task and task_work abstractions, for paths that need a user
//! process: a vhost worker is a thread of its creator, and task work queued on a user task runs
//! on its way back to user mode. `tools/guest/selftest.c` drives it through
//! `/dev/rust-vhost-selftest`.

use core::{
    ptr::{
        self,
        NonNull, //
    },
    sync::atomic::{
        AtomicBool,
        AtomicI64,
        AtomicPtr,
        AtomicU32,
        AtomicU64,
        Ordering, //
    },
};
use kernel::{
    bindings,
    eventfd::EventFd,
    fs::File,
    ioctl::{
        _IO,
        _IOR,
        _IOWR, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    module::this_module,
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        rcu_tasks::{
            self,
            CallFlavour,
            Flavour,
            RcuHead,
            RcuTasksItem,
            TasksRude,
            TasksTrace, //
        },
        Arc,
        Mutex, //
    },
    task::Task,
    task_work::{
        self,
        Notify,
        TaskWork,
        TaskWorkItem, //
    },
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
    types::ForeignOwnable,
    uaccess::UserSlice,
    vhost_task::{
        VhostTask,
        VhostWorker,
        WorkerContext, //
    },
};

module! {
    type: Selftest,
    name: "rust_vhost_selftest",
    authors: ["Rust for Linux Contributors"],
    description: "Test driver for the vhost_task and task_work abstractions",
    license: "GPL",
}

const T: u32 = b'R' as u32;
/// Creates and starts the file's vhost worker.
const VT_START: u32 = _IO(T, 1);
/// Queues one work item and wakes the worker.
const VT_KICK: u32 = _IO(T, 2);
/// Makes the worker return true this many more times without being woken.
const VT_REPEAT: u32 = _IO(T, 3);
/// Waits (up to 10 s) until the worker has done every queued item.
const VT_WAIT_IDLE: u32 = _IO(T, 4);
/// Stops the worker (drops the handle).
const VT_STOP: u32 = _IO(T, 5);
/// Reads `[queued, done, calls, kills]`.
const VT_STATS: u32 = _IOR::<[u64; 4]>(T, 6);
/// One wake-to-run round trip; returns its latency in ns.
const VT_PING: u32 = _IO(T, 7);
/// `[n, rust, c]`: the median of `n` wake-to-run round trips through [`VhostTask`], then
/// through the bare C calls, in ns.
const VT_PING_CMP: u32 = _IOWR::<[u64; 3]>(T, 8);
/// Queues task work on the calling task with `Notify::Resume`.
const TW_RESUME: u32 = _IO(T, 10);
/// Queues task work with `Notify::Signal` on the thread whose TID is the argument.
const TW_SIGNAL: u32 = _IO(T, 11);
/// Queues task work with `Notify::None` on the calling task (runs at signal or exit).
const TW_NONE: u32 = _IO(T, 12);
/// Returns how many of this file's task work items have run, and on which TID the last one did.
const TW_RAN: u32 = _IOR::<[u64; 2]>(T, 13);
/// Every cancel flavour and `run_pending`, from module code; returns 0 or the failed step.
const TW_CANCEL: u32 = _IO(T, 14);
/// Tasks RCU from module code: `arg` callbacks per flavour, barriers, readers, synchronize.
const RCU_RUN: u32 = _IO(T, 20);
/// Queues task work on the calling task with `Notify::None`, which runs at exit, after the
/// task's file table is gone, and tries to look up an eventfd there.
const TW_EXIT_FILES: u32 = _IO(T, 21);
/// Reads `[worker, exit]`: the errno of an eventfd lookup by the vhost worker (which has no file
/// table) and by the last exit-time item of `TW_EXIT_FILES`; 0 if not tried, 1 if it worked.
const FILES_ERRNO: u32 = _IOR::<[u64; 2]>(T, 22);
/// Forgets the file's worker handle (`mem::forget`), as a leak would: the thread lives on.
const VT_LEAK: u32 = _IO(T, 23);
/// Drops the device's registration while this file (and maybe others) is open.
const MISC_DEREGISTER: u32 = _IO(T, 24);
/// Waits for a Tasks Trace grace period (`synchronize_rcu_tasks_trace()`) and returns 0: it
/// returns only once no task is in a Tasks Trace read-side critical section it was in before.
const RCU_TRACE_SYNC: u32 = _IO(T, 25);
/// Hands the file's worker handle to the worker thread, which drops it there: a handle dropped
/// on its own thread cannot stop it, and must keep its module reference.
const VT_SELF_DROP: u32 = _IO(T, 26);

/// The errno of the eventfd lookup of the last `TW_EXIT_FILES` item.
static EXIT_FILES: AtomicI64 = AtomicI64::new(0);

fn lookup_errno() -> i64 {
    match EventFd::from_fd(0) {
        Ok(_) => 1,
        Err(e) => e.to_errno().into(),
    }
}

/// A task work item that runs at exit and looks up an eventfd.
struct ExitProbe {
    work: TaskWork<ExitProbe>,
}
kernel::impl_has_task_work! { impl HasTaskWork<ExitProbe> for ExitProbe { self.work } }

impl TaskWorkItem for ExitProbe {
    type Pointer = Pin<KBox<ExitProbe>>;

    fn run(_this: Pin<KBox<ExitProbe>>) {
        EXIT_FILES.store(lookup_errno(), Ordering::Release);
    }
}

/// `SIGKILL` handler runs, over all workers since load.
static KILLS: AtomicU64 = AtomicU64::new(0);

struct Worker {
    queued: AtomicU64,
    done: AtomicU64,
    calls: AtomicU64,
    repeat: AtomicU32,
    killed: AtomicBool,
    /// When the worker was made: `ping_at` counts from here.
    epoch: Instant<Monotonic>,
    ping: AtomicU64,
    /// Nanoseconds from `epoch` to the worker's answer to the last ping.
    ping_at: AtomicU64,
    files: AtomicI64,
    /// A handle of this worker's own, from [`KBox::into_raw`], that the worker drops
    /// ([`VT_SELF_DROP`]).
    own: AtomicPtr<VhostTask<Worker>>,
}

/// Nanoseconds since `epoch`.
fn ns_since(epoch: &Instant<Monotonic>) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(0)
}

impl VhostWorker for Worker {
    fn work(&self, ctx: &mut WorkerContext) -> bool {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.files.load(Ordering::Relaxed) == 0 {
            // A vhost worker has no file table.
            self.files.store(lookup_errno(), Ordering::Release);
        }
        let own = self.own.swap(ptr::null_mut(), Ordering::AcqRel);
        if !own.is_null() {
            ctx.set_running();
            // SAFETY: `own` came from `KBox::into_raw` in `VT_SELF_DROP`, and the swap above
            // took it out, so it is dropped once, here.
            drop(unsafe { KBox::from_raw(own) });
            return true;
        }
        let q = self.queued.load(Ordering::Acquire);
        let pinged = self.ping.load(Ordering::Acquire) == 1;
        let repeat = self.repeat.load(Ordering::Relaxed) > 0;
        if q == self.done.load(Ordering::Relaxed) && !pinged && !repeat {
            return false;
        }
        ctx.set_running();
        if pinged {
            self.ping_at.store(ns_since(&self.epoch), Ordering::Relaxed);
            self.ping.store(2, Ordering::Release);
        }
        if repeat {
            self.repeat.fetch_sub(1, Ordering::Relaxed);
        }
        self.done.store(q, Ordering::Release);
        true
    }

    fn killed(&self) {
        self.killed.store(true, Ordering::Release);
        KILLS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A task work item that records where it ran.
struct Probe {
    file: Arc<FileTw>,
    work: TaskWork<Probe>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Probe> for Probe { self.work } }

impl TaskWorkItem for Probe {
    type Pointer = Pin<KBox<Probe>>;

    fn run(this: Pin<KBox<Probe>>) {
        this.file
            .last_tid
            .store(current!().pid() as u64, Ordering::Relaxed);
        this.file.ran.fetch_add(1, Ordering::Release);
    }
}

/// A task work item held by `Arc`, for `task_work::cancel`.
struct Shared {
    file: Arc<FileTw>,
    work: TaskWork<Shared>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Shared> for Shared { self.work } }

impl TaskWorkItem for Shared {
    type Pointer = Arc<Shared>;

    fn run(this: Arc<Shared>) {
        this.file.ran.fetch_add(1, Ordering::Release);
    }
}

/// Callbacks queued from module code, counted.
static RCU_RUNS: AtomicU64 = AtomicU64::new(0);

struct Cb {
    rcu: RcuHead<Cb>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Cb> for Cb { self.rcu } }

impl RcuTasksItem for Cb {
    type Pointer = Pin<KBox<Cb>>;

    fn run(_this: Pin<KBox<Cb>>) {
        RCU_RUNS.fetch_add(1, Ordering::Relaxed);
    }
}

fn rcu_run(n: usize) -> Result<isize> {
    let before = RCU_RUNS.load(Ordering::Relaxed);
    for _ in 0..n {
        rcu_tasks::Tasks::call(KBox::pin(
            Cb {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        TasksTrace::call(KBox::pin(
            Cb {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        rcu_tasks::Tasks::free(KBox::pin(
            Cb {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
    }
    {
        let _reader = TasksTrace::read_lock();
    }
    rcu_tasks::Tasks::barrier();
    TasksTrace::barrier();
    rcu_tasks::Tasks::synchronize();
    TasksTrace::synchronize();
    TasksRude::synchronize();
    let ran = RCU_RUNS.load(Ordering::Relaxed) - before;
    if ran != 2 * n as u64 {
        pr_err!("rcu_tasks: {} of {} callbacks ran\n", ran, 2 * n);
        return Err(EIO);
    }
    Ok(0)
}

/// Every cancel path, on the calling task, from module code. Returns the failed step, or 0.
fn tw_cancel(file: &DevFile) -> Result<isize> {
    let cur = current!();
    let probe = || {
        KBox::pin(
            Probe {
                file: file.tw.clone(),
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )
    };
    let shared = Arc::new(
        Shared {
            file: file.tw.clone(),
            work: TaskWork::new(),
        },
        GFP_KERNEL,
    )?;
    let ran = file.tw.ran.load(Ordering::Acquire);
    task_work::add(cur, shared.clone(), Notify::None)?;
    if task_work::cancel(cur, &shared).is_none() {
        return Ok(1);
    }
    task_work::add(cur, probe()?, Notify::None)?;
    if task_work::cancel_first::<Probe, 0>(cur).is_none() {
        return Ok(2);
    }
    let p = probe()?;
    let want = core::ptr::from_ref::<Probe>(&p) as usize;
    task_work::add(cur, p, Notify::None)?;
    // SAFETY: The predicate only compares an address.
    let got = unsafe {
        task_work::cancel_match::<Probe, 0>(cur, |p| core::ptr::from_ref(p) as usize == want)
    };
    if got.is_none() {
        return Ok(3);
    }
    // A user task's work is not run from inside a system call: it runs on the way out.
    if task_work::run_pending() != Err(EPERM) {
        return Ok(4);
    }
    task_work::add(cur, probe()?, Notify::Resume)?;
    task_work::add(cur, shared, Notify::Resume)?;
    if file.tw.ran.load(Ordering::Acquire) != ran {
        return Ok(5);
    }
    // The caller checks with `TW_RAN` that both ran on its way back to user mode.
    Ok(0)
}

struct FileTw {
    ran: AtomicU64,
    last_tid: AtomicU64,
}

#[pin_data]
struct DevFile {
    #[pin]
    worker: Mutex<Option<VhostTask<Worker>>>,
    tw: Arc<FileTw>,
}

impl DevFile {
    fn with_worker<R>(&self, f: impl FnOnce(&VhostTask<Worker>) -> R) -> Result<R> {
        let guard = self.worker.lock();
        guard.as_ref().map(f).ok_or(ENXIO)
    }

    fn queue(&self, task: &Task, mode: Notify) -> Result<isize> {
        let probe = KBox::pin(
            Probe {
                file: self.tw.clone(),
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )?;
        task_work::add(task, probe, mode)?;
        Ok(0)
    }
}

fn task_by_tid(tid: usize) -> Result<ARef<Task>> {
    let tid = i32::try_from(tid).map_err(|_| EINVAL)?;
    // SAFETY: `find_get_pid` takes a reference on the pid, which `put_pid` drops; `get_pid_task`
    // takes a reference on the task, which the `ARef` adopts.
    unsafe {
        let pid = bindings::find_get_pid(tid);
        let task = bindings::get_pid_task(pid, bindings::pid_type_PIDTYPE_PID);
        bindings::put_pid(pid);
        let task = NonNull::new(task).ok_or(ESRCH)?;
        Ok(ARef::from_raw(task.cast()))
    }
}

/// Waits, yielding the CPU, until `cond` holds or `timeout` has passed.
fn wait_until(mut cond: impl FnMut() -> bool, timeout: Delta) -> Result {
    let start = Instant::<Monotonic>::now();
    while !cond() {
        if start.elapsed() > timeout {
            return Err(ETIMEDOUT);
        }
        // SAFETY: Process context, no locks held.
        unsafe { bindings::schedule() };
    }
    Ok(())
}

/// The least a worker does for a round trip: see the ping, stamp it, answer.
struct PingWorker {
    epoch: Instant<Monotonic>,
    ping: AtomicU64,
    /// Nanoseconds from `epoch` to the last answer.
    at: AtomicU64,
}

impl PingWorker {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            ping: AtomicU64::new(0),
            at: AtomicU64::new(0),
        }
    }

    /// The work function, shared by the Rust worker and the C one.
    fn answer(&self) -> bool {
        if self.ping.load(Ordering::Acquire) != 1 {
            return false;
        }
        self.at.store(ns_since(&self.epoch), Ordering::Relaxed);
        self.ping.store(2, Ordering::Release);
        true
    }

    /// The median of `n` round trips: ping, `wake`, wait for the answer.
    fn median(&self, n: usize, wake: impl Fn()) -> Result<u64> {
        let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let t0 = ns_since(&self.epoch);
            self.ping.store(1, Ordering::Release);
            wake();
            wait_until(
                || self.ping.load(Ordering::Acquire) == 2,
                Delta::from_secs(1),
            )?;
            self.ping.store(0, Ordering::Relaxed);
            v.push(
                self.at.load(Ordering::Relaxed).saturating_sub(t0),
                GFP_KERNEL,
            )?;
        }
        v.sort_unstable();
        v.get(n / 2).copied().ok_or(EINVAL)
    }
}

impl VhostWorker for PingWorker {
    fn work(&self, ctx: &mut WorkerContext) -> bool {
        let r = self.answer();
        if r {
            ctx.set_running();
        }
        r
    }

    fn killed(&self) {}
}

/// The C worker's function.
///
/// # Safety
///
/// Only for `vhost_task_create` in `ping_c`: `data` is the [`PingWorker`] that `ping_c` keeps
/// alive until the task is stopped.
unsafe extern "C" fn ping_c_fn(data: *mut c_void) -> bool {
    // SAFETY: As the caller promises.
    let w = unsafe { &*data.cast::<PingWorker>() };
    let r = w.answer();
    if r {
        // SAFETY: Called on the worker thread, which may run now that it has work.
        unsafe { bindings::vhost_task_set_current_running() };
    }
    r
}

/// The C worker's `SIGKILL` handler.
///
/// # Safety
///
/// Only for `vhost_task_create` in `ping_c`.
unsafe extern "C" fn ping_c_kill(_data: *mut c_void) {}

/// `n` round trips through the bare C API, as a C driver would write them.
fn ping_c(n: usize) -> Result<u64> {
    let w = KBox::new(PingWorker::new(), GFP_KERNEL)?;
    let data = core::ptr::from_ref::<PingWorker>(&w)
        .cast_mut()
        .cast::<c_void>();
    // SAFETY: The functions match the C prototypes; `data` is `w`, which outlives the task: it
    // is stopped before this returns.
    let vtsk = unsafe {
        bindings::vhost_task_create(
            Some(ping_c_fn),
            Some(ping_c_kill),
            data,
            c"vhost-ping-c".as_char_ptr(),
        )
    };
    let vtsk = kernel::error::from_err_ptr(vtsk)?;
    if vtsk.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `vtsk` was just created.
    unsafe { bindings::vhost_task_start(vtsk) };
    // SAFETY: `vtsk` is started and not stopped until below.
    let r = w.median(n, || unsafe { bindings::vhost_task_wake(vtsk) });
    // SAFETY: `vtsk` is started, and stopped once, here.
    unsafe { bindings::vhost_task_stop(vtsk) };
    r
}

fn ping_cmp(arg: usize) -> Result<isize> {
    let n = UserSlice::new(UserPtr::from_addr(arg), 8)
        .reader()
        .read::<u64>()? as usize;
    if n == 0 || n > 1_000_000 {
        return Err(EINVAL);
    }
    let w = Arc::new(PingWorker::new(), GFP_KERNEL)?;
    let t = VhostTask::start(this_module::<LocalModule>(), w)?;
    let rust = t.data().median(n, || t.wake())?;
    drop(t);
    let c = ping_c(n)?;
    put_u64s(arg, [n as u64, rust, c])
}

fn put_u64s<const N: usize>(arg: usize, vals: [u64; N]) -> Result<isize> {
    let mut w = UserSlice::new(UserPtr::from_addr(arg), N * 8).writer();
    for v in vals {
        w.write(&v)?;
    }
    Ok(0)
}

#[vtable]
impl MiscDevice for DevFile {
    type Ptr = Pin<KBox<DevFile>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<DevFile>) -> Result<Pin<KBox<DevFile>>> {
        let tw = Arc::new(
            FileTw {
                ran: AtomicU64::new(0),
                last_tid: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?;
        KBox::pin_init(
            pin_init!(DevFile {
                worker <- new_mutex!(None),
                tw,
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(this: Pin<&DevFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            VT_START => {
                let mut guard = this.worker.lock();
                if guard.is_some() {
                    return Err(EBUSY);
                }
                let w = Arc::new(
                    Worker {
                        queued: AtomicU64::new(0),
                        done: AtomicU64::new(0),
                        calls: AtomicU64::new(0),
                        repeat: AtomicU32::new(0),
                        killed: AtomicBool::new(false),
                        epoch: Instant::now(),
                        ping: AtomicU64::new(0),
                        ping_at: AtomicU64::new(0),
                        files: AtomicI64::new(0),
                        own: AtomicPtr::new(ptr::null_mut()),
                    },
                    GFP_KERNEL,
                )?;
                *guard = Some(VhostTask::start(this_module::<LocalModule>(), w)?);
                Ok(0)
            }
            VT_KICK => this.with_worker(|w| {
                w.data().queued.fetch_add(1, Ordering::AcqRel);
                w.wake();
                0
            }),
            VT_REPEAT => this.with_worker(|w| {
                w.data().repeat.store(arg as u32, Ordering::Relaxed);
                w.wake();
                0
            }),
            VT_WAIT_IDLE => this
                .with_worker(|w| {
                    let d = w.data();
                    wait_until(
                        || d.done.load(Ordering::Acquire) == d.queued.load(Ordering::Acquire),
                        Delta::from_secs(10),
                    )
                })?
                .map(|()| 0),
            VT_STOP => {
                let old = this.worker.lock().take();
                drop(old.ok_or(ENXIO)?);
                Ok(0)
            }
            VT_STATS => {
                let s = this.with_worker(|w| {
                    let d = w.data();
                    [
                        d.queued.load(Ordering::Acquire),
                        d.done.load(Ordering::Acquire),
                        d.calls.load(Ordering::Relaxed),
                        KILLS.load(Ordering::Relaxed),
                    ]
                });
                let s = s.unwrap_or([0, 0, 0, KILLS.load(Ordering::Relaxed)]);
                put_u64s(arg, s)
            }
            VT_PING => this.with_worker(|w| {
                let d = w.data();
                let t0 = ns_since(&d.epoch);
                d.ping.store(1, Ordering::Release);
                w.wake();
                wait_until(|| d.ping.load(Ordering::Acquire) == 2, Delta::from_secs(1))?;
                d.ping.store(0, Ordering::Relaxed);
                Ok(d.ping_at.load(Ordering::Relaxed).saturating_sub(t0) as isize)
            })?,
            VT_PING_CMP => ping_cmp(arg),
            TW_RESUME => this.queue(current!(), Notify::Resume),
            TW_NONE => this.queue(current!(), Notify::None),
            TW_SIGNAL => this.queue(&*task_by_tid(arg)?, Notify::Signal),
            TW_RAN => put_u64s(
                arg,
                [
                    this.tw.ran.load(Ordering::Acquire),
                    this.tw.last_tid.load(Ordering::Relaxed),
                ],
            ),
            TW_CANCEL => tw_cancel(&this),
            TW_EXIT_FILES => {
                let p = KBox::pin(
                    ExitProbe {
                        work: TaskWork::new(),
                    },
                    GFP_KERNEL,
                )?;
                task_work::add(current!(), p, Notify::None)?;
                Ok(0)
            }
            FILES_ERRNO => {
                let w = this
                    .with_worker(|w| w.data().files.load(Ordering::Acquire))
                    .unwrap_or(0);
                put_u64s(arg, [w as u64, EXIT_FILES.load(Ordering::Acquire) as u64])
            }
            MISC_DEREGISTER => {
                if deregister() {
                    Ok(0)
                } else {
                    Err(ENOENT)
                }
            }
            VT_LEAK => {
                let w = this.worker.lock().take().ok_or(ENXIO)?;
                core::mem::forget(w);
                Ok(0)
            }
            VT_SELF_DROP => {
                // The box first: a failed allocation leaves the file's worker as it was.
                let slot = KBox::<VhostTask<Worker>>::new_uninit(GFP_KERNEL)?;
                let mut guard = this.worker.lock();
                let handle = guard.as_ref().ok_or(ENXIO)?;
                // A killed worker no longer runs `work`: the box would never be taken.
                if handle.data().killed.load(Ordering::Acquire) {
                    return Err(ESRCH);
                }
                // The worker's task, to wake it by: it exists once the worker has run.
                let task = handle.task().ok_or(EAGAIN)?;
                let w = KBox::into_raw(KBox::write(slot, guard.take().ok_or(ENXIO)?));
                drop(guard);
                // SAFETY: `w` is valid until the worker takes it, after the store below. `own` is
                // in the worker's data, not in the box: the handle holds the data, and a handle
                // dropped on its own thread leaks it (see `VhostTask`), so `own` outlives the box.
                let own = unsafe { &(*w).data().own };
                own.store(w, Ordering::Release);
                task.wake_up();
                Ok(0)
            }
            RCU_RUN => rcu_run(arg),
            RCU_TRACE_SYNC => {
                TasksTrace::synchronize();
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}

struct Selftest;

/// The registration as [`REG`] holds it.
type Reg = Pin<KBox<MiscDeviceRegistration<DevFile>>>;

/// The device's registration, owned here so that `MISC_DEREGISTER` can drop it while files are
/// open: a [`Reg`] made foreign by [`ForeignOwnable::into_foreign`], or null once dropped.
static REG: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Drops the registration, if it is still there.
fn deregister() -> bool {
    let p = REG.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if p.is_null() {
        return false;
    }
    // SAFETY: `p` came from `Reg::into_foreign` in `init`, and the swap made us its only owner.
    drop(unsafe { Reg::from_foreign(p) });
    true
}

impl Drop for Selftest {
    fn drop(&mut self) {
        deregister();
    }
}

/// A task work item for the refused queueing in `init`.
struct Idle2 {
    work: TaskWork<Idle2>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Idle2> for Idle2 { self.work } }

impl TaskWorkItem for Idle2 {
    type Pointer = Pin<KBox<Idle2>>;

    fn run(_this: Pin<KBox<Idle2>>) {}
}

/// A worker with nothing to do, for the refused creation in `init`.
struct Idle;

impl VhostWorker for Idle {
    fn work(&self, _ctx: &mut WorkerContext) -> bool {
        false
    }

    fn killed(&self) {}
}

impl kernel::Module for Selftest {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // A worker made here would be a thread of insmod: it must be refused.
        match VhostTask::start(module, Arc::new(Idle, GFP_KERNEL)?) {
            Err(e) => pr_info!("vhost_task from module init: errno {}\n", e.to_errno()),
            Ok(_) => {
                pr_err!("vhost_task from module init was not refused\n");
                return Err(EINVAL);
            }
        }
        // Task work and RCU callbacks queued from init would hold a module that a failing init
        // frees whatever its references: both are refused while the module is coming.
        let tw = task_work::add(
            current!(),
            KBox::pin(
                Idle2 {
                    work: TaskWork::new(),
                },
                GFP_KERNEL,
            )?,
            Notify::None,
        );
        pr_info!(
            "task_work from module init: errno {}\n",
            tw.err().map_or(0, |e| e.error.to_errno())
        );
        let cb = rcu_tasks::Tasks::call(KBox::pin(
            Cb {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?);
        pr_info!(
            "rcu_tasks call from module init: errno {}\n",
            cb.err().map_or(0, |e| e.error.to_errno())
        );
        let fr = TasksTrace::free(KBox::pin(
            Cb {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?);
        pr_info!(
            "rcu_tasks free from module init: errno {}\n",
            fr.err().map_or(0, |e| e.error.to_errno())
        );
        let reg: Reg = KBox::pin_init(
            MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"rust-vhost-selftest",
            }),
            GFP_KERNEL,
        )?;
        REG.store(reg.into_foreign(), Ordering::Release);
        Ok(Self)
    }
}
