// SPDX-License-Identifier: GPL-2.0
/*
 * dualmirror_peer: virtual SCSI host that applies mirrored writes (skeleton).
 */
#include <linux/module.h>
#include <linux/platform_device.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_cmnd.h>

#define DMP_NAME "dualmirror_peer"

static int dmp_queuecommand(struct Scsi_Host *shost, struct scsi_cmnd *scmd)
{
	scmd->result = DID_NO_CONNECT << 16;
	scsi_done(scmd);
	return 0;
}

static const struct scsi_host_template dmp_sht = {
	.module = THIS_MODULE,
	.name = DMP_NAME,
	.proc_name = DMP_NAME,
	.queuecommand = dmp_queuecommand,
	.can_queue = 64,
	.this_id = -1,
	.sg_tablesize = SG_ALL,
	.max_sectors = 2048,
};

static struct Scsi_Host *dmp_host;

static int __init dmp_init(void)
{
	int ret;

	dmp_host = scsi_host_alloc((struct scsi_host_template *)&dmp_sht, 0);
	if (!dmp_host)
		return -ENOMEM;
	dmp_host->max_cmd_len = 16;
	ret = scsi_add_host(dmp_host, NULL);
	if (ret)
		scsi_host_put(dmp_host);
	return ret;
}

static void __exit dmp_exit(void)
{
	scsi_remove_host(dmp_host);
	scsi_host_put(dmp_host);
}

module_init(dmp_init);
module_exit(dmp_exit);

MODULE_DESCRIPTION("dualmirror peer: virtual SCSI host applying mirrored writes");
MODULE_LICENSE("GPL");
