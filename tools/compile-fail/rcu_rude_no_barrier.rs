// SPDX-License-Identifier: GPL-2.0
// expect: E0599 "named `barrier` found for struct `TasksRude`"

//! With no callbacks, `TasksRude` has no barrier either.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    TasksRude, //
};

module! {
    type: Case,
    name: "rcu_rude_no_barrier",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        TasksRude::barrier();
        Ok(Case)
    }
}
