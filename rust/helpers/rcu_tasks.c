// SPDX-License-Identifier: GPL-2.0

#include <linux/rcupdate.h>
#include <linux/rcupdate_trace.h>

/*
 * Without CONFIG_TASKS_RCU, call_rcu_tasks() and synchronize_rcu_tasks()
 * are macro aliases of the plain RCU functions, and rcu_barrier_tasks()
 * is declared but not defined: these helpers work either way.
 */
void rust_helper_rcu_tasks_call(struct rcu_head *head, rcu_callback_t func)
{
	call_rcu_tasks(head, func);
}

void rust_helper_rcu_tasks_synchronize(void)
{
	synchronize_rcu_tasks();
}

void rust_helper_rcu_tasks_barrier(void)
{
#ifdef CONFIG_TASKS_RCU
	rcu_barrier_tasks();
#else
	rcu_barrier();
#endif
}

#ifdef CONFIG_TASKS_TRACE_RCU
void rust_helper_rcu_read_lock_trace(void)
{
	rcu_read_lock_trace();
}

void rust_helper_rcu_read_unlock_trace(void)
{
	rcu_read_unlock_trace();
}
#endif
