// SPDX-License-Identifier: GPL-2.0
// expect: E0133 "is unsafe and requires unsafe"

//! `raw::cancel_func` takes any head with the given function off a task's list, whoever owns it:
//! calling it is `unsafe`.

use kernel::bindings;
use kernel::prelude::*;
use kernel::task_work;

module! {
    type: Case,
    name: "task_work_raw_cancel_func_safe",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

unsafe extern "C" fn func(_head: *mut bindings::callback_head) {}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let head = task_work::raw::cancel_func(current!(), func);
        pr_info!("{:?}\n", head);
        Ok(Case)
    }
}
