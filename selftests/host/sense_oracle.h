/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The oracle of the sense data the peer returns for a refusal: the 18
 * bytes that dualmirror_peer's dmp_refusal_sense() (drivers/scsi/
 * dmp_mirror.c) builds with the kernel's scsi_build_sense_buffer() and
 * scsi_set_sense_field_pointer(), written out byte by byte as the wire
 * format documents them (Documentation/dualmirror-protocol.rst).  The host
 * tests check it against literal bytes; the VM test 20-peer-local checks
 * the peer's raw sense against the same bytes.
 */
#ifndef _DMW_HOST_SENSE_ORACLE_H
#define _DMW_HOST_SENSE_ORACLE_H

#include <linux/dualmirror_wire.h>

#define ORACLE_SENSE_LEN	18

/*
 * Response code 70h (fixed format, current), ADDITIONAL SENSE LENGTH 10,
 * the sense key, ASC and ASCQ of @st->reason and, where the reason has
 * one, the field pointer at bytes 15-17 (SKSV, C/D, BPV and bit pointer,
 * field pointer).  Returns the length, 18.
 */
static inline unsigned int oracle_sense(u8 *buf, const struct dmw_status *st)
{
	u32 s = dmw_reason_sense(st->reason);
	unsigned int i;

	for (i = 0; i < ORACLE_SENSE_LEN; i++)
		buf[i] = 0;
	buf[0] = 0x70;
	buf[2] = (s >> 16) & 0x0f;
	buf[7] = ORACLE_SENSE_LEN - 8;
	buf[12] = (s >> 8) & 0xff;
	buf[13] = s & 0xff;
	if (dmw_reason_has_field(st->reason)) {
		buf[15] = 0x80 | (st->in_cdb ? 0x40 : 0);
		if (st->bit < 8)
			buf[15] |= 0x08 | st->bit;
		buf[16] = st->field >> 8;
		buf[17] = st->field & 0xff;
	}
	return ORACLE_SENSE_LEN;
}

#endif /* _DMW_HOST_SENSE_ORACLE_H */
