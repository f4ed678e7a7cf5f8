/* util.c - copies between flat buffers and iovec arrays at an arbitrary byte offset. */
#include "core/util.h"

/* Walk len bytes of iov from offset off, calling op on each contiguous piece. */
#define IOV_WALK(iov, iovcnt, off, len, op)                                   \
	do {                                                                  \
		size_t done_ = 0;                                             \
		for (int i_ = 0; i_ < (iovcnt) && done_ < (len); i_++) {      \
			size_t l_ = (iov)[i_].iov_len;                        \
			if ((off) >= l_) {                                    \
				(off) -= l_;                                  \
				continue;                                     \
			}                                                     \
			size_t n_ = MIN(l_ - (off), (len) - done_);           \
			char *p_ = (char *)(iov)[i_].iov_base + (off);        \
			op;                                                   \
			done_ += n_;                                          \
			(off) = 0;                                            \
		}                                                             \
		return done_;                                                 \
	} while (0)

size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t off, const void *buf, size_t len)
{
	IOV_WALK(iov, iovcnt, off, len, memcpy(p_, (const char *)buf + done_, n_));
}

size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t off, void *buf, size_t len)
{
	IOV_WALK(iov, iovcnt, off, len, memcpy((char *)buf + done_, p_, n_));
}

size_t iov_memset(const struct iovec *iov, int iovcnt, size_t off, int c, size_t len)
{
	IOV_WALK(iov, iovcnt, off, len, memset(p_, c, n_));
}
