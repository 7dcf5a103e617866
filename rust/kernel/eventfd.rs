// SPDX-License-Identifier: GPL-2.0

//! Eventfd: signalling one, and watching one for writes.
//!
//! An eventfd is a counter behind a file descriptor that userspace and the kernel use to notify
//! each other, as vhost does: userspace writes to a "kick" eventfd to tell the device there is
//! work, and the device signals a "call" eventfd when work is done.
//!
//! - [`EventFd`] is a reference to an eventfd context, taken from a file descriptor of the
//!   calling process. [`EventFd::signal`] adds one to the counter and wakes its readers.
//! - [`Watch`] registers a callback on an eventfd's wait queue, so that every write to it calls
//!   [`WatchTarget::notify`], in atomic context. It is the `vhost_poll` part of C vhost.
//!
//! C header: [`include/linux/eventfd.h`](srctree/include/linux/eventfd.h).
//!
//! # Examples
//!
//! A kernel thread has no file descriptors, so a bad descriptor is refused with `EBADF`:
//!
//! ```
//! use kernel::eventfd::{
//!     EventFd,
//!     Watch,
//!     WatchTarget, //
//! };
//!
//! struct Nothing;
//! // SAFETY: `notify` does nothing.
//! unsafe impl WatchTarget for Nothing {
//!     fn notify(&self) {}
//! }
//!
//! assert_eq!(EventFd::from_fd(-1).err(), Some(EBADF));
//! // The doctests are built-in code: their `THIS_MODULE` is null.
//! let module = kernel::module::this_module::<crate::LocalModule>();
//! assert_eq!(Watch::new(module, 12345, Nothing).err(), Some(EBADF));
//! ```

use crate::{
    bindings,
    error::from_err_ptr,
    owned::ModuleRef,
    prelude::*,
    task::Task,
    types::Opaque,
    ThisModule, //
};
use core::ptr::NonNull;

/// The poll mask bit for "readable" (`EPOLLIN`).
const EPOLLIN: u32 = 0x1;
/// The poll mask bit for "error" (`EPOLLERR`); an eventfd reports it when its counter is full.
const EPOLLERR: u32 = 0x8;

/// A reference to an eventfd context.
///
/// # Invariants
///
/// `ctx` is a valid eventfd context, and the value holds one reference to it.
pub struct EventFd {
    ctx: NonNull<bindings::eventfd_ctx>,
}

// SAFETY: An eventfd context is reference counted and `eventfd_signal_mask` may be called from
// any thread.
unsafe impl Send for EventFd {}
// SAFETY: The only method, `signal`, is safe to call concurrently.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// Takes a reference to the eventfd behind the calling process's file descriptor `fd`.
    ///
    /// Fails with `EBADF` if `fd` is not open, or if the calling task has no file table (a
    /// vhost worker, or task work run at exit), and with `EINVAL` if it is not an eventfd.
    pub fn from_fd(fd: i32) -> Result<Self> {
        current_files()?;
        // SAFETY: Any value is accepted; on success we get a reference.
        let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        // The type invariant holds: `eventfd_ctx_fdget` returned a context and its reference.
        NonNull::new(ctx).map(|ctx| Self { ctx }).ok_or(EBADF)
    }

    /// Adds one to the counter and wakes the eventfd's readers and watchers.
    ///
    /// May be called from any context; a call nested in another eventfd's wake-up is dropped
    /// (with a warning), as C `eventfd_signal` does.
    #[inline]
    pub fn signal(&self) {
        // SAFETY: By the type invariant, `ctx` is valid.
        unsafe { bindings::eventfd_signal_mask(self.ctx.as_ptr(), 0) }
    }
}

/// Fails with `EBADF` if the current task has no file table: `fdget()` and `fget()` would
/// dereference a null `current->files`. Vhost workers are made without one, and a task that is
/// exiting runs its task work after `exit_files()`.
fn current_files() -> Result {
    // SAFETY: Only the task itself changes its `files` pointer, so reading its own is stable.
    if unsafe { (*Task::current_raw()).files }.is_null() {
        return Err(EBADF);
    }
    Ok(())
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, we hold a reference; it is dropped once, here.
        unsafe { bindings::eventfd_ctx_put(self.ctx.as_ptr()) }
    }
}

/// What a [`Watch`] calls when its eventfd is written.
///
/// # Safety
///
/// `notify` runs under the eventfd's wait queue lock, with interrupts off. Implementations must
/// not drop, directly or through shared ownership (an [`Arc`](crate::sync::Arc) cycle, a
/// container it locks), any [`Watch`] on the same eventfd, its own included: the drop would take
/// that lock again and deadlock, or free the watch, and `self` with it, while `notify` still
/// runs. They must not sleep either. The types cannot express this, so implementing the trait
/// is `unsafe`; recording the event and waking a thread is what `notify` is for.
pub unsafe trait WatchTarget: Send + Sync + 'static {
    /// Called when the eventfd becomes readable, in atomic context (under the eventfd's wait
    /// queue lock, possibly with interrupts off): it must not sleep, and should only record the
    /// event and wake whoever handles it.
    fn notify(&self);
}

/// A watch on an eventfd: calls `T::notify` each time the eventfd is written, until dropped.
///
/// It holds a reference to the eventfd's file, and is registered on its wait queue; dropping it
/// unregisters it, after which `notify` is no longer running or called.
///
/// # Invariants
///
/// `file` is an eventfd file that the value holds a reference to. If `wqh` is not null, `wait`
/// is on that wait queue, which belongs to `file`. `_module` holds the module whose code
/// `wait`'s function is (none for built-in code).
#[pin_data(PinnedDrop)]
pub struct Watch<T: WatchTarget> {
    #[pin]
    wait: Opaque<bindings::wait_queue_entry>,
    #[pin]
    table: Opaque<bindings::poll_table_struct>,
    file: NonNull<bindings::file>,
    wqh: *mut bindings::wait_queue_head,
    target: T,
    /// The module whose code `wait`'s function and `target` are; dropped last.
    _module: ModuleRef,
}

// SAFETY: The C parts are only used under the wait queue's lock, or by `new` and `drop`; `T` is
// `Send + Sync`.
unsafe impl<T: WatchTarget> Send for Watch<T> {}
// SAFETY: A shared reference only gives access to `target`, which is `Sync`.
unsafe impl<T: WatchTarget> Sync for Watch<T> {}

impl<T: WatchTarget> Watch<T> {
    /// Watches the calling process's eventfd `fd`, calling `target.notify()` on every write.
    ///
    /// If the eventfd is already readable, `notify` is called once before this returns. Fails
    /// with `EBADF` if `fd` is not open or the calling task has no file table (see
    /// [`EventFd::from_fd`]), `EINVAL` if it is not an eventfd or its counter is full,
    /// `ENODEV` if `module` is not live (in its init function, or going away), and `ENOMEM`.
    ///
    /// `module` is the caller's `THIS_MODULE`, whose crate instantiates the wake function: the
    /// watch holds a reference on it until it is dropped, so that a leaked watch keeps the
    /// module loaded rather than leave its code on the eventfd's wait queue.
    pub fn new(module: &'static ThisModule, fd: i32, target: T) -> Result<Pin<KBox<Self>>> {
        current_files()?;
        let module = ModuleRef::get(module.as_ptr()).ok_or(ENODEV)?;
        // SAFETY: Any value is accepted; on success we get a file reference.
        let file = from_err_ptr(unsafe { bindings::eventfd_fget(fd) })?;
        let file = NonNull::new(file).ok_or(EBADF)?;
        let init = try_pin_init!(Self {
            // SAFETY: `wake::<T>` matches `wait_queue_func_t`; the entry is initialised in
            // place before anything else can see it.
            wait <- Opaque::ffi_init(|w: *mut bindings::wait_queue_entry| unsafe {
                w.write(core::mem::zeroed());
                (*w).func = Some(wake::<T>);
            }),
            // SAFETY: As above, for `queue::<T>` and `poll_queue_proc`; `_key` asks for every
            // event, as `init_poll_funcptr` does.
            table <- Opaque::ffi_init(|t: *mut bindings::poll_table_struct| unsafe {
                (*t)._qproc = Some(queue::<T>);
                (*t)._key = !0;
            }),
            file,
            wqh: core::ptr::null_mut(),
            target,
            _module: module,
        });
        let mut this = match KBox::pin_init(init, GFP_KERNEL) {
            Ok(this) => this,
            Err(e) => {
                // SAFETY: We hold the reference from `eventfd_fget` and give it up. The module
                // reference went with the initialiser.
                unsafe { bindings::fput(file.as_ptr()) };
                return Err(e);
            }
        };
        // From here on, dropping `this` puts the file and the module, and unregisters what was
        // registered.
        let f = this.file.as_ptr();
        // `queue::<T>` writes `wqh` through the pointer to `table` that `poll` passes back: it is
        // derived from a pointer to the whole watch, so that it may.
        // SAFETY: Nothing is moved out of the pinned watch.
        let whole: *mut Self = unsafe { Pin::get_unchecked_mut(this.as_mut()) };
        // SAFETY: `whole` points at the initialised watch.
        let table = unsafe { Opaque::cast_into(&raw const (*whole).table) };
        // SAFETY: `f` is a live eventfd file, whose `f_op` has `poll`; `table` is initialised
        // and pinned, so `queue::<T>` may store the wait queue in the watch and register `wait`.
        let mask = unsafe {
            match (*(*f).f_op).poll {
                Some(poll) => poll(f, table),
                None => return Err(EINVAL),
            }
        };
        if mask & EPOLLERR != 0 {
            return Err(EINVAL);
        }
        if mask & EPOLLIN != 0 {
            this.target.notify();
        }
        Ok(this)
    }

    /// Returns the watch's target.
    pub fn target(&self) -> &T {
        &self.target
    }
}

#[pinned_drop]
impl<T: WatchTarget> PinnedDrop for Watch<T> {
    fn drop(self: Pin<&mut Self>) {
        if !self.wqh.is_null() {
            // SAFETY: By the type invariant, `wait` is on `wqh`, which is alive because we hold
            // the file. Once this returns (it takes the queue's lock), `wake` is not running.
            unsafe { bindings::remove_wait_queue(self.wqh, self.wait.get()) };
        }
        // SAFETY: By the type invariant, we hold a reference to `file`; it is put once, here.
        unsafe { bindings::fput(self.file.as_ptr()) };
        // The module reference is dropped with `_module`, after `target`.
    }
}

/// The `poll_queue_proc` that `vfs_poll` calls with the eventfd's wait queue.
///
/// # Safety
///
/// Only called by the eventfd's `poll`, from [`Watch::new`], with `pt` the `table` of a pinned
/// [`Watch<T>`].
unsafe extern "C" fn queue<T: WatchTarget>(
    _file: *mut bindings::file,
    wqh: *mut bindings::wait_queue_head,
    pt: *mut bindings::poll_table_struct,
) {
    let table = Opaque::cast_from(pt).cast_mut();
    // SAFETY: `pt` is the `table` field of a `Watch<T>`, derived by `new` from a pointer to the
    // whole watch.
    let this = unsafe { crate::container_of!(table, Watch<T>, table) };
    // SAFETY: `new` has the only reference to the watch, and is inside `vfs_poll`. An eventfd
    // has one wait queue, so this is called once; `wait` is pinned and initialised.
    unsafe {
        (*this).wqh = wqh;
        bindings::add_wait_queue(wqh, Opaque::cast_into(&raw const (*this).wait));
    }
}

/// The wake function of the wait queue entry.
///
/// # Safety
///
/// Only called by the wait queue code, under the queue's lock, with `wait` the `wait` field of
/// a registered [`Watch<T>`].
unsafe extern "C" fn wake<T: WatchTarget>(
    wait: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    key: *mut c_void,
) -> c_int {
    let wait = Opaque::cast_from(wait).cast_mut();
    // SAFETY: `wait` is the `wait` field of a registered, hence live, `Watch<T>`.
    let this = unsafe { &*crate::container_of!(wait, Watch<T>, wait) };
    // The key is the poll mask of the event (eventfd always passes one).
    if (key as usize as u32) & EPOLLIN != 0 {
        this.target.notify();
    }
    0
}
