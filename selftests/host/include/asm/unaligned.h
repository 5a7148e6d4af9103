/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-in for the kernel's <asm/unaligned.h>: the big-endian
 * accessors of include/asm-generic/unaligned.h (Linux 6.1) that the wire
 * codec uses, with the same names, argument order and widths, written byte
 * by byte (any alignment, any host byte order).
 */
#ifndef _DMW_HOST_ASM_UNALIGNED_H
#define _DMW_HOST_ASM_UNALIGNED_H

#include <linux/types.h>

static inline u64 __dmw_get_be(const void *p, unsigned int n)
{
	const u8 *b = p;
	u64 v = 0;

	while (n--)
		v = (v << 8) | *b++;
	return v;
}

static inline void __dmw_put_be(u64 val, void *p, unsigned int n)
{
	u8 *b = p;

	while (n--) {
		b[n] = val & 0xff;
		val >>= 8;
	}
}

static inline u16 get_unaligned_be16(const void *p)
{
	return __dmw_get_be(p, 2);
}

static inline u32 get_unaligned_be24(const void *p)
{
	return __dmw_get_be(p, 3);
}

static inline u32 get_unaligned_be32(const void *p)
{
	return __dmw_get_be(p, 4);
}

static inline u64 get_unaligned_be48(const void *p)
{
	return __dmw_get_be(p, 6);
}

static inline u64 get_unaligned_be64(const void *p)
{
	return __dmw_get_be(p, 8);
}

static inline void put_unaligned_be16(u16 val, void *p)
{
	__dmw_put_be(val, p, 2);
}

static inline void put_unaligned_be24(const u32 val, void *p)
{
	__dmw_put_be(val, p, 3);
}

static inline void put_unaligned_be32(u32 val, void *p)
{
	__dmw_put_be(val, p, 4);
}

static inline void put_unaligned_be48(const u64 val, void *p)
{
	__dmw_put_be(val, p, 6);
}

static inline void put_unaligned_be64(u64 val, void *p)
{
	__dmw_put_be(val, p, 8);
}

#endif /* _DMW_HOST_ASM_UNALIGNED_H */
