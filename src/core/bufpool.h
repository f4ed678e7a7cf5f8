/* bufpool.h - per-reactor caches of 4 KiB-aligned data buffers in power-of-two size classes. */
#ifndef SOFTHBA_CORE_BUFPOOL_H
#define SOFTHBA_CORE_BUFPOOL_H

#include <stddef.h>

/*
 * buf_get() returns a buffer of at least len bytes, aligned to 4096 (so it
 * can go to an O_DIRECT file), from the calling thread's cache when one of
 * the right class is free, otherwise freshly allocated. buf_put() returns
 * it to the calling thread's cache (bounded per class; the excess is
 * freed); len must be the length it was taken with (or one of the same
 * power-of-two class). A buffer may be put on a different thread than it was taken on.
 * Sizes above BUF_MAX_CACHED are allocated and freed directly.
 * buf_get returns NULL only when memory is exhausted.
 */
#define BUF_MAX_CACHED (4u << 20)

void *buf_get(size_t len);
void buf_put(void *buf, size_t len);
/* Free the calling thread's cache (reactor exit). A thread that ends
 * without calling it has its cache freed by a thread-exit destructor. */
void buf_cache_drain(void);
/* Buffers cached by the calling thread in len's size class (0 for sizes
 * above BUF_MAX_CACHED). At most min(64, 32 MiB / class size) per class. */
unsigned buf_cache_count(size_t len);

#endif
