/* mode.c - mode pages (01h, 08h caching with a truthful WCE, 0Ah control, 1Ch) and MODE SENSE / MODE SELECT (6 and 10). */
#include <stddef.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "scsi/scsi_internal.h"

struct page_def {
	uint8_t code;
	uint8_t len;            /* whole page, header included */
	size_t off;             /* where the current values live in struct scsi_mode_state */
	void (*defaults)(const struct scsi_lu *lu, uint8_t *p);
	void (*changeable)(const struct scsi_lu *lu, uint8_t *p);
};

static void rw_err_default(const struct scsi_lu *lu, uint8_t *p)
{
	(void)lu;
	p[0] = 0x01;
	p[1] = 0x0a;
	/* no automatic reallocation, no retries: the backends report errors as they are */
}

static void caching_default(const struct scsi_lu *lu, uint8_t *p)
{
	p[0] = 0x08;
	p[1] = 0x12;
	p[2] = lu->wce_default ? 0x04 : 0x00; /* WCE */
}

static void caching_changeable(const struct scsi_lu *lu, uint8_t *p)
{
	/* WCE can only be changed when there is a volatile cache to enable or
	 * disable; otherwise it stays 0, which is the truth */
	p[2] = lu->dev->info.volatile_cache ? 0x04 : 0x00;
}

static void control_default(const struct scsi_lu *lu, uint8_t *p)
{
	(void)lu;
	p[0] = 0x0a;
	p[1] = 0x0a;
	p[2] = 0x02;            /* TST 000b (one task set), D_SENSE 0, GLTSD (no saved log parameters) */
	p[3] = 0x10;            /* QUEUE ALGORITHM MODIFIER 1 (unrestricted reordering), QERR 00b */
	p[5] = 0x40;            /* TAS: tasks aborted by another I_T nexus end with TASK ABORTED */
	put_be16(p + 8, 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
}

static void control_changeable(const struct scsi_lu *lu, uint8_t *p)
{
	(void)lu;
	p[2] = 0x04;            /* D_SENSE */
	p[4] = 0x08;            /* SWP: software write protect */
}

static void iec_default(const struct scsi_lu *lu, uint8_t *p)
{
	(void)lu;
	p[0] = 0x1c;
	p[1] = 0x0a;
	p[2] = 0x08;            /* DEXCPT: no informational exception reporting */
}

static void no_change(const struct scsi_lu *lu, uint8_t *p)
{
	(void)lu;
	(void)p;
}

static const struct page_def pages[] = {
	{ 0x01, 12, offsetof(struct scsi_mode_state, rw_err), rw_err_default, no_change },
	{ 0x08, 20, offsetof(struct scsi_mode_state, caching), caching_default, caching_changeable },
	{ 0x0a, 12, offsetof(struct scsi_mode_state, control), control_default, control_changeable },
	{ 0x1c, 12, offsetof(struct scsi_mode_state, iec), iec_default, no_change },
};

static uint8_t *cur_page(struct scsi_lu *lu, const struct page_def *pd)
{
	return (uint8_t *)&lu->mode + pd->off;
}

static const struct page_def *find_page(uint8_t code)
{
	for (unsigned i = 0; i < ARRAY_SIZE(pages); i++)
		if (pages[i].code == code)
			return &pages[i];
	return NULL;
}

static void sync_atomics(struct scsi_lu *lu)
{
	atomic_store(&lu->wce, (lu->mode.caching[2] & 0x04) != 0);
	atomic_store(&lu->d_sense, (lu->mode.control[2] & 0x04) != 0);
	if (lu->mode.control[4] & 0x08)
		atomic_fetch_or(&lu->gate, SCSI_GATE_SWP);
	else
		atomic_fetch_and(&lu->gate, ~SCSI_GATE_SWP);
}

void scsi_mode_init(struct scsi_lu *lu, bool write_cache)
{
	(void)write_cache; /* lu->wce_default already combines it with the device's cache */
	memset(&lu->mode, 0, sizeof(lu->mode));
	for (unsigned i = 0; i < ARRAY_SIZE(pages); i++)
		pages[i].defaults(lu, cur_page(lu, &pages[i]));
	sync_atomics(lu);
}

void scsi_mode_reset(struct scsi_lu *lu)
{
	scsi_mode_init(lu, lu->wce_default);
}

/* Page pd as page control pc asks (0 current, 1 changeable, 2 default) into p. */
static void page_values(struct scsi_lu *lu, const struct page_def *pd, uint8_t pc, uint8_t *p)
{
	memset(p, 0, pd->len);
	switch (pc) {
	case 0:
		memcpy(p, cur_page(lu, pd), pd->len);
		break;
	case 1:
		p[0] = pd->code;
		p[1] = (uint8_t)(pd->len - 2);
		pd->changeable(lu, p);
		break;
	default:
		pd->defaults(lu, p);
		break;
	}
}

/* ---- MODE SENSE ---- */

void spc_mode_sense(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	bool ten = t->cdb[0] == 0x5a;
	bool dbd = t->cdb[1] & 0x08;
	bool llbaa = ten && (t->cdb[1] & 0x10);
	uint8_t pc = t->cdb[2] >> 6;
	uint8_t page = t->cdb[2] & 0x3f;
	uint8_t subpage = t->cdb[3];
	uint32_t alloc = ten ? get_be16(t->cdb + 7) : t->cdb[4];
	uint8_t buf[512];
	uint32_t hdr = ten ? 8 : 4, len, bdlen = 0;
	uint64_t nb = scsi_lu_num_blocks(lu);
	uint8_t reserved1 = ten ? 0xe7 : 0xf7;

	if (t->cdb[1] & reserved1) {
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1] & reserved1)));
		return;
	}
	if (pc == 3) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x39, 0x00); /* SAVING PARAMETERS NOT SUPPORTED */
		return;
	}
	if (page != 0x3f && !find_page(page)) {
		scsi_task_fail_field_cdb(t, 2, 5);
		return;
	}
	if (subpage != 0x00 && subpage != 0xff) {
		scsi_task_fail_field_cdb(t, 3, -1);
		return;
	}

	memset(buf, 0, sizeof(buf));
	len = hdr;
	if (!dbd) {
		uint8_t *bd = buf + hdr;
		if (llbaa) {
			put_be64(bd, nb);
			put_be32(bd + 12, lu->block_size);
			bdlen = 16;
			buf[4] = 0x01; /* LONGLBA */
		} else {
			put_be32(bd, nb > 0xffffffffull ? 0xffffffffu : (uint32_t)nb);
			put_be24(bd + 5, lu->block_size);
			bdlen = 8;
		}
		len += bdlen;
	}
	pthread_mutex_lock(&lu->lock);
	for (unsigned i = 0; i < ARRAY_SIZE(pages); i++) {
		if (page != 0x3f && pages[i].code != page)
			continue;
		page_values(lu, &pages[i], pc, buf + len);
		len += pages[i].len;
	}
	pthread_mutex_unlock(&lu->lock);

	/* device-specific parameter: WP, DPOFUA (SBC-3 6.4.1) */
	if (ten) {
		put_be16(buf, (uint16_t)(len - 2));
		buf[3] = (uint8_t)((scsi_lu_write_protected(lu) ? 0x80 : 0) | 0x10);
		put_be16(buf + 6, (uint16_t)bdlen);
	} else {
		buf[0] = (uint8_t)(len - 1);
		buf[2] = (uint8_t)((scsi_lu_write_protected(lu) ? 0x80 : 0) | 0x10);
		buf[3] = (uint8_t)bdlen;
	}
	scsi_task_data_in(t, buf, len, alloc);
	scsi_task_good(t);
}

/* ---- MODE SELECT ---- */

/* Turning the write cache off writes back what it holds, so "WCE=0" means
 * every acknowledged write is durable from the moment MODE SELECT completes. */
static void wce_off_flushed(struct blk_io *io, int status)
{
	struct scsi_task *t = io->cb_arg;
	scsi_task_fail_blk(t, status);
}
_Static_assert(sizeof(struct blk_io) <= SCSI_TASK_PRIV_WORDS * sizeof(uint64_t), "blk_io fits in task->priv");

static void fail_len(struct scsi_task *t)
{
	scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00); /* PARAMETER LIST LENGTH ERROR */
}

void spc_mode_select(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	bool ten = t->cdb[0] == 0x55;
	uint32_t plen = ten ? get_be16(t->cdb + 7) : t->cdb[4];
	uint32_t hdr = ten ? 8 : 4, off, bdlen, have;
	uint8_t buf[512];
	uint8_t newv[ARRAY_SIZE(pages)][32];
	bool seen[ARRAY_SIZE(pages)] = { false };
	bool changed = false, wce_before;

	if (t->cdb[1] & 0xee) {
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1] & 0xee)));
		return;
	}
	if (t->cdb[1] & 0x01) { /* SP: no saved pages */
		scsi_task_fail_field_cdb(t, 1, 0);
		return;
	}
	scsi_task_set_residual(t, plen);
	if (plen == 0) {
		scsi_task_good(t);
		return;
	}
	if (plen > sizeof(buf)) {
		scsi_task_fail_field_cdb(t, ten ? 7 : 4, -1);
		return;
	}
	have = (uint32_t)iov_to_buf(t->iov, t->iovcnt, 0, buf, MIN(plen, t->data_out_len));
	if (have < plen || plen < hdr) {
		fail_len(t);
		return;
	}

	/* header: medium type must be 0 */
	if (buf[ten ? 2 : 1] != 0) {
		scsi_task_fail_field_param(t, ten ? 2 : 1, -1);
		return;
	}
	bdlen = ten ? get_be16(buf + 6) : buf[3];
	if (hdr + bdlen > plen) {
		fail_len(t);
		return;
	}
	if (bdlen) {
		/* the block descriptor may restate the geometry, never change it */
		const uint8_t *bd = buf + hdr;
		bool longlba = ten && (buf[4] & 0x01);
		uint64_t nb = scsi_lu_num_blocks(lu);
		uint64_t want_nb;
		uint32_t want_bs;
		if (bdlen != (longlba ? 16u : 8u)) {
			scsi_task_fail_field_param(t, ten ? 6 : 3, -1);
			return;
		}
		want_nb = longlba ? get_be64(bd) : get_be32(bd);
		want_bs = longlba ? get_be32(bd + 12) : get_be24(bd + 5);
		if (want_bs != lu->block_size) {
			scsi_task_fail_field_param(t, (uint16_t)(hdr + (longlba ? 12 : 5)), -1);
			return;
		}
		if (want_nb != 0 && want_nb != nb && !(!longlba && want_nb == 0xffffffffu && nb > 0xffffffffull)) {
			scsi_task_fail_field_param(t, (uint16_t)hdr, -1);
			return;
		}
	}

	/* pages: validate every byte against the changeable mask first */
	pthread_mutex_lock(&lu->lock);
	for (off = hdr + bdlen; off < plen;) {
		const struct page_def *pd;
		uint8_t mask[32], cur[32];
		unsigned idx;
		uint32_t pglen;

		if (buf[off] & 0x40) { /* SPF: sub-pages are not supported */
			pthread_mutex_unlock(&lu->lock);
			scsi_task_fail_field_param(t, (uint16_t)off, 6);
			return;
		}
		if (off + 2 > plen) {
			pthread_mutex_unlock(&lu->lock);
			fail_len(t);
			return;
		}
		pd = find_page(buf[off] & 0x3f);
		if (!pd) {
			pthread_mutex_unlock(&lu->lock);
			scsi_task_fail_field_param(t, (uint16_t)off, 5);
			return;
		}
		pglen = buf[off + 1] + 2u;
		if (pglen != pd->len) {
			pthread_mutex_unlock(&lu->lock);
			scsi_task_fail_field_param(t, (uint16_t)(off + 1), -1);
			return;
		}
		if (off + pglen > plen) {
			pthread_mutex_unlock(&lu->lock);
			fail_len(t);
			return;
		}
		idx = (unsigned)(pd - pages);
		page_values(lu, pd, 1, mask);
		memcpy(cur, cur_page(lu, pd), pd->len);
		for (uint32_t b = 2; b < pglen; b++) {
			uint8_t bad = (uint8_t)((buf[off + b] ^ cur[b]) & ~mask[b]);
			if (bad) {
				pthread_mutex_unlock(&lu->lock);
				scsi_task_fail_field_param(t, (uint16_t)(off + b), (int8_t)(31 - __builtin_clz(bad)));
				return;
			}
		}
		memcpy(newv[idx], cur, pd->len);
		for (uint32_t b = 2; b < pglen; b++)
			newv[idx][b] = (uint8_t)((cur[b] & ~mask[b]) | (buf[off + b] & mask[b]));
		seen[idx] = true;
		off += pglen;
	}
	/* apply */
	wce_before = scsi_lu_wce(lu);
	for (unsigned i = 0; i < ARRAY_SIZE(pages); i++) {
		uint8_t *cur;
		if (!seen[i])
			continue;
		cur = cur_page(lu, &pages[i]);
		if (memcmp(cur, newv[i], pages[i].len) != 0) {
			memcpy(cur, newv[i], pages[i].len);
			changed = true;
		}
	}
	if (changed) {
		sync_atomics(lu);
		scsi_ua_add_all(lu, t->nexus, SCSI_UA_MODE_CHANGED);
	}
	pthread_mutex_unlock(&lu->lock);
	if (changed)
		log_info(LOGC_SCSI, lu->name, "mode parameters changed by %s: WCE=%d D_SENSE=%d", t->nexus->initiator_port,
			 scsi_lu_wce(lu), (int)atomic_load(&lu->d_sense));
	if (wce_before && !scsi_lu_wce(lu)) {
		struct blk_io *io = (struct blk_io *)(void *)t->priv.u64;
		int rc;
		blk_io_prep(io, lu->dev, BLK_OP_FLUSH, 0, 0, NULL, 0, wce_off_flushed, t);
		rc = blk_submit(lu->dev, io);
		if (rc)
			scsi_task_fail_blk(t, rc);
		return;
	}
	scsi_task_good(t);
}
