// SPDX-License-Identifier: GPL-2.0
// expect: E0599 "named `free` found for struct `TasksRude`"

//! With no callbacks, `TasksRude` cannot free an object after a grace period either.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    RcuHead,
    TasksRude, //
};

module! {
    type: Case,
    name: "rcu_rude_no_free",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Old {
    rcu: RcuHead<Old>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Old> for Old { self.rcu } }

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        TasksRude::free(KBox::pin(
            Old {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        Ok(Case)
    }
}
