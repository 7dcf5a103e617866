// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be sent between threads safely"

//! `TasksTrace::free` hands the item to a callback in the flavour's kernel thread: it refuses one that is
//! not `Send`.

use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    RcuHead,
    TasksTrace, //
};

module! {
    type: Case,
    name: "rcu_trace_free_not_send",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Cb {
    _not_send: PhantomData<*mut ()>,
    rcu: RcuHead<Cb>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Cb> for Cb { self.rcu } }

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        TasksTrace::free(KBox::pin(
            Cb {
                _not_send: PhantomData,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        Ok(Case)
    }
}
