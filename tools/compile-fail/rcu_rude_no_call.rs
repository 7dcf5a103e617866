// SPDX-License-Identifier: GPL-2.0
// expect: E0599 "expected a `Fn<_>` closure, found `TasksRude`"

//! The kernel has no `call_rcu_tasks_rude()` (6.12 dropped it, and 7.3 has none), so `TasksRude`
//! has no `call`.
//! (rustc words the error as a missing `Fn::call`, the other `call` in scope.)

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    RcuHead,
    RcuTasksItem,
    TasksRude, //
};

module! {
    type: Case,
    name: "rcu_rude_no_call",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Cb {
    rcu: RcuHead<Cb>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Cb> for Cb { self.rcu } }
impl RcuTasksItem for Cb {
    type Pointer = Pin<KBox<Cb>>;
    fn run(_this: Pin<KBox<Cb>>) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        TasksRude::call(KBox::pin(
            Cb {
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        Ok(Case)
    }
}
