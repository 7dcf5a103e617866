// SPDX-License-Identifier: GPL-2.0
// expect: E0133 "is unsafe and requires unsafe"

//! `cancel_match` runs its predicate under the target task's `pi_lock` with interrupts off, which
//! the type system cannot check (it must not sleep): calling it is `unsafe`.

use kernel::prelude::*;
use kernel::task_work::{
    self,
    TaskWork,
    TaskWorkItem, //
};

module! {
    type: Case,
    name: "task_work_cancel_match_safe",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Job {
    id: u32,
    work: TaskWork<Job>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Job> for Job { self.work } }
impl TaskWorkItem for Job {
    type Pointer = Pin<KBox<Job>>;
    fn run(_this: Pin<KBox<Job>>) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let job = task_work::cancel_match::<Job, 0>(current!(), |j| j.id == 2);
        drop(job);
        Ok(Case)
    }
}
