// SPDX-License-Identifier: GPL-2.0
// expect: E0200 "requires an `unsafe impl` declaration"

//! `notify` runs under the eventfd's wait queue lock, where dropping a watch on that eventfd
//! deadlocks: implementing `WatchTarget` is an `unsafe` promise not to.

use kernel::eventfd::WatchTarget;
use kernel::prelude::*;

module! {
    type: Case,
    name: "watch_target_safe_impl",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Local;
impl WatchTarget for Local {
    fn notify(&self) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
