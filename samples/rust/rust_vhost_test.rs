// SPDX-License-Identifier: GPL-2.0

//! A vhost-test device in Rust: `drivers/vhost/test.c` rewritten on the `kernel` crate.
//!
//! It serves the same ioctl ABI as the C `vhost_test` module, so the kernel's own client,
//! `tools/virtio/virtio_test`, drives it unmodified. The device has one split virtqueue. Its
//! worker takes every buffer the driver makes available, checks that the descriptor chain is
//! well formed and lies in the registered memory, and returns it as used, signalling the call
//! eventfd when the driver asked to be told.
//!
//! How it uses the abstractions, and why each one:
//!
//! - **vhost_task**: the worker is a [`VhostTask`], created by `VHOST_SET_OWNER` in the owner's
//!   process, so it reads and writes the ring with plain user copies in the owner's memory. A
//!   write to the kick eventfd wakes it through an [`eventfd::Watch`].
//! - **Tasks Trace RCU**: what the worker reads (ring addresses, features, memory table, call
//!   eventfd) is an immutable [`RingCfg`]. The ioctls build a new one and publish it through a
//!   [`TracePointer`], and move a generation counter on; the old one is freed after a Tasks
//!   Trace grace period. At the first pass in a new generation the worker takes a reference to
//!   the current config inside a read-side critical section of a few instructions, drops the
//!   read lock before it touches user memory, and keeps the reference for its passes while the
//!   generation stays. So a worker stuck in a user fault (a ring page behind userfaultfd or
//!   FUSE that is never served) holds no read side open: it stalls its own device, never the
//!   system's Tasks Trace grace periods (sleepable BPF waits for those). Plain RCU would serve
//!   as well for a read side this short; the `kernel` crate has no `call_rcu()`
//!   binding, and Tasks Trace readers cost about as little.
//! - **task_work**: the flush, C's `vhost_dev_flush()`. A change of what the worker reads must
//!   not return while a pass that may use the old value runs (C holds `vq->mutex` across the
//!   pass and in the ioctl). The ioctl publishes, then queues a task work item on the worker with
//!   [`Notify::None`] and wakes it. The worker runs its task work
//!   ([`WorkerContext::run_task_work`]) only between two passes, so the item runs once the pass
//!   in flight is over, and the ioctl waits for it uninterruptibly, as C's flush does. No signal
//!   is set pending on the worker, so a user fault that sleeps interruptibly inside a pass is
//!   not cut short by a flush.
//! - **A mutex of the device's own** for the ring position ([`RingState`]): the worker holds it
//!   for a pass, and the ioctls that read or set the position take it (setting it is refused
//!   while the backend runs), as C's `vq->mutex`. A stuck pass therefore blocks only this
//!   device's ioctls.
//!
//! Why not simply a mutex for the config too, held across the pass as C does? It would do the
//! same job here, and the flush would go. The sample keeps the two abstractions where a real
//! device needs them: configuration that readers other than the worker may look at without
//! waiting for its pass (a multi-queue device, a stats or poll path), and work that another
//! thread hands to the worker to run between passes, C's `vhost_work_queue()`.
//! - **SIGKILL**: if the owner dies, [`VhostWorker::killed`] marks the device dead. Later
//!   ioctls fail with `ENODEV` (a new owner would need a new open), and close still frees
//!   everything.
//!
//! The ring walk follows `vhost.c` and `test.c`: a chain that `vhost_get_vq_desc`
//! rejects (a bad index, a loop, a translation failure, "out after in", more than `UIO_MAXIOV`
//! pieces) stalls the ring until the next kick without being consumed; a chain that only test.c
//! rejects (a device-writable descriptor, a total length of 0) is consumed and dropped. The
//! differences that remain from the C device are listed in
//! `Documentation/rust/vhost_test_sample.rst`.
//!
//! The device node is `/dev/vhost-test` unless the `name` parameter says otherwise, so that it
//! can be loaded next to the C module: `insmod rust_vhost_test.ko name=vhost-test-rust`.

use core::sync::atomic::{
    AtomicBool,
    AtomicU64,
    Ordering, //
};
use kernel::{
    eventfd::{
        self,
        EventFd,
        WatchTarget, //
    },
    fs::File,
    ioctl::{
        _IO,
        _IOR,
        _IOW,
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
        rcu_tasks::{
            CallFlavour,
            RcuHead,
            TasksTrace,
            TracePointer, //
        },
        Arc,
        Completion,
        Mutex, //
    },
    task_work::{
        self,
        Notify,
        TaskWork,
        TaskWorkItem, //
    },
    uaccess::{
        access_ok,
        UserSlice,
        UserSliceReader, //
    },
    vhost::{
        mem::{
            MemTable,
            MAX_REGIONS, //
        },
        ring::{
            Ring,
            RingPos,
            MAX_NUM, //
            UIO_MAXIOV,
            VIRTIO_F_ANY_LAYOUT,
            VIRTIO_F_NOTIFY_ON_EMPTY,
            VIRTIO_F_VERSION_1,
            VIRTIO_RING_F_EVENT_IDX,
            VIRTIO_RING_F_INDIRECT_DESC,
        },
    },
    vhost_task::{
        VhostTask,
        VhostWorker,
        WorkerContext, //
    },
};

module! {
    type: RustVhostTest,
    name: "rust_vhost_test",
    authors: ["Rust for Linux Contributors"],
    description: "vhost-test device (drivers/vhost/test.c) in Rust",
    license: "GPL",
}

kernel::module_str_param! {
    /// The name of the device node under `/dev`.
    static NAME: "name" = c"vhost-test", "device node name (default: vhost-test)";
}

// The ioctl ABI, from include/uapi/linux/vhost.h and drivers/vhost/test.h. Structures are
// read field by field, so their types here only give the sizes encoded in the numbers.
const VHOST_VIRTIO: u32 = 0xAF;
const VHOST_GET_FEATURES: u32 = _IOR::<u64>(VHOST_VIRTIO, 0x00);
const VHOST_SET_FEATURES: u32 = _IOW::<u64>(VHOST_VIRTIO, 0x00);
const VHOST_SET_OWNER: u32 = _IO(VHOST_VIRTIO, 0x01);
const VHOST_RESET_OWNER: u32 = _IO(VHOST_VIRTIO, 0x02);
/// `struct vhost_memory`: `nregions`, `padding`, then the regions.
const VHOST_SET_MEM_TABLE: u32 = _IOW::<[u32; 2]>(VHOST_VIRTIO, 0x03);
/// `struct vhost_vring_state`: `index`, `num`.
const VHOST_SET_VRING_NUM: u32 = _IOW::<[u32; 2]>(VHOST_VIRTIO, 0x10);
/// `struct vhost_vring_addr`: `index`, `flags`, then desc, used, avail and log addresses.
const VHOST_SET_VRING_ADDR: u32 = _IOW::<[u64; 5]>(VHOST_VIRTIO, 0x11);
const VHOST_SET_VRING_BASE: u32 = _IOW::<[u32; 2]>(VHOST_VIRTIO, 0x12);
const VHOST_GET_VRING_BASE: u32 = _IOWR::<[u32; 2]>(VHOST_VIRTIO, 0x12);
/// `struct vhost_vring_file`: `index`, `fd`.
const VHOST_SET_VRING_KICK: u32 = _IOW::<[u32; 2]>(VHOST_VIRTIO, 0x20);
const VHOST_SET_VRING_CALL: u32 = _IOW::<[u32; 2]>(VHOST_VIRTIO, 0x21);
const VHOST_TEST_RUN: u32 = _IOW::<i32>(VHOST_VIRTIO, 0x31);
/// test.h encodes the size of an `int`, but the argument is a `struct vhost_vring_file`.
const VHOST_TEST_SET_BACKEND: u32 = _IOW::<i32>(VHOST_VIRTIO, 0x32);
/// This device's own: reads [`Stats`] as six `u64`s. The C device answers `ENOTTY`.
const RUST_VHOST_TEST_STATS: u32 = _IOR::<[u64; 6]>(VHOST_VIRTIO, 0x3F);

/// What the device offers: the C device's features, less dirty logging (`VHOST_F_LOG_ALL`).
const FEATURES: u64 = VIRTIO_F_NOTIFY_ON_EMPTY
    | VIRTIO_F_ANY_LAYOUT
    | VIRTIO_RING_F_INDIRECT_DESC
    | VIRTIO_RING_F_EVENT_IDX
    | VIRTIO_F_VERSION_1;

/// Bytes per pass before the worker yields, as in test.c. test.c passes 0 packets to
/// `vhost_exceeds_weight()`, so its packet weight never applies, and there is none here.
const BYTE_WEIGHT: u64 = 0x80000;

/// The memory table of a device with none set: every translation fails with `EFAULT`.
static NO_MEM: MemTable = MemTable::new();

/// Whether every region of `mem` is user memory, as `vq_memory_access_ok()` checks.
fn mem_access_ok(mem: &MemTable) -> bool {
    mem.regions().iter().all(
        |r| match (usize::try_from(r.uaddr), usize::try_from(r.size)) {
            (Ok(uaddr), Ok(size)) => access_ok(UserPtr::from_addr(uaddr), size),
            _ => false,
        },
    )
}

/// What the worker reads. Never changed once published.
struct RingCfg {
    ring: Ring,
    mem: Option<Arc<MemTable>>,
    call: Option<Arc<EventFd>>,
}

impl RingCfg {
    fn mem(&self) -> &MemTable {
        self.mem.as_deref().unwrap_or(&NO_MEM)
    }
}

/// The published reference to a [`RingCfg`]: readers find it under a Tasks Trace read lock and
/// take a reference of their own; the box is freed after a grace period.
struct Published {
    cfg: Arc<RingCfg>,
    rcu: RcuHead<Published>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Published> for Published { self.rcu } }

/// The worker's position in the ring. Only the worker touches it while a backend runs; the
/// ioctls touch it when none does.
#[derive(Default)]
struct RingState {
    pos: RingPos,
    /// The config the worker's passes use, with the [`Worker::generation`] it was looked up
    /// in: kept while the generation stays, so that a pass takes neither the read lock nor a
    /// reference.
    ///
    /// [`Inner::publish`] moves the generation on after every replacement, before it waits.
    /// A pass that sees the old generation is one the flush waits for; the first pass after
    /// the flush, however the flush ran (from [`Worker::work`], or from `get_signal()` in the
    /// C loop), sees the new one: the generation is read before the config, and the task work
    /// list orders the flush's queueing before its run.
    cfg: Option<(u64, Arc<RingCfg>)>,
}

/// Buffers used and allocations made by every device since the module was loaded, printed at
/// unload (`make bench` divides one by the other). A worker's buffers are added when its
/// [`Stats`] go. Every allocation of the device is counted, at its call site, with [`counted`].
static BUFFERS: AtomicU64 = AtomicU64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// Counts one allocation.
fn counted<T, E>(r: core::result::Result<T, E>) -> Result<T>
where
    Error: From<E>,
{
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    Ok(r?)
}

/// Counters, read by [`RUST_VHOST_TEST_STATS`].
///
/// `buffers`, `errors`, `signals` and `passes` are only written by the worker, in a pass, with
/// [`Worker::ring`] held: [`Stats::bump`] counts them with a load and a store. Only `kicks` and
/// `flushes` have writers that may race.
#[derive(Default)]
struct Stats {
    buffers: AtomicU64,
    errors: AtomicU64,
    kicks: AtomicU64,
    signals: AtomicU64,
    passes: AtomicU64,
    flushes: AtomicU64,
}

/// The worker: its thread runs [`VhostWorker::work`] for this device.
#[pin_data]
struct Worker {
    kicked: AtomicBool,
    dead: AtomicBool,
    cfg: TracePointer<Published>,
    /// Moved on by every [`Inner::publish`], after it replaced `cfg`.
    generation: AtomicU64,
    #[pin]
    ring: Mutex<RingState>,
    /// Orders [`flush`]'s look at `dead` against `killed`.
    #[pin]
    gate: Mutex<()>,
    stats: Stats,
}

impl Stats {
    /// Adds one to a counter that has a single writer at a time. A reader may see the old
    /// value, never a torn one; a locked read-modify-write would cost more than the rest of the
    /// pass's bookkeeping.
    #[inline]
    fn bump(c: &AtomicU64) {
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        BUFFERS.fetch_add(*self.buffers.get_mut(), Ordering::Relaxed);
    }
}

impl VhostWorker for Worker {
    fn work(&self, ctx: &mut WorkerContext) -> bool {
        // Flushes first: they run between two passes, never inside one.
        if ctx.has_task_work() {
            self.run_flushes(ctx);
            return true;
        }
        // Most calls find no kick (the one after every pass does): a plain load says so
        // without a locked instruction. It cannot lose a kick: the loop that calls this sets
        // the thread's state with a full barrier first, and a kick stores `kicked` before it
        // wakes the thread, so either this load sees `true` or that wake-up finds the thread
        // about to sleep and makes the sleep return at once (`set_current_state()`'s rule).
        if !self.kicked.load(Ordering::Relaxed) || !self.kicked.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.pass(ctx)
    }

    fn killed(&self) {
        let _gate = self.gate.lock();
        self.dead.store(true, Ordering::Release);
        // The worker runs no more task work until it exits, which a core dump can hold up for
        // as long as a flusher waits: complete the flushes queued so far here, as C's
        // vhost_worker_killed() runs its work list. The loop is over, so no pass is in flight.
        while let Some(f) = task_work::cancel_first::<Flush, 0>(kernel::current!()) {
            Flush::run(f);
        }
    }
}

impl Worker {
    /// Runs the flushes queued on the worker (between two passes), and drops the config that
    /// a flushed change replaced.
    #[cold]
    #[inline(never)]
    fn run_flushes(&self, ctx: &mut WorkerContext) {
        ctx.run_task_work();
        // After a flush run here, a replaced config goes now rather than at the next pass,
        // with what it holds (the call eventfd the ioctl replaced, say). One replaced
        // behind a flush that `get_signal()` ran goes at the next pass, or with the worker.
        let generation = self.generation.load(Ordering::Acquire);
        let old = {
            let mut ring = self.ring.lock();
            match ring.cfg {
                Some((g, _)) if g != generation => ring.cfg.take(),
                _ => None,
            }
        };
        drop(old);
    }

    /// One pass over the ring, after a kick. Returns whether to be called again at once.
    #[inline(never)]
    fn pass(&self, ctx: &mut WorkerContext) -> bool {
        ctx.set_running();
        let mut ring = self.ring.lock();
        Stats::bump(&self.stats.passes);
        // Read before the config: a config looked up after a newer generation was read is kept
        // with the older one, and looked up again at the next pass.
        let generation = self.generation.load(Ordering::Acquire);
        let cfg = match ring.cfg.take() {
            Some((g, cfg)) if g == generation => Some(cfg),
            // Replaced: the old one goes now, and may be the last reference to the call
            // eventfd that the ioctl replaced.
            _ => {
                let guard = TasksTrace::read_lock();
                self.cfg.get(&guard).map(|p| p.cfg.clone())
            }
        };
        // No read lock is held: nothing below holds up a grace period.
        let Some(cfg) = cfg else {
            // No backend: the kick is dropped, as in C.
            return false;
        };
        let r = self.handle_vq(&cfg, &mut ring);
        ring.cfg = Some((generation, cfg));
        match r {
            Ok(true) => {
                // Out of budget with work left: yield and come back.
                self.kicked.store(true, Ordering::Release);
                true
            }
            Ok(false) => false,
            Err(_) => {
                // A broken ring stalls until the next kick, as in C.
                Stats::bump(&self.stats.errors);
                false
            }
        }
    }

    /// test.c's `handle_vq`: consumes available buffers. Returns whether it stopped early.
    fn handle_vq(&self, cfg: &RingCfg, st: &mut RingState) -> Result<bool> {
        let (ring, mem, pos) = (&cfg.ring, cfg.mem(), &mut st.pos);
        let mut bytes = 0u64;
        ring.disable_notify(pos);
        loop {
            // test.c looks at the pieces' count and length only.
            let Some(chain) = ring.next_chain(pos, mem, UIO_MAXIOV, |_, _, _| Ok(()))? else {
                if ring.enable_notify(pos) {
                    ring.disable_notify(pos);
                    continue;
                }
                return Ok(false);
            };
            // test.c only takes driver-to-device (TX) buffers, with data. The chain has been
            // consumed already, as in C: it is dropped, and the pass ends.
            if chain.inn != 0 || chain.out_len == 0 {
                Stats::bump(&self.stats.errors);
                return Ok(false);
            }
            // As test.c's vhost_add_used_and_signal(): a failed write of the used ring is an
            // error, but the chain stays consumed, the signal is still considered, and the pass
            // goes on.
            if ring.add_used(pos, chain.head, 0).is_err() {
                Stats::bump(&self.stats.errors);
            }
            self.signal(cfg, pos);
            Stats::bump(&self.stats.buffers);
            bytes += chain.out_len;
            if bytes >= BYTE_WEIGHT {
                return Ok(true);
            }
        }
    }

    /// C's `vhost_signal()`: signals the call eventfd if the driver wants to know about the used
    /// buffers.
    fn signal(&self, cfg: &RingCfg, pos: &mut RingPos) {
        // Without a call eventfd nothing is decided, so with EVENT_IDX the next decision covers
        // the buffers used meanwhile.
        let Some(call) = &cfg.call else {
            return;
        };
        if cfg.ring.need_signal(pos) {
            call.signal();
            Stats::bump(&self.stats.signals);
        }
    }
}

/// The kick eventfd's watch target: wakes the worker.
struct Kick(Arc<VhostTask<Worker>>);

// SAFETY: `notify` only counts, sets a flag and wakes the worker (`vhost_task_wake()` may be
// called from any context); it drops nothing and does not sleep.
unsafe impl WatchTarget for Kick {
    fn notify(&self) {
        let w = self.0.data();
        w.stats.kicks.fetch_add(1, Ordering::Relaxed);
        w.kicked.store(true, Ordering::Release);
        self.0.wake();
    }
}

/// A flush: a task work item that the worker runs between two passes.
#[pin_data]
struct Flush {
    #[pin]
    done: Completion,
    work: TaskWork<Flush>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Flush> for Flush { self.work } }

impl TaskWorkItem for Flush {
    type Pointer = Arc<Flush>;

    fn run(this: Arc<Flush>) {
        this.done.complete_all();
    }
}

/// Waits until the worker has finished the pass over the ring it may be in (C's
/// `vhost_dev_flush()`), with an item from [`new_flush`]. Like C's, the wait cannot be
/// interrupted: a caller that returned early would let the pass go on with what it was about to
/// replace. A worker stuck in a user fault that nobody serves is ended by killing its owner,
/// which ends this wait too: the fault fails, and `killed` completes the item.
fn flush(task: &VhostTask<Worker>, f: Arc<Flush>) {
    let w = task.data();
    w.stats.flushes.fetch_add(1, Ordering::Relaxed);
    // A worker that never ran has no pass in flight.
    let Some(thread) = task.task() else {
        return;
    };
    {
        // As C's `worker->killed` under `worker->mutex`: once `killed` has run, the worker
        // is in no pass and runs no more task work until it exits, which a core dump of its
        // process may hold up for as long as this waiter. What was queued before, `killed`
        // completes.
        let _gate = w.gate.lock();
        if w.dead.load(Ordering::Acquire) {
            return;
        }
        // No signal: the worker runs its task work between two passes (see `Worker::work`),
        // and a signal pending would break an interruptible sleep inside the pass.
        if task_work::add(&thread, f.clone(), Notify::None).is_err() {
            // The worker has exited, so it is in no pass.
            return;
        }
    }
    task.wake();
    f.done.wait_for_completion();
}

/// Allocates a flush item, before anything is changed that would need it.
fn new_flush() -> Result<Arc<Flush>> {
    counted(Arc::pin_init(
        pin_init!(Flush {
            done <- Completion::new(),
            work: TaskWork::new(),
        }),
        GFP_KERNEL,
    ))
}

/// The state of an open device, changed by the ioctls under [`Dev::inner`].
#[derive(Default)]
struct Inner {
    /// The worker, present from `VHOST_SET_OWNER` until `VHOST_RESET_OWNER` or close.
    owner: Option<Arc<VhostTask<Worker>>>,
    features: u64,
    num: u32,
    /// desc, avail, used.
    addr: Option<(u64, u64, u64)>,
    mem: Option<Arc<MemTable>>,
    kick: Option<Pin<KBox<eventfd::Watch<Kick>>>>,
    call: Option<Arc<EventFd>>,
    /// Whether the worker processes the ring (`VHOST_TEST_RUN`, `VHOST_TEST_SET_BACKEND`).
    backend: bool,
    /// Whether the worker has a config, so that a change must wait for its pass.
    published: bool,
}

impl Inner {
    /// Returns the worker, if the caller is its owner and it is alive (C's
    /// `vhost_dev_check_owner`).
    fn owner(&self) -> Result<&Arc<VhostTask<Worker>>> {
        let t = self.owner.as_ref().ok_or(EPERM)?;
        if !t.is_owner() {
            return Err(EPERM);
        }
        if t.data().dead.load(Ordering::Acquire) {
            return Err(ENODEV);
        }
        Ok(t)
    }

    /// The ring as set up, with the features: `EINVAL` while its size is not set, `EFAULT`
    /// while its addresses are not.
    fn ring(&self) -> Result<Ring> {
        let (desc, avail, used) = self.addr.ok_or(EFAULT)?;
        Ring::new(self.num, desc, avail, used, self.features)
    }

    fn ring_state_is_idle(&self) -> Result {
        if self.backend {
            // Moving the ring under a running backend: refused, as in C.
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Gives the worker a new config (or none, if no backend runs), and waits until no pass
    /// uses the old one: C makes the same changes under `vq->mutex`, which the worker holds for
    /// a pass. With the backend stopped (and so flushed) there is nothing to wait for. It fails
    /// (for memory) only before it replaces anything.
    fn publish(&mut self) -> Result {
        self.publish_then(true)
    }

    /// [`Inner::publish`], waiting for the pass in flight on the ring mutex rather than with a
    /// flush, as C's `vhost_test_set_features()` takes only `vq->mutex`: it needs no worker that
    /// runs, so it returns even while the owner is stopped. A pass holds the mutex from its
    /// look at the generation to its end, so every pass after the wait sees the new generation.
    fn publish_locked(&mut self) -> Result {
        self.publish_then(false)
    }

    fn publish_then(&mut self, flush_after: bool) -> Result {
        let Some(t) = &self.owner else {
            return Ok(());
        };
        let visible = self.published;
        // Allocated first: once the new config is out, the wait must not fail.
        let f = if visible && flush_after {
            Some(new_flush()?)
        } else {
            None
        };
        // The ring was checked when the backend started; its size cannot change while it runs.
        let cfg = match (self.backend, self.ring()) {
            (true, Ok(ring)) => {
                let cfg = counted(Arc::new(
                    RingCfg {
                        ring,
                        mem: self.mem.clone(),
                        call: self.call.clone(),
                    },
                    GFP_KERNEL,
                ))?;
                Some(counted(KBox::pin(
                    Published {
                        cfg,
                        rcu: RcuHead::new(),
                    },
                    GFP_KERNEL,
                ))?)
            }
            _ => None,
        };
        self.published = cfg.is_some();
        t.data().cfg.replace(cfg);
        // After the replacement, before the flush: see `RingState::cfg`.
        t.data().generation.fetch_add(1, Ordering::Release);
        if let Some(f) = f {
            flush(t, f);
        } else if visible {
            drop(t.data().ring.lock());
        }
        Ok(())
    }

    /// Checks that the ring is set up and mapped, and starts the worker's index where the ring
    /// says (C's `vhost_vq_access_ok` and `vhost_vq_init_access`).
    fn init_access(&self) -> Result {
        let t = self.owner()?;
        // A ring with no size or no addresses is not user memory, for C.
        let ring = self.ring().map_err(|_| EFAULT)?;
        // As vhost_vq_access_ok(): the memory table as well as the ring.
        if !ring.access_ok() || !self.mem.as_deref().is_some_and(mem_access_ok) {
            return Err(EFAULT);
        }
        ring.init_access(&mut t.data().ring.lock().pos)
    }
}

/// An open `/dev/vhost-test`.
#[pin_data]
struct Dev {
    #[pin]
    inner: Mutex<Inner>,
}

fn read_state(r: &mut UserSliceReader) -> Result<(u32, u32)> {
    Ok((r.read::<u32>()?, r.read::<u32>()?))
}

impl Dev {
    fn set_owner(&self) -> Result<isize> {
        let mut inner = self.inner.lock();
        if inner.owner.is_some() {
            return Err(EBUSY);
        }
        let worker = counted(Arc::pin_init(
            pin_init!(Worker {
                kicked: AtomicBool::new(false),
                dead: AtomicBool::new(false),
                cfg: TracePointer::new(),
                generation: AtomicU64::new(0),
                ring <- new_mutex!(RingState::default()),
                gate <- new_mutex!(()),
                stats: Stats::default(),
            }),
            GFP_KERNEL,
        ))?;
        let task = VhostTask::start(this(), worker)?;
        inner.owner = Some(counted(Arc::new(task, GFP_KERNEL))?);
        Ok(0)
    }

    /// Stops the backend and waits for the worker's pass in flight.
    fn stop_backend(inner: &mut Inner) -> Result {
        inner.owner()?;
        let was = inner.backend;
        inner.backend = false;
        // `publish` fails only before it replaces anything: the backend still runs.
        inner.publish().inspect_err(|_| inner.backend = was)
    }

    /// Starts the backend. `poll` says whether to look at the ring at once, as
    /// `VHOST_TEST_SET_BACKEND` does: its `vhost_poll_start()` polls the kick eventfd, which
    /// vhost never reads, so after any kick it runs the ring. `VHOST_TEST_RUN` does not.
    fn start_backend(inner: &mut Inner, poll: bool) -> Result {
        inner.init_access()?;
        let was = inner.backend;
        inner.backend = true;
        if let Err(e) = inner.publish() {
            // `publish` fails only before it replaces anything: the worker goes on as it was.
            inner.backend = was;
            return Err(e);
        }
        if poll && inner.kick.is_some() {
            let t = inner.owner()?;
            t.data().kicked.store(true, Ordering::Release);
            t.wake();
        }
        Ok(())
    }

    /// Takes everything down: the backend, the eventfds and the worker (C's
    /// `vhost_dev_reset_owner` and release).
    ///
    /// With `check`, the caller must be the owner (`VHOST_RESET_OWNER`), checked under the
    /// same lock as the reset, as C holds `dev->mutex` across both.
    fn reset(&self, check: bool) -> Result {
        // VHOST_RESET_OWNER leaves an empty memory table, as vhost_dev_reset_owner() does:
        // set up first, so that it cannot fail half-way.
        let empty = if check {
            Some(counted(Arc::new(MemTable::new(), GFP_KERNEL))?)
        } else {
            None
        };
        let (owner, kick, call) = {
            let mut inner = self.inner.lock();
            if check {
                inner.owner()?;
            }
            inner.backend = false;
            // Without an owner this publishes nothing, and the worker's config goes when the
            // worker does; the stop below waits for the pass in flight anyway.
            let _ = inner.publish();
            let old = core::mem::take(&mut *inner);
            inner.mem = empty;
            (old.owner, old.kick, old.call)
        };
        // The watch holds a reference to the worker: drop it first, so that the last one, and
        // the stop, is ours. The stop waits for the pass in flight, like a flush.
        drop(kick);
        drop(owner);
        drop(call);
        Ok(())
    }

    fn set_mem_table(inner: &mut Inner, arg: UserPtr) -> Result<isize> {
        inner.owner()?;
        // vhost_set_memory()'s errnos: EOPNOTSUPP for padding, E2BIG for too many regions,
        // EFAULT for a region that is empty or wraps, or that is not user memory while the ring
        // runs (memory_access_ok(); the copies check every access anyway).
        let mem = counted(MemTable::from_user(arg, MAX_REGIONS, GFP_KERNEL))?;
        if inner.backend && !mem_access_ok(&mem) {
            return Err(EFAULT);
        }
        let mem = counted(Arc::new(mem, GFP_KERNEL))?;
        // The publish fails only before it replaces anything: then the old table stays too.
        let old = inner.mem.replace(mem);
        if let Err(e) = inner.publish() {
            inner.mem = old;
            return Err(e);
        }
        Ok(0)
    }

    fn set_vring_addr(inner: &mut Inner, arg: UserPtr) -> Result<isize> {
        inner.owner()?;
        let mut r = UserSlice::new(arg, 40).reader();
        let (index, flags) = read_state(&mut r)?;
        let (desc, used, avail, log) = (
            r.read::<u64>()?,
            r.read::<u64>()?,
            r.read::<u64>()?,
            r.read::<u64>()?,
        );
        if index != 0 {
            return Err(ENOBUFS);
        }
        // `VHOST_VRING_F_LOG` is the only flag. It is accepted and has no effect: without
        // `VHOST_F_LOG_ALL` and a log base nothing is logged.
        if flags & !1 != 0 {
            return Err(EOPNOTSUPP);
        }
        // As vhost_vring_set_addr(): avail, used and the log address aligned (not desc), and
        // the addresses checked here only while the backend runs, else when it starts.
        if avail % 2 != 0 || used % 4 != 0 || log % 4 != 0 {
            return Err(EINVAL);
        }
        if [desc, avail, used]
            .iter()
            .any(|&a| usize::try_from(a).is_err())
        {
            return Err(EFAULT);
        }
        if inner.backend
            && !Ring::new(inner.num, desc, avail, used, inner.features).is_ok_and(|r| r.access_ok())
        {
            return Err(EINVAL);
        }
        inner.addr = Some((desc, avail, used));
        // A running ring moves here, after the pass in flight.
        inner.publish()?;
        Ok(0)
    }

    fn set_vring_fd(inner: &mut Inner, arg: UserPtr, kick: bool) -> Result<isize> {
        let t = inner.owner()?.clone();
        let (index, fd) = read_state(&mut UserSlice::new(arg, 8).reader())?;
        if index != 0 {
            return Err(ENOBUFS);
        }
        let fd = fd as i32;
        if kick {
            // -1 unbinds (VHOST_FILE_UNBIND).
            let new = if fd == -1 {
                None
            } else {
                Some(counted(eventfd::Watch::new(this(), fd, Kick(t)))?)
            };
            inner.kick = new;
        } else {
            let new = if fd == -1 {
                None
            } else {
                Some(counted(Arc::new(EventFd::from_fd(fd)?, GFP_KERNEL))?)
            };
            inner.call = new;
            inner.publish()?;
        }
        Ok(0)
    }

    fn ioctl(&self, cmd: u32, arg: UserPtr) -> Result<isize> {
        match cmd {
            VHOST_GET_FEATURES => {
                UserSlice::new(arg, 8).writer().write(&FEATURES)?;
                return Ok(0);
            }
            VHOST_SET_OWNER => return self.set_owner(),
            VHOST_RESET_OWNER => {
                self.reset(true)?;
                return Ok(0);
            }
            RUST_VHOST_TEST_STATS => {
                let inner = self.inner.lock();
                let s = &inner.owner()?.data().stats;
                let mut w = UserSlice::new(arg, 48).writer();
                for c in [
                    &s.buffers, &s.errors, &s.kicks, &s.signals, &s.passes, &s.flushes,
                ] {
                    w.write(&c.load(Ordering::Relaxed))?;
                }
                return Ok(0);
            }
            _ => {}
        }
        let mut inner = self.inner.lock();
        match cmd {
            VHOST_SET_FEATURES => {
                let f = UserSlice::new(arg, 8).reader().read::<u64>()?;
                if f & !FEATURES != 0 {
                    return Err(EOPNOTSUPP);
                }
                // test.c's vhost_test_set_features() does not ask for the owner.
                inner.features = f;
                inner.publish_locked()?;
            }
            VHOST_SET_MEM_TABLE => return Self::set_mem_table(&mut inner, arg),
            VHOST_SET_VRING_NUM => {
                inner.owner()?;
                let (index, num) = read_state(&mut UserSlice::new(arg, 8).reader())?;
                if index != 0 {
                    return Err(ENOBUFS);
                }
                inner.ring_state_is_idle()?;
                if num == 0 || num > MAX_NUM || !num.is_power_of_two() {
                    return Err(EINVAL);
                }
                inner.num = num;
            }
            VHOST_SET_VRING_BASE => {
                let t = inner.owner()?.clone();
                let (index, base) = read_state(&mut UserSlice::new(arg, 8).reader())?;
                if index != 0 {
                    return Err(ENOBUFS);
                }
                inner.ring_state_is_idle()?;
                let base = u16::try_from(base).map_err(|_| EINVAL)?;
                let mut ring = t.data().ring.lock();
                ring.pos.set_base(base);
            }
            VHOST_GET_VRING_BASE => {
                let t = inner.owner()?.clone();
                let index = UserSlice::new(arg, 4).reader().read::<u32>()?;
                if index != 0 {
                    return Err(ENOBUFS);
                }
                // Where the worker is once its current pass is over: it holds the lock for a pass.
                let base = u32::from(t.data().ring.lock().pos.last_avail_idx);
                let mut w = UserSlice::new(arg, 8).writer();
                w.write(&index)?;
                w.write(&base)?;
            }
            VHOST_SET_VRING_ADDR => return Self::set_vring_addr(&mut inner, arg),
            VHOST_SET_VRING_KICK => return Self::set_vring_fd(&mut inner, arg, true),
            VHOST_SET_VRING_CALL => return Self::set_vring_fd(&mut inner, arg, false),
            VHOST_TEST_RUN => {
                let test = UserSlice::new(arg, 4).reader().read::<i32>()?;
                if !(0..=1).contains(&test) {
                    return Err(EINVAL);
                }
                inner.owner()?;
                if test == 1 {
                    Self::start_backend(&mut inner, false)?;
                } else {
                    Self::stop_backend(&mut inner)?;
                }
            }
            VHOST_TEST_SET_BACKEND => {
                inner.owner()?;
                let (index, fd) = read_state(&mut UserSlice::new(arg, 8).reader())?;
                if index != 0 {
                    return Err(ENOBUFS);
                }
                if fd as i32 == -1 {
                    Self::stop_backend(&mut inner)?;
                } else {
                    Self::start_backend(&mut inner, true)?;
                }
            }
            _ => {
                // vhost_dev_ioctl() asks for the owner before it looks at the command, and
                // vhost_vring_ioctl() reads a ring index from the argument before it does.
                inner.owner()?;
                if UserSlice::new(arg, 4).reader().read::<u32>()? != 0 {
                    return Err(ENOBUFS);
                }
                return Err(ENOTTY);
            }
        }
        Ok(0)
    }
}

#[vtable]
impl MiscDevice for Dev {
    type Ptr = Pin<KBox<Dev>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Dev>) -> Result<Pin<KBox<Dev>>> {
        counted(KBox::pin_init(
            pin_init!(Dev {
                inner <- new_mutex!(Inner::default()),
            }),
            GFP_KERNEL,
        ))
    }

    fn release(dev: Pin<KBox<Dev>>, _file: &File) {
        // Without the check, the reset cannot fail.
        let _ = dev.reset(false);
        drop(dev);
        // Every configuration this file replaced waits for a grace period, holding a reference
        // on the module: wait for them, so that the module can be unloaded as soon as the last
        // file is closed, as with the C device.
        TasksTrace::barrier();
    }

    // `compat_ioctl` is left out: the misc device then uses `compat_ptr_ioctl`, as test.c does.
    fn ioctl(dev: Pin<&Dev>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        dev.get_ref().ioctl(cmd, UserPtr::from_addr(arg))
    }
}

/// This module, which the worker threads and the kick watches hold while they run its code.
fn this() -> &'static ThisModule {
    this_module::<LocalModule>()
}

#[pin_data(PinnedDrop)]
struct RustVhostTest {
    #[pin]
    dev: MiscDeviceRegistration<Dev>,
}

#[pinned_drop]
impl PinnedDrop for RustVhostTest {
    fn drop(self: Pin<&mut Self>) {
        pr_info!(
            "{} buffers used, {} allocations made since load\n",
            BUFFERS.load(Ordering::Relaxed),
            ALLOCS.load(Ordering::Relaxed)
        );
    }
}

/// Refuses, with `EINVAL`, a `name=` that the misc core cannot make a device node of: an empty
/// one (a warning from the kobject core), one with a `/`, `.` and `..`.
fn check_name(name: &CStr) -> Result {
    let b = name.to_bytes();
    if b.is_empty() || b.contains(&b'/') || b == b"." || b == b".." {
        pr_err!("name={:?}: not a device node name\n", name);
        return Err(EINVAL);
    }
    Ok(())
}

impl kernel::InPlaceModule for RustVhostTest {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // The loader keeps the parameter's string until the module is freed, after its exit
        // has dropped the registration.
        let name = NAME.get();
        try_pin_init!(Self {
            _: {
                check_name(name)?;
            },
            dev <- MiscDeviceRegistration::register(MiscDeviceOptions { name }),
        })
        .pin_chain(move |_| {
            pr_info!("/dev/{} registered\n", name);
            Ok(())
        })
    }
}
