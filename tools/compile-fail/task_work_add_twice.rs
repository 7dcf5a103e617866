// SPDX-License-Identifier: GPL-2.0
// expect: E0382 "use of moved value: `job`"

//! A uniquely owned (`Pin<KBox>`) task work item cannot be queued again while it is queued: `add`
//! takes the box.

use kernel::prelude::*;
use kernel::task_work::{
    self,
    Notify,
    TaskWork,
    TaskWorkItem, //
};

module! {
    type: Case,
    name: "task_work_add_twice",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Job {
    work: TaskWork<Job>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Job> for Job { self.work } }
impl TaskWorkItem for Job {
    type Pointer = Pin<KBox<Job>>;
    fn run(_this: Pin<KBox<Job>>) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let job = KBox::pin(
            Job {
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )?;
        task_work::add(current!(), job, Notify::None)?;
        task_work::add(current!(), job, Notify::None)?;
        Ok(Case)
    }
}
