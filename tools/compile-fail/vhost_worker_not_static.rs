// SPDX-License-Identifier: GPL-2.0
// expect: E0310 "may not live long enough"

//! A vhost worker outlives any caller's stack frame: it must be `'static`, so a generic worker
//! must require it of what it holds.

use kernel::prelude::*;
use kernel::vhost_task::{
    VhostWorker,
    WorkerContext, //
};

module! {
    type: Case,
    name: "vhost_worker_not_static",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Holder<T> {
    value: T,
}
impl<T: Send + Sync> VhostWorker for Holder<T> {
    fn work(&self, _ctx: &mut WorkerContext) -> bool {
        let _ = &self.value;
        false
    }
    fn killed(&self) {}
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
