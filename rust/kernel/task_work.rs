// SPDX-License-Identifier: GPL-2.0

//! Task work: callbacks that a task runs in its own context.
//!
//! A task work item is queued on a task with [`add`]. The task runs it itself, the next time it
//! calls `task_work_run()`: on its way back to user mode, when it handles a signal, when it exits,
//! or when a kernel thread calls [`run_pending`]. Until then the item can be taken back with
//! [`cancel`], [`cancel_first`] or [`cancel_match`].
//!
//! The shape follows [`workqueue`](crate::workqueue): an item embeds one [`TaskWork`] field per
//! queue it can be on (told apart by an `ID`), declares it with [`impl_has_task_work!`], and
//! implements [`TaskWorkItem`], whose `run` gets the item's ownership back. An item crosses to
//! another task and to a later time, so [`add`] takes only `Send + 'static` items, as the
//! workqueue's `enqueue` does.
//!
//! # Ordering
//!
//! The C list is a LIFO stack and `task_work_run()` runs it in whatever order it finds it. No
//! order between items is guaranteed, and nothing here implies one.
//!
//! # Module unload
//!
//! While an item is queued, it holds a reference on the module that implements its type, so the
//! module cannot be unloaded while its code may still be called. The C list calls a trampoline
//! built into the kernel, which calls the item type's code and drops the reference once that has
//! returned (see [`owned`]). A module refuses new items with `ENODEV` while its init
//! function runs (a failing init frees the module whatever its references) and while it is being
//! unloaded.
//!
//! C header: [`include/linux/task_work.h`](srctree/include/linux/task_work.h).
//!
//! # Examples
//!
//! ```
//! use core::sync::atomic::{
//!     AtomicU32,
//!     Ordering, //
//! };
//! use kernel::{
//!     sync::Arc,
//!     task_work::{
//!         self,
//!         Notify,
//!         TaskWork,
//!         TaskWorkItem, //
//!     }, //
//! };
//!
//! struct Counter {
//!     runs: AtomicU32,
//!     work: TaskWork<Counter>,
//! }
//!
//! kernel::impl_has_task_work! {
//!     impl HasTaskWork<Counter> for Counter { self.work }
//! }
//!
//! impl TaskWorkItem for Counter {
//!     type Pointer = Arc<Counter>;
//!
//!     fn run(this: Arc<Counter>) {
//!         this.runs.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let c = Arc::new(Counter { runs: AtomicU32::new(0), work: TaskWork::new() }, GFP_KERNEL)?;
//! task_work::add(current!(), c.clone(), Notify::None)?;
//! // Until the task runs it, the same item cannot be queued again.
//! assert!(task_work::add(current!(), c.clone(), Notify::None).is_err());
//! // KUnit runs its tests in kernel threads, which may run their own task work.
//! task_work::run_pending()?;
//! assert_eq!(c.runs.load(Ordering::Relaxed), 1);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    owned::{
        self,
        Entry,
        OwnedPointer,
        RawHead,
        Refused, //
    },
    prelude::*,
    sync::Arc,
    task::Task, //
};
use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{
        AtomicBool,
        Ordering, //
    }, //
};

/// How the target task is told that it has task work to run.
///
/// `TWA_NMI_CURRENT` is left out: it is only valid for the current task in NMI context, which
/// the type system cannot express, and an item queued from NMI context could not take the module
/// reference that keeps its code alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Do not notify the task; the work runs whenever the task next runs its task work
    /// (`TWA_NONE`). For the current task, or for a kernel thread that calls [`run_pending`].
    None,
    /// Run the work before the task returns to user mode (`TWA_RESUME`).
    Resume,
    /// Interrupt the task like a signal does, so that a blocking system call returns and the work
    /// runs soon (`TWA_SIGNAL`).
    Signal,
    /// Like [`Notify::Signal`], but without kicking a running task with an IPI
    /// (`TWA_SIGNAL_NO_IPI`).
    SignalNoIpi,
}

impl Notify {
    #[inline]
    fn as_raw(self) -> bindings::task_work_notify_mode {
        match self {
            Notify::None => bindings::task_work_notify_mode_TWA_NONE,
            Notify::Resume => bindings::task_work_notify_mode_TWA_RESUME,
            Notify::Signal => bindings::task_work_notify_mode_TWA_SIGNAL,
            Notify::SignalNoIpi => bindings::task_work_notify_mode_TWA_SIGNAL_NO_IPI,
        }
    }
}

/// The `callback_head` that links an item into a task's task work list, with a pointer to its
/// type's entry (see [`owned`]).
///
/// Embed one in a struct per list the struct can be on at once, each with its own `ID`, and
/// declare it with [`impl_has_task_work!`].
///
/// # Invariants
///
/// For items with shared owners ([`Arc`]), `queued` is true from a successful [`add`] until the
/// item's run starts or a cancel takes it back; while it is true, `raw` is on exactly one task's
/// list, and the item is owned by it. Uniquely owned items (`Pin<KBox>`) do not use `queued`: the
/// box itself is the proof that no list has them.
#[repr(C)]
pub struct TaskWork<T: ?Sized, const ID: u64 = 0> {
    raw: RawHead,
    queued: AtomicBool,
    _item: PhantomData<T>,
}

// SAFETY: `raw` is only touched by whoever owns the item (the queuing caller, then the list),
// and `queued` is atomic.
unsafe impl<T: ?Sized, const ID: u64> Send for TaskWork<T, ID> {}
// SAFETY: Shared references only read `queued`, which is atomic.
unsafe impl<T: ?Sized, const ID: u64> Sync for TaskWork<T, ID> {}

impl<T: ?Sized, const ID: u64> TaskWork<T, ID> {
    /// Creates a new, unqueued [`TaskWork`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::task_work::TaskWork;
    ///
    /// let w = TaskWork::<u32>::new();
    /// assert!(!w.is_queued());
    /// ```
    pub const fn new() -> Self {
        Self {
            raw: RawHead::new(),
            queued: AtomicBool::new(false),
            _item: PhantomData,
        }
    }

    /// Returns whether the item is on a task's list right now. The answer may be stale by the
    /// time the caller looks at it.
    ///
    /// Only items with shared owners ([`Arc`]) are tracked: a uniquely owned item cannot be
    /// looked at while a list owns it (except by a [`cancel_match`] predicate, which sees false).
    pub fn is_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Returns a raw pointer to the `callback_head`.
    ///
    /// # Safety
    ///
    /// `ptr` must point at a valid [`TaskWork`].
    pub(crate) unsafe fn raw_get(ptr: *const Self) -> *mut bindings::callback_head {
        // SAFETY: The caller promises that `ptr` is valid.
        unsafe { RawHead::callback_head((&raw const (*ptr).raw).cast_mut()) }
    }

    /// # Safety
    ///
    /// `ptr` must point at a valid [`TaskWork`].
    #[inline]
    unsafe fn raw_head(ptr: *mut Self) -> *mut RawHead {
        // SAFETY: The caller promises that `ptr` is valid.
        unsafe { &raw mut (*ptr).raw }
    }
}

impl<T: ?Sized, const ID: u64> Default for TaskWork<T, ID> {
    fn default() -> Self {
        Self::new()
    }
}

/// Declares that a struct embeds a [`TaskWork<T, ID>`] field.
///
/// # Safety
///
/// Implement it with [`impl_has_task_work!`] only: `raw_get_work` and `work_container_of` must
/// go from a `Self` to one of its fields and back, and `entry` must return a `static` of this
/// implementation's own, made in the crate that implements `Self`'s [`TaskWorkItem`], whose
/// function runs a `TaskWorkItem<ID>` item of type `Self`.
pub unsafe trait HasTaskWork<T: ?Sized, const ID: u64 = 0> {
    /// Returns a pointer to the [`TaskWork<T, ID>`] field.
    ///
    /// # Safety
    ///
    /// `ptr` must point at a valid `Self`.
    unsafe fn raw_get_work(ptr: *mut Self) -> *mut TaskWork<T, ID>;

    /// Returns the struct that contains the [`TaskWork<T, ID>`] field.
    ///
    /// # Safety
    ///
    /// `ptr` must point at the [`TaskWork<T, ID>`] field of a `Self`.
    unsafe fn work_container_of(ptr: *mut TaskWork<T, ID>) -> *mut Self;

    /// This type's entry: its run function and its module. Its address identifies the type for
    /// the typed cancels.
    #[doc(hidden)]
    fn entry() -> &'static Entry;
}

/// Implements [`HasTaskWork`] for a struct with a [`TaskWork`] field.
///
/// The struct must implement [`TaskWorkItem`] for the same `ID`, and must not be generic: the
/// macro makes a `static` entry for the type, in the crate that declares it, which the typed
/// cancels use to recognise its items and which ties the code that runs them to its module.
///
/// # Examples
///
/// ```
/// use kernel::task_work::{
///     TaskWork,
///     TaskWorkItem, //
/// };
///
/// struct TwoLists {
///     a: TaskWork<TwoLists, 1>,
///     b: TaskWork<TwoLists, 2>,
/// }
///
/// kernel::impl_has_task_work! {
///     impl HasTaskWork<TwoLists, 1> for TwoLists { self.a }
///     impl HasTaskWork<TwoLists, 2> for TwoLists { self.b }
/// }
///
/// impl TaskWorkItem<1> for TwoLists {
///     type Pointer = Pin<KBox<TwoLists>>;
///     fn run(_this: Pin<KBox<TwoLists>>) {}
/// }
/// impl TaskWorkItem<2> for TwoLists {
///     type Pointer = Pin<KBox<TwoLists>>;
///     fn run(_this: Pin<KBox<TwoLists>>) {}
/// }
/// ```
#[macro_export]
macro_rules! impl_has_task_work {
    (@id) => { 0 };
    (@id $id:tt) => { $id };
    ($(impl HasTaskWork<$work_type:ty $(, $id:tt)?> for $self:ty { self.$field:ident })*) => {$(
        // SAFETY: `raw_get_work` and `work_container_of` only compile if the field has the right
        // type; `entry` returns a static of its own, made here, in the crate that implements the
        // item.
        unsafe impl $crate::task_work::HasTaskWork<$work_type $(, $id)?> for $self {
            #[inline]
            unsafe fn raw_get_work(
                ptr: *mut Self,
            ) -> *mut $crate::task_work::TaskWork<$work_type $(, $id)?> {
                // SAFETY: The caller promises that the pointer is valid.
                unsafe { &raw mut (*ptr).$field }
            }

            #[inline]
            unsafe fn work_container_of(
                ptr: *mut $crate::task_work::TaskWork<$work_type $(, $id)?>,
            ) -> *mut Self {
                // SAFETY: The caller promises that the pointer points at this field of a `Self`.
                unsafe { $crate::container_of!(ptr, Self, $field) }
            }

            #[inline]
            fn entry() -> &'static $crate::owned::Entry {
                // SAFETY: A static in the crate that implements the item, with its module.
                static ENTRY: $crate::owned::Entry = unsafe {
                    $crate::task_work::entry::<$self, { $crate::impl_has_task_work!(@id $($id)?) }>(
                        $crate::__this_module_ptr!(),
                    )
                };
                &ENTRY
            }
        }
    )*};
}
pub use impl_has_task_work;

/// A task work item: a type that can be queued with [`add`].
pub trait TaskWorkItem<const ID: u64 = 0>: HasTaskWork<Self, ID> + Sized {
    /// The owning pointer the list holds while the item is queued.
    type Pointer: OwnedPointer<Self>;

    /// Runs the item, in the context of the task it was queued on, with its ownership.
    ///
    /// It runs in process context with no locks held, and may sleep.
    fn run(this: Self::Pointer);
}

/// Makes the entry of `T`'s items on list `ID`; only [`impl_has_task_work!`] calls it.
///
/// # Safety
///
/// It must be called in the initialiser of a `static`, in the crate that implements `T`, and
/// `owner` must be that crate's module (null for built-in code), so that `run_item::<T, ID>` is
/// instantiated in the code that `owner` holds.
#[doc(hidden)]
pub const unsafe fn entry<T: TaskWorkItem<ID>, const ID: u64>(
    owner: *mut bindings::module,
) -> Entry {
    // SAFETY: `run_item::<T, ID>` consumes a `T` queued by `add`; the caller promises that
    // `owner` holds its code.
    unsafe { Entry::new(run_item::<T, ID>, owner) }
}

/// Runs an item that its list handed back; called by the built-in trampoline.
///
/// # Safety
///
/// `head` must be the `callback_head` of a `TaskWork<T, ID>` queued by [`add`], which owns it.
unsafe fn run_item<T: TaskWorkItem<ID>, const ID: u64>(head: *mut bindings::callback_head) {
    // SAFETY: By the function's safety rule, `head` is in a `TaskWork<T, ID>` of an owned item;
    // `head` is at the start of the `repr(C)` `TaskWork`.
    let this = unsafe { take(head.cast::<TaskWork<T, ID>>()) };
    T::run(this);
}

/// Clears `queued` and takes the ownership of a queued item back.
///
/// # Safety
///
/// `work` must be the field of an item queued by [`add`] that was just taken off its list.
unsafe fn take<T: TaskWorkItem<ID>, const ID: u64>(work: *mut TaskWork<T, ID>) -> T::Pointer {
    // SAFETY: The caller promises that `work` is valid.
    let queued = unsafe { &(*work).queued };
    owned::clear_queued(queued, <T::Pointer as OwnedPointer<T>>::UNIQUE);
    // SAFETY: `work` is the field of a `T`, and the list owned the pointer from `into_raw`.
    unsafe { <T::Pointer as OwnedPointer<T>>::from_raw(T::work_container_of(work)) }
}

/// Takes back an item that a cancel took off its list, and drops its module reference (see
/// [`owned::put_module`] for why module code may do so).
///
/// # Safety
///
/// `work` must be the field of an item queued by [`add`] that was just taken off its list.
unsafe fn take_cancelled<T: TaskWorkItem<ID>, const ID: u64>(
    work: *mut TaskWork<T, ID>,
) -> T::Pointer {
    // SAFETY: As the caller promises.
    let this = unsafe { take(work) };
    // SAFETY: `add` took this reference for the queued item.
    unsafe { owned::put_module(T::entry().owner()) };
    this
}

/// Queues `item` on `task`, and tells `task` as `notify` says.
///
/// The task runs the item exactly once, unless a cancel takes it back first: at latest when it
/// exits. On failure the item comes back in the [`Refused`]: `EBUSY` if it is already queued,
/// `ESRCH` if the task is exiting, `ENODEV` if the item's module is not live (in its init
/// function, or being unloaded), `EINVAL` if `task` is a workqueue worker (which never runs its
/// task work, so the item, and its module, would be held for ever; `current!()` in a work item
/// is one).
///
/// `task` may be any task, not only the current one. It may be called from any context where the
/// item's pointer may be dropped, including atomic context. The item is run later and maybe by
/// another task, so it must be `Send + 'static`.
///
/// A kernel thread runs task work only when it calls [`run_pending`], or when it exits: an item
/// queued on one that does neither (an RCU callback's thread, `ksoftirqd`, `current!()` taken in
/// interrupt context) stays queued, and holds its module, until the thread exits. With
/// [`Notify::Signal`] or [`Notify::SignalNoIpi`], such a thread also sees `TIF_NOTIFY_SIGNAL`
/// until then: its interruptible sleeps return at once, and a thread that sleeps in a loop
/// spins. Only [`run_pending`] clears it on a kernel thread, so queue with a signal only on
/// user tasks and on kernel threads that call it.
///
/// # Examples
///
/// A note queued on the current task, which is a kernel thread here (KUnit's), and run by it:
///
/// ```
/// use kernel::task_work::{
///     self,
///     Notify,
///     TaskWork,
///     TaskWorkItem, //
/// };
///
/// struct Note {
///     text: &'static str,
///     work: TaskWork<Note>,
/// }
/// kernel::impl_has_task_work! { impl HasTaskWork<Note> for Note { self.work } }
/// impl TaskWorkItem for Note {
///     type Pointer = Pin<KBox<Note>>;
///     fn run(this: Pin<KBox<Note>>) {
///         pr_info!("{}\n", this.text);
///     }
/// }
///
/// let note = KBox::pin(Note { text: "hello", work: TaskWork::new() }, GFP_KERNEL)?;
/// task_work::add(current!(), note, Notify::None)?;
/// task_work::run_pending()?;
/// # Ok::<(), Error>(())
/// ```
#[inline]
pub fn add<T, const ID: u64, P>(task: &Task, item: P, notify: Notify) -> Result<(), Refused<P>>
where
    T: TaskWorkItem<ID, Pointer = P>,
    P: OwnedPointer<T> + Send + 'static,
{
    let ptr = P::into_raw(item);
    // SAFETY: `ptr` is valid: it was just made from an owning pointer.
    let work = unsafe { T::raw_get_work(ptr) };
    // SAFETY: As above, `work` is valid.
    let queued = unsafe { &(*work).queued };
    let entry = T::entry();
    let error = if is_workqueue_worker(task) {
        EINVAL
    } else if !owned::mark_queued(queued, P::UNIQUE) {
        EBUSY
    } else if !owned::get_module(entry.owner()) {
        owned::clear_queued(queued, P::UNIQUE);
        ENODEV
    } else {
        // SAFETY: `work` is valid, and no list has it: `queued` was false, or `ptr` came from
        // the item's only owner.
        let raw = unsafe { TaskWork::raw_head(work) };
        // SAFETY: As above; the entry is `T`'s, whose function runs a `TaskWork<T, ID>`.
        unsafe { RawHead::prepare(raw, entry) };
        // SAFETY: `raw` is valid.
        let head = unsafe { RawHead::callback_head(raw) };
        // `head` is valid and not on a list; the list owns the item from here on until it runs or
        // is cancelled, which keeps the allocation alive.
        match raw_add(task, head, notify.as_raw()) {
            Ok(()) => return Ok(()),
            Err(e) => {
                owned::clear_queued(queued, P::UNIQUE);
                // SAFETY: Taken just above, not handed over.
                unsafe { owned::put_module(entry.owner()) };
                e
            }
        }
    };
    // SAFETY: `ptr` came from `into_raw` above and the list did not take it.
    let item = unsafe { P::from_raw(ptr) };
    Err(Refused { error, item })
}

/// Takes a specific item back from `task`'s list, if it is still there.
///
/// Returns the list's reference if the item was queued on `task` and had not started to run, and
/// `None` otherwise (it ran, is running, or was never queued there).
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{
///     AtomicBool,
///     Ordering, //
/// };
/// use kernel::{
///     sync::Arc,
///     task_work::{
///         self,
///         Notify,
///         TaskWork,
///         TaskWorkItem, //
///     }, //
/// };
///
/// struct Once {
///     ran: AtomicBool,
///     work: TaskWork<Once>,
/// }
/// kernel::impl_has_task_work! { impl HasTaskWork<Once> for Once { self.work } }
/// impl TaskWorkItem for Once {
///     type Pointer = Arc<Once>;
///     fn run(this: Arc<Once>) {
///         this.ran.store(true, Ordering::Relaxed);
///     }
/// }
///
/// let item = Arc::new(Once { ran: AtomicBool::new(false), work: TaskWork::new() }, GFP_KERNEL)?;
/// task_work::add(current!(), item.clone(), Notify::None)?;
/// let back = task_work::cancel(current!(), &item);
/// assert!(back.is_some());
/// task_work::run_pending()?;
/// assert!(!item.ran.load(Ordering::Relaxed));
/// // Cancelling again finds nothing.
/// assert!(task_work::cancel(current!(), &item).is_none());
/// # Ok::<(), Error>(())
/// ```
pub fn cancel<T, const ID: u64>(task: &Task, item: &Arc<T>) -> Option<Arc<T>>
where
    T: TaskWorkItem<ID, Pointer = Arc<T>>,
{
    // The pointer is derived from the `Arc` itself (not from a `&T`), since the list's reference
    // is rebuilt from it.
    let ptr = Arc::as_ptr(item).cast_mut();
    // SAFETY: `item` keeps the allocation alive, so `ptr` is valid and its address cannot be
    // reused for another item while we compare it.
    let work = unsafe { T::raw_get_work(ptr) };
    // SAFETY: As above.
    let head = unsafe { TaskWork::raw_get(work) };
    if !raw_cancel(task, head) {
        return None;
    }
    // SAFETY: The list gave up `head`, which only `add` queues (the field is private), with the
    // list owning a reference.
    Some(unsafe { take_cancelled(work) })
}

/// Takes the most recently queued item of type `T` (on list `ID`) back from `task`'s list.
///
/// Items are recognised by their type's entry, a `static` that [`impl_has_task_work!`] makes
/// for each type and list. Items of other types are left alone.
///
/// # Examples
///
/// ```
/// use kernel::task_work::{
///     self,
///     Notify,
///     TaskWork,
///     TaskWorkItem, //
/// };
///
/// struct A { work: TaskWork<A> }
/// struct B { work: TaskWork<B> }
/// kernel::impl_has_task_work! {
///     impl HasTaskWork<A> for A { self.work }
///     impl HasTaskWork<B> for B { self.work }
/// }
/// impl TaskWorkItem for A {
///     type Pointer = Pin<KBox<A>>;
///     fn run(_this: Pin<KBox<A>>) {}
/// }
/// impl TaskWorkItem for B {
///     type Pointer = Pin<KBox<B>>;
///     fn run(_this: Pin<KBox<B>>) {}
/// }
///
/// task_work::add(current!(), KBox::pin(A { work: TaskWork::new() }, GFP_KERNEL)?, Notify::None)?;
/// task_work::add(current!(), KBox::pin(B { work: TaskWork::new() }, GFP_KERNEL)?, Notify::None)?;
/// assert!(task_work::cancel_first::<A, 0>(current!()).is_some());
/// assert!(task_work::cancel_first::<A, 0>(current!()).is_none());
/// assert!(task_work::cancel_first::<B, 0>(current!()).is_some());
/// # Ok::<(), Error>(())
/// ```
#[inline]
pub fn cancel_first<T, const ID: u64>(task: &Task) -> Option<T::Pointer>
where
    T: TaskWorkItem<ID>,
{
    let entry: *const Entry = T::entry();
    let head = raw_cancel_match(task, match_entry, entry.cast_mut().cast());
    if head.is_null() {
        return None;
    }
    // SAFETY: `match_entry` only matches heads queued with `T`'s entry, which `add` only puts in
    // a `TaskWork<T, ID>` (at the start of the `repr(C)` struct), and the list gave it up.
    Some(unsafe { take_cancelled(head.cast::<TaskWork<T, ID>>()) })
}

/// Takes back the most recently queued item of type `T` (on list `ID`) for which `pred` returns
/// true.
///
/// `pred` sees only items of type `T`.
///
/// # Safety
///
/// `pred` runs under the target task's `pi_lock`, with interrupts off. It must not sleep, must
/// not call any `task_work` function (on any task), and must not take `pi_lock` of `task` by any
/// other path, such as waking `task` up; it should be short. The types cannot express this,
/// hence `unsafe`. [`cancel`] and [`cancel_first`] run no caller code under the lock.
///
/// # Examples
///
/// ```
/// use kernel::task_work::{
///     self,
///     Notify,
///     TaskWork,
///     TaskWorkItem, //
/// };
///
/// struct Job { id: u32, work: TaskWork<Job> }
/// kernel::impl_has_task_work! { impl HasTaskWork<Job> for Job { self.work } }
/// impl TaskWorkItem for Job {
///     type Pointer = Pin<KBox<Job>>;
///     fn run(_this: Pin<KBox<Job>>) {}
/// }
///
/// let me = current!();
/// for id in 1..=3 {
///     let job = KBox::pin(Job { id, work: TaskWork::new() }, GFP_KERNEL)?;
///     task_work::add(me, job, Notify::None)?;
/// }
/// // SAFETY: The predicate only reads the item.
/// let two = unsafe { task_work::cancel_match::<Job, 0>(me, |j| j.id == 2) };
/// assert_eq!(two.map(|j| j.id), Some(2));
/// // SAFETY: As above.
/// assert!(unsafe { task_work::cancel_match::<Job, 0>(me, |j| j.id == 2) }.is_none());
/// task_work::run_pending()?;
/// # Ok::<(), Error>(())
/// ```
pub unsafe fn cancel_match<T, const ID: u64>(
    task: &Task,
    mut pred: impl FnMut(&T) -> bool,
) -> Option<T::Pointer>
where
    T: TaskWorkItem<ID> + Sync,
{
    let mut m = Matcher::<T, ID> {
        entry: T::entry(),
        pred: &mut pred,
    };
    let head = raw_cancel_match(
        task,
        match_trampoline::<T, ID>,
        ptr::from_mut(&mut m).cast(),
    );
    if head.is_null() {
        return None;
    }
    // SAFETY: `match_trampoline` only matches heads queued with `T`'s entry, which `add` only
    // puts in a `TaskWork<T, ID>`, and the list gave it up.
    Some(unsafe { take_cancelled(head.cast::<TaskWork<T, ID>>()) })
}

struct Matcher<'a, T, const ID: u64> {
    entry: &'static Entry,
    pred: &'a mut dyn FnMut(&T) -> bool,
}

/// # Safety
///
/// `head` must be on a task's list, whose `pi_lock` is held; `data` must point at a
/// `Matcher<T, ID>`.
unsafe extern "C" fn match_trampoline<T: TaskWorkItem<ID> + Sync, const ID: u64>(
    head: *mut bindings::callback_head,
    data: *mut c_void,
) -> bool {
    // SAFETY: The caller promises that `data` points at the matcher, which `cancel_match` holds
    // for the duration of the call.
    let m = unsafe { &mut *data.cast::<Matcher<'_, T, ID>>() };
    // SAFETY: `head` is on the list, which `pi_lock` keeps from running.
    if !unsafe { RawHead::is_of(head, m.entry) } {
        return false;
    }
    // SAFETY: Only `add` queues heads with `T`'s entry, at the start of a `TaskWork<T, ID>` in a
    // `T`. The list owns the item and holding `pi_lock` keeps it from running, so it is alive;
    // `T: Sync` allows a shared reference.
    let item = unsafe { &*T::work_container_of(head.cast::<TaskWork<T, ID>>()) };
    (m.pred)(item)
}

/// Matches the heads queued with the entry `data`; runs no code but built-in code.
///
/// # Safety
///
/// `head` must be on a task's list, whose `pi_lock` is held.
#[inline(never)]
unsafe extern "C" fn match_entry(head: *mut bindings::callback_head, data: *mut c_void) -> bool {
    // SAFETY: As the caller promises.
    unsafe { RawHead::is_of(head, data.cast_const().cast()) }
}

/// Runs the current kernel thread's pending task work (`task_work_run()`).
///
/// Meant for kernel threads, which never return to user mode and so must run the work queued on
/// them themselves. It may sleep: the items run right here, and are entitled to a context with
/// no locks held. A user task is refused with `EPERM`: its work runs on its way back to user mode,
/// and may belong to any subsystem (`fput`, io_uring) that expects exactly that.
///
/// It first clears `TIF_NOTIFY_SIGNAL`, which [`Notify::Signal`] sets, as `get_signal()` does for
/// user tasks: a kernel thread that never calls `get_signal()` would otherwise see a pending
/// signal, and fail every interruptible sleep, forever.
///
/// The caller must hold no lock that an item may take, and no RCU read lock: the items may
/// sleep. Only `might_sleep()` checks this, as for any sleeping function.
///
/// # Examples
///
/// ```
/// // KUnit runs its tests in kernel threads.
/// kernel::task_work::run_pending()?;
/// # Ok::<(), Error>(())
/// ```
#[inline(never)]
pub fn run_pending() -> Result {
    // SAFETY: Only reads the current task's own flags.
    if unsafe { (*Task::current_raw()).flags } & bindings::PF_KTHREAD == 0 {
        return Err(EPERM);
    }
    run_current();
    Ok(())
}

/// Runs the current task's pending task work, for a task that never returns to user mode: a
/// kernel thread ([`run_pending`]) or a vhost worker ([`WorkerContext::run_task_work`]).
///
/// [`WorkerContext::run_task_work`]: crate::vhost_task::WorkerContext::run_task_work
pub(crate) fn run_current() {
    // The items may sleep: report a caller in atomic context.
    crate::task::might_sleep();
    // SAFETY: Only touches `current`'s flags.
    unsafe { bindings::clear_notify_signal() };
    // SAFETY: `task_work_run` works on `current`, which never returns to user mode (the callers
    // say so), in process context.
    unsafe { bindings::task_work_run() };
}

/// Returns whether task work is queued on the current task (`task_work_pending(current)`), for
/// a vhost worker ([`WorkerContext::has_task_work`]).
///
/// [`WorkerContext::has_task_work`]: crate::vhost_task::WorkerContext::has_task_work
#[cfg(CONFIG_VHOST_TASK)]
#[inline]
pub(crate) fn current_pending() -> bool {
    // SAFETY: Only reads the current task's list head.
    unsafe { bindings::task_work_pending_current() }
}

/// The C calls under the safe API, for code that manages `struct callback_head`s itself.
///
/// `task_work_cancel_func()` and `task_work_run()` are not exported to modules; these
/// non-generic functions of the built-in `kernel` crate are, and each is the bare C call. The
/// benchmarks measure the safe API against them. Nothing here tracks ownership: the caller
/// keeps every head alive and unqueued/queued as C requires.
pub mod raw {
    use super::*;

    /// `task_work_add(task, head, notify)`.
    ///
    /// # Safety
    ///
    /// `head` must be valid, not queued, have a `func` that frees or reuses it correctly, and
    /// stay valid until that function runs or the head is cancelled. It must not be the head of
    /// a [`TaskWork`]: the safe cancel functions find those by their function and take the item
    /// back as if [`task_work::add`](super::add) had queued it, with its module reference.
    #[inline]
    pub unsafe fn add(task: &Task, head: *mut bindings::callback_head, notify: Notify) -> Result {
        raw_add(task, head, notify.as_raw())
    }

    /// `task_work_cancel_func(task, func)`: dequeues the first head of `task` whose function is
    /// `func`, and returns it (or null).
    ///
    /// # Safety
    ///
    /// The caller takes over every head it gets back, with whatever ownership its queuer gave
    /// the list: `func` must be a function that only the caller queues, so that a head with it
    /// is one of the caller's.
    #[inline]
    pub unsafe fn cancel_func(
        task: &Task,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
    ) -> *mut bindings::callback_head {
        raw_cancel_func(task, func)
    }

    /// `task_work_run()`, without clearing `TIF_NOTIFY_SIGNAL` (see [`run_pending`]).
    ///
    /// # Safety
    ///
    /// The caller must be in process context with no locks held, in a task whose pending work
    /// (any subsystem's) may run here.
    #[inline]
    pub unsafe fn run() {
        raw_run();
    }
}

// `task_work_add()`, `try_module_get()` and `module_put()` are exported to modules, and are
// called straight from the generic code. `task_work_run()` and the cancel functions are not, so
// those calls go through the non-generic, never-inlined functions below, which live in the
// built-in `kernel` crate.

/// The `task_struct` of `task`.
///
/// This is what `Task::as_ptr()` returns, without its call. In a kernel built for size
/// (`CONFIG_CC_OPTIMIZE_FOR_SIZE`, `-Copt-level=s`), rustc shares the kernel crate's copy of
/// the non-`#[inline]` `Opaque::get` with other crates instead of inlining it; in the project's
/// `make bench` kernel that call made up most of what `add` costs over the C call. (An
/// `#[inline]` on `Opaque::get` would fix it for every caller.)
#[inline(always)]
fn task_ptr(task: &Task) -> *mut bindings::task_struct {
    // CAST: `Task` is a `repr(transparent)` wrapper around `Opaque<task_struct>`, itself a
    // `repr(transparent)` wrapper around `UnsafeCell<MaybeUninit<task_struct>>`: the pointer is
    // the `task_struct`'s, and C may write through it, as `Opaque` allows while shared.
    ptr::from_ref(task).cast_mut().cast()
}

/// Whether `task` is a workqueue worker (`PF_WQ_WORKER`, set when it is made).
#[inline]
fn is_workqueue_worker(task: &Task) -> bool {
    // SAFETY: `task` is valid. `PF_WQ_WORKER` is set before the worker runs any work, and
    // cleared only as the worker leaves for good (it then exits, running its task work), so the
    // racy read of `flags` is good enough.
    unsafe { ptr::read_volatile(&raw const (*task_ptr(task)).flags) & bindings::PF_WQ_WORKER != 0 }
}

#[inline]
fn raw_add(
    task: &Task,
    head: *mut bindings::callback_head,
    notify: bindings::task_work_notify_mode,
) -> Result {
    // SAFETY: `task` is valid for the call; the caller gives a valid, unqueued `head`.
    let ret = unsafe { bindings::task_work_add(task_ptr(task), head, notify) };
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

#[inline(never)]
fn raw_run() {
    // SAFETY: The callers (`raw::run`) are in process context as documented.
    unsafe { bindings::task_work_run() }
}

#[inline(never)]
fn raw_cancel(task: &Task, head: *mut bindings::callback_head) -> bool {
    // SAFETY: `task` is valid for the call; `task_work_cancel` only compares `head`.
    unsafe { bindings::task_work_cancel(task_ptr(task), head) }
}

#[inline(never)]
fn raw_cancel_func(
    task: &Task,
    func: unsafe extern "C" fn(*mut bindings::callback_head),
) -> *mut bindings::callback_head {
    // SAFETY: `task` is valid for the call.
    unsafe { bindings::task_work_cancel_func(task_ptr(task), Some(func)) }
}

#[inline(never)]
fn raw_cancel_match(
    task: &Task,
    pred: unsafe extern "C" fn(*mut bindings::callback_head, *mut c_void) -> bool,
    data: *mut c_void,
) -> *mut bindings::callback_head {
    // SAFETY: `task` is valid for the call; `pred` and `data` are valid for it too.
    unsafe { bindings::task_work_cancel_match(task_ptr(task), Some(pred), data) }
}

#[macros::kunit_tests(rust_task_work)]
mod tests {
    use crate::{
        bindings,
        error::from_err_ptr,
        prelude::*,
        sync::{
            aref::ARef,
            Arc, //
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
            Delta, //
        },
        workqueue, //
    };
    use core::sync::atomic::{
        AtomicI32,
        AtomicUsize,
        Ordering::Relaxed, //
    };

    /// Sleeps for `ms` milliseconds.
    fn sleep_ms(ms: i64) {
        fsleep(Delta::from_millis(ms));
    }

    /// Two lists in one struct: the same allocation can be queued twice, once on each. Every
    /// item counts its allocations and drops, and the test ends with them equal.
    #[test]
    fn two_lists() -> Result {
        static LIVE: AtomicUsize = AtomicUsize::new(0);
        static RUNS: AtomicUsize = AtomicUsize::new(0);

        struct Item {
            a: TaskWork<Item, 1>,
            b: TaskWork<Item, 2>,
        }
        crate::impl_has_task_work! {
            impl HasTaskWork<Item, 1> for Item { self.a }
            impl HasTaskWork<Item, 2> for Item { self.b }
        }
        impl Item {
            fn new() -> Result<Arc<Item>> {
                LIVE.fetch_add(1, Relaxed);
                Ok(Arc::new(
                    Item {
                        a: TaskWork::new(),
                        b: TaskWork::new(),
                    },
                    GFP_KERNEL,
                )?)
            }
        }
        impl Drop for Item {
            fn drop(&mut self) {
                LIVE.fetch_sub(1, Relaxed);
            }
        }
        impl TaskWorkItem<1> for Item {
            type Pointer = Arc<Item>;
            fn run(_this: Arc<Item>) {
                RUNS.fetch_add(1, Relaxed);
            }
        }
        impl TaskWorkItem<2> for Item {
            type Pointer = Arc<Item>;
            fn run(_this: Arc<Item>) {
                RUNS.fetch_add(100, Relaxed);
            }
        }

        let items = [Item::new()?, Item::new()?, Item::new()?];
        for it in &items {
            task_work::add::<Item, 1, _>(current!(), it.clone(), Notify::None)?;
            task_work::add::<Item, 2, _>(current!(), it.clone(), Notify::None)?;
            // A second add on the same list is refused with EBUSY, and the item comes back.
            match task_work::add::<Item, 1, _>(current!(), it.clone(), Notify::None) {
                Ok(()) => return Err(EINVAL),
                Err(e) => {
                    assert_eq!(e.error, EBUSY);
                    assert!(Arc::ptr_eq(&e.item, it));
                }
            }
        }
        // One item taken back from list 2 does not run there.
        assert!(task_work::cancel::<Item, 2>(current!(), &items[1]).is_some());
        task_work::run_pending()?;
        assert_eq!(RUNS.load(Relaxed), 3 + 2 * 100);
        // Nothing is left to run.
        task_work::run_pending()?;
        assert_eq!(RUNS.load(Relaxed), 3 + 2 * 100);
        drop(items);
        assert_eq!(LIVE.load(Relaxed), 0);
        Ok(())
    }

    /// Typed cancel with two types of identical layout and code: their entries must stay
    /// distinct, or `cancel_first::<A>` would take the B queued after it.
    #[test]
    fn typed_cancel_twins() -> Result {
        static LIVE: AtomicUsize = AtomicUsize::new(0);
        static RUNS: AtomicUsize = AtomicUsize::new(0);

        macro_rules! twin {
            ($t:ident) => {
                struct $t {
                    kind: u32,
                    work: TaskWork<$t>,
                }
                crate::impl_has_task_work! { impl HasTaskWork<$t> for $t { self.work } }
                impl TaskWorkItem for $t {
                    type Pointer = Pin<KBox<$t>>;
                    fn run(this: Pin<KBox<$t>>) {
                        RUNS.fetch_add(this.kind as usize, Relaxed);
                    }
                }
                impl Drop for $t {
                    fn drop(&mut self) {
                        LIVE.fetch_sub(1, Relaxed);
                    }
                }
                impl $t {
                    fn new(kind: u32) -> Result<Pin<KBox<$t>>> {
                        LIVE.fetch_add(1, Relaxed);
                        Ok(KBox::pin(
                            $t {
                                kind,
                                work: TaskWork::new(),
                            },
                            GFP_KERNEL,
                        )?)
                    }
                }
            };
        }
        twin!(A);
        twin!(B);

        task_work::add(current!(), A::new(1)?, Notify::None)?;
        task_work::add(current!(), B::new(2)?, Notify::None)?;
        task_work::add(current!(), A::new(3)?, Notify::None)?;
        task_work::add(current!(), B::new(4)?, Notify::None)?;
        // The newest A is 3, and the B items stay.
        assert_eq!(
            task_work::cancel_first::<A, 0>(current!()).map(|a| a.kind),
            Some(3)
        );
        // A predicate sees only its own type: B(2) and B(4) are never offered to an A predicate.
        let mut seen = 0;
        let cur = current!();
        // SAFETY: The predicate only reads the item and counts.
        let a = unsafe {
            task_work::cancel_match::<A, 0>(cur, |a| {
                seen += 1;
                a.kind == 1
            })
        };
        assert_eq!(a.map(|a| a.kind), Some(1));
        assert_eq!(seen, 1);
        assert!(task_work::cancel_first::<A, 0>(current!()).is_none());
        // The predicate decides: no B has kind 3.
        // SAFETY: The predicate only reads the item.
        assert!(unsafe { task_work::cancel_match::<B, 0>(cur, |b| b.kind == 3) }.is_none());
        task_work::run_pending()?;
        assert_eq!(RUNS.load(Relaxed), 2 + 4);
        assert_eq!(LIVE.load(Relaxed), 0);
        Ok(())
    }

    static FLAGS_LIVE: AtomicUsize = AtomicUsize::new(0);

    struct Flag {
        runs: AtomicUsize,
        work: TaskWork<Flag>,
    }
    crate::impl_has_task_work! { impl HasTaskWork<Flag> for Flag { self.work } }
    impl TaskWorkItem for Flag {
        type Pointer = Arc<Flag>;
        fn run(this: Arc<Flag>) {
            this.runs.fetch_add(1, Relaxed);
        }
    }
    impl Drop for Flag {
        fn drop(&mut self) {
            FLAGS_LIVE.fetch_sub(1, Relaxed);
        }
    }

    fn flag() -> Result<Arc<Flag>> {
        FLAGS_LIVE.fetch_add(1, Relaxed);
        Ok(Arc::new(
            Flag {
                runs: AtomicUsize::new(0),
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )?)
    }

    /// Waits up to five seconds for `f` to have run.
    fn wait_for(f: &Flag) -> bool {
        for _ in 0..500 {
            if f.runs.load(Relaxed) > 0 {
                return true;
            }
            sleep_ms(10);
        }
        false
    }

    /// A kernel thread that runs its task work every jiffy until it is stopped. Assertions
    /// made on it would not reach KUnit: it returns what went wrong, which `kthread_stop`
    /// passes on.
    ///
    /// # Safety
    ///
    /// Only for `kthread_create_on_node`.
    unsafe extern "C" fn worker(_data: *mut c_void) -> c_int {
        // SAFETY: Called in the kthread's own context.
        while !unsafe { bindings::kthread_should_stop() } {
            if let Err(e) = task_work::run_pending() {
                return e.to_errno();
            }
            // SAFETY: Sleeping in process context.
            unsafe { bindings::schedule_timeout_interruptible(1) };
        }
        0
    }

    /// Starts [`worker`] and returns its task.
    fn spawn() -> Result<ARef<Task>> {
        // SAFETY: `worker` is a valid thread function and the name a valid C string.
        let t = unsafe {
            bindings::kthread_create_on_node(
                Some(worker),
                core::ptr::null_mut(),
                bindings::NUMA_NO_NODE,
                c"tw-test".as_char_ptr(),
            )
        };
        let t = from_err_ptr(t)?;
        // SAFETY: `t` is a new, valid task; `from` takes a reference of our own.
        let task: ARef<Task> = unsafe { &*t.cast::<Task>() }.into();
        task.wake_up();
        Ok(task)
    }

    /// Other tasks: `Resume` and `Signal` work queued on a kernel thread runs when it calls
    /// `run_pending`, and a task that has exited refuses work with `ESRCH` and gives it back.
    #[test]
    fn other_task() -> Result {
        let k = spawn()?;
        let resume = flag()?;
        let signal = flag()?;
        task_work::add(&k, resume.clone(), Notify::Resume)?;
        task_work::add(&k, signal.clone(), Notify::Signal)?;
        assert!(wait_for(&resume));
        assert!(wait_for(&signal));
        // SAFETY: `k` is a kthread we hold a reference on.
        assert_eq!(unsafe { bindings::kthread_stop(k.as_ptr()) }, 0);
        // Wait until the thread is past `exit_task_work()`.
        for _ in 0..500 {
            // SAFETY: `k` is valid; `exit_state` is set once in `exit_notify()`.
            if unsafe { core::ptr::read_volatile(&raw const (*k.as_ptr()).exit_state) } != 0 {
                break;
            }
            sleep_ms(10);
        }
        let late = flag()?;
        match task_work::add(&k, late.clone(), Notify::Signal) {
            Ok(()) => return Err(EINVAL),
            Err(e) => {
                assert_eq!(e.error, ESRCH);
                assert!(Arc::ptr_eq(&e.item, &late));
            }
        }
        assert!(!late.work.is_queued());
        assert_eq!(resume.runs.load(Relaxed) + signal.runs.load(Relaxed), 2);
        assert_eq!(late.runs.load(Relaxed), 0);
        drop((resume, signal, late));
        assert_eq!(FLAGS_LIVE.load(Relaxed), 0);
        Ok(())
    }

    /// A workqueue worker never runs task work: `add` refuses it with `EINVAL`, rather than
    /// hold the item and its module for ever.
    #[test]
    fn workqueue_worker() -> Result {
        struct Nop {
            work: TaskWork<Nop>,
        }
        crate::impl_has_task_work! { impl HasTaskWork<Nop> for Nop { self.work } }
        impl TaskWorkItem for Nop {
            type Pointer = Pin<KBox<Nop>>;
            fn run(_this: Pin<KBox<Nop>>) {}
        }

        static ERRNO: AtomicI32 = AtomicI32::new(1);
        workqueue::system().try_spawn(GFP_KERNEL, || {
            let r = KBox::pin(
                Nop {
                    work: TaskWork::new(),
                },
                GFP_KERNEL,
            )
            .map_err(Error::from)
            .and_then(|n| Ok(task_work::add(current!(), n, Notify::Signal)?));
            ERRNO.store(r.err().map_or(0, |e| e.to_errno()), Relaxed);
        })?;
        for _ in 0..500 {
            if ERRNO.load(Relaxed) != 1 {
                break;
            }
            sleep_ms(10);
        }
        assert_eq!(ERRNO.load(Relaxed), EINVAL.to_errno());
        Ok(())
    }
}
