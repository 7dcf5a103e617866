// SPDX-License-Identifier: GPL-2.0

//! Owning pointers that can be handed to C as a raw pointer to their item.
//!
//! C lists such as a task's task work or an RCU callback list hold an item through a field
//! embedded in it. While the item is on such a list, the list owns it: the Rust owning pointer is
//! turned into a raw pointer to the item, and turned back when C hands the item back.
//! [`ForeignOwnable`](crate::types::ForeignOwnable) does not fit, since its raw pointer need not
//! point at the item.

use crate::{alloc::KBox, error::Error, sync::Arc};
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};

/// An owning pointer to a `T` that can round-trip through a raw `*mut T`: [`Arc<T>`] or
/// `Pin<KBox<T>>`.
///
/// # Safety
///
/// `from_raw(into_raw(p))` must give back `p`, and while the raw pointer is out, the item must
/// neither move nor be freed.
///
/// # Examples
///
/// ```
/// use kernel::owned::OwnedPointer;
/// use kernel::prelude::*;
///
/// let b = KBox::pin(7u32, GFP_KERNEL)?;
/// let raw = OwnedPointer::into_raw(b);
/// // SAFETY: `raw` comes from `into_raw` and is used once.
/// let b: Pin<KBox<u32>> = unsafe { OwnedPointer::from_raw(raw) };
/// assert_eq!(*b, 7);
/// # Ok::<(), Error>(())
/// ```
pub unsafe trait OwnedPointer<T>: Sized {
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
