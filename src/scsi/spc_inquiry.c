/* spc_inquiry.c - INQUIRY: standard data and the vital product data pages (00h 80h 83h 86h 8Fh B0h B1h B2h). */
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "scsi/sbc.h"
#include "scsi/scsi_internal.h"

#define INQ_BUF 1024

/* Version descriptors (SPC-4 table 29 area): SAM-5, SPC-4, SBC-3, iSCSI. */
static const uint16_t version_desc[] = { 0x00a0, 0x0460, 0x04c0, 0x0960 };

/* IEEE company identifier (CID: X bit set, locally assigned) for NAA 6 designators. */
#define SOFTHBA_CID 0x2a5348u

static void pad_ascii(uint8_t *dst, const char *s, size_t n)
{
	size_t l = strlen(s);
	memset(dst, ' ', n);
	memcpy(dst, s, MIN(l, n));
}

static bool is_iscsi_name(const char *name)
{
	return strncmp(name, "iqn.", 4) == 0 || strncmp(name, "eui.", 4) == 0 || strncmp(name, "naa.", 4) == 0;
}

static uint32_t inquiry_standard(struct scsi_lu *lu, uint8_t *b)
{
	uint32_t len = 58 + 2 * ARRAY_SIZE(version_desc);

	memset(b, 0, 74);
	if (!lu) {
		/* SPC-4 6.6.2: no LU here - peripheral qualifier 011b, type 1Fh */
		b[0] = 0x7f;
		b[2] = 0x06;
		b[3] = 0x02;
		b[4] = 31;
		return 36;
	}
	b[0] = 0x00;                               /* PQ 000b, direct access block device */
	b[1] = lu->removable ? 0x80 : 0x00;        /* RMB */
	b[2] = 0x06;                               /* VERSION: SPC-4 */
	b[3] = 0x10 | 0x02;                        /* HISUP, RESPONSE DATA FORMAT 2 */
	b[4] = (uint8_t)(len - 5);
	b[5] = 0x08;                               /* 3PC: EXTENDED COPY supported */
	b[6] = 0x00;
	b[7] = 0x02;                               /* CMDQUE */
	pad_ascii(b + 8, lu->vendor, 8);
	pad_ascii(b + 16, lu->product, 16);
	pad_ascii(b + 32, lu->revision, 4);
	for (unsigned i = 0; i < ARRAY_SIZE(version_desc); i++)
		put_be16(b + 58 + 2 * i, version_desc[i]);
	return len;
}

/* Append one designation descriptor; returns its size. */
static uint32_t desig(uint8_t *d, uint8_t proto, uint8_t code_set, bool piv, uint8_t assoc, uint8_t type,
		      const void *id, uint32_t id_len)
{
	d[0] = (uint8_t)(proto << 4 | code_set);
	d[1] = (uint8_t)((piv ? 0x80 : 0) | assoc << 4 | type);
	d[2] = 0;
	d[3] = (uint8_t)id_len;
	memcpy(d + 4, id, id_len);
	return 4 + id_len;
}

/* SCSI name string: NUL terminated, padded with NULs to a multiple of 4. */
static uint32_t name_string(uint8_t *dst, const char *s, const char *suffix, uint32_t cap)
{
	uint32_t n = 0;

	memset(dst, 0, cap);
	for (const char *p = s; *p && n + 5 < cap; p++)
		dst[n++] = (uint8_t)*p;
	for (const char *p = suffix; *p && n + 5 < cap; p++)
		dst[n++] = (uint8_t)*p;
	n++; /* NUL */
	return ALIGN_UP(n, 4u);
}

void scsi_lu_naa(const struct scsi_lu *lu, uint8_t out[16])
{
	/* NAA 6 (IEEE registered extended): NAA | CID | 36-bit vendor id | 64-bit extension */
	uint64_t ext = 0;
	for (const char *p = lu->serial; *p; p++)
		ext = (ext ^ (uint8_t)*p) * 0x100000001b3ull;
	put_be64(out, 6ull << 60 | (uint64_t)SOFTHBA_CID << 36 | lu->naa_id);
	put_be64(out + 8, ext);
}

static uint32_t vpd_device_id(struct scsi_lu *lu, uint8_t *b)
{
	struct scsi_target *t = lu->target;
	bool iscsi = is_iscsi_name(t->name);
	uint8_t proto = iscsi ? 0x5 : 0;
	uint8_t id[256];
	uint32_t off = 4, n;
	char suffix[16];

	scsi_lu_naa(lu, id);
	off += desig(b + off, 0, 1, false, 0, 3, id, 16);

	/* T10 vendor ID: vendor (8, space padded) + serial */
	pad_ascii(id, lu->vendor, 8);
	n = (uint32_t)strlen(lu->serial);
	memcpy(id + 8, lu->serial, n);
	off += desig(b + off, 0, 2, false, 0, 1, id, 8 + n);

	/* relative target port identifier */
	memset(id, 0, 4);
	put_be16(id + 2, t->rel_port);
	off += desig(b + off, proto, 1, iscsi, 1, 4, id, 4);

	if (iscsi) {
		/* SCSI name string of the target port: "<name>,t,0x<TPGT>" */
		snprintf(suffix, sizeof(suffix), ",t,0x%04x", t->rel_port);
		n = name_string(id, t->name, suffix, 224);
		off += desig(b + off, proto, 3, true, 1, 8, id, n);
		/* SCSI name string of the target device */
		n = name_string(id, t->name, "", 224);
		off += desig(b + off, proto, 3, true, 2, 8, id, n);
	}
	return off;
}

static uint32_t vpd_extended(struct scsi_lu *lu, uint8_t *b)
{
	b[4] = 0;                                   /* no protection information */
	b[5] = 0x01;                                /* SIMPSUP: SIMPLE task attribute */
	b[6] = lu->dev->info.volatile_cache ? 0x01 : 0x00; /* V_SUP: volatile cache; no NV cache */
	b[7] = 0;
	b[8] = 0;
	b[13] = SCSI_SENSE_MAX;                     /* MAXIMUM SUPPORTED SENSE DATA LENGTH */
	return 64;
}

static uint32_t vpd_block_limits(struct scsi_lu *lu, uint8_t *b)
{
	b[4] = SCSI_WSNZ ? 0x01 : 0x00;             /* WSNZ */
	b[5] = (uint8_t)SCSI_MAX_CAW_BLOCKS;        /* MAXIMUM COMPARE AND WRITE LENGTH */
	put_be16(b + 6, (uint16_t)MIN(lu->opt_gran_blocks, 0xffffu)); /* OPTIMAL TRANSFER LENGTH GRANULARITY */
	put_be32(b + 8, lu->max_xfer_blocks);       /* MAXIMUM TRANSFER LENGTH */
	put_be32(b + 12, lu->opt_xfer_blocks ? MIN(lu->opt_xfer_blocks, lu->max_xfer_blocks) : 0);
	put_be32(b + 16, 0);                        /* MAXIMUM PREFETCH LENGTH: not stated */
	if (lu->thin) {
		put_be32(b + 20, SCSI_MAX_UNMAP_BLOCKS);  /* MAXIMUM UNMAP LBA COUNT */
		put_be32(b + 24, SCSI_MAX_UNMAP_DESC);    /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
		put_be32(b + 28, lu->opt_gran_blocks);    /* OPTIMAL UNMAP GRANULARITY */
		put_be32(b + 32, 0x80000000u);            /* UGAVALID, UNMAP GRANULARITY ALIGNMENT 0 */
	}
	put_be64(b + 36, SCSI_MAX_WS_BLOCKS);       /* MAXIMUM WRITE SAME LENGTH */
	put_be32(b + 44, SCSI_MAX_ATOMIC_BLOCKS);   /* MAXIMUM ATOMIC TRANSFER LENGTH */
	put_be32(b + 48, SCSI_ATOMIC_ALIGNMENT);    /* ATOMIC ALIGNMENT */
	put_be32(b + 52, SCSI_ATOMIC_GRANULARITY);  /* ATOMIC TRANSFER LENGTH GRANULARITY */
	put_be32(b + 56, 0);                        /* no atomic boundary support */
	put_be32(b + 60, 0);
	return 64;
}

static uint32_t vpd_block_chars(struct scsi_lu *lu, uint8_t *b)
{
	put_be16(b + 4, lu->dev->info.rotational ? 0x0000 : 0x0001); /* MEDIUM ROTATION RATE */
	/* WABEREQ 01b on LUs that can BLOCK ERASE (sbc_sanitize.c): reads after it succeed (zeroes);
	 * NOMINAL FORM FACTOR: not reported */
	b[7] = lu->thin ? 0x40 : 0;
	return 64;
}

static uint32_t vpd_lbp(struct scsi_lu *lu, uint8_t *b)
{
	b[4] = 0;                                   /* THRESHOLD EXPONENT: no thresholds */
	if (lu->thin)
		b[5] = 0x80 | 0x40 | 0x20;            /* LBPU, LBPWS, LBPWS10 */
	if (scsi_lu_lbprz(lu))
		b[5] |= 0x04;                         /* LBPRZ */
	b[6] = lu->thin ? 0x02 : 0x00;              /* PROVISIONING TYPE: thin / full */
	return 8;
}

static const uint8_t vpd_pages[] = { 0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2 };

static uint32_t vpd_page(struct scsi_lu *lu, uint8_t page, uint8_t *b, bool *ok)
{
	uint32_t len;

	*ok = true;
	memset(b, 0, INQ_BUF);
	b[0] = 0x00;
	b[1] = page;
	switch (page) {
	case 0x00:
		memcpy(b + 4, vpd_pages, sizeof(vpd_pages));
		len = 4 + sizeof(vpd_pages);
		break;
	case 0x80:
		len = 4 + (uint32_t)strlen(lu->serial);
		memcpy(b + 4, lu->serial, len - 4);
		break;
	case 0x83:
		len = vpd_device_id(lu, b);
		break;
	case 0x86:
		len = vpd_extended(lu, b);
		break;
	case 0x8f:
		len = sbc_vpd_third_party_copy(lu, b, INQ_BUF);
		if (len < 4)
			len = 4;
		b[0] = 0x00;
		b[1] = 0x8f;
		break;
	case 0xb0:
		len = vpd_block_limits(lu, b);
		break;
	case 0xb1:
		len = vpd_block_chars(lu, b);
		break;
	case 0xb2:
		len = vpd_lbp(lu, b);
		break;
	default:
		*ok = false;
		return 0;
	}
	put_be16(b + 2, (uint16_t)(len - 4));
	return len;
}

void spc_inquiry(struct scsi_task *t)
{
	uint8_t buf[INQ_BUF];
	bool evpd = t->cdb[1] & 0x01;
	uint8_t page = t->cdb[2];
	uint16_t alloc = get_be16(t->cdb + 3);
	uint32_t len;
	bool ok;

	if (t->cdb[1] & 0xfe) {                    /* CMDDT (obsolete) and reserved bits */
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1] & 0xfe)));
		return;
	}
	if (!evpd) {
		if (page != 0) {
			scsi_task_fail_field_cdb(t, 2, -1);
			return;
		}
		len = inquiry_standard(t->lu, buf);
	} else {
		if (!t->lu) {
			scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x25, 0x00);
			return;
		}
		len = vpd_page(t->lu, page, buf, &ok);
		if (!ok) {
			scsi_task_fail_field_cdb(t, 2, -1);
			return;
		}
	}
	scsi_task_data_in(t, buf, len, alloc);
	scsi_task_good(t);
}
