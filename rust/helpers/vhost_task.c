// SPDX-License-Identifier: GPL-2.0

#include <linux/sched.h>
#include <linux/sched/mm.h>

/*
 * vhost_task_fn() calls the work function in TASK_INTERRUPTIBLE; the Rust
 * worker context sets TASK_RUNNING once it has found work, as
 * vhost_run_work_list() does.
 */
void rust_helper_vhost_task_set_current_running(void)
{
	__set_current_state(TASK_RUNNING);
}

/*
 * A vhost device recognises its owner by mm, as vhost_dev_check_owner()
 * does; the worker handle pins the owner's mm_struct (not its address
 * space) so that the pointer cannot be reused while it compares.
 */
void rust_helper_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void rust_helper_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}
