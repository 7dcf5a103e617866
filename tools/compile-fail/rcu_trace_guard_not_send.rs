// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be sent between threads safely"

//! A Tasks Trace read-side guard must be dropped on the task that took it: it is not `Send`.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::TasksTrace;

module! {
    type: Case,
    name: "rcu_trace_guard_not_send",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;
fn need_send<T: Send>(_: T) {}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        need_send(TasksTrace::read_lock());
        Ok(Case)
    }
}
