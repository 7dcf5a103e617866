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
//! implements [`TaskWorkItem`], whose `run` gets the item's ownership back.
//!
//! # Ordering
//!
//! The C list is a LIFO stack and `task_work_run()` runs it in whatever order it finds it. No
//! order between items is guaranteed, and nothing here implies one.
//!
//! # Module unload
//!
//! While an item is queued, it holds a reference on the module that implements it, so the
//! module cannot be unloaded while its code may still be called. The reference is dropped after
//! `run` returns (or by a successful cancel). A module that queues task work must also keep a
//! [`ModuleBarrier`] in its module data, so that its exit waits until no task is still in the
//! few instructions that follow that drop.
//!
//! C header: [`include/linux/task_work.h`](srctree/include/linux/task_work.h).
//!
//! # Examples
//!
//! ```
//! use kernel::prelude::*;
//! use kernel::sync::Arc;
//! use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
//! use core::sync::atomic::{AtomicU32, Ordering};
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
//! task_work::run_pending();
//! assert_eq!(c.runs.load(Ordering::Relaxed), 1);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    owned::{OwnedPointer, Refused},
    prelude::*,
    sync::{
        rcu_tasks::{self, Flavour},
        Arc,
    },
    task::Task,
    types::Opaque,
};
use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicBool, AtomicU8, Ordering},
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
    fn as_raw(self) -> u32 {
        match self {
            Notify::None => bindings::task_work_notify_mode_TWA_NONE,
            Notify::Resume => bindings::task_work_notify_mode_TWA_RESUME,
            Notify::Signal => bindings::task_work_notify_mode_TWA_SIGNAL,
            Notify::SignalNoIpi => bindings::task_work_notify_mode_TWA_SIGNAL_NO_IPI,
        }
    }

    /// Adds `TWAF_NO_ALLOC`: queueing must not allocate memory (KASAN otherwise records the
    /// caller's stack, which may allocate). For callers that hold locks an allocation must not
    /// take.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::task_work::Notify;
    ///
    /// let mode = Notify::Resume.no_alloc();
    /// assert_eq!(mode.notify(), Notify::Resume);
    /// assert!(mode.is_no_alloc());
    /// ```
    pub fn no_alloc(self) -> Mode {
        Mode {
            notify: self,
            no_alloc: true,
        }
    }
}

/// A [`Notify`] mode plus flags, as `task_work_add` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    notify: Notify,
    no_alloc: bool,
}

impl Mode {
    /// Returns the notify mode.
    pub fn notify(self) -> Notify {
        self.notify
    }

    /// Returns whether `TWAF_NO_ALLOC` is set.
    pub fn is_no_alloc(self) -> bool {
        self.no_alloc
    }

    #[inline]
    fn as_raw(self) -> u32 {
        let flags = if self.no_alloc {
            bindings::task_work_notify_mode_TWAF_NO_ALLOC
        } else {
            0
        };
        self.notify.as_raw() | flags
    }
}

impl From<Notify> for Mode {
    #[inline]
    fn from(notify: Notify) -> Mode {
        Mode {
            notify,
            no_alloc: false,
        }
    }
}

/// The `callback_head` that links an item into a task's task work list.
///
/// Embed one in a struct per list the struct can be on at once, each with its own `ID`, and
/// declare it with [`impl_has_task_work!`].
///
/// # Invariants
///
/// For items with shared owners ([`Arc`]), `queued` is true from a successful [`add`] until the
/// item's run starts or a cancel takes it back; while it is true, `head` is on exactly one task's
/// list, and the item is owned by it. Uniquely owned items (`Pin<KBox>`) do not use `queued`: the
/// box itself is the proof that no list has them.
#[repr(C)]
pub struct TaskWork<T: ?Sized, const ID: u64 = 0> {
    head: Opaque<bindings::callback_head>,
    queued: AtomicBool,
    _item: PhantomData<T>,
}

// SAFETY: `head` is only touched by whoever owns the item (the queuing caller, then the list),
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
            head: Opaque::uninit(),
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
    pub unsafe fn raw_get(ptr: *const Self) -> *mut bindings::callback_head {
        // SAFETY: The caller promises that `ptr` is valid; `Opaque` is `repr(transparent)`.
        unsafe { Opaque::raw_get(ptr::addr_of!((*ptr).head)) }
    }
}

impl<T: ?Sized, const ID: u64> Default for TaskWork<T, ID> {
    fn default() -> Self {
        Self::new()
    }
}

/// A per-type tag that makes each type's run trampoline a distinct function.
///
/// [`cancel_first`] and [`cancel_match`] recognise the items of a type by the address of its
/// trampoline. Rust gives no unique address to the instances of a generic function: two with the
/// same machine code may be merged (by rustc's function merging, or by the linker's identical
/// code folding). Each trampoline therefore hands the address of its type's own tag, a
/// distinct writable static made by [`impl_has_task_work!`], to an empty `asm!` statement in a
/// register. The instances then differ in what they reference, so no folding can merge them,
/// and the address of a trampoline identifies exactly one item type. The cost is one
/// instruction; [`core::hint::black_box`] would also work, but it needs a stack slot, and so a
/// stack frame, which keeps the trampoline from tail-calling into the item's code.
///
/// The other way round, one type must not have two trampoline addresses. The trampoline is never
/// inlined, and all its users ([`add`] and the cancels) are instantiated in the crate that
/// implements the item, which the kernel compiles as a single codegen unit: so there is one
/// instance per item type.
#[doc(hidden)]
// Only its address matters.
#[allow(dead_code)]
pub struct TypeTag(AtomicU8);

impl TypeTag {
    /// Creates a tag. Only [`impl_has_task_work!`] should need this.
    pub const fn new() -> Self {
        Self(AtomicU8::new(0))
    }
}

impl Default for TypeTag {
    fn default() -> Self {
        Self::new()
    }
}

/// Declares that a struct embeds a [`TaskWork<T, ID>`] field.
///
/// # Safety
///
/// Implement it with [`impl_has_task_work!`] only: `raw_get_work` must return a pointer to a field
/// of `Self` that lives at `OFFSET`, `type_tag` must return a static that no other
/// implementation returns, and `owner` must return the module whose code implements the item
/// (or null for built-in code).
pub unsafe trait HasTaskWork<T: ?Sized, const ID: u64 = 0> {
    /// The offset of the [`TaskWork<T, ID>`] field.
    const OFFSET: usize;

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
    unsafe fn work_container_of(ptr: *mut TaskWork<T, ID>) -> *mut Self
    where
        Self: Sized,
    {
        // SAFETY: The caller promises that `ptr` points into a `Self` at `OFFSET`.
        unsafe { ptr.cast::<u8>().sub(Self::OFFSET).cast::<Self>() }
    }

    /// This type's tag; see [`TypeTag`].
    #[doc(hidden)]
    fn type_tag() -> &'static TypeTag;

    /// The module that implements this type, or null for built-in code.
    #[doc(hidden)]
    fn owner() -> *mut bindings::module;
}

/// Implements [`HasTaskWork`] for a struct with a [`TaskWork`] field.
///
/// # Examples
///
/// ```
/// use kernel::task_work::TaskWork;
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
/// ```
#[macro_export]
macro_rules! impl_has_task_work {
    ($(impl$({$($generics:tt)*})?
       HasTaskWork<$work_type:ty $(, $id:tt)?>
       for $self:ty
       { self.$field:ident }
    )*) => {$(
        // SAFETY: `raw_get_work` only compiles if the field has the right type and `OFFSET` is
        // its offset; `type_tag` returns a static of its own; `owner` is this crate's module.
        unsafe impl$(<$($generics)+>)? $crate::task_work::HasTaskWork<$work_type $(, $id)?>
            for $self
        {
            const OFFSET: usize = ::core::mem::offset_of!(Self, $field) as usize;

            #[inline]
            unsafe fn raw_get_work(
                ptr: *mut Self,
            ) -> *mut $crate::task_work::TaskWork<$work_type $(, $id)?> {
                // SAFETY: The caller promises that the pointer is valid.
                unsafe { ::core::ptr::addr_of_mut!((*ptr).$field) }
            }

            fn type_tag() -> &'static $crate::task_work::TypeTag {
                static TAG: $crate::task_work::TypeTag = $crate::task_work::TypeTag::new();
                &TAG
            }

            fn owner() -> *mut $crate::bindings::module {
                #[cfg(MODULE)]
                {
                    extern "C" {
                        static __this_module: $crate::types::Opaque<$crate::bindings::module>;
                    }
                    // SAFETY: `__this_module` is this module's `struct module`, made by modpost.
                    unsafe { __this_module.get() }
                }
                #[cfg(not(MODULE))]
                {
                    ::core::ptr::null_mut()
                }
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
    /// It runs in process context with no locks held and may sleep, unless it was run by a
    /// caller of [`run_pending`] that holds locks.
    fn run(this: Self::Pointer);
}

/// The function that the C list calls for items of type `T`.
///
/// # Safety
///
/// `head` must be the `callback_head` of a `TaskWork<T, ID>` queued by [`add`], which owns it.
#[inline(never)]
unsafe extern "C" fn run_trampoline<T: TaskWorkItem<ID>, const ID: u64>(
    head: *mut bindings::callback_head,
) {
    // Makes each instance distinct; see `TypeTag`.
    // SAFETY: The template is a comment: the statement only takes the tag's address as a number.
    unsafe {
        core::arch::asm!(
            "/* {0} */",
            in(reg) ptr::from_ref(T::type_tag()) as usize,
            options(nomem, nostack, preserves_flags)
        )
    };
    // SAFETY: By the function's safety rule, `head` is in a `TaskWork<T, ID>` of an owned item;
    // `head` is the first field of the `repr(C)` `TaskWork`.
    let this = unsafe { take(head.cast::<TaskWork<T, ID>>()) };
    T::run(this);
    // SAFETY: `add` took this reference, and it is dropped exactly once, here.
    unsafe { module_put(T::owner()) };
}

/// Clears `queued` and takes the ownership of a queued item back.
///
/// # Safety
///
/// `work` must be the field of an item queued by [`add`] that was just taken off its list.
unsafe fn take<T: TaskWorkItem<ID>, const ID: u64>(work: *mut TaskWork<T, ID>) -> T::Pointer {
    // SAFETY: The caller promises that `work` is valid.
    let queued = unsafe { &(*work).queued };
    crate::owned::clear_queued(queued, <T::Pointer as OwnedPointer<T>>::UNIQUE);
    // SAFETY: `work` is the field of a `T`, and the list owned the pointer from `into_raw`.
    unsafe { <T::Pointer as OwnedPointer<T>>::from_raw(T::work_container_of(work)) }
}

/// Queues `item` on `task`, and tells `task` as `mode` says.
///
/// The task runs the item exactly once, unless a cancel takes it back first: at latest when it
/// exits. On failure the item comes back in the [`Refused`]: `EBUSY` if it is already queued,
/// `ESRCH` if the task is exiting, `ENODEV` if the item's module is being unloaded.
///
/// `task` may be any task, not only the current one. It may be called from any context where the
/// item's pointer may be dropped, including atomic context.
///
/// # Examples
///
/// A task that is exiting, or has exited, refuses new work with `ESRCH` and gives the item back:
///
/// ```
/// use kernel::prelude::*;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
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
/// task_work::add(current!(), note, Notify::None.no_alloc())?;
/// task_work::run_pending();
/// # Ok::<(), Error>(())
/// ```
#[inline]
pub fn add<T, const ID: u64, P>(
    task: &Task,
    item: P,
    mode: impl Into<Mode>,
) -> Result<(), Refused<P>>
where
    T: TaskWorkItem<ID, Pointer = P>,
    P: OwnedPointer<T>,
{
    let ptr = P::into_raw(item);
    // SAFETY: `ptr` is valid: it was just made from an owning pointer.
    let work = unsafe { T::raw_get_work(ptr) };
    // SAFETY: As above, `work` is valid.
    let queued = unsafe { &(*work).queued };
    let error = if !crate::owned::mark_queued(queued, P::UNIQUE) {
        EBUSY
    } else if !try_module_get(T::owner()) {
        crate::owned::clear_queued(queued, P::UNIQUE);
        ENODEV
    } else {
        // SAFETY: `work` is valid, and no list has it: `queued` was false, or `ptr` came from
        // the item's only owner.
        let head = unsafe { TaskWork::raw_get(work) };
        // SAFETY: As above; the function is the one for `T`'s items.
        unsafe { (*head).func = Some(run_trampoline::<T, ID>) };
        // `head` is valid and not on a list; the list owns the item from here on until it runs
        // or is cancelled, which keeps the allocation alive.
        match raw_add(task, head, mode.into().as_raw()) {
            Ok(()) => return Ok(()),
            Err(e) => {
                crate::owned::clear_queued(queued, P::UNIQUE);
                // SAFETY: Taken just above, not handed over.
                unsafe { module_put(T::owner()) };
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
/// use kernel::prelude::*;
/// use kernel::sync::Arc;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
/// use core::sync::atomic::{AtomicBool, Ordering};
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
/// task_work::run_pending();
/// assert!(!item.ran.load(Ordering::Relaxed));
/// // Cancelling again finds nothing.
/// assert!(task_work::cancel(current!(), &item).is_none());
/// # Ok::<(), Error>(())
/// ```
pub fn cancel<T, const ID: u64>(task: &Task, item: &Arc<T>) -> Option<Arc<T>>
where
    T: TaskWorkItem<ID, Pointer = Arc<T>>,
{
    let ptr = ptr::from_ref::<T>(item).cast_mut();
    // SAFETY: `item` keeps the allocation alive, so `ptr` is valid and its address cannot be
    // reused for another item while we compare it.
    let work = unsafe { T::raw_get_work(ptr) };
    // SAFETY: As above.
    let head = unsafe { TaskWork::raw_get(work) };
    if !raw_cancel(task, head) {
        return None;
    }
    // SAFETY: The list gave up `head`, which `add` queued with the list owning a reference.
    let this = unsafe { take(work) };
    // SAFETY: `add` took this reference for the queued item.
    unsafe { module_put(T::owner()) };
    Some(this)
}

/// Takes the most recently queued item of type `T` (on list `ID`) back from `task`'s list.
///
/// This is `task_work_cancel_func()` with `T`'s run function, which is distinct for every item
/// type (see [`TypeTag`]). Items of other types are left alone.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
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
    let head = raw_cancel_func(task, run_trampoline::<T, ID>);
    if head.is_null() {
        return None;
    }
    // SAFETY: Only `add` queues `run_trampoline::<T, ID>`, on the head of a `TaskWork<T, ID>`
    // (the first field of the `repr(C)` struct), and the list gave it up.
    let this = unsafe { take(head.cast::<TaskWork<T, ID>>()) };
    // SAFETY: `add` took this reference for the queued item.
    unsafe { module_put(T::owner()) };
    Some(this)
}

/// Takes back the most recently queued item of type `T` (on list `ID`) for which `pred` returns
/// true.
///
/// `pred` sees only items of type `T`. It runs under the target task's `pi_lock` with interrupts
/// off, so it must not sleep and should be short.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
///
/// struct Job { id: u32, work: TaskWork<Job> }
/// kernel::impl_has_task_work! { impl HasTaskWork<Job> for Job { self.work } }
/// impl TaskWorkItem for Job {
///     type Pointer = Pin<KBox<Job>>;
///     fn run(_this: Pin<KBox<Job>>) {}
/// }
///
/// for id in 1..=3 {
///     task_work::add(current!(), KBox::pin(Job { id, work: TaskWork::new() }, GFP_KERNEL)?,
///                    Notify::None)?;
/// }
/// let two = task_work::cancel_match::<Job, 0>(current!(), |j| j.id == 2);
/// assert_eq!(two.map(|j| j.id), Some(2));
/// assert!(task_work::cancel_match::<Job, 0>(current!(), |j| j.id == 2).is_none());
/// task_work::run_pending();
/// # Ok::<(), Error>(())
/// ```
pub fn cancel_match<T, const ID: u64>(
    task: &Task,
    mut pred: impl FnMut(&T) -> bool,
) -> Option<T::Pointer>
where
    T: TaskWorkItem<ID> + Sync,
{
    let mut pred: &mut dyn FnMut(&T) -> bool = &mut pred;
    let head = raw_cancel_match(
        task,
        match_trampoline::<T, ID>,
        ptr::from_mut(&mut pred).cast(),
    );
    if head.is_null() {
        return None;
    }
    // SAFETY: `match_trampoline` only matches heads whose function is `run_trampoline::<T, ID>`,
    // which `add` only puts in a `TaskWork<T, ID>`, and the list gave it up.
    let this = unsafe { take(head.cast::<TaskWork<T, ID>>()) };
    // SAFETY: `add` took this reference for the queued item.
    unsafe { module_put(T::owner()) };
    Some(this)
}

/// # Safety
///
/// `head` must be on a task's list, whose `pi_lock` is held; `data` must point at a
/// `&mut dyn FnMut(&T) -> bool`.
unsafe extern "C" fn match_trampoline<T: TaskWorkItem<ID> + Sync, const ID: u64>(
    head: *mut bindings::callback_head,
    data: *mut core::ffi::c_void,
) -> bool {
    // SAFETY: `head` is a valid list entry.
    let func = unsafe { (*head).func };
    // Compared as addresses; one instance per item type: see `TypeTag`.
    let ours = run_trampoline::<T, ID> as *const () as usize;
    if func.map(|f| f as *const () as usize) != Some(ours) {
        return false;
    }
    // SAFETY: Only `add` queues `run_trampoline::<T, ID>`, on the first field of a
    // `TaskWork<T, ID>` in a `T`. The list owns the item and holding `pi_lock` keeps it from
    // running, so it is alive; `T: Sync` allows a shared reference.
    let item = unsafe { &*T::work_container_of(head.cast::<TaskWork<T, ID>>()) };
    // SAFETY: The caller promises that `data` points at the predicate, which `cancel_match` holds
    // for the duration of the call.
    let pred = unsafe { &mut *data.cast::<&mut dyn FnMut(&T) -> bool>() };
    pred(item)
}

/// Runs the current task's pending task work (`task_work_run()`).
///
/// Meant for kernel threads, which never return to user mode, and for code that must make sure
/// the work queued on it has run. It must be called from process context, with no locks held and
/// preemption enabled: the items run right here and may sleep.
///
/// It first clears `TIF_NOTIFY_SIGNAL`, which [`Notify::Signal`] sets, as `get_signal()` does for
/// user tasks: a kernel thread that never calls `get_signal()` would otherwise see a pending
/// signal, and fail every interruptible sleep, forever.
///
/// # Examples
///
/// ```
/// kernel::task_work::run_pending();
/// ```
#[inline(never)]
pub fn run_pending() {
    // SAFETY: Only touches `current`'s flags.
    unsafe { bindings::clear_notify_signal() };
    // SAFETY: `task_work_run` works on `current`; the caller is in process context as
    // documented.
    unsafe { bindings::task_work_run() }
}

/// Makes a module's exit wait until no task can still be running its task work trampolines.
///
/// The module reference of a queued item is dropped at the very end of its run trampoline, and a
/// task can be preempted in the instructions after it. Dropping this type calls
/// `synchronize_rcu_tasks()` (which is `synchronize_rcu()` where Tasks RCU is not built), which
/// waits until every such task has passed a voluntary context switch. Keep one in the module's
/// data.
///
/// # Examples
///
/// ```
/// let barrier = kernel::task_work::ModuleBarrier::new();
/// drop(barrier);
/// ```
pub struct ModuleBarrier(());

impl ModuleBarrier {
    /// Creates the barrier.
    pub const fn new() -> Self {
        Self(())
    }
}

impl Default for ModuleBarrier {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ModuleBarrier {
    fn drop(&mut self) {
        rcu_tasks::Tasks::synchronize();
    }
}

/// The C calls under the safe API, for code that manages `struct callback_head`s itself.
///
/// `task_work_cancel_func()` and `task_work_run()` are not exported to modules; these
/// non-generic functions of the built-in `kernel` crate are, and each is the bare C call. The
/// benchmarks measure the safe API against them. Nothing here tracks ownership: the caller
/// keeps every head alive and unqueued/queued as C requires.
pub mod raw {
    use super::*;

    /// `task_work_add(task, head, mode)`, with a mode from [`Mode`].
    ///
    /// # Safety
    ///
    /// `head` must be valid, not queued, have a `func` that frees or reuses it correctly, and
    /// stay valid until that function runs or the head is cancelled.
    #[inline]
    pub unsafe fn add(task: &Task, head: *mut bindings::callback_head, mode: Mode) -> Result {
        raw_add(task, head, mode.as_raw())
    }

    /// `task_work_cancel_func(task, func)`: dequeues the first head of `task` whose function is
    /// `func`, and returns it (or null).
    #[inline]
    pub fn cancel_func(
        task: &Task,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
    ) -> *mut bindings::callback_head {
        raw_cancel_func(task, func)
    }

    /// `task_work_run()`, without clearing `TIF_NOTIFY_SIGNAL` (see [`run_pending`]).
    ///
    /// # Safety
    ///
    /// The caller must be in process context, in a task whose pending work may run here.
    #[inline]
    pub unsafe fn run() {
        raw_run();
    }
}

// `task_work_add()`, `try_module_get()` and `module_put()` are exported to modules, and are
// called straight from the generic code. `task_work_run()` and the cancel functions are not, so
// those calls go through the non-generic, never-inlined functions below, which live in the
// built-in `kernel` crate.

#[inline]
fn raw_add(task: &Task, head: *mut bindings::callback_head, mode: u32) -> Result {
    // `Task` is a `repr(transparent)` wrapper of the `task_struct`. The cast, unlike
    // `Opaque::get` and `to_result`, is inlined into the generic callers in other crates.
    let task = ptr::from_ref(task)
        .cast_mut()
        .cast::<bindings::task_struct>();
    // SAFETY: `task` is valid for the call; the caller gives a valid, unqueued `head`.
    let ret = unsafe { bindings::task_work_add(task, head, mode) };
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
    unsafe { bindings::task_work_cancel(task.0.get(), head) }
}

#[inline(never)]
fn raw_cancel_func(
    task: &Task,
    func: unsafe extern "C" fn(*mut bindings::callback_head),
) -> *mut bindings::callback_head {
    // SAFETY: `task` is valid for the call.
    unsafe { bindings::task_work_cancel_func(task.0.get(), Some(func)) }
}

#[inline(never)]
fn raw_cancel_match(
    task: &Task,
    pred: unsafe extern "C" fn(*mut bindings::callback_head, *mut core::ffi::c_void) -> bool,
    data: *mut core::ffi::c_void,
) -> *mut bindings::callback_head {
    // SAFETY: `task` is valid for the call; `pred` and `data` are valid for it too.
    unsafe { bindings::task_work_cancel_match(task.0.get(), Some(pred), data) }
}

/// Takes a reference on `module`, the owner of an item type. Built-in code has no module (its
/// `owner()` is a constant null), and then nothing is called at all.
#[inline]
fn try_module_get(module: *mut bindings::module) -> bool {
    if module.is_null() {
        return true;
    }
    #[cfg(CONFIG_MODULE_UNLOAD)]
    // SAFETY: `module` is the live module that is calling us.
    unsafe {
        bindings::try_module_get(module)
    }
    #[cfg(not(CONFIG_MODULE_UNLOAD))]
    true
}

/// # Safety
///
/// The caller must own a reference on `module` taken by `try_module_get`.
#[inline]
unsafe fn module_put(module: *mut bindings::module) {
    if module.is_null() {
        return;
    }
    #[cfg(CONFIG_MODULE_UNLOAD)]
    // SAFETY: The caller owns the reference.
    unsafe {
        bindings::module_put(module)
    };
}

/// KUnit tests that need more set-up than an example should show. They run as doctests.
///
/// Every item counts its allocations and drops, and each test ends with them equal.
///
/// ```
/// use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use kernel::prelude::*;
/// use kernel::sync::Arc;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
///
/// static LIVE: AtomicUsize = AtomicUsize::new(0);
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// // Two lists in one struct: the same allocation can be queued twice, once on each.
/// struct Item {
///     a: TaskWork<Item, 1>,
///     b: TaskWork<Item, 2>,
/// }
/// kernel::impl_has_task_work! {
///     impl HasTaskWork<Item, 1> for Item { self.a }
///     impl HasTaskWork<Item, 2> for Item { self.b }
/// }
/// impl Item {
///     fn new() -> Result<Arc<Item>> {
///         LIVE.fetch_add(1, Relaxed);
///         Ok(Arc::new(Item { a: TaskWork::new(), b: TaskWork::new() }, GFP_KERNEL)?)
///     }
/// }
/// impl Drop for Item {
///     fn drop(&mut self) {
///         LIVE.fetch_sub(1, Relaxed);
///     }
/// }
/// impl TaskWorkItem<1> for Item {
///     type Pointer = Arc<Item>;
///     fn run(_this: Arc<Item>) {
///         RUNS.fetch_add(1, Relaxed);
///     }
/// }
/// impl TaskWorkItem<2> for Item {
///     type Pointer = Arc<Item>;
///     fn run(_this: Arc<Item>) {
///         RUNS.fetch_add(100, Relaxed);
///     }
/// }
///
/// let items = [Item::new()?, Item::new()?, Item::new()?];
/// for it in &items {
///     task_work::add::<Item, 1, _>(current!(), it.clone(), Notify::None)?;
///     task_work::add::<Item, 2, _>(current!(), it.clone(), Notify::None)?;
///     // A second add on the same list is refused with EBUSY, and the item comes back.
///     let e = task_work::add::<Item, 1, _>(current!(), it.clone(), Notify::None).unwrap_err();
///     assert_eq!(e.error, EBUSY);
///     assert!(Arc::ptr_eq(&e.item, it));
/// }
/// // One item taken back from list 2 does not run there.
/// assert!(task_work::cancel::<Item, 2>(current!(), &items[1]).is_some());
/// task_work::run_pending();
/// assert_eq!(RUNS.load(Relaxed), 3 + 2 * 100);
/// // Nothing is left to run.
/// task_work::run_pending();
/// assert_eq!(RUNS.load(Relaxed), 3 + 2 * 100);
/// drop(items);
/// assert_eq!(LIVE.load(Relaxed), 0);
/// # Ok::<(), Error>(())
/// ```
///
/// Typed cancel with two types of identical layout and code: their trampolines must stay
/// distinct, or `cancel_first::<A>` would take the B queued after it.
///
/// ```
/// use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use kernel::prelude::*;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
///
/// static LIVE: AtomicUsize = AtomicUsize::new(0);
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// macro_rules! twin {
///     ($t:ident) => {
///         struct $t { kind: u32, work: TaskWork<$t> }
///         kernel::impl_has_task_work! { impl HasTaskWork<$t> for $t { self.work } }
///         impl TaskWorkItem for $t {
///             type Pointer = Pin<KBox<$t>>;
///             fn run(this: Pin<KBox<$t>>) {
///                 RUNS.fetch_add(this.kind as usize, Relaxed);
///             }
///         }
///         impl Drop for $t {
///             fn drop(&mut self) {
///                 LIVE.fetch_sub(1, Relaxed);
///             }
///         }
///         impl $t {
///             fn new(kind: u32) -> Result<Pin<KBox<$t>>> {
///                 LIVE.fetch_add(1, Relaxed);
///                 Ok(KBox::pin($t { kind, work: TaskWork::new() }, GFP_KERNEL)?)
///             }
///         }
///     };
/// }
/// twin!(A);
/// twin!(B);
///
/// task_work::add(current!(), A::new(1)?, Notify::None)?;
/// task_work::add(current!(), B::new(2)?, Notify::None)?;
/// task_work::add(current!(), A::new(3)?, Notify::None)?;
/// task_work::add(current!(), B::new(4)?, Notify::None)?;
/// // The newest A is 3, and the B items stay.
/// assert_eq!(task_work::cancel_first::<A, 0>(current!()).map(|a| a.kind), Some(3));
/// // A predicate sees only its own type: B(2) and B(4) are never offered to an A predicate.
/// let mut seen = 0;
/// let a = task_work::cancel_match::<A, 0>(current!(), |a| { seen += 1; a.kind == 1 });
/// assert_eq!(a.map(|a| a.kind), Some(1));
/// assert_eq!(seen, 1);
/// assert!(task_work::cancel_first::<A, 0>(current!()).is_none());
/// // The predicate decides: no B has kind 3.
/// assert!(task_work::cancel_match::<B, 0>(current!(), |b| b.kind == 3).is_none());
/// task_work::run_pending();
/// assert_eq!(RUNS.load(Relaxed), 2 + 4);
/// assert_eq!(LIVE.load(Relaxed), 0);
/// # Ok::<(), Error>(())
/// ```
///
/// Other tasks: `Resume` and `Signal` work queued on a kernel thread runs when it calls
/// `run_pending`, and a task that has exited refuses work with `ESRCH` and gives it back.
///
/// ```
/// use core::ffi::c_void;
/// use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use kernel::prelude::*;
/// use kernel::sync::Arc;
/// use kernel::task::Task;
/// use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
/// use kernel::types::ARef;
/// use kernel::{bindings, c_str};
///
/// static LIVE: AtomicUsize = AtomicUsize::new(0);
///
/// struct Flag { runs: AtomicUsize, work: TaskWork<Flag> }
/// kernel::impl_has_task_work! { impl HasTaskWork<Flag> for Flag { self.work } }
/// impl TaskWorkItem for Flag {
///     type Pointer = Arc<Flag>;
///     fn run(this: Arc<Flag>) {
///         this.runs.fetch_add(1, Relaxed);
///     }
/// }
/// impl Drop for Flag {
///     fn drop(&mut self) {
///         LIVE.fetch_sub(1, Relaxed);
///     }
/// }
/// fn flag() -> Result<Arc<Flag>> {
///     LIVE.fetch_add(1, Relaxed);
///     Ok(Arc::new(Flag { runs: AtomicUsize::new(0), work: TaskWork::new() }, GFP_KERNEL)?)
/// }
///
/// /// A kernel thread that runs its task work every jiffy until it is stopped.
/// ///
/// /// # Safety
/// ///
/// /// Only for `kthread_create_on_node`.
/// unsafe extern "C" fn worker(_data: *mut c_void) -> i32 {
///     // SAFETY: Called in the kthread's own context.
///     while !unsafe { bindings::kthread_should_stop() } {
///         task_work::run_pending();
///         // SAFETY: Sleeping in process context.
///         unsafe { bindings::schedule_timeout_interruptible(1) };
///     }
///     0
/// }
/// fn spawn() -> Result<ARef<Task>> {
///     // SAFETY: `worker` is a valid thread function and the name a valid C string.
///     let t = unsafe {
///         bindings::kthread_create_on_node(
///             Some(worker),
///             core::ptr::null_mut(),
///             bindings::NUMA_NO_NODE,
///             c_str!("tw-test").as_char_ptr(),
///         )
///     };
///     let t = kernel::error::from_err_ptr(t)?;
///     // SAFETY: `t` is a new, valid task; `from` takes a reference of our own.
///     let task: ARef<Task> = unsafe { &*t.cast::<Task>() }.into();
///     // SAFETY: `t` is valid.
///     unsafe { bindings::wake_up_process(t) };
///     Ok(task)
/// }
/// fn wait_for(f: &Flag) -> bool {
///     for _ in 0..500 {
///         if f.runs.load(Relaxed) > 0 {
///             return true;
///         }
///         // SAFETY: Sleeping in process context.
///         unsafe { bindings::msleep(10) };
///     }
///     false
/// }
/// fn raw(t: &Task) -> *mut bindings::task_struct {
///     core::ptr::from_ref(t).cast_mut().cast()
/// }
///
/// let k = spawn()?;
/// let resume = flag()?;
/// let signal = flag()?;
/// task_work::add(&k, resume.clone(), Notify::Resume)?;
/// task_work::add(&k, signal.clone(), Notify::Signal)?;
/// assert!(wait_for(&resume));
/// assert!(wait_for(&signal));
/// // SAFETY: `k` is a kthread we hold a reference on.
/// unsafe { bindings::kthread_stop(raw(&k)) };
/// // Wait until the thread is past `exit_task_work()`.
/// for _ in 0..500 {
///     // SAFETY: `k` is valid; `exit_state` is set once in `exit_notify()`.
///     if unsafe { core::ptr::read_volatile(&(*raw(&k)).exit_state) } != 0 {
///         break;
///     }
///     // SAFETY: Sleeping in process context.
///     unsafe { bindings::msleep(10) };
/// }
/// let late = flag()?;
/// let e = task_work::add(&k, late.clone(), Notify::Signal).unwrap_err();
/// assert_eq!(e.error, ESRCH);
/// assert!(Arc::ptr_eq(&e.item, &late));
/// assert!(!late.work.is_queued());
/// drop(e);
/// assert_eq!(resume.runs.load(Relaxed) + signal.runs.load(Relaxed), 2);
/// assert_eq!(late.runs.load(Relaxed), 0);
/// drop((resume, signal, late));
/// assert_eq!(LIVE.load(Relaxed), 0);
/// # Ok::<(), Error>(())
/// ```
#[allow(dead_code)]
mod tests {}
