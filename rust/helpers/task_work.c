// SPDX-License-Identifier: GPL-2.0

#include <linux/sched/signal.h>
#include <linux/task_work.h>

__rust_helper void rust_helper_clear_notify_signal(void)
{
	clear_notify_signal();
}

/* A vhost worker looks for task work without sleeping, before it runs it. */
__rust_helper bool rust_helper_task_work_pending_current(void)
{
	return task_work_pending(current);
}
