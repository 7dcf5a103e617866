// SPDX-License-Identifier: GPL-2.0
// expect: E0382 "borrow of moved value: `task`"

//! Dropping a `VhostTask` stops its thread, so the handle cannot be woken afterwards.

use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::vhost_task::{
    VhostTask,
    VhostWorker,
    WorkerContext, //
};

module! {
    type: Case,
    name: "vhost_task_wake_after_drop",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Idle;
impl VhostWorker for Idle {
    fn work(&self, _ctx: &mut WorkerContext) -> bool {
        false
    }
    fn killed(&self) {}
}

impl kernel::Module for Case {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let task = VhostTask::start(module, Arc::new(Idle, GFP_KERNEL)?)?;
        drop(task);
        task.wake();
        Ok(Case)
    }
}
