// SPDX-License-Identifier: GPL-2.0

//! Owning pointers that can be handed to C as a raw pointer to their item, and the one
//! trampoline through which C lists call back into Rust items.
//!
//! C lists such as a task's task work or an RCU callback list hold an item through a field
//! embedded in it. While the item is on such a list, the list owns it: the Rust owning pointer is
//! turned into a raw pointer to the item, and turned back when C hands the item back.
//!
//! # Why not `ForeignOwnable`
//!
//! [`ForeignOwnable`](crate::types::ForeignOwnable) is the kernel's trait for handing ownership
//! to C, and it is what file private data and driver data use. It does not fit these lists, and
//! building them on it would make their soundness rest on promises it does not make:
//!
//! - its foreign pointer need not point at the item (for [`Arc`] it points at the `ArcInner`),
//!   while a C list gives back a pointer to the `callback_head` embedded in the item;
//! - its contract does not say that the item stays at one address while it is foreign-owned,
//!   which a `callback_head` linked into a C list needs;
//! - any crate may implement it, for any type: a list built on it would trust every
//!   implementation;
//! - it cannot say whether a pointer is its item's only owner, which lets a `Pin<KBox>` item skip
//!   the "already queued" flag (see [`OwnedPointer::UNIQUE`]).
//!
//! [`OwnedPointer`] is sealed and has exactly the two implementations whose behaviour the lists
//! rely on: [`Arc`] and `Pin<KBox>`.
//!
//! # Module lifetime
//!
//! The function a C list calls is always `trampoline`, which is built into the kernel. Next to
//! the `callback_head` lies a pointer to the item type's [`Entry`]: the item type's own function
//! and the module that holds its code. Queuing an item takes a reference on that module, and
//! `trampoline` drops it only once the item's function has returned, so the module cannot be
//! unloaded while a list may still call into it, and no module code runs after the reference is
//! gone. Entries are `static`s that the `impl_has_*!` macros make in the crate that declares the
//! item type, so the function and the module always belong together, whichever crate queues.

use crate::{
    alloc::KBox,
    bindings,
    error::Error,
    sync::Arc,
    types::Opaque, //
};
use core::{
    pin::Pin,
    ptr,
    sync::atomic::{
        AtomicBool,
        Ordering, //
    }, //
};

mod private {
    pub trait Sealed {}
}

/// An owning pointer to a `T` that can round-trip through a raw `*mut T`: [`Arc<T>`] or
/// `Pin<KBox<T>>`.
///
/// # Safety
///
/// `from_raw(into_raw(p))` must give back `p`, and while the raw pointer is out, the item must
/// neither move nor be freed. If `UNIQUE` is true, a value must be the only owner of its item,
/// so that an item whose owner was given to a list cannot be given to a list again before the
/// list gives it back.
///
/// The trait is sealed: [`Arc`] and `Pin<KBox>` are its only implementations, which lets the
/// callback lists keep one drop function per pointer type.
///
/// # Examples
///
/// ```
/// use kernel::owned::OwnedPointer;
///
/// let b = KBox::pin(7u32, GFP_KERNEL)?;
/// let raw = OwnedPointer::into_raw(b);
/// // SAFETY: `raw` comes from `into_raw` and is used once.
/// let b: Pin<KBox<u32>> = unsafe { OwnedPointer::from_raw(raw) };
/// assert_eq!(*b, 7);
/// # Ok::<(), Error>(())
/// ```
pub unsafe trait OwnedPointer<T>: private::Sealed + Sized {
    /// Whether a value is the only owner of its item. Lists use it to skip their "already
    /// queued" check: an item whose only owner was given to a list cannot be given again.
    const UNIQUE: bool = false;

    /// Gives up ownership, returning a pointer to the item.
    fn into_raw(this: Self) -> *mut T;

    /// Takes back ownership given up by [`OwnedPointer::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from `into_raw` of the same pointer type, and be used at most once.
    unsafe fn from_raw(ptr: *mut T) -> Self;
}

impl<T> private::Sealed for Arc<T> {}
impl<T> private::Sealed for Pin<KBox<T>> {}

// SAFETY: `Arc::into_raw` and `Arc::from_raw` round-trip, and the refcount keeps the allocation
// alive and in place.
unsafe impl<T> OwnedPointer<T> for Arc<T> {
    fn into_raw(this: Self) -> *mut T {
        Arc::into_raw(this).cast_mut()
    }

    unsafe fn from_raw(ptr: *mut T) -> Self {
        // SAFETY: The caller promises that `ptr` comes from `into_raw`, used once.
        unsafe { Arc::from_raw(ptr) }
    }
}

// SAFETY: `KBox::into_raw` and `KBox::from_raw` round-trip, and a pinned box never moves. A box
// is the only owner of its item.
unsafe impl<T> OwnedPointer<T> for Pin<KBox<T>> {
    const UNIQUE: bool = true;

    fn into_raw(this: Self) -> *mut T {
        // SAFETY: The item is only used through the pointer and never moved out of.
        KBox::into_raw(unsafe { Pin::into_inner_unchecked(this) })
    }

    unsafe fn from_raw(ptr: *mut T) -> Self {
        // SAFETY: The caller promises that `ptr` comes from `into_raw`, used once; it was pinned.
        unsafe { Pin::new_unchecked(KBox::from_raw(ptr)) }
    }
}

/// Marks an item queued; returns false if it already was.
///
/// Only items with shared owners ([`Arc`]) keep the flag: the only owner of an item (a
/// `Pin<KBox>`) cannot give it to a list twice, and nothing else can look at the item while the
/// list owns it, so for those nothing is stored at all.
#[inline(always)]
pub(crate) fn mark_queued(queued: &AtomicBool, unique: bool) -> bool {
    unique
        || queued
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

/// Undoes [`mark_queued`], when the list gives the item back or did not take it.
#[inline(always)]
pub(crate) fn clear_queued(queued: &AtomicBool, unique: bool) {
    if !unique {
        queued.store(false, Ordering::Release);
    }
}

/// An item that a list refused to take, with the reason; the caller gets its ownership back.
///
/// It converts into its [`Error`], dropping the item, so `?` works.
pub struct Refused<P> {
    /// Why the item was refused.
    pub error: Error,
    /// The item, with its ownership.
    pub item: P,
}

impl<P> From<Refused<P>> for Error {
    fn from(e: Refused<P>) -> Error {
        e.error
    }
}

impl<P> core::fmt::Debug for Refused<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Refused")
            .field("error", &self.error)
            .finish()
    }
}

/// An item type's callback and the module that holds its code; see the [module
/// documentation](self).
///
/// Made only by the `impl_has_*!` macros, as a `static` in the crate that declares the item type.
///
/// # Invariants
///
/// `func` may be called with the `callback_head` of any item that was queued with this entry
/// and whose ownership the list hands back, and `owner` is the module whose code `func` is, or
/// null for built-in code.
#[doc(hidden)]
pub struct Entry {
    func: unsafe fn(*mut bindings::callback_head),
    owner: *mut bindings::module,
}

// SAFETY: An `Entry` is never changed, and both fields may be used from any task.
unsafe impl Sync for Entry {}

impl Entry {
    /// Makes an entry.
    ///
    /// # Safety
    ///
    /// `func` must take back the ownership of any item queued with this entry from its
    /// `callback_head` and consume it, and `owner` must be the module whose code `func` is (null
    /// for built-in code). The `impl_has_*!` macros guarantee both.
    #[doc(hidden)]
    pub const unsafe fn new(
        func: unsafe fn(*mut bindings::callback_head),
        owner: *mut bindings::module,
    ) -> Self {
        // INVARIANT: The caller promises both.
        Self { func, owner }
    }

    /// The module whose code this entry calls, or null.
    #[inline]
    pub(crate) fn owner(&self) -> *mut bindings::module {
        self.owner
    }
}

/// Expands to the current crate's `struct module`, or null for built-in code: the `owner` of
/// an [`Entry`]. It must be expanded in the crate whose code the entry calls.
#[doc(hidden)]
#[macro_export]
macro_rules! __this_module_ptr {
    () => {{
        #[cfg(MODULE)]
        let m = {
            extern "C" {
                static __this_module: $crate::types::Opaque<$crate::bindings::module>;
            }
            // SAFETY: `__this_module` is this module's `struct module`, made by modpost; only its
            // address is taken.
            unsafe { __this_module.get() }
        };
        #[cfg(not(MODULE))]
        let m = ::core::ptr::null_mut::<$crate::bindings::module>();
        m
    }};
}

/// The `callback_head` of an item, and the [`Entry`] of its type: the first field of the
/// `repr(C)` heads of the lists (`TaskWork`, `RcuHead`), so that [`trampoline`] finds the entry
/// from the `callback_head` alone.
///
/// # Invariants
///
/// While the head is on a list, `entry` points at the `'static` entry it was queued with.
#[repr(C)]
pub(crate) struct RawHead {
    head: Opaque<bindings::callback_head>,
    entry: Opaque<*const Entry>,
}

impl RawHead {
    pub(crate) const fn new() -> Self {
        Self {
            head: Opaque::uninit(),
            entry: Opaque::new(ptr::null()),
        }
    }

    /// Returns the `callback_head`, which is at the same address as the `RawHead`.
    ///
    /// # Safety
    ///
    /// `this` must point at a valid `RawHead`.
    #[inline]
    pub(crate) unsafe fn callback_head(this: *mut Self) -> *mut bindings::callback_head {
        this.cast()
    }

    /// The `entry` field of `this`: `Opaque::cast_into()` without its call, which rustc does not
    /// inline across crates in a kernel built for size (see `task_work::task_ptr`).
    ///
    /// # Safety
    ///
    /// `this` must point at a valid `RawHead`.
    #[inline(always)]
    unsafe fn entry(this: *const Self) -> *mut *const Entry {
        // SAFETY: The caller promises that `this` is valid, so the field projection is in bounds.
        // CAST: `Opaque<T>` is a `repr(transparent)` wrapper around `UnsafeCell<MaybeUninit<T>>`,
        // which has the layout of `T`. Writing through the result is allowed where the caller's
        // pointer allows it: the field is inside an `UnsafeCell`.
        unsafe { (&raw const (*this).entry).cast::<*const Entry>().cast_mut() }
    }

    /// Sets up `this` to be queued with `entry`: the C list will call [`trampoline`], and it
    /// will call `entry`'s function.
    ///
    /// # Safety
    ///
    /// `this` must point at a valid `RawHead` that no list has, and that nothing else writes.
    #[inline]
    pub(crate) unsafe fn prepare(this: *mut Self, entry: &'static Entry) {
        // SAFETY: The caller promises that `this` is valid and that we may write it.
        unsafe {
            *Self::entry(this) = entry;
            (*Self::callback_head(this)).func = Some(trampoline);
        }
    }

    /// Whether the head of a list (any list's, any subsystem's) was queued with `entry`.
    ///
    /// # Safety
    ///
    /// `head` must be on a list, which the caller keeps from running or freeing its items.
    #[inline]
    pub(crate) unsafe fn is_of(head: *mut bindings::callback_head, entry: *const Entry) -> bool {
        let ours = trampoline as unsafe extern "C" fn(*mut bindings::callback_head) as usize;
        // SAFETY: The caller promises that `head` is valid. Only heads whose function is
        // `trampoline` are `RawHead`s (set by `prepare`), so the second read is in bounds.
        unsafe {
            (*head).func.map(|f| f as usize) == Some(ours) && *Self::entry(head.cast()) == entry
        }
    }
}

/// The function that every C list calls for Rust items: calls the item type's function, then
/// drops the module reference taken when the item was queued.
///
/// It is built into the kernel and never inlined, so it has one address, and after the module
/// reference is dropped only built-in code runs. (The harness checks that no module carries a
/// copy of it.)
///
/// # Safety
///
/// `head` must be the `callback_head` of a [`RawHead`] queued with an entry, whose ownership the
/// list hands over, and whose module reference [`get_module`] took.
#[inline(never)]
pub(crate) unsafe extern "C" fn trampoline(head: *mut bindings::callback_head) {
    // SAFETY: By the safety rule, `head` is the first field of a queued `RawHead`, whose `entry`
    // points at a `'static` entry. It is read before `func` consumes the item.
    let entry = unsafe { &**RawHead::entry(head.cast()) };
    let owner = entry.owner;
    // SAFETY: By the invariants of `Entry`, `func` consumes an item queued with `entry`; the
    // module reference keeps its code alive.
    unsafe { (entry.func)(head) };
    // SAFETY: Queuing took this reference; the module's code has returned.
    unsafe { put_module(owner) };
}

/// Takes a reference on `owner` for an item that is about to be queued. Returns false, taking
/// nothing, if the module is not live: still in its init function, which may yet fail (and then
/// the module is freed whatever its references), or being unloaded.
///
/// Built-in code has no module (a constant null), and then nothing is called at all.
#[inline]
pub(crate) fn get_module(owner: *mut bindings::module) -> bool {
    if owner.is_null() {
        return true;
    }
    #[cfg(CONFIG_MODULE_UNLOAD)]
    {
        // SAFETY: `owner` is the module of an item type that its caller holds: the module is
        // running, so its `struct module` is alive.
        if !unsafe { bindings::try_module_get(owner) } {
            return false;
        }
    }
    if !module_is_live(owner) {
        // SAFETY: Taken just above.
        unsafe { put_module(owner) };
        return false;
    }
    true
}

/// Whether code of `owner` may start something that outlives the current call: `owner` is null
/// (built-in code) or live (see [`module_is_live`]). The misc device's open uses it (patch
/// `rust: miscdevice: refuse opens while the owner module is not live`).
#[inline]
pub(crate) fn module_is_usable(owner: *mut bindings::module) -> bool {
    owner.is_null() || module_is_live(owner)
}

/// Whether `module` has finished its init function successfully and is not going away. A
/// module that was live and holds a reference taken by [`get_module`] stays live.
#[inline(never)]
fn module_is_live(module: *mut bindings::module) -> bool {
    // SAFETY: `module` is alive (see `get_module`); `state` changes under us, hence the volatile
    // read of the whole enum.
    let state = unsafe { ptr::read_volatile(&raw const (*module).state) };
    state == bindings::module_state_MODULE_STATE_LIVE
}

/// A module reference taken by [`get_module`], dropped with the value: a field declared last
/// drops it after everything else of its owner, module code included.
///
/// # Invariants
///
/// The value owns a reference on `0` taken by [`get_module`] (none if null).
pub(crate) struct ModuleRef(*mut bindings::module);

impl ModuleRef {
    /// Takes a reference on `owner`; `None` if [`get_module`] refuses it.
    #[inline]
    pub(crate) fn get(owner: *mut bindings::module) -> Option<Self> {
        // The value is made only once the reference is taken: a value made for a refused module
        // (as `then_some` would make it) would drop a reference that nobody took.
        if get_module(owner) {
            // INVARIANT: `get_module` took the reference.
            Some(Self(owner))
        } else {
            None
        }
    }
}

impl Drop for ModuleRef {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant, we own this reference.
        unsafe { put_module(self.0) };
    }
}

/// Drops a reference that [`get_module`] took.
///
/// Called from a module's own code (a cancel, a failed queueing, a handle's drop), it is inlined
/// there, and that code then returns into the module. This is sound for the same reason as any
/// module code running: whatever called into the module holds a reference of its own (an open
/// file's, say), or the module's exit waits for it (a thread it stops). Only the callbacks of the
/// C lists have neither, which is why [`trampoline`] drops their reference in built-in code.
///
/// # Safety
///
/// The caller must own a reference on `owner` taken by [`get_module`].
#[inline]
pub(crate) unsafe fn put_module(owner: *mut bindings::module) {
    if owner.is_null() {
        return;
    }
    #[cfg(CONFIG_MODULE_UNLOAD)]
    // SAFETY: The caller owns the reference.
    unsafe {
        bindings::module_put(owner)
    };
}
