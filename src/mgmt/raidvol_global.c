/* raidvol_global.c - global hot spares: the top-level "spares" and raid.spare.add without a volume, offered to any array. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/blk.h"
#include "blk/raid/raid.h"
#include "core/log.h"
#include "mgmt/raidvol.h"

/*
 * The devices are named "spare:N" (':' cannot appear in a volume name, so
 * they never clash with "<volume>.s0"). Each one is, at any time, either
 * waiting in the engine's global pool, or a spare/member of one array
 * (the engine moved it there), or handed to a volume at start-up because
 * it carries that volume's superblock (then the volume owns it). The
 * devices not handed over are freed by raidvol_global_free().
 */
static struct raidvol_dev **gdevs;
static unsigned n_gdevs;
static unsigned n_opened; /* names spare:0, spare:1, ... in order */

#define SB_MAGIC "SHBARAID"
#define SB_NAME_OFF 32      /* docs/raid.md: the array name, 32 bytes, NUL-terminated */

/* The array name in the superblock of the file at path ("" when none). */
static void sb_array_name(const char *path, char *out, size_t len)
{
	char buf[64];
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n == (ssize_t)sizeof(buf) && memcmp(buf, SB_MAGIC, 8) == 0)
		snprintf(out, len, "%.*s", 31, buf + SB_NAME_OFF);
}

static int push(struct raidvol_dev *d)
{
	struct raidvol_dev **a = realloc(gdevs, (n_gdevs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	gdevs = a;
	gdevs[n_gdevs++] = d;
	return 0;
}

static void drop(unsigned i)
{
	memmove(&gdevs[i], &gdevs[i + 1], (n_gdevs - i - 1) * sizeof(gdevs[0]));
	n_gdevs--;
}

struct raidvol_dev *raidvol_global_find(const char *name)
{
	for (unsigned i = 0; i < n_gdevs; i++) {
		struct raidvol_dev *d = gdevs[i];
		if (strcmp(d->name, name) == 0 || (d->path && strcmp(d->path, name) == 0))
			return d;
	}
	return NULL;
}

struct raidvol_dev *raidvol_global_dev(unsigned i)
{
	return i < n_gdevs ? gdevs[i] : NULL;
}

int raidvol_global_open(const struct softhba_config *cfg, struct raidvol *const *vols, char *err, size_t errlen)
{
	for (unsigned i = 0; i < cfg->n_spares; i++) {
		char name[32], owner[40];
		struct raidvol_dev *d;
		snprintf(name, sizeof(name), "spare:%u", n_opened);
		int rc = raidvol_dev_open(&cfg->spares[i], name, false, i, &d, err, errlen);
		if (rc) {
			raidvol_global_free();
			return rc;
		}
		n_opened++;
		owner[0] = '\0';
		if (d->path)
			sb_array_name(d->path, owner, sizeof(owner));
		struct raidvol *to = NULL;
		for (unsigned v = 0; owner[0] && v < cfg->n_volumes && !to; v++)
			if (vols[v] && strcmp(vols[v]->v->name, owner) == 0)
				to = vols[v];
		if (to) {
			d->had_superblock = true;
			snprintf(d->note, sizeof(d->note), "global spare that took over a role of \"%s\" in an earlier run",
				 owner);
			rc = raidvol_take_dev(to, d);
		} else {
			if (owner[0])
				snprintf(d->note, sizeof(d->note), "carries a superblock of array \"%s\", which is not "
					 "configured: used as a blank spare", owner);
			rc = push(d);
		}
		if (rc) {
			raidvol_dev_free(d);
			raidvol_global_free();
			snprintf(err, errlen, "spares[%u]: out of memory", i);
			return rc;
		}
		if (to)
			log_notice(LOGC_RAID, to->v->name, "global spare %s carries this array's superblock: offered to "
				   "its assembly", d->name);
	}
	return 0;
}

/* A running array with a failed or missing role, no spare of its own and no rebuild running. */
static struct raidvol *needy(struct raidvol *const *vols, unsigned n, const struct raidvol_dev *d)
{
	for (unsigned v = 0; v < n; v++) {
		struct raid_info in;
		if (!vols[v] || !vols[v]->array || raid_get_info(vols[v]->array, &in) != 0)
			continue;
		if (in.state != RAID_ARRAY_DEGRADED || in.nspares > 0 || in.sync.kind == RAID_SYNC_REBUILD ||
		    in.block_size != d->dev->info.block_size)
			continue;
		return vols[v];
	}
	return NULL;
}

/* Give d to a degraded array that can use it (it rebuilds at once), else to the pool. */
static int offer(struct raidvol_dev *d, struct raidvol *const *vols, unsigned n, struct raidvol **to)
{
	*to = NULL;
	struct raidvol *rv = needy(vols, n, d);
	if (rv && raid_add_spare(rv->array, d->dev) == 0) {
		*to = rv;
		snprintf(d->note, sizeof(d->note), "global spare, given to degraded array \"%s\"", rv->v->name);
		log_notice(LOGC_RAID, rv->v->name, "global spare %s given to this degraded array", d->name);
		return 0;
	}
	int rc = raid_add_spare(NULL, d->dev);
	if (rc == 0 && !d->note[0])
		snprintf(d->note, sizeof(d->note), "global spare");
	return rc;
}

void raidvol_global_start(struct raidvol *const *vols, unsigned n)
{
	for (unsigned i = 0; i < n_gdevs; i++) {
		struct raidvol *to;
		int rc = offer(gdevs[i], vols, n, &to);
		if (rc) {
			snprintf(gdevs[i]->note, sizeof(gdevs[i]->note), "could not become a global spare: %s", strerror(-rc));
			log_err(LOGC_RAID, NULL, "%s: %s", gdevs[i]->name, gdevs[i]->note);
		}
	}
}

int raidvol_global_add(const struct cfg_member *m, struct raidvol *const *vols, unsigned n, struct raidvol_dev **out,
		       struct raidvol **to, char *err, size_t errlen)
{
	char name[32];
	struct raidvol_dev *d;

	err[0] = '\0';
	if (m->path) {
		const struct raidvol_dev *o = raidvol_global_find(m->path);
		for (unsigned v = 0; v < n && !o; v++)
			if (vols[v])
				o = raidvol_find(vols[v], m->path);
		if (o) {
			snprintf(err, errlen, "%s is already in use (%s); give another file", m->path, o->name);
			return -EEXIST;
		}
	}
	snprintf(name, sizeof(name), "spare:%u", n_opened);
	int rc = raidvol_dev_open(m, name, true, n_opened, &d, err, errlen);
	if (rc)
		return rc;
	n_opened++;
	if (push(d)) {
		raidvol_dev_free(d);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = offer(d, vols, n, to);
	if (rc) {
		drop(n_gdevs - 1);
		raidvol_dev_free(d);
		if (rc == -ENOSPC)
			snprintf(err, errlen, "the global pool holds as many spares as it can; use one first");
		else
			snprintf(err, errlen, "the engine refused the spare: %s", strerror(-rc));
		return rc;
	}
	*out = d;
	return 0;
}

void raidvol_global_free(void)
{
	for (unsigned i = 0; i < n_gdevs; i++) {
		raid_global_spare_remove(gdevs[i]->dev);
		raidvol_dev_free(gdevs[i]);
	}
	free(gdevs);
	gdevs = NULL;
	n_gdevs = 0;
	n_opened = 0;
}
