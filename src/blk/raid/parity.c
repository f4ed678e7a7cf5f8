/* parity.c - P/Q parity through ISA-L: generation (flat and iovec), delta updates, recovery of up to two columns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>
#include <isa-l/raid.h>

#include "blk/raid/raid_internal.h"
#include "core/bufpool.h"
#include "core/util.h"

/*
 * The code is the one Linux md uses: P = XOR of the data chunks, Q = sum
 * of {02}^i * D_i over GF(2^8) with polynomial 0x11d. ISA-L's pq_gen()
 * computes exactly that with the data in column order (array[0] gets
 * {02}^0), and its erasure-code routines (gf_mul over the same field)
 * recover any two columns: the stripe is the linear code with generator
 * rows I (data), [1 1 ... 1] (P) and [{02}^0 {02}^1 ...] (Q); recovery
 * inverts k surviving rows and multiplies.
 *
 * xor_gen/pq_gen want 32-byte aligned pointers and lengths; our own
 * buffers come from bufpool (4 KiB aligned) at block-multiple offsets.
 * Host iovecs that break the rule go through a small aligned bounce.
 */

uint8_t parity_gf_pow2(unsigned e)
{
	uint8_t v = 1;
	for (unsigned i = 0; i < e; i++)
		v = (uint8_t)((v << 1) ^ ((v & 0x80) ? 0x1d : 0));
	return v;
}

void parity_xor_into(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t a, b;
		memcpy(&a, dst + i, 8);
		memcpy(&b, src + i, 8);
		a ^= b;
		memcpy(dst + i, &a, 8);
	}
	for (; i < len; i++)
		dst[i] ^= src[i];
}

void parity_xor_iov_into(uint8_t *dst, const struct iovec *iov, int iovcnt, size_t off, size_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = MIN(l - off, len);
		parity_xor_into(dst, (const uint8_t *)iov[i].iov_base + off, take);
		dst += take;
		len -= take;
		off = 0;
	}
}

static bool aligned32(const void *p)
{
	return ((uintptr_t)p & 31u) == 0;
}

static void gen_raw(unsigned ndata, unsigned npar, void **v, size_t len, bool fast)
{
	int vects = (int)(ndata + npar);
	if (npar == 1) {
		if (!fast || xor_gen(vects, (int)len, v) != 0)
			xor_gen_base(vects, (int)len, v);
	} else {
		if (!fast || pq_gen(vects, (int)len, v) != 0)
			pq_gen_base(vects, (int)len, v);
	}
}

void parity_gen(unsigned ndata, unsigned npar, uint8_t **cols, size_t len)
{
	void *v[RAID_MAX_MEMBERS + 2];
	bool fast = (len & 31u) == 0;
	for (unsigned i = 0; i < ndata + npar; i++) {
		v[i] = cols[i];
		fast = fast && aligned32(cols[i]);
	}
	gen_raw(ndata, npar, v, len, fast);
}

struct iov_cur {
	const struct iovec *iov;
	int cnt, i;
	size_t off;
};

static void cur_init(struct iov_cur *c, const struct parity_src *s)
{
	c->iov = s->iov;
	c->cnt = s->iovcnt;
	c->i = 0;
	c->off = s->off;
	while (c->i < c->cnt && c->off >= c->iov[c->i].iov_len) {
		c->off -= c->iov[c->i].iov_len;
		c->i++;
	}
}

static void cur_advance(struct iov_cur *c, size_t n)
{
	c->off += n;
	while (c->i < c->cnt && c->off >= c->iov[c->i].iov_len) {
		c->off -= c->iov[c->i].iov_len;
		c->i++;
	}
}

#define BOUNCE 4096u

void parity_gen_iov(unsigned ndata, unsigned npar, const struct parity_src *data, uint8_t **par, size_t len)
{
	struct iov_cur cur[RAID_MAX_MEMBERS];
	void *v[RAID_MAX_MEMBERS + 2];
	uint8_t *bounce = NULL;
	for (unsigned c = 0; c < ndata; c++)
		cur_init(&cur[c], &data[c]);
	size_t pos = 0;
	while (pos < len) {
		size_t step = len - pos;
		bool fast = true;
		for (unsigned c = 0; c < ndata; c++) {
			const struct iovec *e = &cur[c].iov[cur[c].i];
			step = MIN(step, e->iov_len - cur[c].off);
			v[c] = (uint8_t *)e->iov_base + cur[c].off;
			fast = fast && aligned32(v[c]);
		}
		for (unsigned p = 0; p < npar; p++) {
			v[ndata + p] = par[p] + pos;
			fast = fast && aligned32(v[ndata + p]);
		}
		if (fast && step >= 32) {
			step &= ~(size_t)31;
			gen_raw(ndata, npar, v, step, true);
		} else {
			/* odd alignment or length: compute a piece in an aligned, zero-padded bounce */
			if (bounce == NULL) {
				bounce = buf_get((size_t)(ndata + npar) * BOUNCE);
				if (bounce == NULL)
					abort(); /* 128 KiB at most; the allocator is exhausted */
			}
			step = MIN(step, BOUNCE);
			void *bv[RAID_MAX_MEMBERS + 2];
			for (unsigned c = 0; c < ndata + npar; c++) {
				bv[c] = bounce + (size_t)c * BOUNCE;
				memset(bv[c], 0, BOUNCE);
				if (c < ndata)
					memcpy(bv[c], v[c], step);
			}
			gen_raw(ndata, npar, bv, ALIGN_UP(step, 32), true);
			for (unsigned p = 0; p < npar; p++)
				memcpy(v[ndata + p], bv[ndata + p], step);
		}
		for (unsigned c = 0; c < ndata; c++)
			cur_advance(&cur[c], step);
		pos += step;
	}
	if (bounce != NULL)
		buf_put(bounce, (size_t)(ndata + npar) * BOUNCE);
}

void parity_apply_delta(unsigned npar, unsigned dcol, const uint8_t *delta, uint8_t *p, uint8_t *q, size_t len)
{
	parity_xor_into(p, delta, len);
	if (npar < 2)
		return;
	unsigned char coef = parity_gf_pow2(dcol);
	unsigned char tbl[32];
	ec_init_tables(1, 1, &coef, tbl);
	gf_vect_mad((int)len, 1, 0, tbl, (unsigned char *)delta, q);
}

int parity_recover(unsigned ndata, unsigned npar, uint8_t **cols, uint32_t missing, size_t len)
{
	unsigned k = ndata, total = ndata + npar;
	unsigned nmiss = (unsigned)__builtin_popcount(missing & ((1u << total) - 1));
	if (nmiss > npar)
		return -EINVAL;
	if (nmiss == 0)
		return 0;
	/* generator matrix: total rows of k coefficients */
	unsigned char enc[(RAID_MAX_MEMBERS + 2) * RAID_MAX_MEMBERS];
	memset(enc, 0, sizeof(enc));
	for (unsigned r = 0; r < k; r++)
		enc[r * k + r] = 1;
	for (unsigned j = 0; j < k; j++) {
		enc[k * k + j] = 1;
		if (npar == 2)
			enc[(k + 1) * k + j] = parity_gf_pow2(j);
	}
	/* k surviving rows, data first */
	unsigned char b[RAID_MAX_MEMBERS * RAID_MAX_MEMBERS], inv[RAID_MAX_MEMBERS * RAID_MAX_MEMBERS];
	unsigned char *surv[RAID_MAX_MEMBERS];
	unsigned ns = 0;
	for (unsigned r = 0; r < total && ns < k; r++) {
		if (missing & (1u << r))
			continue;
		memcpy(&b[ns * k], &enc[r * k], k);
		surv[ns++] = cols[r];
	}
	if (ns < k || gf_invert_matrix(b, inv, (int)k) != 0)
		return -EINVAL;
	/* coefficient rows of the missing columns in terms of the survivors */
	unsigned char coef[2 * RAID_MAX_MEMBERS];
	unsigned char *out[2];
	unsigned no = 0;
	for (unsigned m = 0; m < total; m++) {
		if (!(missing & (1u << m)))
			continue;
		for (unsigned j = 0; j < k; j++) {
			unsigned char s = 0;
			for (unsigned t = 0; t < k; t++)
				s ^= gf_mul(enc[m * k + t], inv[t * k + j]);
			coef[no * k + j] = s;
		}
		out[no++] = cols[m];
	}
	unsigned char tbls[32 * 2 * RAID_MAX_MEMBERS];
	ec_init_tables((int)k, (int)no, coef, tbls);
	ec_encode_data((int)len, (int)k, (int)no, tbls, surv, out);
	return 0;
}
