// SPDX-License-Identifier: GPL-2.0
// expect: E0310 "may not live long enough"

//! A task work item runs later, on another task: `add` refuses an item type that may borrow
//! (here a type parameter with no `'static` bound). `impl_has_task_work!` already refuses item
//! types with lifetimes, since their entry is a `static`; this checks `add`'s own bound.
use kernel::prelude::*;
use kernel::task_work::{
    self,
    Notify,
    TaskWorkItem, //
};

module! {
    type: Case,
    name: "task_work_add_not_static",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

fn queue<T: TaskWorkItem<Pointer = Pin<KBox<T>>> + Send>(item: Pin<KBox<T>>) -> Result {
    task_work::add(current!(), item, Notify::Signal)?;
    Ok(())
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
