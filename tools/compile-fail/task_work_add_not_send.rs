// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be sent between threads safely"

//! A task work item may run on another task than the one that queued it: `add` refuses one that
//! is not `Send`.

use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::task_work::{
    self,
    Notify,
    TaskWork,
    TaskWorkItem, //
};

module! {
    type: Case,
    name: "task_work_add_not_send",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Local {
    _not_send: PhantomData<*mut ()>,
    work: TaskWork<Local>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Local> for Local { self.work } }
impl TaskWorkItem for Local {
    type Pointer = Pin<KBox<Local>>;
    fn run(_this: Pin<KBox<Local>>) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let item = KBox::pin(
            Local {
                _not_send: PhantomData,
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )?;
        task_work::add(current!(), item, Notify::Signal)?;
        Ok(Case)
    }
}
