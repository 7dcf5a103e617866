// SPDX-License-Identifier: GPL-2.0

#include <linux/sched.h>

/*
 * vhost_task_fn() calls the work function in TASK_INTERRUPTIBLE; the Rust
 * worker context sets TASK_RUNNING once it has found work, as
 * vhost_run_work_list() does.
 */
__rust_helper void rust_helper_vhost_task_set_current_running(void)
{
	__set_current_state(TASK_RUNNING);
}
