// SPDX-License-Identifier: GPL-2.0
/*
 * Prints the host's TSC rate in kHz. Under TCG the guest's TSC ticks with the
 * host's, and the harness passes this as tsc_early_khz=: tinyconfig has no
 * HPET or ACPI PM timer for the guest to calibrate against, and without a
 * rate the guest falls back to the 4 ms jiffies clocksource.
 */
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
	struct timespec d = { 0, 200000000 };
	double t0 = now();
	unsigned long long c0 = __rdtsc();

	nanosleep(&d, NULL);
	printf("%.0f\n", (__rdtsc() - c0) / (now() - t0) / 1000);
	return 0;
}
