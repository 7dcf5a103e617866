// SPDX-License-Identifier: GPL-2.0

//! String module parameters.
//!
//! 6.12's `module!` macro has no parameters. [`module_str_param!`](crate::module_str_param)
//! declares one string parameter of a loadable module, set at load time (`insmod m.ko
//! name=value`) and read-only afterwards (no sysfs file). It is the C `module_param(x, charp, 0)`.
//! The description documents the parameter in the source; it is not put in `.modinfo`, since
//! `rustc` emits statics marked `#[used]` there as a separate retained section, and modpost only
//! reads the first `.modinfo` section.
//!
//! C header: [`include/linux/moduleparam.h`](srctree/include/linux/moduleparam.h).
//!
//! # Examples
//!
//! ```
//! use kernel::c_str;
//!
//! kernel::module_str_param! {
//!     /// The device name.
//!     static NAME: "name" = c_str!("example"), "the device name";
//! }
//!
//! // Built-in code has no load time, so the default is what it reads.
//! assert_eq!(NAME.get().as_bytes(), b"example");
//! ```

use crate::{bindings, ffi::c_char, str::CStr};
use core::cell::UnsafeCell;

/// The value of a string parameter: what the loader set, or a default.
///
/// # Invariants
///
/// `value` is null or points at a NUL-terminated string that `param_set_charp` stored, which
/// lives until the module is unloaded. It is written only by the module loader, before the
/// module's init function runs (the parameter has no sysfs file), and never afterwards.
pub struct StrParam {
    value: UnsafeCell<*mut c_char>,
    default: &'static CStr,
}

// SAFETY: `value` is only written by the module loader, before the module's init runs, and
// with no sysfs file it is never written again; afterwards it is only read.
unsafe impl Sync for StrParam {}

impl StrParam {
    /// A parameter whose value is `default` unless set at load time.
    pub const fn new(default: &'static CStr) -> Self {
        Self {
            value: UnsafeCell::new(core::ptr::null_mut()),
            default,
        }
    }

    /// Returns the parameter's value.
    pub fn get(&self) -> &CStr {
        // SAFETY: By the type invariant, no writer runs once module code can run.
        let p = unsafe { *self.value.get() };
        if p.is_null() {
            self.default
        } else {
            // SAFETY: By the type invariant, `p` is a NUL-terminated string that stays until the
            // module is unloaded, after which no module code runs.
            unsafe { CStr::from_char_ptr(p) }
        }
    }

    #[doc(hidden)]
    pub const fn as_arg(&'static self) -> *mut crate::ffi::c_void {
        self.value.get().cast()
    }
}

/// A `struct kernel_param`, to be placed in the `__param` section.
#[doc(hidden)]
#[repr(transparent)]
pub struct RawParam(pub bindings::kernel_param);

// SAFETY: The loader reads it; module code never touches it.
unsafe impl Sync for RawParam {}

/// Declares a string parameter of a loadable module.
///
/// `static NAME: "name" = default, "description";` declares `NAME`, a
/// [`StrParam`](crate::module_param::StrParam), set by `name=...` at `insmod` time. Built-in
/// code only ever sees the default. See the [module docs](crate::module_param).
#[macro_export]
macro_rules! module_str_param {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $pname:literal = $default:expr,
     $desc:literal;) => {
        const _: &str = $desc;
        $(#[$attr])*
        $vis static $name: $crate::module_param::StrParam =
            $crate::module_param::StrParam::new($default);

        #[cfg(MODULE)]
        const _: () = {
            #[link_section = "__param"]
            #[used]
            static PARAM: $crate::module_param::RawParam =
                $crate::module_param::RawParam($crate::bindings::kernel_param {
                    name: $crate::c_str!($pname).as_char_ptr(),
                    mod_: ::core::ptr::null_mut(),
                    // SAFETY: Only takes the address of the C `param_ops_charp`.
                    ops: unsafe { ::core::ptr::addr_of!($crate::bindings::param_ops_charp) },
                    perm: 0,
                    level: -1,
                    flags: 0,
                    __bindgen_anon_1: $crate::bindings::kernel_param__bindgen_ty_1 {
                        arg: $name.as_arg(),
                    },
                });
        };
    };
}
