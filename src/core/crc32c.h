/* crc32c.h - CRC32C (Castagnoli) as iSCSI digests and on-disk formats use it, computed by ISA-L. */
#ifndef SOFTHBA_CORE_CRC32C_H
#define SOFTHBA_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Full CRC32C of buf (initial value ~0, final xor ~0): the value iSCSI
 * puts in a digest (little-endian on the wire) and on-disk formats store.
 * crc32c("123456789") == 0xE3069283. */
uint32_t crc32c(const void *buf, size_t len);

/* Incremental form: start with crc32c_begin(), feed pieces, finish with crc32c_end(). */
static inline uint32_t crc32c_begin(void) { return 0xFFFFFFFFu; }
uint32_t crc32c_update(uint32_t state, const void *buf, size_t len);
static inline uint32_t crc32c_end(uint32_t state) { return ~state; }

/* CRC32C over len bytes of an iovec starting at byte offset off. */
uint32_t crc32c_iov(const struct iovec *iov, int iovcnt, size_t off, size_t len);

#endif
