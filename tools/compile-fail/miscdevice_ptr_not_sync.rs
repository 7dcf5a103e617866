// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be shared between threads safely"

//! A misc device's per-file state is used by concurrent ioctls: mainline's `MiscDevice` (which
//! the project uses since 7.3) requires it to be `Sync`.

use core::cell::Cell;
use kernel::fs::File;
use kernel::miscdevice::{
    MiscDevice,
    MiscDeviceRegistration, //
};
use kernel::prelude::*;

module! {
    type: Case,
    name: "miscdevice_ptr_not_sync",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Dev {
    count: Cell<u32>,
}

#[vtable]
impl MiscDevice for Dev {
    type Ptr = KBox<Dev>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Dev>> {
        Ok(KBox::new(
            Dev {
                count: Cell::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn ioctl(this: &Dev, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        this.count.set(this.count.get() + 1);
        Ok(0)
    }
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
