// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be sent between threads safely"

//! `Tasks::call` hands the item to a callback in the flavour's kernel thread: it refuses one that is
//! not `Send`.

use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    RcuHead,
    RcuTasksItem,
    Tasks, //
};

module! {
    type: Case,
    name: "rcu_tasks_call_not_send",
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
impl RcuTasksItem for Cb {
    type Pointer = Pin<KBox<Cb>>;
    fn run(_this: Pin<KBox<Cb>>) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Tasks::call(KBox::pin(
            Cb {
                _not_send: PhantomData,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        Ok(Case)
    }
}
