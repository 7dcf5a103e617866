// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "cannot be shared between threads safely"

//! A vhost worker is shared by its thread and its handle's users: it must be `Sync`.

use core::cell::Cell;
use kernel::prelude::*;
use kernel::vhost_task::{
    VhostWorker,
    WorkerContext, //
};

module! {
    type: Case,
    name: "vhost_worker_not_sync",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Counter {
    runs: Cell<u32>,
}
impl VhostWorker for Counter {
    fn work(&self, _ctx: &mut WorkerContext) -> bool {
        self.runs.set(self.runs.get() + 1);
        false
    }
    fn killed(&self) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
