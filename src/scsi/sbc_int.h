/* sbc_int.h - what the SBC files share: per-LU SBC state, the LBA range lock, CDB decoding and data helpers. */
#ifndef SOFTHBA_SCSI_SBC_INT_H
#define SOFTHBA_SCSI_SBC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/util.h"
#include "scsi/sbc.h"

/*
 * LBA range lock
 * --------------
 * COMPARE AND WRITE, ORWRITE and WRITE ATOMIC must not interleave with any
 * other write to an overlapping range, and commands of one LU run on every
 * reactor at once. Every command that changes the medium takes a range:
 *   - shared (plain writes, WRITE SAME, UNMAP, copy destinations, ...):
 *     while no exclusive range exists on the LU this is one atomic
 *     increment of the calling reactor's own fast_writers slot (its own
 *     cache line: reactors do not bounce a shared counter), no lock,
 *     granted inline;
 *   - exclusive (CAW, ORWRITE, WRITE ATOMIC): excl_active is raised, the
 *     command waits for the lock-free writers to drain and for overlapping
 *     tracked ranges to be released, then runs.
 * While excl_active != 0 shared ranges are tracked under the state mutex.
 * fast_writers/excl_active use sequentially consistent operations: a
 * writer increments its slot then reads excl_active; an exclusive
 * increments excl_active then reads every slot, so one of them always
 * sees the other. A writer whose slot drops to zero while excl_active is
 * set wakes the waiters.
 * Waiters are granted in FIFO order among overlapping ranges; a grant is
 * delivered on the waiter's reactor through a message, never inline.
 */
struct sbc_range {
	uint64_t lba;
	uint64_t nblocks;
	bool excl;
	bool fast;                     /* counted in a fast_writers slot, not in a list */
	uint16_t slot;                 /* that slot */
	bool held;
	struct scsi_lu *lu;
	struct reactor *owner;
	void (*granted)(struct sbc_range *r);
	void *arg;                     /* for the owner */
	struct sbc_range *next, *prev;
};

struct xcopy_rec;

/* One reactor's count of lock-free writers, alone on its cache line. */
struct sbc_writer_slot {
	atomic_uint n;
	char pad[64 - sizeof(atomic_uint)];
};

struct sbc_lu_state {
	pthread_mutex_t lock;          /* range lists and copy results (never the lock-free write path) */
	atomic_uint excl_active;       /* exclusive ranges held or waiting */
	struct sbc_writer_slot *fast_writers; /* per reactor: shared ranges granted without the lock */
	unsigned n_slots;
	struct sbc_range *held;        /* tracked ranges, under lock */
	struct sbc_range *wait_head;   /* waiting ranges in arrival order, under lock */
	struct sbc_range *wait_tail;
	struct xcopy_rec *copies;      /* EXTENDED COPY results (xcopy.c), under lock */
	unsigned n_copies;
	atomic_uint copies_active;     /* EXTENDED COPY commands running on this LU */
	atomic_bool sanitizing;        /* a SANITIZE runs (sbc_sanitize.c) */
	atomic_uint bg_ops;            /* work that outlives its task (sbc_lu_busy) */
	atomic_bool failed_ause;       /* the failed SANITIZE had AUSE: EXIT FAILURE MODE may leave */
};

/* The LU's SBC state, created on first use; NULL when out of memory. */
struct sbc_lu_state *sbc_state(struct scsi_lu *lu);
/* Lock-free writers in flight on every reactor. */
unsigned sbc_fast_writers(struct sbc_lu_state *st);

/* Take [lba, lba+n) shared or exclusive. Returns 0 when granted at once
 * (granted() is then NOT called), 1 when the grant comes later through
 * r->granted on the calling reactor, -ENOMEM when no state could be made. */
int sbc_range_lock(struct scsi_lu *lu, struct sbc_range *r, uint64_t lba, uint64_t n, bool excl,
		   void (*granted)(struct sbc_range *r), void *arg);
/* Release a granted range; wakes waiters that can now run. */
void sbc_range_unlock(struct sbc_range *r);

/* ---- CDB decoding ---- */

/* The common READ/WRITE/VERIFY-shaped CDB fields. */
struct sbc_cdb {
	uint64_t lba;
	uint32_t nblocks;              /* transfer/verification length in blocks (READ/WRITE 6: 0 -> 256) */
	uint8_t protect;               /* RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT (byte 1 bits 7:5) */
	bool dpo, fua;
	uint8_t bytchk;                /* VERIFY / WRITE AND VERIFY byte 1 bits 2:1 */
	uint8_t len_byte;              /* CDB byte where the length field starts (for field pointers) */
};
/* Decode by opcode; returns false for a CDB form it does not know. */
bool sbc_decode(const uint8_t *cdb, struct sbc_cdb *out);

/* Checks lba + n <= capacity; otherwise fails t with LBA OUT OF RANGE and returns false. */
bool sbc_check_lba(struct scsi_task *t, uint64_t lba, uint64_t n);

/* Fails t with CHECK CONDITION, keeping the residual of a cdb_bytes transfer
 * (iSCSI reports overflow/underflow with any status). */
void sbc_fail_resid(struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq, uint32_t cdb_bytes);
/* MISCOMPARE DURING VERIFY OPERATION with INFORMATION = offset of the first differing byte. */
void sbc_fail_miscompare(struct scsi_task *t, uint64_t offset);

/* FUA for a write: the CDB asked for it, or the write cache is disabled. */
static inline uint32_t sbc_write_flags(const struct scsi_lu *lu, bool fua)
{
	return (fua || !scsi_lu_wce(lu)) ? BLK_F_FUA : 0;
}

/* Bytes of data-out the command can use (what arrived, bounded by the CDB). */
static inline uint32_t sbc_data_out(const struct scsi_task *t, uint64_t cdb_bytes)
{
	uint32_t n = t->data_out_len;
	if (t->exp_xfer_len < n)
		n = t->exp_xfer_len;
	return cdb_bytes < n ? (uint32_t)cdb_bytes : n;
}

/* Bytes of data-in the command may send (capacity the transport gave). */
static inline uint32_t sbc_data_in_cap(const struct scsi_task *t)
{
	return (t->dir & SCSI_DIR_READ) ? t->exp_xfer_len : 0;
}

/* ---- iovec helpers ---- */

/* Describe bytes [off, off+len) of src in dst (at most max entries).
 * Returns the number of entries, or -1 when src is too short or max too small. */
int sbc_iov_sub(const struct iovec *src, int cnt, size_t off, size_t len, struct iovec *dst, int max);
/* Entries needed for sbc_iov_sub of the same range (-1 when src is too short). */
int sbc_iov_sub_count(const struct iovec *src, int cnt, size_t off, size_t len);
/* Offset of the first byte where iov[off..off+len) and buf differ, or -1 when equal. */
int64_t sbc_iov_cmp(const struct iovec *iov, int cnt, size_t off, const uint8_t *buf, size_t len);
/* Offset of the first differing byte of a and b, or -1. */
int64_t sbc_mem_cmp(const uint8_t *a, const uint8_t *b, size_t len);

/* Chunk size used by commands that stream through a bounce buffer. */
#define SBC_CHUNK_BYTES (1u << 20)

/* Largest READ/WRITE the device takes in one request, in its blocks. */
static inline uint32_t sbc_dev_max_blocks(const struct blk_dev *dev)
{
	return dev->info.max_xfer_blocks ? dev->info.max_xfer_blocks : UINT32_MAX;
}
/* Bounce-buffer chunk for dev: SBC_CHUNK_BYTES, at most what one request may
 * carry, at least one block. */
static inline uint32_t sbc_chunk_bytes(const struct blk_dev *dev)
{
	uint32_t bs = dev->info.block_size;
	uint64_t n = MIN((uint64_t)SBC_CHUNK_BYTES / bs, (uint64_t)sbc_dev_max_blocks(dev));
	return (uint32_t)(MAX(n, 1u) * bs);
}

/* blk_submit() for a READ/WRITE that may exceed the device's
 * max_xfer_blocks: larger ones go down as several requests in parallel
 * and io->cb runs once, after the last, with the first error. Returns 0
 * or -errno (nothing in flight, cb not called). */
int sbc_submit_split(struct blk_dev *dev, struct blk_io *io);

/* ---- provisioning status (sbc_prov.c, used by SANITIZE checks) ---- */
bool sbc_lu_can_unmap(const struct scsi_lu *lu);

/* ---- xcopy.c: drop the copy results of a LU (sbc_lu_fini) ---- */
void xcopy_results_free(struct sbc_lu_state *st);

#endif
