// SPDX-License-Identifier: GPL-2.0

#include <linux/rcupdate_trace.h>

#ifdef CONFIG_TASKS_TRACE_RCU
/*
 * Tasks Trace RCU is SRCU-fast on rcu_tasks_trace_srcu_struct. The read
 * side hands out the per-CPU counter that the unlock takes back (the Rust
 * read guard keeps it), and the update side is static inlines over
 * call_srcu(), synchronize_srcu() and srcu_barrier().
 */
__rust_helper struct srcu_ctr __percpu *rust_helper_rcu_read_lock_tasks_trace(void)
{
	return rcu_read_lock_tasks_trace();
}

__rust_helper void rust_helper_rcu_read_unlock_tasks_trace(struct srcu_ctr __percpu *scp)
{
	rcu_read_unlock_tasks_trace(scp);
}

__rust_helper void rust_helper_call_rcu_tasks_trace(struct rcu_head *rhp,
						    rcu_callback_t func)
{
	call_rcu_tasks_trace(rhp, func);
}

__rust_helper void rust_helper_synchronize_rcu_tasks_trace(void)
{
	synchronize_rcu_tasks_trace();
}

__rust_helper void rust_helper_rcu_barrier_tasks_trace(void)
{
	rcu_barrier_tasks_trace();
}
#endif
