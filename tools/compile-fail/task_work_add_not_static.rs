// SPDX-License-Identifier: GPL-2.0
// expect: E0597 "does not live long enough"

//! A task work item runs later, on another task: `add` refuses one that borrows from the caller's
//! stack.

use kernel::prelude::*;
use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};

module! {
    type: Case,
    name: "task_work_add_not_static",
    author: "rust-vhost developers",
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Note<'a> {
    limit: &'a u32,
    work: TaskWork<Note<'a>>,
}
kernel::impl_has_task_work! { impl{'a} HasTaskWork<Note<'a>> for Note<'a> { self.work } }
impl<'a> TaskWorkItem for Note<'a> {
    type Pointer = Pin<KBox<Note<'a>>>;
    fn run(this: Pin<KBox<Note<'a>>>) {
        pr_info!("{}\n", this.limit);
    }
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let limit = 5;
        let note = KBox::pin(
            Note {
                limit: &limit,
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )?;
        task_work::add(current!(), note, Notify::Signal)?;
        Ok(Case)
    }
}
