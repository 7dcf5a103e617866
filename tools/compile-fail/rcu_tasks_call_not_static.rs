// SPDX-License-Identifier: GPL-2.0
// expect: E0597 "does not live long enough"

//! `Tasks::call` hands the item to a callback that runs after a grace period, in another task: it
//! refuses one that borrows from the caller's stack.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{CallFlavour, RcuHead, RcuTasksItem, Tasks};

module! {
    type: Case,
    name: "rcu_tasks_call_not_static",
    author: "rust-vhost developers",
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Cb<'a> {
    limit: &'a u32,
    rcu: RcuHead<Cb<'a>>,
}
kernel::impl_has_rcu_head! { impl{'a} HasRcuHead<Cb<'a>> for Cb<'a> { self.rcu } }
impl<'a> RcuTasksItem for Cb<'a> {
    type Pointer = Pin<KBox<Cb<'a>>>;
    fn run(this: Pin<KBox<Cb<'a>>>) {
        pr_info!("{}\n", this.limit);
    }
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let limit = 5;
        Tasks::call(KBox::pin(
            Cb {
                limit: &limit,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        Ok(Case)
    }
}
