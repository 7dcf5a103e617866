// SPDX-License-Identifier: GPL-2.0

#include <linux/rcupdate_trace.h>

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
