// SPDX-License-Identifier: GPL-2.0

//! Tasks RCU: grace periods that wait for every task to leave the kernel or switch voluntarily.
//!
//! Three flavours, each a zero-sized type:
//!
//! - [`Tasks`]: a grace period ends once every task has done a voluntary context switch, run in
//!   user mode, or idled. Readers need no markers; they must just not block voluntarily. It is
//!   what trampolines and code that may be preempted need before they are freed.
//! - [`TasksTrace`]: readers mark their critical sections with [`TasksTrace::read_lock`] and may
//!   sleep in them. Since 7.0 the kernel builds it on SRCU-fast (`rcu_tasks_trace_srcu_struct`):
//!   the read lock hands out a counter pointer that the unlock takes back, which the guard
//!   carries.
//! - [`TasksRude`]: a grace period also forces a context switch on every CPU. The kernel offers
//!   only `synchronize_rcu_tasks_rude()`, so it has no [`CallFlavour`] implementation.
//!
//! What a flavour does not have is absent from its type, so misuse does not compile. Where the
//! kernel does not build a flavour, its type is absent too. This holds for [`Tasks`] as well:
//! without `CONFIG_TASKS_RCU`, C makes `call_rcu_tasks()` an alias of plain RCU, which does not
//! wait for preempted tasks, so the type is absent rather than weaker than it says.
//!
//! Callbacks ([`RcuTasksItem::run`]) run after a grace period with bottom halves disabled, in the
//! flavour's kernel thread or a workqueue worker (Tasks Trace callbacks always run from SRCU's
//! workqueue): they must not sleep. A queued item crosses to that thread and to a later time, so
//! only `Send + 'static` items can be queued.
//!
//! While an item waits, it holds a reference on the module that implements its type, which
//! therefore cannot be unloaded until every callback into its code has returned (see
//! [`owned`]). A module's items are refused with `ENODEV` while its init function
//! runs and while it is being unloaded.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h) and
//! [`include/linux/rcupdate_trace.h`](srctree/include/linux/rcupdate_trace.h).
//!
//! # Examples
//!
//! Freeing an object after a Tasks RCU grace period:
//!
//! ```
//! use kernel::sync::rcu_tasks::{
//!     CallFlavour,
//!     RcuHead,
//!     Tasks, //
//! };
//!
//! struct Config {
//!     value: u64,
//!     rcu: RcuHead<Config>,
//! }
//! kernel::impl_has_rcu_head! { impl HasRcuHead<Config> for Config { self.rcu } }
//!
//! let old = KBox::pin(Config { value: 1, rcu: RcuHead::new() }, GFP_KERNEL)?;
//! Tasks::free(old)?;
//! Tasks::barrier(); // Waits until `old` is freed.
//! # Ok::<(), Error>(())
//! ```

use crate::{
    alloc::KBox,
    bindings,
    error::code::{
        EBUSY,
        ENODEV, //
    },
    owned::{
        self,
        Entry,
        OwnedPointer,
        RawHead,
        Refused, //
    },
    sync::Arc, //
};
use core::{
    marker::PhantomData,
    pin::Pin,
    sync::atomic::{
        AtomicBool,
        Ordering, //
    }, //
};

mod private {
    pub trait Sealed {}
}

/// A Tasks RCU flavour.
pub trait Flavour: private::Sealed + Send + Sync + 'static {
    /// The flavour's name, as in the C API.
    const NAME: &'static str;

    /// Waits for a full grace period of this flavour. Sleeps; process context only.
    fn synchronize();
}

/// A flavour that can queue callbacks, and so has a barrier.
pub trait CallFlavour: Flavour {
    /// Queues `head` with `func` (`call_rcu_tasks*()`).
    ///
    /// # Safety
    ///
    /// `head` must be valid and not queued, and stay valid until `func` has run.
    #[doc(hidden)]
    unsafe fn raw_call(
        head: *mut bindings::callback_head,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
    );

    /// Waits until every callback queued so far has run (`rcu_barrier_tasks*()`). Sleeps.
    fn barrier();

    /// Queues `item`; its [`RcuTasksItem::run`] gets it back after a grace period.
    ///
    /// Fails, giving the item back, with `EBUSY` if it is already queued, and with `ENODEV` if
    /// the module of its type is not live.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::sync::atomic::{
    ///     AtomicU32,
    ///     Ordering, //
    /// };
    /// use kernel::sync::{
    ///     rcu_tasks::{
    ///         CallFlavour,
    ///         RcuHead,
    ///         RcuTasksItem,
    ///         Tasks, //
    ///     },
    ///     Arc, //
    /// };
    ///
    /// struct Obj { runs: AtomicU32, rcu: RcuHead<Obj> }
    /// kernel::impl_has_rcu_head! { impl HasRcuHead<Obj> for Obj { self.rcu } }
    /// impl RcuTasksItem for Obj {
    ///     type Pointer = Arc<Obj>;
    ///     fn run(this: Arc<Obj>) {
    ///         this.runs.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let o = Arc::new(Obj { runs: AtomicU32::new(0), rcu: RcuHead::new() }, GFP_KERNEL)?;
    /// Tasks::call(o.clone())?;
    /// // The same head cannot be queued twice.
    /// assert_eq!(Tasks::call(o.clone()).unwrap_err().error, EBUSY);
    /// // No grace period can end while this task has not switched voluntarily.
    /// assert_eq!(o.runs.load(Ordering::Relaxed), 0);
    /// Tasks::barrier();
    /// assert_eq!(o.runs.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    fn call<T, const ID: u64, P>(item: P) -> Result<(), Refused<P>>
    where
        T: RcuTasksItem<ID, Pointer = P>,
        P: OwnedPointer<T> + Send + 'static,
    {
        queue::<Self, T, ID, P>(item, &T::vtable().run)
    }

    /// Drops `item` after a grace period: the common "free the old version" case. The item needs
    /// an [`RcuHead`] but no [`RcuTasksItem`] implementation.
    ///
    /// Fails, giving the item back, with `EBUSY` if it is already queued, and with `ENODEV` if
    /// the module of its type is not live. A caller whose readers may still see the item must
    /// then wait for them itself ([`Flavour::synchronize`]) before dropping it, as
    /// [`TracePointer`] does: `?` on the error drops the item at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::sync::rcu_tasks::{
    ///     CallFlavour,
    ///     RcuHead,
    ///     TasksTrace, //
    /// };
    ///
    /// struct Old { rcu: RcuHead<Old> }
    /// kernel::impl_has_rcu_head! { impl HasRcuHead<Old> for Old { self.rcu } }
    ///
    /// TasksTrace::free(KBox::pin(Old { rcu: RcuHead::new() }, GFP_KERNEL)?)?;
    /// TasksTrace::barrier();
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    fn free<T, const ID: u64, P>(item: P) -> Result<(), Refused<P>>
    where
        T: HasRcuHead<T, ID>,
        P: OwnedPointer<T> + Send + 'static,
    {
        let vtable = T::vtable();
        // `OwnedPointer` is sealed: `UNIQUE` tells its two implementations apart.
        let entry = if P::UNIQUE {
            &vtable.drop_box
        } else {
            &vtable.drop_arc
        };
        queue::<Self, T, ID, P>(item, entry)
    }
}

/// The Tasks RCU flavour (`call_rcu_tasks()` and friends).
///
/// # Examples
///
/// ```
/// use kernel::sync::rcu_tasks::{
///     CallFlavour,
///     Flavour,
///     Tasks, //
/// };
///
/// Tasks::synchronize();
/// Tasks::barrier();
/// assert_eq!(Tasks::NAME, "rcu_tasks");
/// ```
#[cfg(CONFIG_TASKS_RCU)]
pub struct Tasks;

/// The Tasks Trace RCU flavour (`call_rcu_tasks_trace()` and friends).
///
/// # Examples
///
/// ```
/// use kernel::{
///     sync::rcu_tasks::{
///         CallFlavour,
///         Flavour,
///         TasksTrace, //
///     },
///     time::{
///         delay::fsleep,
///         Delta, //
///     }, //
/// };
///
/// {
///     let _guard = TasksTrace::read_lock();
///     // A Tasks Trace reader may sleep.
///     fsleep(Delta::from_millis(1));
/// }
/// TasksTrace::synchronize();
/// TasksTrace::barrier();
/// ```
#[cfg(CONFIG_TASKS_TRACE_RCU)]
pub struct TasksTrace;

/// The Tasks Rude RCU flavour: the kernel has only `synchronize_rcu_tasks_rude()`.
///
/// # Examples
///
/// ```
/// use kernel::sync::rcu_tasks::{
///     Flavour,
///     TasksRude, //
/// };
///
/// TasksRude::synchronize();
/// ```
#[cfg(CONFIG_TASKS_RUDE_RCU)]
pub struct TasksRude;

#[cfg(CONFIG_TASKS_RCU)]
impl private::Sealed for Tasks {}

#[cfg(CONFIG_TASKS_RCU)]
impl Flavour for Tasks {
    const NAME: &'static str = "rcu_tasks";

    #[inline(never)]
    fn synchronize() {
        // SAFETY: Process context, as documented.
        unsafe { bindings::synchronize_rcu_tasks() }
    }
}

#[cfg(CONFIG_TASKS_RCU)]
impl CallFlavour for Tasks {
    #[inline]
    unsafe fn raw_call(
        head: *mut bindings::callback_head,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
    ) {
        // SAFETY: The caller promises that `head` is valid, unqueued, and lives until `func`.
        unsafe { bindings::call_rcu_tasks(head, Some(func)) }
    }

    #[inline(never)]
    fn barrier() {
        // SAFETY: Process context, as documented.
        unsafe { bindings::rcu_barrier_tasks() }
    }
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl private::Sealed for TasksTrace {}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl Flavour for TasksTrace {
    const NAME: &'static str = "rcu_tasks_trace";

    #[inline(never)]
    fn synchronize() {
        // SAFETY: Process context, as documented. The helper is `synchronize_srcu()` on
        // `rcu_tasks_trace_srcu_struct`.
        unsafe { bindings::synchronize_rcu_tasks_trace() }
    }
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl CallFlavour for TasksTrace {
    #[inline]
    unsafe fn raw_call(
        head: *mut bindings::callback_head,
        func: unsafe extern "C" fn(*mut bindings::callback_head),
    ) {
        // SAFETY: The caller promises that `head` is valid, unqueued, and lives until `func`.
        // The helper is `call_srcu()` on `rcu_tasks_trace_srcu_struct`.
        unsafe { bindings::call_rcu_tasks_trace(head, Some(func)) }
    }

    #[inline(never)]
    fn barrier() {
        // SAFETY: Process context, as documented. The helper is `srcu_barrier()` on
        // `rcu_tasks_trace_srcu_struct`.
        unsafe { bindings::rcu_barrier_tasks_trace() }
    }
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl TasksTrace {
    /// Enters a Tasks Trace read-side critical section, which lasts until the guard is dropped.
    ///
    /// Every later Tasks Trace grace period waits for it. The guard cannot be sent to another
    /// task: it keeps the SRCU counter that `rcu_read_lock_tasks_trace()` handed out, which the
    /// unlock on this task gives back. Sections nest, each with its own guard. Do not leak a
    /// guard (with [`core::mem::forget`], say): a leaked guard never ends its critical section,
    /// and blocks every later Tasks Trace grace period forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::sync::rcu_tasks::TasksTrace;
    ///
    /// let guard = TasksTrace::read_lock();
    /// let nested = TasksTrace::read_lock();
    /// drop(nested);
    /// drop(guard);
    /// ```
    #[inline]
    pub fn read_lock() -> TraceReadGuard {
        // SAFETY: Any task context where RCU is watching (not NMI); the guard gives the counter
        // back on this task, since it is not `Send`.
        let scp = unsafe { bindings::rcu_read_lock_tasks_trace() };
        // INVARIANT: `scp` was just handed out by `rcu_read_lock_tasks_trace()` on this task.
        TraceReadGuard { scp }
    }
}

/// A Tasks Trace read-side critical section; see [`TasksTrace::read_lock`].
///
/// It is neither `Send` nor `Sync` (it holds a raw pointer): the section must end on the task
/// that began it.
///
/// # Invariants
///
/// `scp` is the per-CPU SRCU counter that `rcu_read_lock_tasks_trace()` returned on this task
/// for a section that has not ended.
#[cfg(CONFIG_TASKS_TRACE_RCU)]
#[must_use = "the critical section ends when the guard is dropped"]
pub struct TraceReadGuard {
    scp: *mut bindings::srcu_ctr,
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl Drop for TraceReadGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `scp` is what this task's `rcu_read_lock_tasks_trace()`
        // returned for a section that this drop ends, once.
        unsafe { bindings::rcu_read_unlock_tasks_trace(self.scp) };
    }
}

#[cfg(CONFIG_TASKS_RUDE_RCU)]
impl private::Sealed for TasksRude {}

#[cfg(CONFIG_TASKS_RUDE_RCU)]
impl Flavour for TasksRude {
    const NAME: &'static str = "rcu_tasks_rude";

    #[inline(never)]
    fn synchronize() {
        // SAFETY: Process context, as documented.
        unsafe { bindings::synchronize_rcu_tasks_rude() }
    }
}

/// The `rcu_head` embedded in an item; declare it with [`impl_has_rcu_head!`].
///
/// # Invariants
///
/// For items with shared owners ([`Arc`]), `queued` is true from a successful
/// queueing until the callback starts; meanwhile the RCU callback list owns the item. Uniquely
/// owned items (`Pin<KBox>`) do not use `queued`: nothing else can reach them while queued.
#[repr(C)]
pub struct RcuHead<T: ?Sized, const ID: u64 = 0> {
    raw: RawHead,
    queued: AtomicBool,
    _item: PhantomData<T>,
}

// SAFETY: `raw` is only touched by whoever owns the item, and `queued` is atomic.
unsafe impl<T: ?Sized, const ID: u64> Send for RcuHead<T, ID> {}
// SAFETY: Shared references only read `queued`, which is atomic.
unsafe impl<T: ?Sized, const ID: u64> Sync for RcuHead<T, ID> {}

impl<T: ?Sized, const ID: u64> RcuHead<T, ID> {
    /// Creates an unqueued head.
    pub const fn new() -> Self {
        Self {
            raw: RawHead::new(),
            queued: AtomicBool::new(false),
            _item: PhantomData,
        }
    }

    /// Returns whether the item is waiting for a grace period. May be stale when looked at.
    ///
    /// Only items with shared owners ([`Arc`]) are tracked; a uniquely owned
    /// item cannot be looked at while it waits.
    pub fn is_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }
}

impl<T: ?Sized, const ID: u64> Default for RcuHead<T, ID> {
    fn default() -> Self {
        Self::new()
    }
}

/// Declares that a struct embeds an [`RcuHead<T, ID>`] field.
///
/// # Safety
///
/// Implement it with [`impl_has_rcu_head!`] only: `raw_get_head` and `head_container_of` must
/// go from a `Self` to one of its fields and back, and `vtable` must return a `static` made for
/// `Self` and `ID` in the crate that declares `Self`.
pub unsafe trait HasRcuHead<T: ?Sized, const ID: u64 = 0> {
    /// Returns a pointer to the [`RcuHead<T, ID>`] field.
    ///
    /// # Safety
    ///
    /// `ptr` must point at a valid `Self`.
    unsafe fn raw_get_head(ptr: *mut Self) -> *mut RcuHead<T, ID>;

    /// Returns the struct that contains the [`RcuHead<T, ID>`] field.
    ///
    /// # Safety
    ///
    /// `ptr` must point at the [`RcuHead<T, ID>`] field of a `Self`.
    unsafe fn head_container_of(ptr: *mut RcuHead<T, ID>) -> *mut Self;

    /// The type's entries; see [`RcuVtable`].
    #[doc(hidden)]
    fn vtable() -> &'static RcuVtable;
}

/// The entries (see [`owned`]) of one item type and list: its callback, and its
/// drop as each kind of owning pointer.
///
/// [`impl_has_rcu_head!`] makes one as a `static`, in the crate that declares the item type.
#[doc(hidden)]
pub struct RcuVtable {
    run: Entry,
    drop_arc: Entry,
    drop_box: Entry,
}

impl RcuVtable {
    /// Makes the entries of `T` on list `ID`; only [`impl_has_rcu_head!`] calls it.
    ///
    /// # Safety
    ///
    /// It must be called in the initialiser of a `static`, in the crate that declares `T`, with
    /// `run` being `RunOf::<T, ID>::RUN` and `owner` that crate's module (null for built-in
    /// code), so that the functions are instantiated in the code that `owner` holds.
    #[doc(hidden)]
    pub const unsafe fn new<T: HasRcuHead<T, ID>, const ID: u64>(
        run: unsafe fn(*mut bindings::callback_head),
        owner: *mut bindings::module,
    ) -> Self {
        // SAFETY: `run` is `RunOf::RUN`, which consumes an item queued by `call` (only
        // `RcuTasksItem`s are) or leaks it; the drop functions consume an item queued by `free`
        // with that pointer type. The caller promises that `owner` holds their code.
        unsafe {
            Self {
                run: Entry::new(run, owner),
                drop_arc: Entry::new(drop_item::<T, ID, Arc<T>>, owner),
                drop_box: Entry::new(drop_item::<T, ID, Pin<KBox<T>>>, owner),
            }
        }
    }
}

/// Picks the callback of an item type: `RunOf::<T, ID>::RUN` is `T`'s [`RcuTasksItem::run`]
/// where `T` implements it (an inherent constant, which wins when its bound holds), and else
/// [`NoRun::RUN`] (a trait constant), which [`CallFlavour::call`] never queues, since it takes
/// only [`RcuTasksItem`]s. This lets [`impl_has_rcu_head!`] serve the types that are only ever
/// freed too.
#[doc(hidden)]
pub struct RunOf<T, const ID: u64>(PhantomData<T>);

impl<T: RcuTasksItem<ID>, const ID: u64> RunOf<T, ID> {
    /// `T`'s callback.
    #[doc(hidden)]
    pub const RUN: unsafe fn(*mut bindings::callback_head) = run_item::<T, ID>;
}

/// The fallback of [`RunOf`], for types without a callback.
#[doc(hidden)]
pub trait NoRun {
    /// Never queued; leaks the item if it ever were.
    const RUN: unsafe fn(*mut bindings::callback_head) = leak_item;
}

impl<T, const ID: u64> NoRun for RunOf<T, ID> {}

/// Implements [`HasRcuHead`] for a struct with an [`RcuHead`] field.
///
/// The struct must not be generic: the macro makes a `static` with the type's callbacks in the
/// crate that declares it, which ties them to its module.
///
/// # Examples
///
/// ```
/// use kernel::sync::rcu_tasks::RcuHead;
///
/// struct Two {
///     a: RcuHead<Two, 1>,
///     b: RcuHead<Two, 2>,
/// }
/// kernel::impl_has_rcu_head! {
///     impl HasRcuHead<Two, 1> for Two { self.a }
///     impl HasRcuHead<Two, 2> for Two { self.b }
/// }
/// ```
#[macro_export]
macro_rules! impl_has_rcu_head {
    (@id) => { 0 };
    (@id $id:tt) => { $id };
    ($(impl HasRcuHead<$head_type:ty $(, $id:tt)?> for $self:ty { self.$field:ident })*) => {$(
        // SAFETY: `raw_get_head` and `head_container_of` only compile if the field has the right
        // type; `vtable` returns a static of its own, made here.
        unsafe impl $crate::sync::rcu_tasks::HasRcuHead<$head_type $(, $id)?> for $self {
            #[inline]
            unsafe fn raw_get_head(
                ptr: *mut Self,
            ) -> *mut $crate::sync::rcu_tasks::RcuHead<$head_type $(, $id)?> {
                // SAFETY: The caller promises that the pointer is valid.
                unsafe { &raw mut (*ptr).$field }
            }

            #[inline]
            unsafe fn head_container_of(
                ptr: *mut $crate::sync::rcu_tasks::RcuHead<$head_type $(, $id)?>,
            ) -> *mut Self {
                // SAFETY: The caller promises that the pointer points at this field of a `Self`.
                unsafe { $crate::container_of!(ptr, Self, $field) }
            }

            #[inline]
            fn vtable() -> &'static $crate::sync::rcu_tasks::RcuVtable {
                #[allow(unused_imports)]
                use $crate::sync::rcu_tasks::NoRun as _;
                // SAFETY: A static in the crate that declares the type, with its module and
                // its `RunOf::RUN`.
                static VTABLE: $crate::sync::rcu_tasks::RcuVtable = unsafe {
                    $crate::sync::rcu_tasks::RcuVtable::new::<
                        $self,
                        { $crate::impl_has_rcu_head!(@id $($id)?) },
                    >(
                        $crate::sync::rcu_tasks::RunOf::<
                            $self,
                            { $crate::impl_has_rcu_head!(@id $($id)?) },
                        >::RUN,
                        $crate::__this_module_ptr!(),
                    )
                };
                &VTABLE
            }
        }
    )*};
}
pub use impl_has_rcu_head;

/// An item whose callback runs after a grace period; see [`CallFlavour::call`].
pub trait RcuTasksItem<const ID: u64 = 0>: HasRcuHead<Self, ID> + Sized {
    /// The owning pointer the callback list holds: [`Arc`] or
    /// `Pin<KBox<Self>>`.
    type Pointer: OwnedPointer<Self>;

    /// Runs after a grace period with bottom halves disabled, in the flavour's kernel thread or a
    /// workqueue worker (Tasks Trace callbacks run from SRCU's workqueue). It must not sleep.
    fn run(this: Self::Pointer);
}

#[inline]
fn queue<F: CallFlavour + ?Sized, T: HasRcuHead<T, ID>, const ID: u64, P: OwnedPointer<T>>(
    item: P,
    entry: &'static Entry,
) -> Result<(), Refused<P>> {
    let ptr = P::into_raw(item);
    // SAFETY: `ptr` was just made from an owning pointer, so it is valid.
    let head = unsafe { T::raw_get_head(ptr) };
    // SAFETY: As above.
    let queued = unsafe { &(*head).queued };
    let error = if !owned::mark_queued(queued, P::UNIQUE) {
        EBUSY
    } else if !owned::get_module(entry.owner()) {
        owned::clear_queued(queued, P::UNIQUE);
        ENODEV
    } else {
        // SAFETY: `head` is valid, and no list has it: `queued` was false, or `ptr` came from
        // the item's only owner. The entry is one of `T`'s, for `P`.
        let raw = unsafe { &raw mut (*head).raw };
        // SAFETY: As above.
        unsafe { RawHead::prepare(raw, entry) };
        // SAFETY: `raw` is valid and was not queued; the list owns the item until the entry's
        // function runs, which keeps it alive.
        unsafe { F::raw_call(RawHead::callback_head(raw), owned::trampoline) };
        return Ok(());
    };
    // SAFETY: `ptr` came from `into_raw` above and was not handed over.
    let item = unsafe { P::from_raw(ptr) };
    Err(Refused { error, item })
}

/// # Safety
///
/// `head` must be the `callback_head` of an `RcuHead<T, ID>` queued with `P`, whose grace period
/// is over.
unsafe fn take<T: HasRcuHead<T, ID>, const ID: u64, P: OwnedPointer<T>>(
    head: *mut bindings::callback_head,
) -> P {
    let head = head.cast::<RcuHead<T, ID>>();
    // SAFETY: The caller promises that `head` is valid.
    let queued = unsafe { &(*head).queued };
    owned::clear_queued(queued, P::UNIQUE);
    // SAFETY: `head` is in a `T` whose ownership the list held, from `P::into_raw`.
    unsafe { P::from_raw(T::head_container_of(head)) }
}

/// # Safety
///
/// `head` must be the `callback_head` of an `RcuHead<T, ID>` queued by `call`.
unsafe fn run_item<T: RcuTasksItem<ID>, const ID: u64>(head: *mut bindings::callback_head) {
    // SAFETY: `call` queued `head` with `T::Pointer`, and the grace period is over.
    T::run(unsafe { take::<T, ID, T::Pointer>(head) });
}

/// # Safety
///
/// `head` must be the `callback_head` of an `RcuHead<T, ID>` queued by `free` with `P`.
unsafe fn drop_item<T: HasRcuHead<T, ID>, const ID: u64, P: OwnedPointer<T>>(
    head: *mut bindings::callback_head,
) {
    // SAFETY: `free` queued `head` with `P`, and the grace period is over.
    drop(unsafe { take::<T, ID, P>(head) });
}

/// The callback of a type that has none; `call` never queues it.
///
/// # Safety
///
/// None needed: it does nothing (an item it were given would be leaked).
unsafe fn leak_item(_head: *mut bindings::callback_head) {}

/// A pointer to an object published to Tasks Trace readers, who may sleep while they use it.
///
/// Writers [`replace`](Self::replace) the object; the old one is dropped after a Tasks Trace
/// grace period, so a reader that got it from [`get`](Self::get) inside a
/// [`TasksTrace::read_lock`] section can use it until the section ends, even across sleeps.
/// This is `rcu_assign_pointer()` / `rcu_dereference()` with `call_rcu_tasks_trace()`.
///
/// The old object is dropped in the callback, with bottom halves disabled: its `Drop` must not
/// sleep. Writers need no lock between them, but each replacement is a separate version.
///
/// # Invariants
///
/// `ptr` is null or comes from `KBox::into_raw` of a pinned `T` that the `TracePointer` owns.
/// An object that `ptr` no longer points at is dropped only after a Tasks Trace grace period
/// that started after it was unpublished.
///
/// # Examples
///
/// ```
/// use kernel::sync::rcu_tasks::{
///     CallFlavour,
///     RcuHead,
///     TasksTrace,
///     TracePointer, //
/// };
///
/// struct Config {
///     limit: u32,
///     rcu: RcuHead<Config>,
/// }
/// kernel::impl_has_rcu_head! { impl HasRcuHead<Config> for Config { self.rcu } }
///
/// let cfg = TracePointer::<Config>::new();
/// cfg.replace(Some(KBox::pin(Config { limit: 1, rcu: RcuHead::new() }, GFP_KERNEL)?));
/// {
///     let guard = TasksTrace::read_lock();
///     let c = cfg.get(&guard).ok_or(EINVAL)?;
///     // A writer replaces it while the reader still uses the old version.
///     cfg.replace(Some(KBox::pin(Config { limit: 2, rcu: RcuHead::new() }, GFP_KERNEL)?));
///     assert_eq!(c.limit, 1);
///     assert_eq!(cfg.get(&guard).map(|c| c.limit), Some(2));
/// }
/// cfg.replace(None);
/// assert!(cfg.get(&TasksTrace::read_lock()).is_none());
/// TasksTrace::barrier(); // Both old versions are freed by now.
/// # Ok::<(), Error>(())
/// ```
#[cfg(CONFIG_TASKS_TRACE_RCU)]
pub struct TracePointer<T: HasRcuHead<T> + Send + Sync + 'static> {
    ptr: core::sync::atomic::AtomicPtr<T>,
    _owns: PhantomData<KBox<T>>,
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl<T: HasRcuHead<T> + Send + Sync + 'static> TracePointer<T> {
    /// An empty pointer.
    pub const fn new() -> Self {
        Self {
            ptr: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// Returns the current object, valid until `guard` is dropped.
    #[inline]
    pub fn get<'a>(&'a self, _guard: &'a TraceReadGuard) -> Option<&'a T> {
        // Acquire pairs with the release in `replace`: the object's contents are visible.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: A published object is only dropped after a Tasks Trace grace period that
        // starts after it is unpublished; `guard` delays that grace period until it is dropped.
        unsafe { p.as_ref() }
    }

    /// Publishes `new` (or nothing), and drops the previous object after a grace period.
    ///
    /// The drop is queued as a callback, which holds `T`'s module. While that module is not
    /// live (in its init function or its exit, where callbacks are refused), `replace` waits for
    /// the grace period itself and then drops the object: there it sleeps, and must not be
    /// called from a Tasks Trace read-side section, which it would wait for.
    pub fn replace(&self, new: Option<Pin<KBox<T>>>) {
        let newp = new.map_or(core::ptr::null_mut(), |b| {
            // SAFETY: The object stays pinned: it is only moved back into a `Pin<KBox>`.
            KBox::into_raw(unsafe { Pin::into_inner_unchecked(b) })
        });
        // INVARIANT: `newp` is null or an object we own; `old` is dropped after a grace period.
        let old = self.ptr.swap(newp, Ordering::AcqRel);
        if old.is_null() {
            return;
        }
        // SAFETY: `old` came from `KBox::into_raw` in an earlier `replace`, and the swap took it
        // out of the pointer, so we own it.
        let old = unsafe { Pin::new_unchecked(KBox::from_raw(old)) };
        if let Err(refused) = TasksTrace::free(old) {
            // Its module is not live (or its head is in use elsewhere): wait for the readers
            // here instead.
            TasksTrace::synchronize();
            drop(refused.item);
        }
    }
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl<T: HasRcuHead<T> + Send + Sync + 'static> Default for TracePointer<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(CONFIG_TASKS_TRACE_RCU)]
impl<T: HasRcuHead<T> + Send + Sync + 'static> Drop for TracePointer<T> {
    fn drop(&mut self) {
        self.replace(None);
    }
}

#[cfg(all(CONFIG_TASKS_RCU, CONFIG_TASKS_TRACE_RCU))]
#[macros::kunit_tests(rust_rcu_tasks)]
mod tests {
    use crate::{
        prelude::*,
        sync::{
            rcu_tasks::{
                CallFlavour,
                RcuHead,
                RcuTasksItem,
                Tasks,
                TasksTrace,
                TracePointer, //
            },
            Arc, //
        },
        time::{
            delay::fsleep,
            Delta, //
        }, //
    };
    use core::sync::atomic::{
        AtomicBool,
        AtomicUsize,
        Ordering::Relaxed, //
    };

    /// 10,000 callbacks per flavour: after a barrier every one has run exactly once, and every
    /// allocation has been dropped.
    #[test]
    fn many_callbacks() -> Result {
        static LIVE: AtomicUsize = AtomicUsize::new(0);
        static RUNS: AtomicUsize = AtomicUsize::new(0);

        struct Cb {
            rcu: RcuHead<Cb>,
        }
        crate::impl_has_rcu_head! { impl HasRcuHead<Cb> for Cb { self.rcu } }
        impl RcuTasksItem for Cb {
            type Pointer = Pin<KBox<Cb>>;
            fn run(_this: Pin<KBox<Cb>>) {
                RUNS.fetch_add(1, Relaxed);
            }
        }
        impl Drop for Cb {
            fn drop(&mut self) {
                LIVE.fetch_sub(1, Relaxed);
            }
        }
        fn cb() -> Result<Pin<KBox<Cb>>> {
            LIVE.fetch_add(1, Relaxed);
            Ok(KBox::pin(
                Cb {
                    rcu: RcuHead::new(),
                },
                GFP_KERNEL,
            )?)
        }

        const N: usize = 10_000;
        for _ in 0..N {
            Tasks::call(cb()?)?;
        }
        Tasks::barrier();
        assert_eq!(RUNS.load(Relaxed), N);
        for _ in 0..N {
            TasksTrace::call(cb()?)?;
        }
        TasksTrace::barrier();
        assert_eq!(RUNS.load(Relaxed), 2 * N);
        // `free` drops without running.
        for _ in 0..N {
            Tasks::free(cb()?)?;
        }
        Tasks::barrier();
        assert_eq!(RUNS.load(Relaxed), 2 * N);
        assert_eq!(LIVE.load(Relaxed), 0);
        Ok(())
    }

    /// A callback that counts its runs, for the Tasks Trace reader tests.
    struct Cb {
        runs: AtomicUsize,
        rcu: RcuHead<Cb>,
    }
    crate::impl_has_rcu_head! { impl HasRcuHead<Cb> for Cb { self.rcu } }

    impl RcuTasksItem for Cb {
        type Pointer = Arc<Cb>;
        fn run(this: Arc<Cb>) {
            this.runs.fetch_add(1, Relaxed);
        }
    }

    impl Cb {
        fn new() -> Result<Arc<Cb>> {
            Ok(Arc::new(
                Cb {
                    runs: AtomicUsize::new(0),
                    rcu: RcuHead::new(),
                },
                GFP_KERNEL,
            )?)
        }
    }

    /// A Tasks Trace reader holding its guard delays the callback until it lets go.
    #[test]
    fn trace_reader_delays_callback() -> Result {
        let c = Cb::new()?;
        let guard = TasksTrace::read_lock();
        TasksTrace::call(c.clone())?;
        // Several grace periods' worth of time: the reader holds them all off (and may sleep).
        fsleep(Delta::from_millis(200));
        assert_eq!(c.runs.load(Relaxed), 0);
        assert!(c.rcu.is_queued());
        drop(guard);
        TasksTrace::barrier();
        assert_eq!(c.runs.load(Relaxed), 1);
        assert!(!c.rcu.is_queued());
        Ok(())
    }

    /// Nested Tasks Trace sections each keep their own counter: the outer one still holds the
    /// grace period off after the inner one has ended.
    #[test]
    fn trace_nested_readers() -> Result {
        let c = Cb::new()?;
        let outer = TasksTrace::read_lock();
        let inner = TasksTrace::read_lock();
        TasksTrace::call(c.clone())?;
        drop(inner);
        fsleep(Delta::from_millis(200));
        assert_eq!(c.runs.load(Relaxed), 0);
        drop(outer);
        TasksTrace::barrier();
        assert_eq!(c.runs.load(Relaxed), 1);
        Ok(())
    }

    /// A [`TracePointer`] drops a replaced object only after the readers that may hold it are
    /// done.
    #[test]
    fn trace_pointer_waits_for_readers() -> Result {
        static FIRST_DROPPED: AtomicBool = AtomicBool::new(false);

        struct V {
            first: bool,
            rcu: RcuHead<V>,
        }
        crate::impl_has_rcu_head! { impl HasRcuHead<V> for V { self.rcu } }
        impl Drop for V {
            fn drop(&mut self) {
                if self.first {
                    FIRST_DROPPED.store(true, Relaxed);
                }
            }
        }

        let p = TracePointer::<V>::new();
        p.replace(Some(KBox::pin(
            V {
                first: true,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?));
        let guard = TasksTrace::read_lock();
        let old = p.get(&guard).ok_or(EINVAL)?;
        p.replace(Some(KBox::pin(
            V {
                first: false,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?));
        // Grace periods would have ended several times over without the reader.
        fsleep(Delta::from_millis(300));
        assert!(old.first);
        assert!(!FIRST_DROPPED.load(Relaxed));
        drop(guard);
        TasksTrace::barrier();
        assert!(FIRST_DROPPED.load(Relaxed));
        drop(p);
        TasksTrace::barrier();
        Ok(())
    }
}
