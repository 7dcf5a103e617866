// SPDX-License-Identifier: GPL-2.0

//! The parts of `drivers/vhost/vhost.c` that a vhost device written in Rust needs.
//!
//! A vhost device serves virtqueues whose rings live in the memory of the task that owns the
//! device (a VMM such as QEMU, or a test program), from a worker thread of that task
//! ([`crate::vhost_task`]). This module grows, piece by piece, into the reusable core of such
//! devices; it does not use `vhost.ko`.
//!
//! - [`mem`]: the memory table, which maps the driver's addresses to the owner's user addresses.
//! - [`ring`]: the split virtqueue: available chains in, used chains out, kicks and signals.
//!
//! C header: [`include/uapi/linux/vhost_types.h`](srctree/include/uapi/linux/vhost_types.h)

pub mod mem;
pub mod ring;
