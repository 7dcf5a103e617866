// SPDX-License-Identifier: GPL-2.0

//! String module parameters.
//!
//! The `params` of [`module!`](macros::module) take integers and `bool` only.
//! [`module_str_param!`](crate::module_str_param) declares one string parameter of a loadable
//! module, set at load time (`insmod m.ko name=value`) and read-only afterwards (no sysfs file).
//! It is the C `module_param(x, charp, 0)` with its `MODULE_PARM_DESC()`: `modinfo` shows the
//! parameter and its description.
//!
//! C header: [`include/linux/moduleparam.h`](srctree/include/linux/moduleparam.h).
//!
//! # Examples
//!
//! ```
//! kernel::module_str_param! {
//!     /// The device name.
//!     static NAME: "name" = c"example", "the device name";
//! }
//!
//! // Built-in code has no load time, so the default is what it reads.
//! assert_eq!(NAME.get().to_bytes(), b"example");
//! ```

use crate::{
    ffi::{
        c_char,
        c_void, //
    },
    str::{
        CStr,
        CStrExt as _, //
    }, //
};
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
        // INVARIANT: Null until the loader sets it.
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

    /// The `arg` of the parameter's `struct kernel_param`: where `param_set_charp` stores the
    /// string.
    #[doc(hidden)]
    pub const fn as_arg(&'static self) -> *mut c_void {
        self.value.get().cast()
    }

    /// Copies `s`, whose length is `N`, into an array: a `.modinfo` entry of
    /// [`module_str_param!`](crate::module_str_param).
    #[doc(hidden)]
    pub const fn modinfo<const N: usize>(s: &str) -> [u8; N] {
        let bytes = s.as_bytes();
        let mut out = [0u8; N];
        let mut i = 0;
        while i < N {
            out[i] = bytes[i];
            i += 1;
        }
        out
    }
}

/// Declares a string parameter of a loadable module.
///
/// `static NAME: "name" = default, "description";` declares `NAME`, a
/// [`StrParam`](crate::module_param::StrParam), set by `name=...` at `insmod` time, with
/// `default` a `&'static CStr` (a `c"..."` literal). Built-in code only ever sees the default.
/// See the [module docs](crate::module_param::StrParam).
#[macro_export]
macro_rules! module_str_param {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $pname:literal = $default:expr,
     $desc:literal;) => {
        $(#[$attr])*
        $vis static $name: $crate::module_param::StrParam =
            $crate::module_param::StrParam::new($default);

        #[cfg(MODULE)]
        const _: () = {
            extern "C" {
                static __this_module: $crate::types::Opaque<$crate::bindings::module>;
            }

            #[link_section = "__param"]
            #[used(compiler)]
            static PARAM: $crate::module_param::KernelParam =
                $crate::module_param::KernelParam::new($crate::bindings::kernel_param {
                    name: $crate::str::as_char_ptr_in_const_context(
                        $crate::c_str!($pname),
                    ),
                    mod_: $crate::types::Opaque::cast_into(&raw const __this_module),
                    ops: &raw const $crate::bindings::param_ops_charp,
                    // Not in sysfs: the loader is the only writer.
                    perm: 0,
                    level: -1,
                    flags: 0,
                    __bindgen_anon_1: $crate::bindings::kernel_param__bindgen_ty_1 {
                        arg: $name.as_arg(),
                    },
                });

            // What `modinfo` shows, as `MODULE_PARM_DESC()` and `module_param()` write it.
            const PARM: &str = concat!("parm=", $pname, ":", $desc, "\0");
            const PARMTYPE: &str = concat!("parmtype=", $pname, ":charp\0");
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static MODINFO_PARM: [u8; PARM.len()] = $crate::module_param::StrParam::modinfo(PARM);
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static MODINFO_PARMTYPE: [u8; PARMTYPE.len()] =
                $crate::module_param::StrParam::modinfo(PARMTYPE);
        };
    };
}
