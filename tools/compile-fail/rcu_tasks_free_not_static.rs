// SPDX-License-Identifier: GPL-2.0
// expect: E0310 "may not live long enough"

//! `Tasks::free` drops the item after a grace period, in another task: it refuses an item type
//! that may borrow (a type parameter with no `'static` bound).
use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    HasRcuHead,
    Tasks, //
};

module! {
    type: Case,
    name: "rcu_tasks_free_not_static",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

fn drop_later<T: HasRcuHead<T> + Send>(item: Pin<KBox<T>>) -> Result {
    Tasks::free(item)?;
    Ok(())
}

impl kernel::Module for Case {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Case)
    }
}
