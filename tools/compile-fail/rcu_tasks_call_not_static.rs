// SPDX-License-Identifier: GPL-2.0
// expect: E0310 "may not live long enough"

//! `Tasks::call` hands the item to a callback that runs after a grace period, in another task: it
//! refuses an item type that may borrow (a type parameter with no `'static` bound).
use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    RcuTasksItem,
    Tasks, //
};

module! {
    type: Case,
    name: "rcu_tasks_call_not_static",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

fn queue<T: RcuTasksItem<Pointer = Pin<KBox<T>>> + Send>(item: Pin<KBox<T>>) -> Result {
    Tasks::call(item)?;
    Ok(())
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
