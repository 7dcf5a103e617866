// SPDX-License-Identifier: GPL-2.0
// expect: E0308 "mismatched types"

//! `impl_has_task_work!` only compiles if the named field is a `TaskWork` of the item type.

use kernel::prelude::*;
use kernel::task_work::{
    TaskWork,
    TaskWorkItem, //
};

module! {
    type: Case,
    name: "task_work_field_type",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Other;

struct Job {
    work: TaskWork<Other>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Job> for Job { self.work } }
impl TaskWorkItem for Job {
    type Pointer = Pin<KBox<Job>>;
    fn run(_this: Pin<KBox<Job>>) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let job = Job {
            work: TaskWork::new(),
        };
        pr_info!("{}\n", job.work.is_queued());
        Ok(Case)
    }
}
