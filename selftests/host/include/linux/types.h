/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace stand-in for the kernel's <linux/types.h>: the system's UAPI
 * header (__u8 ... __u64, __le32, ...) plus the kernel-internal names the
 * wire codec uses.
 */
#ifndef _DMW_HOST_LINUX_TYPES_H
#define _DMW_HOST_LINUX_TYPES_H

#include_next <linux/types.h>
#include <stddef.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#endif /* _DMW_HOST_LINUX_TYPES_H */
