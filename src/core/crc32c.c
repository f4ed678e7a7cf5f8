/* crc32c.c - CRC32C over buffers and iovecs through ISA-L's crc32_iscsi. */
#include <isa-l/crc.h>

#include "core/crc32c.h"
#include "core/util.h"

/*
 * ISA-L's crc32_iscsi(buf, len, init) neither inverts init nor the result:
 * it returns the raw reflected CRC register after feeding buf into a
 * register holding init. So the register is the incremental state:
 * begin with ~0, feed pieces, invert at the end.
 * Its length is an int: feed at most 1 GiB per call.
 */
#define CRC_CHUNK (1u << 30)

uint32_t crc32c_update(uint32_t state, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len > 0) {
		size_t n = MIN(len, (size_t)CRC_CHUNK);
		state = crc32_iscsi((unsigned char *)p, (int)n, state);
		p += n;
		len -= n;
	}
	return state;
}

uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_end(crc32c_update(crc32c_begin(), buf, len));
}

uint32_t crc32c_iov(const struct iovec *iov, int iovcnt, size_t off, size_t len)
{
	uint32_t s = crc32c_begin();
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t n = MIN(l - off, len);
		s = crc32c_update(s, (const char *)iov[i].iov_base + off, n);
		len -= n;
		off = 0;
	}
	return crc32c_end(s);
}
