// SPDX-License-Identifier: GPL-2.0
// expect: build

//! Positive control: correct uses of the same APIs as the other cases must build, so a
//! broken toolchain or harness (every build failing) cannot make the suite pass. The misc
//! device is mainline's, as the `miscdevice_ptr_not_sync` case uses it.

use core::sync::atomic::{
    AtomicU32,
    Ordering, //
};
use kernel::fs::File;
use kernel::miscdevice::{
    MiscDevice,
    MiscDeviceOptions,
    MiscDeviceRegistration, //
};
use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour,
    RcuHead,
    RcuTasksItem,
    Tasks,
    TasksTrace,
    TracePointer, //
};
use kernel::sync::Arc;
use kernel::task_work::{
    self,
    Notify,
    TaskWork,
    TaskWorkItem, //
};
use kernel::vhost_task::{
    VhostTask,
    VhostWorker,
    WorkerContext, //
};

module! {
    type: Case,
    name: "control_build",
    authors: ["Rust for Linux Contributors"],
    description: "compile-fail case",
    license: "GPL",
}

struct Case;

struct Job {
    id: u32,
    work: TaskWork<Job>,
}
kernel::impl_has_task_work! { impl HasTaskWork<Job> for Job { self.work } }
impl TaskWorkItem for Job {
    type Pointer = Pin<KBox<Job>>;
    fn run(this: Pin<KBox<Job>>) {
        pr_info!("job {}\n", this.id);
    }
}

struct Old {
    value: u32,
    rcu: RcuHead<Old>,
}
kernel::impl_has_rcu_head! { impl HasRcuHead<Old> for Old { self.rcu } }
impl RcuTasksItem for Old {
    type Pointer = Pin<KBox<Old>>;
    fn run(this: Pin<KBox<Old>>) {
        pr_info!("old {}\n", this.value);
    }
}

struct Dev {
    count: AtomicU32,
}

#[vtable]
impl MiscDevice for Dev {
    type Ptr = KBox<Dev>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Dev>> {
        Ok(KBox::new(
            Dev {
                count: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn ioctl(this: &Dev, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        this.count.fetch_add(1, Ordering::Relaxed);
        Ok(0)
    }
}

struct Idle;
impl VhostWorker for Idle {
    fn work(&self, _ctx: &mut WorkerContext) -> bool {
        false
    }
    fn killed(&self) {}
}

impl kernel::Module for Case {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let job = KBox::pin(
            Job {
                id: 1,
                work: TaskWork::new(),
            },
            GFP_KERNEL,
        )?;
        task_work::add(current!(), job, Notify::None)?;
        Tasks::call(KBox::pin(
            Old {
                value: 1,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        Tasks::free(KBox::pin(
            Old {
                value: 2,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        TasksTrace::free(KBox::pin(
            Old {
                value: 3,
                rcu: RcuHead::new(),
            },
            GFP_KERNEL,
        )?)?;
        let cfg = TracePointer::<Old>::new();
        {
            let guard = TasksTrace::read_lock();
            pr_info!("{:?}\n", cfg.get(&guard).map(|c| c.value));
        }
        let reg = KBox::pin_init(
            MiscDeviceRegistration::<Dev>::register(MiscDeviceOptions {
                name: c"rvh-control",
            }),
            GFP_KERNEL,
        )?;
        drop(reg);
        let task = VhostTask::start(module, Arc::new(Idle, GFP_KERNEL)?)?;
        task.wake();
        drop(task);
        Tasks::barrier();
        TasksTrace::barrier();
        Ok(Case)
    }
}
