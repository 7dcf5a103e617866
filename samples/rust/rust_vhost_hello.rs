// SPDX-License-Identifier: GPL-2.0

//! Proof of life for the rust-vhost harness: a module that is built with
//! `M=` against the patched tree, loaded, and unloaded in the guest.

use kernel::prelude::*;

module! {
    type: RustVhostHello,
    name: "rust_vhost_hello",
    author: "rust-vhost developers",
    description: "Proof-of-life module for the rust-vhost harness",
    license: "GPL",
}

struct RustVhostHello {
    loaded_at: i64,
}

impl kernel::Module for RustVhostHello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `ktime_get` has no preconditions.
        let loaded_at = unsafe { kernel::bindings::ktime_get() };
        pr_info!("loaded\n");
        Ok(Self { loaded_at })
    }
}

impl Drop for RustVhostHello {
    fn drop(&mut self) {
        // SAFETY: `ktime_get` has no preconditions.
        let now = unsafe { kernel::bindings::ktime_get() };
        pr_info!("unloaded after {} ms\n", (now - self.loaded_at) / 1_000_000);
    }
}
