// SPDX-License-Identifier: GPL-2.0
/*
 * mark start|stop: execute the marker instruction that tools/bench/icount.c
 * (a QEMU TCG plugin) counts between. Without the plugin it is a NOP.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "start"))
		asm volatile(".byte 0x0f, 0x1f, 0x80, 0x01, 0x48, 0x56, 0x52");
	else if (argc == 2 && !strcmp(argv[1], "stop"))
		asm volatile(".byte 0x0f, 0x1f, 0x80, 0x02, 0x48, 0x56, 0x52");
	else {
		fprintf(stderr, "usage: mark start|stop\n");
		return 2;
	}
	return 0;
}
