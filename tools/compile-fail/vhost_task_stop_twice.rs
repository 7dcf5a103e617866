// SPDX-License-Identifier: GPL-2.0
// expect: E0382 "use of moved value: `task`"

//! Stopping consumes the `VhostTask`, so a worker cannot be stopped twice.

use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::vhost_task::{
    VhostTask,
    VhostWorker,
    WorkerContext, //
};

module! {
    type: Case,
    name: "vhost_task_stop_twice",
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
        drop(task);
        Ok(Case)
    }
}
