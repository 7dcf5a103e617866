// SPDX-License-Identifier: GPL-2.0

//! Proof of life for the rust-vhost harness: a module that is built with
//! `M=` against the patched tree, loaded, and unloaded in the guest.

use kernel::{
    prelude::*,
    time::{
        Instant,
        Monotonic, //
    },
};

module! {
    type: RustVhostHello,
    name: "rust_vhost_hello",
    authors: ["Rust for Linux Contributors"],
    description: "Proof-of-life module for the rust-vhost harness",
    license: "GPL",
}

struct RustVhostHello {
    loaded_at: Instant<Monotonic>,
}

impl kernel::Module for RustVhostHello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let loaded_at = Instant::now();
        pr_info!("loaded\n");
        Ok(Self { loaded_at })
    }
}

impl Drop for RustVhostHello {
    fn drop(&mut self) {
        pr_info!(
            "unloaded after {} ms\n",
            self.loaded_at.elapsed().as_millis()
        );
    }
}
