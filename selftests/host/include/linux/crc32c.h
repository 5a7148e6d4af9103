/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-in for the kernel's <linux/crc32c.h>: crc32c() with the
 * contract of lib/libcrc32c.c, CRC-32C (Castagnoli, reflected polynomial
 * 82F63B78h) of @len bytes continuing from @crc, without any inversion of
 * its own (callers start from ~0 and invert the result, as iSCSI does).
 * Bit by bit: slow, and obviously right.
 */
#ifndef _DMW_HOST_LINUX_CRC32C_H
#define _DMW_HOST_LINUX_CRC32C_H

#include <linux/types.h>

static inline u32 crc32c(u32 crc, const void *address, unsigned int length)
{
	const u8 *b = address;
	int k;

	while (length--) {
		crc ^= *b++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return crc;
}

#endif /* _DMW_HOST_LINUX_CRC32C_H */
