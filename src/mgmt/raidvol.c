/* raidvol.c - a configured RAID volume at run time: opens its member devices (with throttle and fault wrappers), creates or assembles the array, stops it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/blk.h"
#include "blk/raid/raid.h"
#include "core/log.h"
#include "core/reactor.h"
#include "mgmt/raidvol.h"

#define SB_MAGIC "SHBARAID" /* docs/raid.md: the first 8 bytes of a member superblock */

/* Does the file at path start with a softhba superblock magic? -1: no such file. */
static int file_has_magic(const char *path)
{
	char buf[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	return n == (ssize_t)sizeof(buf) && memcmp(buf, SB_MAGIC, sizeof(buf)) == 0;
}

static void dev_free(struct raidvol_dev *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->n_retired; i++)
		blk_destroy(d->retired[i]);
	if (d->wrap)
		blk_destroy(d->wrap);
	if (d->disk)
		blk_destroy(d->disk);
	if (d->base)
		blk_destroy(d->base);
	free(d->path);
	free(d);
}

static const char *origin_word(enum raidvol_origin o)
{
	return o == RAIDVOL_MEMBER ? "members" : o == RAIDVOL_SPARE ? "spares" : "added device";
}

/* The device a fault wrapper goes over: the throttle when there is one, else the leaf. */
static struct blk_dev *dev_below_wrap(const struct raidvol_dev *d)
{
	return d->disk ? d->disk : d->base;
}

/* Open one leaf device (+ throttle, + wrapper). *fresh: the file did not exist (its content is zero). */
static int dev_open(const struct cfg_volume *v, const struct cfg_member *m, const char *name, enum raidvol_origin origin,
		    unsigned idx, struct raidvol_dev **out, bool *fresh, char *err, size_t errlen)
{
	char where[96];
	struct raidvol_dev *d = calloc(1, sizeof(*d));
	int rc;

	if (!v && origin == RAIDVOL_ADDED) /* a global spare */
		snprintf(where, sizeof(where), "new global spare %s", name);
	else if (!v)
		snprintf(where, sizeof(where), "spares[%u]", idx);
	else if (origin == RAIDVOL_ADDED)
		snprintf(where, sizeof(where), "volume \"%s\": new device %s", v->name, name);
	else
		snprintf(where, sizeof(where), "volume \"%s\": %s[%u]", v->name, origin_word(origin), idx);
	if (!d) {
		snprintf(err, errlen, "%s: out of memory", where);
		return -ENOMEM;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->backend = m->backend;
	d->origin = origin;
	d->cfg_index = idx;
	*fresh = true;
	char base_name[80];
	snprintf(base_name, sizeof(base_name), m->inject || m->throttle ? "%s.base" : "%s", name);
	if (m->backend == CFG_BACKEND_FILE) {
		d->path = strdup(m->path);
		if (!d->path) {
			dev_free(d);
			snprintf(err, errlen, "%s: out of memory", where);
			return -ENOMEM;
		}
		int magic = file_has_magic(m->path);
		*fresh = magic < 0;
		d->had_superblock = magic > 0;
		struct blk_file_opts fo = { .path = m->path, .size_bytes = m->size, .block_size = m->block_size,
					    .direct = m->direct };
		rc = blk_file_create(base_name, &fo, &d->base);
		if (rc) {
			d->base = NULL;
			if (rc == -ENOENT && m->size == 0)
				snprintf(err, errlen, "%s: %s does not exist; give the member a \"size\" to create it", where,
					 m->path);
			else if (rc == -ENOENT)
				snprintf(err, errlen, "%s: cannot create %s: its directory does not exist", where, m->path);
			else
				snprintf(err, errlen, "%s: cannot open %s: %s", where, m->path, strerror(-rc));
			dev_free(d);
			return rc;
		}
	} else {
		rc = blk_malloc_create(base_name, m->size, m->block_size, &d->base);
		if (rc) {
			d->base = NULL;
			snprintf(err, errlen, "%s: cannot create the malloc device: %s", where, strerror(-rc));
			dev_free(d);
			return rc;
		}
	}
	d->dev = d->base;
	if (m->throttle) {
		char disk_name[80];
		snprintf(disk_name, sizeof(disk_name), m->inject ? "%s.disk" : "%s", name);
		rc = blk_throttle_create(disk_name, d->base, m->thr.bytes_per_sec, m->thr.latency_us, &d->disk);
		if (rc) {
			d->disk = NULL;
			snprintf(err, errlen, "%s: cannot set up the throttle: %s", where, strerror(-rc));
			dev_free(d);
			return rc;
		}
		d->dev = d->disk;
	}
	if (m->inject) {
		rc = blk_error_create(name, dev_below_wrap(d), &d->wrap);
		if (rc == 0)
			d->dev = d->wrap;
		else
			d->wrap = NULL;
		if (rc == 0 && m->faults.mode != CFG_INJECT_NONE)
			rc = raidvol_inject(d, &m->faults, err, errlen);
		if (rc) {
			if (!err[0])
				snprintf(err, errlen, "%s: cannot set up fault injection: %s", where, strerror(-rc));
			dev_free(d);
			return rc;
		}
	}
	*out = d;
	return 0;
}

int raidvol_dev_open(const struct cfg_member *m, const char *name, bool added, unsigned idx,
		     struct raidvol_dev **out, char *err, size_t errlen)
{
	bool fresh;
	err[0] = '\0';
	int rc = dev_open(NULL, m, name, added ? RAIDVOL_ADDED : RAIDVOL_SPARE, idx, out, &fresh, err, errlen);
	if (rc == 0) {
		(*out)->blank = fresh;
		(*out)->origin = RAIDVOL_GLOBAL;
	}
	return rc;
}

void raidvol_dev_free(struct raidvol_dev *d)
{
	dev_free(d);
}

static int push_dev(struct raidvol *rv, struct raidvol_dev *d)
{
	struct raidvol_dev **a = realloc(rv->devs, (rv->n_devs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	rv->devs = a;
	a[rv->n_devs++] = d;
	return 0;
}

int raidvol_take_dev(struct raidvol *rv, struct raidvol_dev *d)
{
	return push_dev(rv, d);
}

int raidvol_open(const struct cfg_volume *v, struct raidvol **out, char *err, size_t errlen)
{
	const struct cfg_raid *r = v->raid;
	struct raidvol *rv;

	err[0] = '\0';
	if (!r) {
		snprintf(err, errlen, "volume \"%s\" is not a raid volume", v->name);
		return -EINVAL;
	}
	rv = calloc(1, sizeof(*rv));
	if (!rv) {
		snprintf(err, errlen, "volume \"%s\": out of memory", v->name);
		return -ENOMEM;
	}
	rv->v = v;
	for (unsigned i = 0; i < r->n_members + r->n_spares; i++) {
		bool spare = i >= r->n_members;
		unsigned idx = spare ? i - r->n_members : i;
		char name[64];
		snprintf(name, sizeof(name), "%s.%c%u", v->name, spare ? 's' : 'm', idx);
		struct raidvol_dev *d;
		bool fresh;
		int rc = dev_open(v, spare ? &r->spares[idx] : &r->members[idx], name,
				  spare ? RAIDVOL_SPARE : RAIDVOL_MEMBER, idx, &d, &fresh, err, errlen);
		if (rc == 0 && push_dev(rv, d) != 0) {
			dev_free(d);
			snprintf(err, errlen, "volume \"%s\": out of memory", v->name);
			rc = -ENOMEM;
		}
		if (rc) {
			raidvol_free(rv);
			return rc;
		}
		d->blank = fresh;
	}
	*out = rv;
	return 0;
}

void raidvol_free(struct raidvol *rv)
{
	if (!rv)
		return;
	for (unsigned i = 0; i < rv->n_devs; i++)
		dev_free(rv->devs[i]);
	free(rv->devs);
	free(rv);
}

struct raidvol_dev *raidvol_find(struct raidvol *rv, const char *name)
{
	for (unsigned i = 0; i < rv->n_devs; i++) {
		struct raidvol_dev *d = rv->devs[i];
		if (strcmp(d->name, name) == 0 || (d->path && strcmp(d->path, name) == 0))
			return d;
	}
	return NULL;
}

struct raidvol_dev *raidvol_by_blk(struct raidvol *rv, const struct blk_dev *dev)
{
	for (unsigned i = 0; dev && i < rv->n_devs; i++)
		if (rv->devs[i]->dev == dev)
			return rv->devs[i];
	return NULL;
}

int raidvol_add_dev(struct raidvol *rv, const struct cfg_member *m, struct raidvol_dev **out, char *err, size_t errlen)
{
	char name[64];
	bool fresh;
	struct raidvol_dev *d;

	err[0] = '\0';
	if (m->path && raidvol_global_find(m->path)) {
		snprintf(err, errlen, "%s is already a global spare (%s); give another file", m->path,
			 raidvol_global_find(m->path)->name);
		return -EEXIST;
	}
	if (m->path && raidvol_find(rv, m->path)) {
		snprintf(err, errlen, "%s is already a device of volume \"%s\" (%s); give another file", m->path,
			 rv->v->name, raidvol_find(rv, m->path)->name);
		return -EEXIST;
	}
	if (m->block_size != rv->v->block_size) {
		snprintf(err, errlen, "the new device has %u-byte blocks but volume \"%s\" uses %u; set \"block_size\": %u",
			 m->block_size, rv->v->name, rv->v->block_size, rv->v->block_size);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%s.x%u", rv->v->name, rv->n_added);
	int rc = dev_open(rv->v, m, name, RAIDVOL_ADDED, rv->n_added, &d, &fresh, err, errlen);
	if (rc)
		return rc;
	d->blank = fresh;
	if (push_dev(rv, d)) {
		dev_free(d);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rv->n_added++;
	*out = d;
	return 0;
}

void raidvol_drop_last(struct raidvol *rv)
{
	if (rv->n_devs == 0)
		return;
	dev_free(rv->devs[--rv->n_devs]);
}

int raidvol_fresh_dev(struct raidvol_dev *d, struct blk_dev **out)
{
	if (d->n_retired >= sizeof(d->retired) / sizeof(d->retired[0]))
		return -ENOSPC;
	return blk_error_create(d->name, dev_below_wrap(d), out);
}

void raidvol_adopt_fresh(struct raidvol_dev *d, struct blk_dev *fresh)
{
	if (d->wrap)
		d->retired[d->n_retired++] = d->wrap;
	d->wrap = fresh;
	d->dev = fresh;
	memset(&d->faults, 0, sizeof(d->faults)); /* the new wrapper starts transparent */
}

int raidvol_inject(struct raidvol_dev *d, const struct cfg_inject *f, char *err, size_t errlen)
{
	int rc;

	if (!d->wrap) {
		snprintf(err, errlen, "device %s has no fault-injection wrapper; add \"inject\": {} to it in the "
			 "configuration and restart the daemon", d->name);
		return -EOPNOTSUPP;
	}
	rc = blk_error_clear(d->wrap);
	uint64_t count = f->count ? f->count : UINT64_MAX;
	unsigned kinds = 0;
	switch (f->mode) {
	case CFG_INJECT_NONE:
	case CFG_INJECT__COUNT:
		break;
	case CFG_INJECT_FAIL_READS:
		kinds = BLK_ERR_READ;
		break;
	case CFG_INJECT_FAIL_WRITES:
		kinds = BLK_ERR_WRITE;
		break;
	case CFG_INJECT_FAIL_ALL:
		kinds = BLK_ERR_READ | BLK_ERR_WRITE | BLK_ERR_FLUSH;
		break;
	case CFG_INJECT_DISAPPEAR:
		if (rc == 0)
			rc = blk_error_set_gone(d->wrap, true);
		break;
	case CFG_INJECT_DELAY:
		if (rc == 0)
			rc = blk_error_set_delay_us(d->wrap, f->delay_us);
		break;
	}
	if (rc == 0 && kinds && f->after)
		rc = blk_error_fail_nth(d->wrap, f->after, -EIO, true);
	else if (rc == 0 && kinds)
		rc = blk_error_fail_range(d->wrap, kinds, f->lba, count, -EIO);
	if (rc) {
		snprintf(err, errlen, "device %s: cannot set the fault: %s", d->name, strerror(-rc));
		return rc;
	}
	d->faults = *f;
	log_notice(LOGC_BLK, d->name, "fault injection: %s%s", config_inject_mode_name(f->mode),
		   f->mode == CFG_INJECT_NONE ? " (transparent)" : "");
	return 0;
}

/* ---- start ---- */

/* Copy each refusal reason out of the engine's message ("; refused NAME: why" or "; NAME: why"). */
static void note_refusals(struct raidvol *rv, const char *msg)
{
	for (unsigned i = 0; i < rv->n_devs; i++) {
		struct raidvol_dev *d = rv->devs[i];
		char pat[96];
		const char *p = NULL;
		snprintf(pat, sizeof(pat), "; refused %s: ", d->name);
		if ((p = strstr(msg, pat)) == NULL) {
			snprintf(pat, sizeof(pat), "; %s: ", d->name);
			p = strstr(msg, pat);
		}
		if (!p) {
			snprintf(pat, sizeof(pat), "; re-added %s as role ", d->name);
			if (strstr(msg, pat))
				snprintf(d->note, sizeof(d->note), "stale at start: re-added, the bitmap's dirty regions resync");
			continue;
		}
		p += strlen(pat);
		const char *end = strstr(p, "; ");
		while (end && strncmp(end, "; refused ", 10) != 0) {
			/* a reason may hold "; " itself: stop only before the next device */
			bool next_dev = false;
			for (unsigned j = 0; j < rv->n_devs && !next_dev; j++) {
				size_t l = strlen(rv->devs[j]->name);
				next_dev = strncmp(end + 2, rv->devs[j]->name, l) == 0 && end[2 + l] == ':';
			}
			if (next_dev)
				break;
			end = strstr(end + 2, "; ");
		}
		size_t len = end ? (size_t)(end - p) : strlen(p);
		snprintf(d->refused, sizeof(d->refused), "%.*s", (int)len, p);
	}
}

/* After the start: spares (those that carry no superblock: one that does took a
 * role in an earlier run and was offered to assembly), blank members of an
 * assembled array (a disk swapped for a new one: rebuilt as a spare), the rate. */
static void attach_extras(struct raidvol *rv)
{
	const struct cfg_raid *r = rv->v->raid;
	struct raid_info in;
	int rc;

	if (raid_get_info(rv->array, &in) != 0)
		return;
	for (unsigned i = 0; i < rv->n_devs; i++) {
		struct raidvol_dev *d = rv->devs[i];
		bool in_array = false;
		for (unsigned m = 0; m < in.nmembers; m++)
			in_array |= strcmp(in.members[m].name, d->name) == 0;
		if (in_array || d->had_superblock)
			continue;
		if (d->origin == RAIDVOL_MEMBER && rv->created)
			continue;
		if (r->level == 0) {
			if (d->origin == RAIDVOL_MEMBER)
				snprintf(d->note, sizeof(d->note), "no superblock, and RAID 0 cannot rebuild onto it");
			continue;
		}
		rc = raid_add_spare(rv->array, d->dev);
		if (rc) {
			snprintf(d->note, sizeof(d->note), "could not become a spare: %s", strerror(-rc));
			log_err(LOGC_RAID, rv->v->name, "%s: %s", d->name, d->note);
			continue;
		}
		snprintf(d->note, sizeof(d->note), d->origin == RAIDVOL_MEMBER ? "no superblock: added as a spare" : "spare");
		if (d->origin == RAIDVOL_MEMBER)
			log_notice(LOGC_RAID, rv->v->name, "member %s carries no superblock: added as a spare (the array "
				   "rebuilds onto it if a role is missing)", d->name);
	}
	if (r->rebuild_rate && (rc = raid_set_rebuild_rate(rv->array, r->rebuild_rate)) != 0)
		log_err(LOGC_RAID, rv->v->name, "cannot set the rebuild rate: %s", strerror(-rc));
}

static void start_done(void *arg, int status, struct blk_dev *dev, const char *msg)
{
	struct raidvol *rv = arg;
	void (*cb)(void *, int, const char *) = rv->cb;

	rv->cb = NULL;
	if (msg && msg[0])
		snprintf(rv->start_msg, sizeof(rv->start_msg), "%s", msg);
	note_refusals(rv, rv->start_msg);
	if (status) {
		cb(rv->cb_arg, status, rv->start_msg);
		return;
	}
	rv->array = dev;
	struct raid_info info;
	if (!rv->created && raid_get_info(dev, &info) == 0 && info.level != rv->v->raid->level)
		log_warn(LOGC_RAID, rv->v->name, "the configuration says RAID %u but the superblocks say RAID %u: the "
			 "array runs as RAID %u (its superblocks win); correct \"level\" in the configuration",
			 rv->v->raid->level, info.level, info.level);
	if (rv->created)
		snprintf(rv->start_msg, sizeof(rv->start_msg), "created RAID %u array '%s' over %u members",
			 rv->v->raid->level, rv->v->name, rv->v->raid->n_members);
	attach_extras(rv);
	cb(rv->cb_arg, 0, rv->start_msg);
}

int raidvol_start(struct raidvol *rv, void (*cb)(void *arg, int status, const char *msg), void *arg, char *err,
		  size_t errlen)
{
	const struct cfg_raid *r = rv->v->raid;
	struct blk_dev *devs[RAID_MAX_MEMBERS];
	unsigned n = 0;
	bool any_sb = false, all_zero = true;
	int rc;

	if (rv->cb || rv->array)
		return -EBUSY;
	for (unsigned i = 0; i < rv->n_devs; i++) {
		struct raidvol_dev *d = rv->devs[i];
		any_sb |= d->had_superblock;
		if (d->origin == RAIDVOL_MEMBER && !d->blank)
			all_zero = false;
	}
	rv->cb = cb;
	rv->cb_arg = arg;
	if (!any_sb) {
		if (r->create == CFG_RAID_CREATE_NEVER) {
			rv->cb = NULL;
			snprintf(err, errlen, "no member has a softhba superblock and \"create\" is \"never\"; check the "
				 "member paths, or set \"create\": \"if-missing\" to create a new (empty) array");
			return -ENOENT;
		}
		for (unsigned i = 0; i < rv->n_devs && n < RAID_MAX_MEMBERS; i++)
			if (rv->devs[i]->origin == RAIDVOL_MEMBER)
				devs[n++] = rv->devs[i]->dev;
		uint32_t flags = (all_zero ? RAID_F_ASSUME_CLEAN : 0) | (r->journal ? 0 : RAID_F_NO_JOURNAL) |
				 (r->bitmap ? 0 : RAID_F_NO_BITMAP);
		struct raid_create_opts o = {
			.name = rv->v->name,
			.level = r->level,
			.chunk_kib = r->chunk_kib,
			.members = devs,
			.nmembers = n,
			.flags = flags,
			.deadline_ms = r->member_timeout_ms,
			.region_kib = r->region_kib,
		};
		rv->created = true;
		log_notice(LOGC_RAID, rv->v->name, "no member has a superblock: creating a new RAID %u array%s", r->level,
			   all_zero ? " (members are new: no zeroing)" : "");
		rc = raid_create(&o, start_done, rv, err, errlen);
	} else {
		/* every member (refusals get explained), and the spares that carry a superblock
		 * (one that took over a role in an earlier run is a member now) */
		for (unsigned i = 0; i < rv->n_devs && n < RAID_MAX_MEMBERS; i++)
			if (rv->devs[i]->origin == RAIDVOL_MEMBER || rv->devs[i]->had_superblock)
				devs[n++] = rv->devs[i]->dev;
		struct raid_assemble_opts o = {
			.members = devs,
			.nmembers = n,
			.deadline_ms = r->member_timeout_ms,
		};
		rv->created = false;
		rc = raid_assemble(&o, start_done, rv, err, errlen);
	}
	if (rc)
		rv->cb = NULL;
	return rc;
}

/* ---- stop ---- */

static void stopped(void *arg, int status)
{
	struct raidvol *rv = arg;
	void (*cb)(void *, int, const char *) = rv->cb;

	rv->cb = NULL;
	rv->array = NULL;
	rv->stopping = false;
	cb(rv->cb_arg, status, NULL);
}

int raidvol_stop(struct raidvol *rv, void (*cb)(void *arg, int status, const char *msg), void *arg)
{
	if (!rv->array || rv->stopping)
		return -ENOENT;
	rv->cb = cb;
	rv->cb_arg = arg;
	rv->stopping = true;
	int rc = raid_stop(rv->array, stopped, rv);
	if (rc) {
		rv->cb = NULL;
		rv->stopping = false;
	}
	return rc;
}
