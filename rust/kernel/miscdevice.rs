// SPDX-License-Identifier: GPL-2.0

//! Misc character devices.
//!
//! A [`MiscDeviceRegistration`] registers a device node under `/dev` (with a dynamic minor)
//! whose opens, closes and ioctls are served by a [`MiscDevice`] implementation. Each open file
//! gets its own state, [`MiscDevice::Ptr`], kept in the file's `private_data`.
//!
//! The registration takes the owning module, so an open file holds a reference on it and the
//! module cannot be unloaded while a file is open.
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
//! impl MiscDevice for Echo {
//!     type Ptr = KBox<Echo>;
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
//! // SAFETY: Built-in code has no module, which C spells as a null `THIS_MODULE`.
//! static NOMODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
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
pub trait MiscDevice: Sized {
    /// The per-file state, kept in the file's `private_data` until the file is released.
    type Ptr: ForeignOwnable + Send + Sync;

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
/// # Invariants
///
/// `misc` is registered with `misc_register`, and its `fops` points at `fops`, from `register`
/// until `drop`.
pub struct MiscDeviceRegistration<T: MiscDevice> {
    fops: Opaque<bindings::file_operations>,
    misc: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: The registration only holds C structures that the misc core synchronises.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}
// SAFETY: Shared references give no access to anything.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device named `name` (the node is `/dev/<name>`), owned by `module`.
    pub fn register(name: &'static CStr, module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes, and pinned; all-zeroes is a valid value of both
            // C structs. `fops` is set up before `misc` points at it, and `name` lives forever.
            unsafe {
                let fops = Opaque::raw_get(ptr::addr_of!((*slot).fops));
                fops.write(core::mem::zeroed());
                (*fops).owner = module.as_ptr();
                (*fops).open = Some(open::<T>);
                (*fops).release = Some(release::<T>);
                (*fops).unlocked_ioctl = Some(ioctl::<T>);
                #[cfg(CONFIG_COMPAT)]
                {
                    (*fops).compat_ioctl = Some(bindings::compat_ptr_ioctl);
                }
                (*fops).llseek = Some(bindings::noop_llseek);
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

/// # Safety
///
/// Called by the VFS through `misc_open` with a valid `file`.
unsafe extern "C" fn open<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
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
