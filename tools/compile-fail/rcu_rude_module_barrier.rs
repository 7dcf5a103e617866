// SPDX-License-Identifier: GPL-2.0
// expect: E0277 "the trait bound `TasksRude: CallFlavour` is not satisfied"

//! A `ModuleBarrier` needs a flavour with callbacks: there is none for Tasks Rude.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{ModuleBarrier, TasksRude};

module! {
    type: Case,
    name: "rcu_rude_module_barrier",
    author: "rust-vhost developers",
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

/// Module data that would wait for Tasks Rude callbacks at exit.
struct Data {
    _rcu: ModuleBarrier<TasksRude>,
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
