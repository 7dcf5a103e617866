// SPDX-License-Identifier: GPL-2.0

//! Misc character devices.
//!
//! A [`MiscDeviceRegistration`] registers a device node under `/dev` (with a dynamic minor)
//! whose opens, closes and ioctls are served by a [`MiscDevice`] implementation. Each open file
//! gets its own state, [`MiscDevice::Ptr`], kept in the file's `private_data`.
//!
//! The file operations are one `static` table per [`MiscDevice`] type, whose owner is the
//! type's [`MiscDevice::OWNER`]: every open file points at that table and holds a reference on
//! the module, so neither the table nor the code can go away while a file is open, even after
//! the registration is dropped.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).
//!
//! # Examples
//!
//! ```
//! use kernel::miscdevice::{MiscDevice, MiscDeviceRegistration};
//! use kernel::prelude::*;
//! use kernel::{c_str, ThisModule};
//!
//! struct Echo;
//!
//! // SAFETY: Built-in code has no module, which C spells as a null `THIS_MODULE`.
//! static NOMODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
//!
//! impl MiscDevice for Echo {
//!     type Ptr = KBox<Echo>;
//!     const OWNER: &'static ThisModule = &NOMODULE;
//!
//!     fn open() -> Result<KBox<Echo>> {
//!         Ok(KBox::new(Echo, GFP_KERNEL)?)
//!     }
//!
//!     fn ioctl(_this: &Echo, cmd: u32, _arg: usize) -> Result<isize> {
//!         Ok(cmd as isize)
//!     }
//! }
//!
//! let reg = KBox::pin_init(
//!     MiscDeviceRegistration::<Echo>::register(c_str!("rust-misc-example"), &NOMODULE),
//!     GFP_KERNEL,
//! )?;
//! drop(reg);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    error::{to_result, Error, Result},
    ffi::{c_int, c_long, c_uint, c_ulong},
    init::{self, PinInit},
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::{marker::PhantomData, ptr};

/// The file operations of a misc device. One value per open file, made by [`MiscDevice::open`].
pub trait MiscDevice: Sized + 'static {
    /// The per-file state, kept in the file's `private_data` until the file is released.
    type Ptr: ForeignOwnable + Send + Sync;

    /// The module that implements the device: `&THIS_MODULE` of the crate that implements the
    /// trait. Its open files hold a reference on it. [`MiscDeviceRegistration::register`]
    /// checks it against the registering module, which instantiates the file operations. Both
    /// are trusted: safe code has no other module's `ThisModule` to name, but a type of the
    /// built-in kernel crate registered from a module would get a null owner.
    const OWNER: &'static ThisModule;

    /// Called on `open()`; returns the file's state.
    fn open() -> Result<Self::Ptr>;

    /// Called when the last reference to the file goes away.
    fn release(device: Self::Ptr) {
        drop(device);
    }

    /// Called on `ioctl()`. `arg` is the raw argument, often a user pointer
    /// (see [`UserSlice`](crate::uaccess::UserSlice)). The default refuses every command with
    /// `ENOTTY`.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        Err(ENOTTY)
    }
}

/// A registered misc device; deregistered on drop.
///
/// It must be dropped before its module is unloaded, which holding it in the module's data
/// does. A registration that is leaked (`mem::forget`) stays on the misc list after `rmmod`,
/// pointing at the freed module's table and name, as a C driver that never deregisters does:
/// the registration holds no module reference, since the module's own exit drops it.
///
/// # Invariants
///
/// `misc` is registered with `misc_register`, and its `fops` points at `T`'s static table, from
/// `register` until `drop`.
pub struct MiscDeviceRegistration<T: MiscDevice> {
    misc: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: The registration only holds C structures that the misc core synchronises.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}
// SAFETY: Shared references give no access to anything.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device named `name` (the node is `/dev/<name>`), from `module`, which
    /// must be `T::OWNER`: the module whose code serves the files. Fails with `EINVAL` if not.
    pub fn register(name: &'static CStr, module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // The table's code is instantiated in the registering crate; its owner must be that
            // crate's module.
            if module.as_ptr() != T::OWNER.as_ptr() {
                return Err(EINVAL);
            }
            let fops: &'static bindings::file_operations = Vtable::<T>::get();
            // SAFETY: `slot` is valid for writes, and pinned; all-zeroes is a valid value of the C
            // struct. The table and `name` live forever.
            unsafe {
                let misc = Opaque::raw_get(ptr::addr_of!((*slot).misc));
                misc.write(core::mem::zeroed());
                (*misc).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                (*misc).name = name.as_char_ptr();
                (*misc).fops = fops;
                to_result(bindings::misc_register(misc))
            }
        };
        // SAFETY: On success `init` initialised every field (`_t` needs nothing) and the
        // registration refers to the pinned slot; on failure nothing is registered.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// Returns the minor number the device got.
    pub fn minor(&self) -> i32 {
        // SAFETY: `misc` is registered; `minor` does not change while it is.
        unsafe { (*self.misc.get()).minor }
    }
}

impl<T: MiscDevice> Drop for MiscDeviceRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `misc` is registered.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// The file operations of `T`'s files: one `'static` table per type, which open files keep
/// pointing at after the registration is gone.
struct Vtable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> Vtable<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        owner: T::OWNER.as_ptr(),
        open: Some(open::<T>),
        release: Some(release::<T>),
        unlocked_ioctl: Some(ioctl::<T>),
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: Some(bindings::compat_ptr_ioctl),
        llseek: Some(bindings::noop_llseek),
        // SAFETY: All-zeroes is a valid `file_operations`: every other operation is absent.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    fn get() -> &'static bindings::file_operations {
        &Self::FOPS
    }
}

/// The table of a refused open: built in, with no owner.
struct RefusedFops(bindings::file_operations);

// SAFETY: The table is never written; its fields are function pointers and a null owner.
unsafe impl Sync for RefusedFops {}

static REFUSED_FOPS: RefusedFops = RefusedFops(bindings::file_operations {
    // SAFETY: All-zeroes is a valid `file_operations`: no operations, no owner.
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
});

/// Points a file whose open is refused at [`REFUSED_FOPS`], and drops the module reference that
/// `misc_open` took for the old table, as `replace_fops()` does. It runs while `misc_open` holds
/// `misc_mtx`: the failing init of the module cannot finish deregistering (and the module
/// cannot be freed) before it returns. The open's error path then puts only the built-in table,
/// touching no module memory.
///
/// # Safety
///
/// `file` must be a file that `misc_open` is opening, whose `f_op` it took a reference for.
#[inline(never)]
unsafe fn refuse_open(file: *mut bindings::file) {
    // SAFETY: As the caller promises; the old table is alive, see above.
    unsafe {
        let old = (*file).f_op;
        (*file).f_op = &REFUSED_FOPS.0;
        if !old.is_null() {
            crate::owned::put_module((*old).owner);
        }
    }
}

/// # Safety
///
/// Called by the VFS through `misc_open` with a valid `file`.
unsafe extern "C" fn open<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // A file opened while the module's init still runs would outlive a failing init, which
    // frees the module whatever its references: refuse it. A live module stays live while the
    // file holds the reference that `misc_open` took.
    if !crate::owned::module_is_usable(T::OWNER.as_ptr()) {
        // SAFETY: `file` is being opened by `misc_open`, with our table as its `f_op`.
        unsafe { refuse_open(file) };
        return ENODEV.to_errno();
    }
    match T::open() {
        Ok(dev) => {
            // SAFETY: `file` is valid; `private_data` is ours from here until `release`.
            unsafe { (*file).private_data = dev.into_foreign().cast_mut() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS with a file that `open::<T>` opened.
unsafe extern "C" fn release<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `open` stored `into_foreign` in `private_data`, and release is called once.
    let dev = unsafe { T::Ptr::from_foreign((*file).private_data) };
    T::release(dev);
    0
}

/// # Safety
///
/// Called by the VFS with a file that `open::<T>` opened, before its release.
unsafe extern "C" fn ioctl<T: MiscDevice>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: `private_data` holds the file's state until release, which cannot run during an
    // ioctl on the same file.
    let dev = unsafe { T::Ptr::borrow((*file).private_data) };
    match T::ioctl(dev, cmd, arg) {
        Ok(r) => r as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}
