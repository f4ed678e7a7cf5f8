/* lu.c - targets, logical units and I_T nexuses: creation, lookup (lock-free on the data path), teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "scsi/sbc.h"
#include "scsi/scsi_internal.h"

#ifndef SOFTHBA_VERSION
#define SOFTHBA_VERSION "0.0"
#endif

#define SCSI_MAX_LUN 16383u /* flat space addressing (SAM-5 4.7.7) */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	if (!h)
		h = 0xcbf29ce484222325ull;
	for (; s && *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ---- target ---- */

int scsi_target_create(const char *name, uint16_t rel_port, struct scsi_target **out)
{
	struct scsi_target *t;
	struct scsi_lu_vec *v;

	if (!name || !*name || !out || rel_port == 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	v = calloc(1, sizeof(*v));
	if (!t || !v || !(t->name = strdup(name))) {
		free(v);
		free(t);
		return -ENOMEM;
	}
	t->rel_port = rel_port;
	pthread_mutex_init(&t->lock, NULL);
	atomic_init(&t->lus, v);
	*out = t;
	return 0;
}

const char *scsi_target_name(const struct scsi_target *t)
{
	return t->name;
}

static void itl_vec_free(struct scsi_itl_vec *v)
{
	while (v) {
		struct scsi_itl_vec *next = v->retired;
		free(v);
		v = next;
	}
}

static void lu_free(struct scsi_lu *lu)
{
	pthread_mutex_lock(&lu->lock);
	scsi_pr_fini(lu);
	pthread_mutex_unlock(&lu->lock);
	sbc_lu_fini(lu);
	pthread_mutex_destroy(&lu->lock);
	free(lu->inflight);
	free(lu);
}

void scsi_target_destroy(struct scsi_target *t)
{
	struct scsi_lu_vec *v;

	if (!t)
		return;
	while (t->nexuses)
		scsi_nexus_destroy(t->nexuses);
	v = atomic_load(&t->lus);
	for (unsigned i = 0; i < v->n; i++)
		lu_free(v->lu[i]);
	while (v) {
		struct scsi_lu_vec *next = v->retired;
		free(v);
		v = next;
	}
	pthread_mutex_destroy(&t->lock);
	free(t->name);
	free(t);
}

struct scsi_lu *scsi_target_lu(struct scsi_target *t, uint64_t lun)
{
	const struct scsi_lu_vec *v = atomic_load_explicit(&t->lus, memory_order_acquire);
	unsigned lo = 0, hi = v->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (v->lu[mid]->lun == lun)
			return v->lu[mid];
		if (v->lu[mid]->lun < lun)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

unsigned scsi_target_lu_count(const struct scsi_target *t)
{
	const struct scsi_lu_vec *v = atomic_load_explicit(&t->lus, memory_order_acquire);
	return v->n;
}

uint64_t scsi_target_lun_at(const struct scsi_target *t, unsigned idx)
{
	const struct scsi_lu_vec *v = atomic_load_explicit(&t->lus, memory_order_acquire);
	return idx < v->n ? v->lu[idx]->lun : UINT64_MAX;
}

/* ---- LU ---- */

/* Copy s into dst (cap bytes incl. NUL); only printable ASCII; -EINVAL otherwise. */
static int copy_ascii(char *dst, size_t cap, const char *s, const char *dflt)
{
	if (!s)
		s = dflt;
	if (strlen(s) >= cap)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -EINVAL;
	snprintf(dst, cap, "%s", s);
	return 0;
}

static int lu_identity(struct scsi_lu *lu, const struct scsi_target *t, const struct scsi_lu_opts *o)
{
	char rev[5];
	size_t j = 0;
	uint64_t h;
	int rc;

	/* default revision: the build version without dots, e.g. "010" for 0.1.0 */
	for (const char *p = SOFTHBA_VERSION; *p && j < 4; p++)
		if (*p != '.')
			rev[j++] = *p;
	rev[j] = 0;

	if ((rc = copy_ascii(lu->name, sizeof(lu->name), o->name, "")) ||
	    (rc = copy_ascii(lu->vendor, sizeof(lu->vendor), o->vendor, "SOFTHBA")) ||
	    (rc = copy_ascii(lu->product, sizeof(lu->product), o->product, "VIRTUAL-DISK")) ||
	    (rc = copy_ascii(lu->revision, sizeof(lu->revision), o->revision, rev)))
		return rc;
	if (!lu->name[0])
		snprintf(lu->name, sizeof(lu->name), "%.40s/%llu", t->name, (unsigned long long)lu->lun);

	/* identity derives from the volume name, so one volume seen through two
	 * targets (multipath) has the same serial and designator */
	h = fnv1a(lu->name, 0);
	if (o->serial) {
		if ((rc = copy_ascii(lu->serial, sizeof(lu->serial), o->serial, NULL)) || !lu->serial[0])
			return -EINVAL;
	} else {
		snprintf(lu->serial, sizeof(lu->serial), "SH%016llx", (unsigned long long)h);
	}
	lu->naa_id = (o->naa_id ? o->naa_id : h) & 0xfffffffffull;
	return 0;
}

static struct scsi_itl *itl_new(struct scsi_nexus *n, struct scsi_lu *lu)
{
	struct scsi_itl *itl = calloc(1, sizeof(*itl));

	if (!itl)
		return NULL;
	itl->nexus = n;
	itl->lu = lu;
	atomic_init(&itl->ua_count, 0);
	return itl;
}

/* New copy of n's itl vector with room for nslots, copying the old entries. */
static struct scsi_itl_vec *itl_vec_grow(struct scsi_nexus *n, unsigned nslots)
{
	struct scsi_itl_vec *old = atomic_load(&n->itls);
	struct scsi_itl_vec *v = calloc(1, sizeof(*v) + nslots * sizeof(v->itl[0]));

	if (!v)
		return NULL;
	v->n = nslots;
	if (old) {
		memcpy(v->itl, old->itl, old->n * sizeof(old->itl[0]));
		v->retired = old;
	}
	return v;
}

int scsi_lu_create(struct scsi_target *t, uint64_t lun, struct blk_dev *dev, const struct scsi_lu_opts *opts,
		   struct scsi_lu **out)
{
	static const struct scsi_lu_opts no_opts;
	struct scsi_lu *lu;
	struct scsi_lu_vec *old, *v = NULL;
	unsigned nn = 0, i;
	struct scsi_itl **itls = NULL;
	struct scsi_itl_vec **vecs = NULL;
	int rc;

	if (!t || !dev || lun > SCSI_MAX_LUN)
		return -EINVAL;
	if (dev->info.block_size < 512 || (dev->info.block_size & (dev->info.block_size - 1)) ||
	    dev->info.num_blocks == 0)
		return -EINVAL;
	if (!opts)
		opts = &no_opts;

	lu = calloc(1, sizeof(*lu));
	if (!lu)
		return -ENOMEM;
	lu->target = t;
	lu->lun = lun;
	lu->dev = dev;
	rc = lu_identity(lu, t, opts);
	if (rc) {
		free(lu);
		return rc;
	}
	lu->thin = opts->thin && dev->info.supports_unmap;
	if (opts->thin && !lu->thin)
		log_warn(LOGC_SCSI, lu->name, "thin provisioning asked but %s cannot deallocate: reported fully provisioned",
			 dev->name);
	lu->removable = opts->removable;
	lu->read_only = opts->read_only || dev->info.read_only;
	lu->wce_default = opts->write_cache && dev->info.volatile_cache;
	lu->block_size = dev->info.block_size;
	lu->block_shift = (uint32_t)__builtin_ctz(dev->info.block_size);
	atomic_init(&lu->num_blocks, dev->info.num_blocks);
	/* the SBC side splits requests larger than the device takes (sbc_submit_split),
	 * so the SCSI limit does not depend on the device's */
	lu->max_xfer_blocks = SCSI_MAX_XFER_BYTES / lu->block_size;
	lu->opt_xfer_blocks = dev->info.opt_xfer_blocks;
	lu->opt_gran_blocks = dev->info.phys_block_exp < 16 ? 1u << dev->info.phys_block_exp : 1;
	if (opts->sanitize_mib_s == UINT32_MAX)
		lu->sanitize_bps = 0;
	else
		lu->sanitize_bps = (uint64_t)(opts->sanitize_mib_s ? opts->sanitize_mib_s : SCSI_SANITIZE_DEFAULT_MIB_S) << 20;
	atomic_init(&lu->bg_stop, false);
	atomic_init(&lu->gate, 0);
	atomic_init(&lu->sanitize_progress, 0);
	pthread_mutex_init(&lu->lock, NULL);
	scsi_mode_init(lu, lu->wce_default);

	lu->n_inflight = reactor_count() ? reactor_count() : 64;
	lu->inflight = aligned_alloc(64, lu->n_inflight * sizeof(struct scsi_inflight));
	if (!lu->inflight) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(lu->inflight, 0, lu->n_inflight * sizeof(struct scsi_inflight));

	pthread_mutex_lock(&t->lock);
	if (scsi_target_lu(t, lun)) {
		pthread_mutex_unlock(&t->lock);
		rc = -EEXIST;
		goto fail;
	}
	lu->slot = t->next_slot;
	for (struct scsi_nexus *n = t->nexuses; n; n = n->next)
		nn++;
	old = atomic_load(&t->lus);
	v = calloc(1, sizeof(*v) + (old->n + 1) * sizeof(v->lu[0]));
	itls = calloc(nn ? nn : 1, sizeof(*itls));
	vecs = calloc(nn ? nn : 1, sizeof(*vecs));
	if (!v || !itls || !vecs)
		goto nomem;
	i = 0;
	for (struct scsi_nexus *n = t->nexuses; n; n = n->next, i++) {
		itls[i] = itl_new(n, lu);
		vecs[i] = itl_vec_grow(n, lu->slot + 1);
		if (!itls[i] || !vecs[i])
			goto nomem;
	}

	/* publish: first the I_T_L nexuses (so a task that finds the LU finds
	 * its itl), then the LU itself */
	i = 0;
	for (struct scsi_nexus *n = t->nexuses; n; n = n->next, i++) {
		scsi_ua_add(itls[i], SCSI_UA_POWER_ON);
		itls[i]->next_in_lu = lu->itls;
		lu->itls = itls[i];
		vecs[i]->itl[lu->slot] = itls[i];
		atomic_store_explicit(&n->itls, vecs[i], memory_order_release);
		/* the LU inventory changed for every LU this nexus already sees */
		for (unsigned k = 0; k < old->n; k++) {
			struct scsi_lu *other = old->lu[k];
			struct scsi_itl *oitl = scsi_itl_get(n, other);
			if (!oitl)
				continue;
			pthread_mutex_lock(&other->lock);
			scsi_ua_add(oitl, SCSI_UA_LUNS_CHANGED);
			pthread_mutex_unlock(&other->lock);
		}
	}
	t->next_slot++;
	v->n = old->n + 1;
	v->retired = old;
	for (i = 0; i < old->n && old->lu[i]->lun < lun; i++)
		v->lu[i] = old->lu[i];
	v->lu[i] = lu;
	for (; i < old->n; i++)
		v->lu[i + 1] = old->lu[i];
	atomic_store_explicit(&t->lus, v, memory_order_release);
	pthread_mutex_unlock(&t->lock);
	free(itls);
	free(vecs);
	log_info(LOGC_SCSI, lu->name, "LUN %llu of %s: %llu blocks of %u bytes%s%s%s",
		 (unsigned long long)lun, t->name, (unsigned long long)dev->info.num_blocks, lu->block_size,
		 lu->read_only ? ", read-only" : "", lu->thin ? ", thin" : "", lu->removable ? ", removable" : "");
	if (out)
		*out = lu;
	return 0;

nomem:
	pthread_mutex_unlock(&t->lock);
	for (i = 0; i < nn; i++) {
		free(itls ? itls[i] : NULL);
		if (vecs && vecs[i]) {
			vecs[i]->retired = NULL;
			free(vecs[i]);
		}
	}
	free(itls);
	free(vecs);
	free(v);
	rc = -ENOMEM;
fail:
	pthread_mutex_destroy(&lu->lock);
	free(lu->inflight);
	free(lu);
	return rc;
}

void scsi_lu_capacity_changed(struct scsi_lu *lu)
{
	uint64_t nb = lu->dev->info.num_blocks;

	if (nb == atomic_load(&lu->num_blocks))
		return;
	atomic_store(&lu->num_blocks, nb);
	pthread_mutex_lock(&lu->lock);
	scsi_ua_add_all(lu, NULL, SCSI_UA_CAPACITY_CHANGED);
	pthread_mutex_unlock(&lu->lock);
	log_notice(LOGC_SCSI, lu->name, "capacity changed to %llu blocks", (unsigned long long)nb);
}

void scsi_lu_sanitize_begin(struct scsi_lu *lu)
{
	atomic_store(&lu->sanitize_progress, 0);
	atomic_fetch_or(&lu->gate, SCSI_GATE_SANITIZE);
}

void scsi_lu_sanitize_progress(struct scsi_lu *lu, uint16_t progress)
{
	atomic_store_explicit(&lu->sanitize_progress, progress, memory_order_relaxed);
}

void scsi_lu_sanitize_end(struct scsi_lu *lu)
{
	atomic_fetch_and(&lu->gate, ~SCSI_GATE_SANITIZE);
}

void scsi_lu_update_resv_gate(struct scsi_lu *lu)
{
	if (lu->spc2_holder || lu->pr.holder)
		atomic_fetch_or(&lu->gate, SCSI_GATE_RESERVED);
	else
		atomic_fetch_and(&lu->gate, ~SCSI_GATE_RESERVED);
}

/* ---- nexus ---- */

struct scsi_itl *scsi_itl_get(const struct scsi_nexus *n, const struct scsi_lu *lu)
{
	const struct scsi_itl_vec *v = atomic_load_explicit(&n->itls, memory_order_acquire);
	return (v && lu->slot < v->n) ? v->itl[lu->slot] : NULL;
}

struct scsi_itl *scsi_lu_itl_by_port(struct scsi_lu *lu, const char *port)
{
	for (struct scsi_itl *itl = lu->itls; itl; itl = itl->next_in_lu)
		if (strcmp(itl->nexus->initiator_port, port) == 0)
			return itl;
	return NULL;
}

int scsi_nexus_create(struct scsi_target *t, const char *initiator_port, struct scsi_nexus **out)
{
	struct scsi_nexus *n;
	struct scsi_lu_vec *lv;
	struct scsi_itl_vec *v;

	if (!t || !initiator_port || !*initiator_port || strlen(initiator_port) > 255 || !out)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->initiator_port = strdup(initiator_port))) {
		free(n);
		return -ENOMEM;
	}
	n->target = t;

	pthread_mutex_lock(&t->lock);
	lv = atomic_load(&t->lus);
	v = calloc(1, sizeof(*v) + (t->next_slot ? t->next_slot : 1) * sizeof(v->itl[0]));
	if (!v)
		goto nomem;
	v->n = t->next_slot;
	for (unsigned i = 0; i < lv->n; i++) {
		struct scsi_itl *itl = itl_new(n, lv->lu[i]);
		if (!itl) {
			for (unsigned k = 0; k < i; k++)
				free(v->itl[lv->lu[k]->slot]);
			free(v);
			goto nomem;
		}
		v->itl[lv->lu[i]->slot] = itl;
	}
	atomic_init(&n->itls, v);
	for (unsigned i = 0; i < lv->n; i++) {
		struct scsi_lu *lu = lv->lu[i];
		struct scsi_itl *itl = v->itl[lu->slot];
		pthread_mutex_lock(&lu->lock);
		scsi_ua_add(itl, SCSI_UA_POWER_ON);
		itl->next_in_lu = lu->itls;
		lu->itls = itl;
		pthread_mutex_unlock(&lu->lock);
	}
	n->next = t->nexuses;
	t->nexuses = n;
	pthread_mutex_unlock(&t->lock);
	*out = n;
	return 0;

nomem:
	pthread_mutex_unlock(&t->lock);
	free(n->initiator_port);
	free(n);
	return -ENOMEM;
}

void scsi_nexus_destroy(struct scsi_nexus *n)
{
	struct scsi_target *t;
	struct scsi_itl_vec *v;
	struct scsi_lu_vec *lv;

	if (!n)
		return;
	t = n->target;
	pthread_mutex_lock(&t->lock);
	for (struct scsi_nexus **pp = &t->nexuses; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	}
	v = atomic_load(&n->itls);
	lv = atomic_load(&t->lus);
	for (unsigned i = 0; i < lv->n; i++) {
		struct scsi_lu *lu = lv->lu[i];
		struct scsi_itl *itl = lu->slot < v->n ? v->itl[lu->slot] : NULL;
		if (!itl)
			continue;
		pthread_mutex_lock(&lu->lock);
		for (struct scsi_itl **pp = &lu->itls; *pp; pp = &(*pp)->next_in_lu) {
			if (*pp == itl) {
				*pp = itl->next_in_lu;
				break;
			}
		}
		/* I_T nexus loss releases a RESERVE(6/10) reservation; persistent
		 * reservations and registrations stay */
		if (lu->spc2_holder == n) {
			lu->spc2_holder = NULL;
			scsi_lu_update_resv_gate(lu);
		}
		pthread_mutex_unlock(&lu->lock);
		free(itl);
	}
	pthread_mutex_unlock(&t->lock);
	itl_vec_free(v);
	free(n->initiator_port);
	free(n);
}
