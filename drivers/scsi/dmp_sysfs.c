// SPDX-License-Identifier: GPL-2.0
/*
 * dualmirror_peer: sysfs.
 *
 * /sys/devices/dualmirror_peer/{add,remove,peers}: the control interface.
 * /sys/class/scsi_host/hostN/dualmirror/: one peer disk's state, and
 * "release" (write 1) to let standard writes modify a claimed disk.
 * /sys/class/scsi_host/hostN/dualmirror_stats/: its counters, one value
 * per file; writing 0 to a counter clears it, writing to "reset" clears
 * them all.
 */
#include <linux/device.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "dualmirror_peer.h"

/* ---- control: /sys/devices/dualmirror_peer/ ---- */

static ssize_t dmp_ctl_arg(const char *buf, size_t count, char *arg,
			   size_t size)
{
	if (count >= size)
		return -ENAMETOOLONG;
	memcpy(arg, buf, count);
	arg[count] = '\0';
	strim(arg);
	return arg[0] ? 0 : -EINVAL;
}

/* "BACKING [meta=METADEV]" */
static ssize_t add_store(struct device *dev, struct device_attribute *attr,
			 const char *buf, size_t count)
{
	char line[288], *p, *path, *opt, *meta = NULL;
	ssize_t ret;

	ret = dmp_ctl_arg(buf, count, line, sizeof(line));
	if (ret)
		return ret;
	p = line;
	path = strsep(&p, " \t");
	while ((opt = strsep(&p, " \t"))) {
		if (!*opt)
			continue;
		if (strncmp(opt, "meta=", 5) || meta || !opt[5]) {
			pr_err("%s: add: unknown or repeated argument \"%s\" (BACKING [meta=METADEV])\n",
			       DMP_NAME, opt);
			return -EINVAL;
		}
		meta = opt + 5;
	}
	if (strlen(path) >= sizeof_field(struct dmp_peer, path) ||
	    (meta && strlen(meta) >= sizeof_field(struct dmp_peer, meta_path)))
		return -ENAMETOOLONG;
	ret = dmp_peer_add(path, meta);
	return ret < 0 ? ret : count;
}
static DEVICE_ATTR_WO(add);

static ssize_t remove_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	char name[128];
	ssize_t ret;

	ret = dmp_ctl_arg(buf, count, name, sizeof(name));
	if (!ret)
		ret = dmp_peer_remove(strim(name));
	return ret < 0 ? ret : count;
}
static DEVICE_ATTR_WO(remove);

static ssize_t peers_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return dmp_peer_list(buf);
}
static DEVICE_ATTR_RO(peers);

static struct attribute *dmp_root_attrs[] = {
	&dev_attr_add.attr,
	&dev_attr_remove.attr,
	&dev_attr_peers.attr,
	NULL
};

static const struct attribute_group dmp_root_group = {
	.attrs = dmp_root_attrs,
};

const struct attribute_group *dmp_root_groups[] = {
	&dmp_root_group,
	NULL
};

/* ---- per disk state: /sys/class/scsi_host/hostN/dualmirror/ ---- */

static struct dmp_peer *dmp_dev_peer(struct device *dev)
{
	return shost_priv(class_to_shost(dev));
}

static ssize_t backing_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n", dmp_dev_peer(dev)->path);
}
static DEVICE_ATTR_RO(backing);

static ssize_t backing_dev_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	dev_t devt = dmp_dev_peer(dev)->bdev->bd_dev;

	return sysfs_emit(buf, "%u:%u\n", MAJOR(devt), MINOR(devt));
}
static DEVICE_ATTR_RO(backing_dev);

static ssize_t capacity_sectors_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", dmp_dev_peer(dev)->capacity);
}
static DEVICE_ATTR_RO(capacity_sectors);

static ssize_t logical_block_size_show(struct device *dev,
				       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", 1U << dmp_dev_peer(dev)->lbs_shift);
}
static DEVICE_ATTR_RO(logical_block_size);

static ssize_t generation_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct dmp_peer *peer = dmp_dev_peer(dev);
	u64 gen;

	spin_lock(&peer->lock);
	gen = peer->generation;
	spin_unlock(&peer->lock);
	return sysfs_emit(buf, "%llu\n", gen);
}
static DEVICE_ATTR_RO(generation);

static ssize_t meta_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct dmp_peer *peer = dmp_dev_peer(dev);

	return sysfs_emit(buf, "%s\n", peer->meta_bdev ? peer->meta_path : "");
}
static DEVICE_ATTR_RO(meta);

/* What QUERY says of this copy: the DMW_SF_* flags by name. */
static ssize_t meta_flags_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	static const char * const names[] = {
		"persistent", "fresh", "suspect", "diverged",
	};
	struct dmp_peer *peer = dmp_dev_peer(dev);
	unsigned int i, n = 0;
	u8 flags;

	/* names[i] is the flag 1 << i */
	BUILD_BUG_ON(DMW_SF_MASK != (1U << ARRAY_SIZE(names)) - 1);
	spin_lock(&peer->lock);
	flags = peer->meta_flags;
	spin_unlock(&peer->lock);
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (flags & BIT(i))
			n += sysfs_emit_at(buf, n, "%s%s", n ? " " : "",
					   names[i]);
	return n + sysfs_emit_at(buf, n, "\n");
}
static DEVICE_ATTR_RO(meta_flags);

static ssize_t fence_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct dmp_peer *peer = dmp_dev_peer(dev);
	int fence;

	spin_lock(&peer->lock);
	fence = peer->fence;
	spin_unlock(&peer->lock);
	return sysfs_emit(buf, "%s\n", dmp_fence_name(fence));
}
static DEVICE_ATTR_RO(fence);

/* "1": standard writes may modify a claimed disk until the next CLAIM. */
static ssize_t release_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t count)
{
	bool v;

	if (kstrtobool(buf, &v) || !v)
		return -EINVAL;
	dmp_peer_release(dmp_dev_peer(dev));
	return count;
}
static DEVICE_ATTR_WO(release);

static ssize_t staged_bytes_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n",
			  (long long)atomic64_read(&dmp_dev_peer(dev)->staged_bytes));
}
static DEVICE_ATTR_RO(staged_bytes);

static ssize_t waiting_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct dmp_peer *peer = dmp_dev_peer(dev);
	unsigned int nr_staged = 0, nr_parked = 0;
	struct dmp_staged *stg;
	struct dmp_cmd *dc;

	spin_lock(&peer->lock);
	list_for_each_entry(stg, &peer->staged, node)
		nr_staged++;
	list_for_each_entry(dc, &peer->parked, node)
		nr_parked++;
	spin_unlock(&peer->lock);
	return sysfs_emit(buf, "staged %u parked %u\n", nr_staged, nr_parked);
}
static DEVICE_ATTR_RO(waiting);

static ssize_t staging_kib_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", dmp_dev_peer(dev)->staging_bytes >> 10);
}
static DEVICE_ATTR_RO(staging_kib);

static ssize_t max_split_sectors_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dmp_dev_peer(dev)->max_split);
}
static DEVICE_ATTR_RO(max_split_sectors);

static ssize_t split_timeout_ms_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  jiffies_to_msecs(dmp_dev_peer(dev)->split_timeout));
}
static DEVICE_ATTR_RO(split_timeout_ms);

/* What QUERY announces: "discard write_zeroes zeroes_offload", or fewer. */
static ssize_t capabilities_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	u8 caps = dmp_caps(dmp_dev_peer(dev));

	return sysfs_emit(buf, "%s%s%s\n",
			  caps & DMW_CAP_DISCARD ? "discard " : "",
			  caps & DMW_CAP_WRITE_ZEROES ? "write_zeroes" : "",
			  caps & DMW_CAP_ZEROES_OFFLOAD ? " zeroes_offload" : "");
}
static DEVICE_ATTR_RO(capabilities);

static struct attribute *dmp_info_attrs[] = {
	&dev_attr_backing.attr,
	&dev_attr_backing_dev.attr,
	&dev_attr_capacity_sectors.attr,
	&dev_attr_logical_block_size.attr,
	&dev_attr_generation.attr,
	&dev_attr_fence.attr,
	&dev_attr_meta.attr,
	&dev_attr_meta_flags.attr,
	&dev_attr_release.attr,
	&dev_attr_staged_bytes.attr,
	&dev_attr_waiting.attr,
	&dev_attr_staging_kib.attr,
	&dev_attr_max_split_sectors.attr,
	&dev_attr_split_timeout_ms.attr,
	&dev_attr_capabilities.attr,
	NULL
};

static const struct attribute_group dmp_info_group = {
	.name = "dualmirror",
	.attrs = dmp_info_attrs,
};

/* ---- counters: /sys/class/scsi_host/hostN/dualmirror_stats/ ---- */

enum dmp_stat_kind { DMP_K_EV, DMP_K_IRQ, DMP_K_REASON, DMP_K_MISC, DMP_K_RESET };

/**
 * struct dmp_stat_attr - one counter file
 * @da: the attribute
 * @kind: enum dmp_stat_kind
 * @a: framing, reason or misc index
 * @b: event (DMP_K_EV)
 * @name: the file name
 */
struct dmp_stat_attr {
	struct device_attribute da;
	u8 kind;
	u8 a;
	u8 b;
	char name[40];
};

static const char * const dmp_framing_names[DMP_FR_NR] = {
	[DMP_FR_INLINE] = "inline",
	[DMP_FR_SPLIT] = "split",
	[DMP_FR_CONTROL] = "control",
	[DMP_FR_DISCARD] = "discard",
	[DMP_FR_ZEROES] = "write_zeroes",
	[DMP_FR_TOTAL] = "total",
};

static const char * const dmp_event_names[DMP_EV_NR] = {
	[DMP_EV_COMMANDS] = "commands",
	[DMP_EV_DATA] = "data_transfers",
	[DMP_EV_WRITES] = "writes",
	[DMP_EV_BYTES] = "bytes_written",
	[DMP_EV_REJECTED] = "rejected",
};

static const char * const dmp_misc_names[DMP_C_NR] = {
	[DMP_C_STAGED] = "split_staged",
	[DMP_C_STAGED_EXPIRED] = "split_staged_expired",
	[DMP_C_STAGED_DROPPED] = "split_staged_dropped",
	[DMP_C_PARKED] = "split_desc_parked",
	[DMP_C_CLAIMS] = "claims",
	[DMP_C_CLAIMS_FORCED] = "claims_forced",
	[DMP_C_RELEASES] = "releases",
	[DMP_C_SCSI_FENCED] = "scsi_fenced",
	[DMP_C_SCSI_CMDS] = "scsi_commands",
	[DMP_C_SCSI_REJECTED] = "scsi_rejected",
	[DMP_C_SCSI_READ_BYTES] = "scsi_bytes_read",
	[DMP_C_SCSI_WRITE_BYTES] = "scsi_bytes_written",
	[DMP_C_IO_ERRORS] = "io_errors",
	[DMP_C_DIRECT] = "direct_commands",
	[DMP_C_DIRECT_RETRIES] = "direct_retries",
	[DMP_C_STAGED_COPIED] = "split_staged_copied",
};

#define DMP_NR_STAT_ATTRS	(DMP_FR_NR * (DMP_EV_NR + 1) + (DMW_R_NR - 1) + \
				 DMP_C_NR + 1)

static struct dmp_stat_attr *dmp_stat_attrs;
static struct attribute *dmp_stats_attrs[DMP_NR_STAT_ATTRS + 1];

static atomic64_t *dmp_stat_counter(struct dmp_stats *s,
				    const struct dmp_stat_attr *sa)
{
	switch (sa->kind) {
	case DMP_K_EV:
		return &s->ev[sa->a][sa->b];
	case DMP_K_REASON:
		return &s->reason[sa->a];
	case DMP_K_MISC:
		return &s->misc[sa->a];
	}
	return NULL;
}

static ssize_t dmp_stat_show(struct device *dev, struct device_attribute *da,
			     char *buf)
{
	struct dmp_stat_attr *sa = container_of(da, struct dmp_stat_attr, da);
	struct dmp_stats *s = &dmp_dev_peer(dev)->stats;
	s64 v;

	if (sa->kind == DMP_K_IRQ)	/* command + data interrupts */
		v = atomic64_read(&s->ev[sa->a][DMP_EV_COMMANDS]) +
		    atomic64_read(&s->ev[sa->a][DMP_EV_DATA]);
	else
		v = atomic64_read(dmp_stat_counter(s, sa));
	return sysfs_emit(buf, "%lld\n", (long long)v);
}

static void dmp_stats_reset(struct dmp_stats *s)
{
	unsigned int i, j;

	for (i = 0; i < DMP_FR_NR; i++)
		for (j = 0; j < DMP_EV_NR; j++)
			atomic64_set(&s->ev[i][j], 0);
	for (i = 0; i < DMW_R_NR; i++)
		atomic64_set(&s->reason[i], 0);
	for (i = 0; i < DMP_C_NR; i++)
		atomic64_set(&s->misc[i], 0);
}

static ssize_t dmp_stat_store(struct device *dev, struct device_attribute *da,
			      const char *buf, size_t count)
{
	struct dmp_stat_attr *sa = container_of(da, struct dmp_stat_attr, da);
	struct dmp_stats *s = &dmp_dev_peer(dev)->stats;
	u64 v;

	if (sa->kind == DMP_K_RESET) {
		dmp_stats_reset(s);
		return count;
	}
	if (kstrtou64(buf, 0, &v) || v)
		return -EINVAL;
	if (sa->kind == DMP_K_IRQ) {
		atomic64_set(&s->ev[sa->a][DMP_EV_COMMANDS], 0);
		atomic64_set(&s->ev[sa->a][DMP_EV_DATA], 0);
	} else {
		atomic64_set(dmp_stat_counter(s, sa), 0);
	}
	return count;
}

static struct attribute_group dmp_stats_group = {
	.name = "dualmirror_stats",
	.attrs = dmp_stats_attrs,
};

const struct attribute_group *dmp_shost_groups[] = {
	&dmp_info_group,
	&dmp_stats_group,
	NULL
};

static void dmp_stat_add(unsigned int *n, u8 kind, u8 a, u8 b,
			 const char *fmt, const char *s1, const char *s2)
{
	struct dmp_stat_attr *sa = &dmp_stat_attrs[(*n)++];

	snprintf(sa->name, sizeof(sa->name), fmt, s1, s2);
	sa->kind = kind;
	sa->a = a;
	sa->b = b;
	sysfs_attr_init(&sa->da.attr);
	sa->da.attr.name = sa->name;
	sa->da.attr.mode = kind == DMP_K_RESET ? 0200 : 0644;
	sa->da.show = kind == DMP_K_RESET ? NULL : dmp_stat_show;
	sa->da.store = dmp_stat_store;
}

/* Build the counter files from the name tables (and dmw_reason_name()). */
int dmp_sysfs_init(void)
{
	unsigned int n = 0, i, j;

	dmp_stat_attrs = kcalloc(DMP_NR_STAT_ATTRS, sizeof(*dmp_stat_attrs),
				 GFP_KERNEL);
	if (!dmp_stat_attrs)
		return -ENOMEM;
	for (i = 0; i < DMP_FR_NR; i++) {
		for (j = 0; j < DMP_EV_NR; j++)
			dmp_stat_add(&n, DMP_K_EV, i, j, "%s_%s",
				     dmp_framing_names[i], dmp_event_names[j]);
		dmp_stat_add(&n, DMP_K_IRQ, i, 0, "%s_%s", dmp_framing_names[i],
			     "interrupts");
	}
	for (i = DMW_R_OK + 1; i < DMW_R_NR; i++)
		dmp_stat_add(&n, DMP_K_REASON, i, 0, "%s_%s", "rejected",
			     dmw_reason_name(i));
	for (i = 0; i < DMP_C_NR; i++)
		dmp_stat_add(&n, DMP_K_MISC, i, 0, "%s%s", dmp_misc_names[i], "");
	dmp_stat_add(&n, DMP_K_RESET, 0, 0, "%s%s", "reset", "");
	for (i = 0; i < n; i++)
		dmp_stats_attrs[i] = &dmp_stat_attrs[i].da.attr;
	dmp_stats_attrs[n] = NULL;
	return 0;
}

void dmp_sysfs_exit(void)
{
	kfree(dmp_stat_attrs);
}
