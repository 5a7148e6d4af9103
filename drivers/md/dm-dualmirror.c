// SPDX-License-Identifier: GPL-2.0
/*
 * dm-dualmirror: synchronous write mirroring to a peer over SCSI (skeleton).
 */
#include <linux/module.h>
#include <linux/device-mapper.h>

#define DM_MSG_PREFIX "dualmirror"

static int dualmirror_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	ti->error = "Not implemented yet";
	return -EINVAL;
}

static void dualmirror_dtr(struct dm_target *ti)
{
}

static int dualmirror_map(struct dm_target *ti, struct bio *bio)
{
	return DM_MAPIO_KILL;
}

static struct target_type dualmirror_target = {
	.name = "dualmirror",
	.version = {0, 1, 0},
	.module = THIS_MODULE,
	.ctr = dualmirror_ctr,
	.dtr = dualmirror_dtr,
	.map = dualmirror_map,
};

static int __init dm_dualmirror_init(void)
{
	return dm_register_target(&dualmirror_target);
}

static void __exit dm_dualmirror_exit(void)
{
	dm_unregister_target(&dualmirror_target);
}

module_init(dm_dualmirror_init);
module_exit(dm_dualmirror_exit);

MODULE_DESCRIPTION(DM_NAME " synchronous write mirror to a SCSI peer");
MODULE_LICENSE("GPL");
