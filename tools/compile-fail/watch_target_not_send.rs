// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be sent between threads safely"

//! An eventfd watch target is called from whichever task writes the eventfd: it must be `Send`
//! (and `Sync`).

use core::marker::PhantomData;
use kernel::eventfd::WatchTarget;
use kernel::prelude::*;

module! {
    type: Case,
    name: "watch_target_not_send",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Local {
    _not_send: PhantomData<*mut ()>,
}
// SAFETY: `notify` does nothing.
unsafe impl WatchTarget for Local {
    fn notify(&self) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
