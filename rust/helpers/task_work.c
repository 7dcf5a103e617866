// SPDX-License-Identifier: GPL-2.0

#include <linux/sched/signal.h>
#include <linux/task_work.h>

void rust_helper_clear_notify_signal(void)
{
	clear_notify_signal();
}

/* run_pending() runs items that may sleep: report a caller that cannot. */
void rust_helper_task_work_might_sleep(void)
{
	might_sleep();
}

/* A vhost worker looks for task work without sleeping, before it runs it. */
bool rust_helper_task_work_pending_current(void)
{
	return task_work_pending(current);
}
