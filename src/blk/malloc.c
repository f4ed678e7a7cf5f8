/* malloc.c - RAM-backed device: one lazily-populated anonymous mapping shared by every reactor, with a map of written pages. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/util.h"

/*
 * Storage is a single private anonymous mapping of the device size, made
 * with MAP_NORESERVE: the kernel gives it pages on first write and maps
 * the shared zero page on first read, so a 1 GiB RAM device costs nothing
 * until it is written. UNMAP and WRITE_ZEROES hand whole pages back with
 * madvise(MADV_DONTNEED) (they read back as zeroes) and clear the partial
 * pages at the edges. Because the mapping itself is never changed while
 * the device exists, requests from different reactors need no lock and
 * cannot race into freed memory even when they overlap (overlapping
 * requests give undefined data, as on any disk, but never a crash).
 *
 * Provisioning state: the allocation unit is the "chunk", the larger of
 * the page size and the block size (a power of two: 4 KiB for 512-byte
 * blocks, so the physical block reported upwards is 8 logical blocks). One
 * bit per chunk says whether it is mapped: set by WRITE (data, zero or not)
 * and by WRITE_ZEROES without BLK_F_UNMAP (written zeroes stay allocated),
 * cleared by UNMAP and WRITE_ZEROES with BLK_F_UNMAP for every chunk the
 * request covers whole. A chunk only partly covered keeps its state: the
 * rest of it may hold data, and a chunk is allocated or not as a unit.
 * Reads never change it (the kernel mapping the zero page is not an
 * allocation). The bits are atomic words, updated after the data: a
 * report never says "deallocated" for a chunk whose write completed.
 */
struct malloc_ctx {
	uint8_t *base;
	size_t len;
	size_t page;
	size_t chunk;              /* allocation unit in bytes: max(page, block size) */
	unsigned chunk_shift;
	uint64_t nchunks;
	_Atomic uint64_t *mapped;  /* one bit per chunk */
};

/* Longest run one get_lba_status call reports (the caller asks again for more). */
#define MALLOC_LBA_SCAN_CHUNKS (1ull << 20)

static void bits_set(struct malloc_ctx *m, uint64_t c0, uint64_t c1, bool on)
{
	while (c0 < c1) {
		uint64_t w = c0 >> 6;
		unsigned b = (unsigned)(c0 & 63);
		uint64_t n = MIN(c1 - c0, 64u - b);
		uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << b;
		/* Rewrites of written chunks are the common case: a plain load
		 * keeps the word shared between the reactors' caches, where an
		 * unconditional read-modify-write would take it exclusive every
		 * time. A stale "already so" can only come from a request racing
		 * with this one on the same chunks, whose outcome is undefined
		 * anyway; after a completion seen by the caller the load is current. */
		uint64_t cur = atomic_load_explicit(&m->mapped[w], memory_order_relaxed);
		if (on && (cur & mask) != mask)
			atomic_fetch_or_explicit(&m->mapped[w], mask, memory_order_release);
		else if (!on && (cur & mask) != 0)
			atomic_fetch_and_explicit(&m->mapped[w], ~mask, memory_order_release);
		c0 += n;
	}
}

static bool bit_get(const struct malloc_ctx *m, uint64_t c)
{
	return (atomic_load_explicit(&m->mapped[c >> 6], memory_order_acquire) >> (c & 63)) & 1;
}

/* Chunks touched by bytes [off, off + len). */
static void chunks_touched(const struct malloc_ctx *m, size_t off, size_t len, uint64_t *c0, uint64_t *c1)
{
	*c0 = off >> m->chunk_shift;
	*c1 = (off + len + m->chunk - 1) >> m->chunk_shift;
}

/* Chunks covered whole by bytes [off, off + len); the last chunk may be short (device end). */
static void chunks_covered(const struct malloc_ctx *m, size_t off, size_t len, uint64_t *c0, uint64_t *c1)
{
	*c0 = (off + m->chunk - 1) >> m->chunk_shift;
	*c1 = off + len >= m->len ? m->nchunks : (off + len) >> m->chunk_shift;
	if (*c1 < *c0)
		*c1 = *c0;
}

static void malloc_zero_range(struct malloc_ctx *m, size_t off, size_t len)
{
	size_t start = ALIGN_UP(off, m->page);
	size_t end = (off + len) / m->page * m->page;
	if (start >= end) {
		memset(m->base + off, 0, len);
		return;
	}
	memset(m->base + off, 0, start - off);
	/* MADV_DONTNEED on private anonymous memory: the pages are freed and read back as zeroes. */
	if (madvise(m->base + start, end - start, MADV_DONTNEED) != 0)
		memset(m->base + start, 0, end - start);
	memset(m->base + end, 0, off + len - end);
}

static int malloc_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct malloc_ctx *m = dev->ctx;
	size_t off = (size_t)io->lba * dev->info.block_size;
	size_t len = (size_t)io->nblocks * dev->info.block_size;
	uint64_t c0, c1;

	switch (io->op) {
	case BLK_OP_READ:
		iov_from_buf(io->iov, io->iovcnt, 0, m->base + off, len);
		break;
	case BLK_OP_WRITE:
		iov_to_buf(io->iov, io->iovcnt, 0, m->base + off, len);
		chunks_touched(m, off, len, &c0, &c1);
		bits_set(m, c0, c1, true);
		break;
	case BLK_OP_FLUSH:
		break;
	case BLK_OP_UNMAP:
	case BLK_OP_WRITE_ZEROES:
		malloc_zero_range(m, off, len);
		if (io->op == BLK_OP_UNMAP || (io->flags & BLK_F_UNMAP)) {
			chunks_covered(m, off, len, &c0, &c1);
			bits_set(m, c0, c1, false);
		} else {
			chunks_touched(m, off, len, &c0, &c1);
			bits_set(m, c0, c1, true);
		}
		break;
	}
	blk_complete_later(io, 0);
	return 0;
}

/* First chunk in [c, end) whose bit differs from want; end when none. */
static uint64_t scan_run(const struct malloc_ctx *m, uint64_t c, uint64_t end, bool want)
{
	while (c < end) {
		uint64_t w = atomic_load_explicit(&m->mapped[c >> 6], memory_order_acquire);
		if (!want)
			w = ~w;
		uint64_t left = 64 - (c & 63);
		uint64_t other = ~(w >> (c & 63)); /* ones where the state changes (and above the word's end) */
		uint64_t run = other ? (uint64_t)__builtin_ctzll(other) : 64;
		if (run < left)
			return MIN(c + run, end);
		c += left;
	}
	return end;
}

/* Thin provisioning report from the map of written chunks. */
static int malloc_get_lba_status(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	struct malloc_ctx *m = dev->ctx;
	uint32_t bs = dev->info.block_size;
	uint64_t nb = dev->info.num_blocks;
	if (lba >= nb)
		return -EINVAL;
	uint64_t c = (lba * bs) >> m->chunk_shift;
	bool state = bit_get(m, c);
	uint64_t end = scan_run(m, c + 1, MIN(m->nchunks, c + MALLOC_LBA_SCAN_CHUNKS), state);
	uint64_t end_block = MIN(((uint64_t)end << m->chunk_shift) / bs, nb);
	*mapped = state;
	*nblocks_same = end_block > lba ? end_block - lba : 1;
	return 0;
}

static void malloc_destroy(struct blk_dev *dev)
{
	struct malloc_ctx *m = dev->ctx;
	munmap(m->base, m->len);
	free(m->mapped);
	free(m);
	free(dev);
}

static const struct blk_ops malloc_ops = {
	.name = "malloc",
	.submit = malloc_submit,
	.destroy = malloc_destroy,
	.get_lba_status = malloc_get_lba_status,
};

int blk_malloc_create(const char *name, uint64_t size_bytes, uint32_t block_size, struct blk_dev **out)
{
	struct blk_dev *dev;
	int rc = blk_mem_dev_alloc(name, size_bytes, block_size, &malloc_ops, &dev);
	if (rc)
		return rc;
	if (size_bytes > (uint64_t)SIZE_MAX / 2) {
		free(dev);
		return -ENOMEM;
	}
	struct malloc_ctx *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		free(dev);
		return -ENOMEM;
	}
	m->len = (size_t)size_bytes;
	m->page = (size_t)sysconf(_SC_PAGESIZE);
	m->chunk = MAX(m->page, (size_t)dev->info.block_size);
	m->chunk_shift = (unsigned)__builtin_ctzll(m->chunk);
	m->nchunks = (m->len + m->chunk - 1) >> m->chunk_shift;
	m->mapped = calloc((size_t)((m->nchunks + 63) / 64), sizeof(*m->mapped));
	void *p = m->mapped ? mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
			    : MAP_FAILED;
	if (p == MAP_FAILED) {
		free(m->mapped);
		free(m);
		free(dev);
		return -ENOMEM;
	}
	m->base = p;
	/* a chunk of several logical blocks is what gets allocated: the physical block */
	dev->info.phys_block_exp = (uint32_t)__builtin_ctzll(m->chunk / dev->info.block_size);
	dev->ctx = m;
	*out = dev;
	return 0;
}
