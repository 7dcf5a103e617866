// SPDX-License-Identifier: GPL-2.0
// expect: build

//! Positive control: correct uses of the same APIs as the other cases must build, so a
//! broken toolchain or harness (every build failing) cannot make the suite pass.

use kernel::prelude::*;
use kernel::sync::rcu_tasks::{
    CallFlavour, RcuHead, RcuTasksItem, Tasks, TasksTrace, TracePointer,
};
use kernel::sync::Arc;
use kernel::task_work::{self, Notify, TaskWork, TaskWorkItem};
use kernel::vhost_task::{VhostTask, VhostWorker, WorkerContext};

module! {
    type: Case,
    name: "control_build",
    author: "rust-vhost developers",
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
        let task = VhostTask::start(module, Arc::new(Idle, GFP_KERNEL)?)?;
        task.wake();
        drop(task);
        Tasks::barrier();
        TasksTrace::barrier();
        Ok(Case)
    }
}
