// SPDX-License-Identifier: GPL-2.0
// expect: E0505 "cannot move out of `guard` because it is borrowed"

//! An object read from a `TracePointer` cannot be used after its read-side guard is dropped.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    RcuHead,
    TasksTrace,
    TracePointer, //
};

module! {
    type: Case,
    name: "rcu_trace_pointer_outlives_guard",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Config {
    limit: u32,
    rcu: RcuHead<Config>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Config> for Config { self.rcu } }

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let cfg = TracePointer::<Config>::new();
        let guard = TasksTrace::read_lock();
        let c = cfg.get(&guard);
        drop(guard);
        pr_info!("{:?}\n", c.map(|c| c.limit));
        Ok(Case)
    }
}
