// SPDX-License-Identifier: GPL-2.0

//! A vhost-test device in Rust: `drivers/vhost/test.c` rewritten on the `kernel` crate.
//!
//! It serves the same ioctl ABI as the C `vhost_test` module, so the kernel's own client,
//! `tools/virtio/virtio_test`, drives it unmodified. The device has one split virtqueue. Its
//! worker takes every buffer the driver makes available, checks that the descriptor chain is
//! well formed and lies in the registered memory, and returns it as used, signalling the call
//! eventfd when the driver asked to be told.
//!
//! How it uses the abstractions:
//!
//! - **vhost_task**: the worker is a [`VhostTask`], created by `VHOST_SET_OWNER` in the owner's
//!   process, so it reads and writes the ring with plain user copies in the owner's memory. A
//!   write to the kick eventfd wakes it through an [`eventfd::Watch`].
//! - **Tasks RCU**: what the worker reads (ring addresses, features, memory table, call eventfd)
//!   is an immutable [`RingCfg`], published through a [`TracePointer`]. The ioctls build a new
//!   one and publish it; the old one is freed after a Tasks Trace grace period. The worker holds
//!   a Tasks Trace read lock while it processes the ring, so the config it uses stays valid even
//!   when a user copy faults and sleeps, which plain Tasks RCU would not allow.
//! - **task_work**: a flush. Stopping the backend (`VHOST_TEST_RUN` 0, `VHOST_TEST_SET_BACKEND`
//!   -1), `VHOST_RESET_OWNER` and `VHOST_GET_VRING_BASE` must not return while the worker is
//!   still in a pass over the ring that saw the old config. The worker calls its work function
//!   in a loop and runs pending task work between two calls (task work with `Notify::Signal`
//!   interrupts its sleep). So a task work item queued on the worker runs after the pass in
//!   flight, and waiting for it is the flush; it needs no list or lock of the device's own.
//! - **SIGKILL**: if the owner dies, [`VhostWorker::killed`] marks the device dead. Later
//!   ioctls fail with `ENODEV` (a new owner would need a new open), and close still frees
//!   everything.
//!
//! The device node is `/dev/vhost-test` unless the `name` parameter says otherwise, so that it
//! can be loaded next to the C module: `insmod rust_vhost_test.ko name=vhost-test-rust`.

use core::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use kernel::{
    c_str,
    eventfd::{self, EventFd, WatchTarget},
    ioctl::{_IO, _IOR, _IOW, _IOWR},
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    new_condvar, new_mutex,
    prelude::*,
    sync::rcu_tasks::{CallFlavour, RcuHead, TasksTrace, TracePointer},
    sync::{Arc, CondVar, Mutex},
    task_work::{self, Notify, TaskWork, TaskWorkItem},
    uaccess::{get_user, put_user, UserSlice, UserSliceReader},
    vhost_task::{VhostTask, VhostWorker, WorkerContext},
};

module! {
    type: RustVhostTest,
    name: "rust_vhost_test",
    author: "rust-vhost developers",
    description: "vhost-test device (drivers/vhost/test.c) in Rust",
    license: "GPL",
}

kernel::module_str_param! {
    /// The name of the device node under `/dev`.
    static NAME: "name" = c_str!("vhost-test"), "device node name (default: vhost-test)";
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

const VIRTIO_F_NOTIFY_ON_EMPTY: u64 = 1 << 24;
const VIRTIO_F_ANY_LAYOUT: u64 = 1 << 27;
const VIRTIO_RING_F_INDIRECT_DESC: u64 = 1 << 28;
const VIRTIO_RING_F_EVENT_IDX: u64 = 1 << 29;
const VIRTIO_F_VERSION_1: u64 = 1 << 32;
/// What the device offers: the C device's features, less dirty logging (`VHOST_F_LOG_ALL`).
const FEATURES: u64 = VIRTIO_F_NOTIFY_ON_EMPTY
    | VIRTIO_F_ANY_LAYOUT
    | VIRTIO_RING_F_INDIRECT_DESC
    | VIRTIO_RING_F_EVENT_IDX
    | VIRTIO_F_VERSION_1;

const VRING_DESC_F_NEXT: u16 = 1;
const VRING_DESC_F_WRITE: u16 = 2;
const VRING_DESC_F_INDIRECT: u16 = 4;
const VRING_USED_F_NO_NOTIFY: u16 = 1;
const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// The largest ring the virtio spec allows.
const MAX_NUM: u32 = 32768;
/// The memory table limit of C vhost (its `max_mem_regions` default).
const MAX_REGIONS: u32 = 64;
/// Buffers and bytes per pass before the worker yields, as in test.c.
const PKT_WEIGHT: u32 = 256;
const BYTE_WEIGHT: u64 = 0x80000;

/// One memory region: driver ("guest physical") addresses `[gpa, gpa + size)` are the owner's
/// user addresses `[uaddr, uaddr + size)`.
#[derive(Clone, Copy)]
struct Region {
    gpa: u64,
    size: u64,
    uaddr: u64,
}

/// What the worker reads, published through Tasks RCU. Never changed once published.
struct RingCfg {
    num: u32,
    desc: usize,
    avail: usize,
    used: usize,
    features: u64,
    mem: KVec<Region>,
    call: Option<Arc<EventFd>>,
    rcu: RcuHead<RingCfg>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<RingCfg> for RingCfg { self.rcu } }

/// A split-ring descriptor.
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

impl RingCfg {
    fn has(&self, f: u64) -> bool {
        self.features & f != 0
    }

    /// Ring fields are little-endian with `VIRTIO_F_VERSION_1`, native-endian without.
    fn u16_from(&self, b: [u8; 2]) -> u16 {
        if self.has(VIRTIO_F_VERSION_1) {
            u16::from_le_bytes(b)
        } else {
            u16::from_ne_bytes(b)
        }
    }

    fn get_u16(&self, uaddr: usize) -> Result<u16> {
        Ok(self.u16_from(get_user::<u16>(uaddr)?.to_ne_bytes()))
    }

    fn put_u16(&self, uaddr: usize, v: u16) -> Result {
        let v = if self.has(VIRTIO_F_VERSION_1) {
            v.to_le()
        } else {
            v
        };
        put_user(uaddr, v)
    }

    fn read_desc(&self, uaddr: usize) -> Result<Desc> {
        let mut b = [0u8; 16];
        UserSlice::new(uaddr, 16).reader().read_slice(&mut b)?;
        let r = |i: usize| self.u16_from([b[i], b[i + 1]]);
        let (l0, l1, flags, next) = (r(8), r(10), r(12), r(14));
        let (a0, a1, a2, a3) = (r(0), r(2), r(4), r(6));
        // The halves are in the ring's byte order; put them together in that order too.
        let (addr, len) = if self.has(VIRTIO_F_VERSION_1) || cfg!(target_endian = "little") {
            (
                u64::from(a0) | u64::from(a1) << 16 | u64::from(a2) << 32 | u64::from(a3) << 48,
                u32::from(l0) | u32::from(l1) << 16,
            )
        } else {
            (
                u64::from(a3) | u64::from(a2) << 16 | u64::from(a1) << 32 | u64::from(a0) << 48,
                u32::from(l1) | u32::from(l0) << 16,
            )
        };
        Ok(Desc {
            addr,
            len,
            flags,
            next,
        })
    }

    /// Translates `len` bytes at driver address `gpa`: checks that they lie in the memory table
    /// and returns the user address of the first byte. They may span adjacent regions.
    fn translate(&self, gpa: u64, len: u64) -> Result<usize> {
        let end = gpa.checked_add(len).ok_or(EFAULT)?;
        let region_of = |a: u64| {
            self.mem
                .iter()
                .find(|r| a >= r.gpa && a - r.gpa < r.size)
                .ok_or(EFAULT)
        };
        let r = region_of(gpa)?;
        let first = r.uaddr + (gpa - r.gpa);
        let mut at = r.gpa + r.size;
        while at < end {
            let r = region_of(at)?;
            at = r.gpa + r.size;
        }
        Ok(first as usize)
    }

    fn avail_idx_addr(&self) -> usize {
        self.avail + 2
    }

    fn avail_ring_addr(&self, i: u16) -> usize {
        self.avail + 4 + 2 * (u32::from(i) % self.num) as usize
    }

    fn used_event_addr(&self) -> usize {
        self.avail + 4 + 2 * self.num as usize
    }

    fn used_idx_addr(&self) -> usize {
        self.used + 2
    }

    fn used_ring_addr(&self, i: u16) -> usize {
        self.used + 4 + 8 * (u32::from(i) % self.num) as usize
    }

    fn avail_event_addr(&self) -> usize {
        self.used + 4 + 8 * self.num as usize
    }
}

/// The worker's position in the ring. Only the worker touches it while a backend runs; the
/// ioctls touch it when none does.
#[derive(Default)]
struct RingState {
    last_avail_idx: u16,
    /// The driver's avail index, as last read.
    avail_idx: u16,
    last_used_idx: u16,
    used_flags: u16,
    signalled_used: u16,
    signalled_used_valid: bool,
}

/// Buffers used and allocations made by every device since the module was loaded, printed at
/// unload (`make bench` divides one by the other). Every allocation of the device is counted,
/// at its call site, with [`counted`].
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
    cfg: TracePointer<RingCfg>,
    #[pin]
    ring: Mutex<RingState>,
    stats: Stats,
}

impl VhostWorker for Worker {
    fn work(&self, ctx: &mut WorkerContext) -> bool {
        if !self.kicked.swap(false, Ordering::AcqRel) {
            return false;
        }
        ctx.set_running();
        self.stats.passes.fetch_add(1, Ordering::Relaxed);
        let guard = TasksTrace::read_lock();
        let Some(cfg) = self.cfg.get(&guard) else {
            // No backend: the kick is dropped, as in C.
            return false;
        };
        let mut ring = self.ring.lock();
        match self.handle_vq(cfg, &mut ring) {
            Ok(true) => {
                // Out of budget with work left: yield and come back.
                self.kicked.store(true, Ordering::Release);
                true
            }
            Ok(false) => false,
            Err(_) => {
                // A broken ring stalls until the next kick, as in C.
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn killed(&self) {
        self.dead.store(true, Ordering::Release);
    }
}

impl Worker {
    /// test.c's `handle_vq`: consumes available buffers. Returns whether it stopped early.
    fn handle_vq(&self, cfg: &RingCfg, ring: &mut RingState) -> Result<bool> {
        let (mut pkts, mut bytes) = (0u32, 0u64);
        self.disable_notify(cfg, ring)?;
        loop {
            let Some((head, len)) = self.get_vq_desc(cfg, ring)? else {
                if self.enable_notify(cfg, ring)? {
                    self.disable_notify(cfg, ring)?;
                    continue;
                }
                return Ok(false);
            };
            self.add_used(cfg, ring, head)?;
            self.signal(cfg, ring)?;
            self.stats.buffers.fetch_add(1, Ordering::Relaxed);
            BUFFERS.fetch_add(1, Ordering::Relaxed);
            pkts += 1;
            bytes += len;
            if pkts >= PKT_WEIGHT || bytes >= BYTE_WEIGHT {
                return Ok(true);
            }
        }
    }

    /// Takes the next available chain: its head and total length, or `None` if there is none.
    /// The chain must be all driver-readable, non-empty, and in the memory table.
    fn get_vq_desc(&self, cfg: &RingCfg, ring: &mut RingState) -> Result<Option<(u16, u64)>> {
        if ring.avail_idx == ring.last_avail_idx {
            ring.avail_idx = cfg.get_u16(cfg.avail_idx_addr())?;
            if u32::from(ring.avail_idx.wrapping_sub(ring.last_avail_idx)) > cfg.num {
                return Err(EINVAL);
            }
            if ring.avail_idx == ring.last_avail_idx {
                return Ok(None);
            }
            // Read the ring entries only after the index that exposed them.
            fence(Ordering::Acquire);
        }
        let head = cfg.get_u16(cfg.avail_ring_addr(ring.last_avail_idx))?;
        let mut i = u32::from(head);
        let (mut len, mut found) = (0u64, 0u32);
        loop {
            if i >= cfg.num {
                return Err(EINVAL);
            }
            found += 1;
            if found > cfg.num {
                // A loop.
                return Err(EINVAL);
            }
            let d = cfg.read_desc(cfg.desc + 16 * i as usize)?;
            if d.flags & VRING_DESC_F_INDIRECT != 0 {
                if !cfg.has(VIRTIO_RING_F_INDIRECT_DESC) || d.flags & VRING_DESC_F_NEXT != 0 {
                    return Err(EINVAL);
                }
                len = len.checked_add(self.indirect(cfg, &d)?).ok_or(EINVAL)?;
                break;
            }
            if d.flags & VRING_DESC_F_WRITE != 0 {
                // test.c only takes driver-to-device (TX) buffers.
                return Err(EINVAL);
            }
            cfg.translate(d.addr, u64::from(d.len))?;
            len += u64::from(d.len);
            if d.flags & VRING_DESC_F_NEXT == 0 {
                break;
            }
            i = u32::from(d.next);
        }
        if len == 0 {
            return Err(EINVAL);
        }
        ring.last_avail_idx = ring.last_avail_idx.wrapping_add(1);
        Ok(Some((head, len)))
    }

    /// Walks an indirect table; returns the length of its buffers.
    fn indirect(&self, cfg: &RingCfg, ind: &Desc) -> Result<u64> {
        if ind.len == 0 || ind.len % 16 != 0 {
            return Err(EINVAL);
        }
        let count = ind.len / 16;
        if count > 65536 {
            return Err(EINVAL);
        }
        // The table must be one run of the owner's memory.
        let base = cfg.translate(ind.addr, u64::from(ind.len))?;
        let contiguous = cfg.translate(ind.addr + u64::from(ind.len) - 1, 1)?;
        if contiguous != base + ind.len as usize - 1 {
            return Err(EFAULT);
        }
        let (mut i, mut found, mut len) = (0u32, 0u32, 0u64);
        loop {
            found += 1;
            if i >= count || found > count {
                return Err(EINVAL);
            }
            let d = cfg.read_desc(base + 16 * i as usize)?;
            if d.flags & (VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE) != 0 {
                return Err(EINVAL);
            }
            cfg.translate(d.addr, u64::from(d.len))?;
            len += u64::from(d.len);
            if d.flags & VRING_DESC_F_NEXT == 0 {
                return Ok(len);
            }
            i = u32::from(d.next);
        }
    }

    /// Returns the chain `head` to the driver, with a written length of 0.
    fn add_used(&self, cfg: &RingCfg, ring: &mut RingState, head: u16) -> Result {
        let mut elem = [0u8; 8];
        let id = u32::from(head);
        elem[..4].copy_from_slice(&if cfg.has(VIRTIO_F_VERSION_1) {
            id.to_le_bytes()
        } else {
            id.to_ne_bytes()
        });
        // One 8-byte store, in the byte order just built.
        put_user(
            cfg.used_ring_addr(ring.last_used_idx),
            u64::from_ne_bytes(elem),
        )?;
        // The element must be visible before the index that exposes it.
        fence(Ordering::Release);
        let new = ring.last_used_idx.wrapping_add(1);
        cfg.put_u16(cfg.used_idx_addr(), new)?;
        ring.last_used_idx = new;
        if ring.signalled_used == new {
            ring.signalled_used_valid = false;
        }
        Ok(())
    }

    /// Signals the call eventfd if the driver wants to know about the used buffers.
    fn signal(&self, cfg: &RingCfg, ring: &mut RingState) -> Result {
        // As `vhost_signal()`: without a call eventfd nothing is decided, so with EVENT_IDX
        // `signalled_used` stays behind and the next decision covers the buffers used meanwhile.
        let Some(call) = &cfg.call else {
            return Ok(());
        };
        // Pairs with the driver's barrier between enabling interrupts and reading the index.
        fence(Ordering::SeqCst);
        let notify = if cfg.has(VIRTIO_F_NOTIFY_ON_EMPTY) && ring.avail_idx == ring.last_avail_idx {
            true
        } else if !cfg.has(VIRTIO_RING_F_EVENT_IDX) {
            cfg.get_u16(cfg.avail)? & VRING_AVAIL_F_NO_INTERRUPT == 0
        } else {
            let (old, valid) = (ring.signalled_used, ring.signalled_used_valid);
            let new = ring.last_used_idx;
            ring.signalled_used = new;
            ring.signalled_used_valid = true;
            let event = cfg.get_u16(cfg.used_event_addr())?;
            // vring_need_event().
            !valid || new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
        };
        if notify {
            call.signal();
            self.stats.signals.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Asks the driver not to kick.
    fn disable_notify(&self, cfg: &RingCfg, ring: &mut RingState) -> Result {
        if ring.used_flags & VRING_USED_F_NO_NOTIFY != 0 || cfg.has(VIRTIO_RING_F_EVENT_IDX) {
            return Ok(());
        }
        ring.used_flags |= VRING_USED_F_NO_NOTIFY;
        cfg.put_u16(cfg.used, ring.used_flags)
    }

    /// Asks the driver to kick again; returns whether buffers came in meanwhile.
    fn enable_notify(&self, cfg: &RingCfg, ring: &mut RingState) -> Result<bool> {
        if cfg.has(VIRTIO_RING_F_EVENT_IDX) {
            cfg.put_u16(cfg.avail_event_addr(), ring.avail_idx)?;
        } else {
            if ring.used_flags & VRING_USED_F_NO_NOTIFY == 0 {
                return Ok(false);
            }
            ring.used_flags &= !VRING_USED_F_NO_NOTIFY;
            cfg.put_u16(cfg.used, ring.used_flags)?;
        }
        // The driver may have added buffers before it saw the request: look again.
        fence(Ordering::SeqCst);
        ring.avail_idx = cfg.get_u16(cfg.avail_idx_addr())?;
        Ok(ring.avail_idx != ring.last_avail_idx)
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
    done: Mutex<bool>,
    #[pin]
    cv: CondVar,
    work: TaskWork<Flush>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Flush> for Flush { self.work } }

impl TaskWorkItem for Flush {
    type Pointer = Arc<Flush>;

    fn run(this: Arc<Flush>) {
        *this.done.lock() = true;
        this.cv.notify_all();
    }
}

/// Waits until the worker has finished the pass over the ring it may be in.
fn flush(task: &VhostTask<Worker>) -> Result {
    task.data().stats.flushes.fetch_add(1, Ordering::Relaxed);
    // A worker that never ran has no pass in flight.
    let Some(thread) = task.task() else {
        return Ok(());
    };
    let f = counted(Arc::pin_init(
        pin_init!(Flush {
            done <- new_mutex!(false),
            cv <- new_condvar!(),
            work: TaskWork::new(),
        }),
        GFP_KERNEL,
    ))?;
    if task_work::add(&thread, f.clone(), Notify::Signal).is_err() {
        // The worker has exited (killed), so it is in no pass.
        return Ok(());
    }
    let mut done = f.done.lock();
    while !*done {
        if f.cv.wait_interruptible(&mut done) {
            // The item stays queued and runs later; the caller may retry.
            return Err(EINTR);
        }
    }
    Ok(())
}

/// The state of an open device, changed by the ioctls under [`Dev::inner`].
#[derive(Default)]
struct Inner {
    /// The worker, present from `VHOST_SET_OWNER` until `VHOST_RESET_OWNER` or close.
    owner: Option<Arc<VhostTask<Worker>>>,
    features: u64,
    num: u32,
    /// desc, avail, used.
    addr: Option<(usize, usize, usize)>,
    mem: KVec<Region>,
    kick: Option<Pin<KBox<eventfd::Watch<Kick>>>>,
    call: Option<Arc<EventFd>>,
    /// Whether the worker processes the ring (`VHOST_TEST_RUN`, `VHOST_TEST_SET_BACKEND`).
    backend: bool,
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

    fn ring_state_is_idle(&self) -> Result {
        if self.backend {
            // Moving the ring under a running backend: refused, as in C.
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Gives the worker a new config (or none, if no backend runs).
    fn publish(&self) -> Result {
        let Some(t) = &self.owner else {
            return Ok(());
        };
        let cfg = match (self.backend, self.addr) {
            (true, Some((desc, avail, used))) => {
                let mut mem = counted(KVec::with_capacity(self.mem.len(), GFP_KERNEL))?;
                for r in self.mem.iter() {
                    mem.push(*r, GFP_KERNEL)?;
                }
                Some(counted(KBox::pin(
                    RingCfg {
                        num: self.num,
                        desc,
                        avail,
                        used,
                        features: self.features,
                        mem,
                        call: self.call.clone(),
                        rcu: RcuHead::new(),
                    },
                    GFP_KERNEL,
                ))?)
            }
            _ => None,
        };
        t.data().cfg.replace(cfg);
        Ok(())
    }

    /// Checks that the ring is set up and mapped, and starts the worker's index where the ring
    /// says (C's `vhost_vq_access_ok` and `vhost_vq_init_access`).
    fn init_access(&self) -> Result {
        let t = self.owner()?;
        let (_, avail, used) = self.addr.ok_or(EFAULT)?;
        if self.num == 0 {
            return Err(EFAULT);
        }
        get_user::<u16>(avail + 2)?;
        let used_idx = get_user::<u16>(used + 2)?;
        let used_idx = if self.features & VIRTIO_F_VERSION_1 != 0 {
            u16::from_le(used_idx)
        } else {
            used_idx
        };
        let mut ring = t.data().ring.lock();
        ring.last_used_idx = used_idx;
        ring.avail_idx = ring.last_avail_idx;
        ring.used_flags = 0;
        ring.signalled_used_valid = false;
        Ok(())
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
                ring <- new_mutex!(RingState::default()),
                stats: Stats::default(),
            }),
            GFP_KERNEL,
        ))?;
        let task = VhostTask::start(&THIS_MODULE, worker)?;
        inner.owner = Some(counted(Arc::new(task, GFP_KERNEL))?);
        Ok(0)
    }

    /// Stops the backend and waits for the worker's pass in flight.
    fn stop_backend(inner: &mut Inner) -> Result {
        let t = inner.owner()?.clone();
        let was = core::mem::replace(&mut inner.backend, false);
        inner.publish()?;
        if was {
            flush(&t)?;
        }
        Ok(())
    }

    fn start_backend(inner: &mut Inner) -> Result {
        inner.init_access()?;
        inner.backend = true;
        if let Err(e) = inner.publish() {
            inner.backend = false;
            return Err(e);
        }
        // Look at the ring once: kicks that came while it was stopped were dropped.
        let t = inner.owner()?;
        t.data().kicked.store(true, Ordering::Release);
        t.wake();
        Ok(())
    }

    /// Takes everything down: the backend, the eventfds and the worker (C's
    /// `vhost_dev_reset_owner` and release).
    fn reset(&self) {
        let (owner, kick, call) = {
            let mut inner = self.inner.lock();
            inner.backend = false;
            // Without an owner (or with a dead one) this publishes nothing, and the worker's
            // config goes when the worker does.
            let _ = inner.publish();
            let old = core::mem::take(&mut *inner);
            (old.owner, old.kick, old.call)
        };
        // The watch holds a reference to the worker: drop it first, so that the last one, and
        // the stop, is ours. The stop waits for the pass in flight, like a flush.
        drop(kick);
        drop(owner);
        drop(call);
    }

    fn set_mem_table(inner: &mut Inner, arg: usize) -> Result<isize> {
        inner.owner()?;
        let mut r = UserSlice::new(arg, usize::MAX).reader();
        let (nregions, padding) = read_state(&mut r)?;
        if padding != 0 {
            return Err(eopnotsupp());
        }
        if nregions > MAX_REGIONS {
            return Err(E2BIG);
        }
        let mut mem = counted(KVec::<Region>::with_capacity(nregions as usize, GFP_KERNEL))?;
        for _ in 0..nregions {
            let (gpa, size, uaddr, _flags) = (
                r.read::<u64>()?,
                r.read::<u64>()?,
                r.read::<u64>()?,
                r.read::<u64>()?,
            );
            // Empty, wrapping, or not user memory: C's vhost_iotlb_add_range and
            // memory_access_ok say EFAULT.
            if size == 0 || gpa.checked_add(size).is_none() {
                return Err(EFAULT);
            }
            match uaddr.checked_add(size) {
                Some(end) if end <= TASK_SIZE => {}
                _ => return Err(EFAULT),
            }
            if mem
                .iter()
                .any(|o| gpa < o.gpa + o.size && o.gpa < gpa + size)
            {
                return Err(EINVAL);
            }
            mem.push(Region { gpa, size, uaddr }, GFP_KERNEL)?;
        }
        inner.mem = mem;
        inner.publish()?;
        Ok(0)
    }

    fn set_vring_addr(inner: &mut Inner, arg: usize) -> Result<isize> {
        inner.owner()?;
        let mut r = UserSlice::new(arg, 40).reader();
        let (index, flags) = read_state(&mut r)?;
        let (desc, used, avail, _log) = (
            r.read::<u64>()?,
            r.read::<u64>()?,
            r.read::<u64>()?,
            r.read::<u64>()?,
        );
        if index != 0 {
            return Err(enobufs());
        }
        if flags != 0 {
            // Dirty logging is not offered.
            return Err(eopnotsupp());
        }
        inner.ring_state_is_idle()?;
        if desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0 {
            return Err(EINVAL);
        }
        // With the largest ring, every part must still be user memory.
        let max = u64::from(MAX_NUM);
        for (a, size) in [(desc, 16 * max), (avail, 6 + 2 * max), (used, 6 + 8 * max)] {
            match a.checked_add(size) {
                Some(end) if a != 0 && end <= TASK_SIZE => {}
                _ => return Err(EFAULT),
            }
        }
        inner.addr = Some((desc as usize, avail as usize, used as usize));
        Ok(0)
    }

    fn set_vring_fd(inner: &mut Inner, arg: usize, kick: bool) -> Result<isize> {
        let t = inner.owner()?.clone();
        let (index, fd) = read_state(&mut UserSlice::new(arg, 8).reader())?;
        if index != 0 {
            return Err(enobufs());
        }
        let fd = fd as i32;
        if kick {
            // -1 unbinds (VHOST_FILE_UNBIND).
            let new = if fd == -1 {
                None
            } else {
                Some(counted(eventfd::Watch::new(&THIS_MODULE, fd, Kick(t)))?)
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

    fn ioctl(&self, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            VHOST_GET_FEATURES => {
                UserSlice::new(arg, 8).writer().write(&FEATURES)?;
                return Ok(0);
            }
            VHOST_SET_OWNER => return self.set_owner(),
            VHOST_RESET_OWNER => {
                {
                    let mut inner = self.inner.lock();
                    let t = inner.owner()?.clone();
                    inner.backend = false;
                    inner.publish()?;
                    flush(&t)?;
                }
                self.reset();
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
                    return Err(eopnotsupp());
                }
                inner.owner()?;
                inner.features = f;
                inner.publish()?;
            }
            VHOST_SET_MEM_TABLE => return Self::set_mem_table(&mut inner, arg),
            VHOST_SET_VRING_NUM => {
                inner.owner()?;
                let (index, num) = read_state(&mut UserSlice::new(arg, 8).reader())?;
                if index != 0 {
                    return Err(enobufs());
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
                    return Err(enobufs());
                }
                inner.ring_state_is_idle()?;
                let base = u16::try_from(base).map_err(|_| EINVAL)?;
                let mut ring = t.data().ring.lock();
                ring.last_avail_idx = base;
                ring.avail_idx = base;
            }
            VHOST_GET_VRING_BASE => {
                let t = inner.owner()?.clone();
                let index = UserSlice::new(arg, 4).reader().read::<u32>()?;
                if index != 0 {
                    return Err(enobufs());
                }
                // Where the worker is once its current pass is over.
                flush(&t)?;
                let base = u32::from(t.data().ring.lock().last_avail_idx);
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
                    Self::start_backend(&mut inner)?;
                } else {
                    Self::stop_backend(&mut inner)?;
                }
            }
            VHOST_TEST_SET_BACKEND => {
                inner.owner()?;
                let (index, fd) = read_state(&mut UserSlice::new(arg, 8).reader())?;
                if index != 0 {
                    return Err(enobufs());
                }
                if fd as i32 == -1 {
                    Self::stop_backend(&mut inner)?;
                } else {
                    Self::start_backend(&mut inner)?;
                }
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// `EOPNOTSUPP`, which C vhost returns for what it does not support.
fn eopnotsupp() -> Error {
    Error::from_errno(-(kernel::bindings::EOPNOTSUPP as i32))
}

/// `ENOBUFS`, which C vhost returns for a ring index it does not have.
fn enobufs() -> Error {
    Error::from_errno(-(kernel::bindings::ENOBUFS as i32))
}

/// The top of the user address space on x86-64 with 4-level paging (`TASK_SIZE_MAX`); the user
/// copies check the real limit.
const TASK_SIZE: u64 = (1 << 47) - 4096;

impl MiscDevice for Dev {
    type Ptr = Pin<KBox<Dev>>;
    const OWNER: &'static ThisModule = &THIS_MODULE;

    fn open() -> Result<Pin<KBox<Dev>>> {
        counted(KBox::pin_init(
            pin_init!(Dev {
                inner <- new_mutex!(Inner::default()),
            }),
            GFP_KERNEL,
        ))
    }

    fn release(dev: Pin<KBox<Dev>>) {
        dev.reset();
        drop(dev);
        // Every configuration this file replaced waits for a grace period, holding a reference
        // on the module: wait for them, so that the module can be unloaded as soon as the last
        // file is closed, as with the C device.
        TasksTrace::barrier();
    }

    fn ioctl(dev: Pin<&Dev>, cmd: u32, arg: usize) -> Result<isize> {
        dev.get_ref().ioctl(cmd, arg)
    }
}

struct RustVhostTest {
    _dev: Pin<KBox<MiscDeviceRegistration<Dev>>>,
}

impl Drop for RustVhostTest {
    fn drop(&mut self) {
        pr_info!(
            "{} buffers used, {} allocations made since load\n",
            BUFFERS.load(Ordering::Relaxed),
            ALLOCS.load(Ordering::Relaxed)
        );
    }
}

impl kernel::Module for RustVhostTest {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let name = NAME.get();
        let dev = KBox::pin_init(MiscDeviceRegistration::register(name, module), GFP_KERNEL)?;
        pr_info!("/dev/{} registered\n", name);
        Ok(Self { _dev: dev })
    }
}
