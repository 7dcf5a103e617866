// SPDX-License-Identifier: GPL-2.0
// expect: E0597 "does not live long enough"

//! `TasksTrace::free` hands the item to a callback that runs after a grace period, in another task: it
//! refuses one that borrows from the caller's stack.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{CallFlavour, RcuHead, TasksTrace};

module! {
    type: Case,
    name: "rcu_trace_free_not_static",
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

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let limit = 5;
        let cb = KBox::pin(
            Cb {
                limit: &limit,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?;
        pr_info!("{}\n", cb.limit);
        TasksTrace::free(cb)?;
        Ok(Case)
    }
}
