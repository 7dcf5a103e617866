// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "Sealed` is not satisfied"

//! The flavours are sealed: code outside the kernel crate cannot make its own, whose
//! `raw_call` would be trusted to queue callbacks correctly.

use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    Flavour, //
};

module! {
    type: Case,
    name: "rcu_flavour_sealed",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Fake;
impl Flavour for Fake {
    const NAME: &'static str = "fake";
    fn synchronize() {}
}
impl CallFlavour for Fake {
    unsafe fn raw_call(
        _head: *mut bindings::callback_head,
        _func: unsafe extern "C" fn(*mut bindings::callback_head),
    ) {
    }
    fn barrier() {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Fake::barrier();
        Ok(Case)
    }
}
