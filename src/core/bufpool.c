/* bufpool.c - per-thread caches of 4 KiB-aligned buffers, one bounded free list per power-of-two size class. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/bufpool.h"

#define BUF_MIN_SHIFT 12u
#define BUF_MAX_SHIFT 22u /* BUF_MAX_CACHED == 1 << 22 */
#define BUF_CLASSES (BUF_MAX_SHIFT - BUF_MIN_SHIFT + 1)
#define BUF_CLASS_MAX_COUNT 64u
#define BUF_CLASS_MAX_BYTES (32u << 20) /* a queue of 32 x 1 MiB reads stays in the cache */

_Static_assert(BUF_MAX_CACHED == 1u << BUF_MAX_SHIFT, "size classes must end at BUF_MAX_CACHED");

/* A cached buffer's first bytes link it to the next free one of its class. */
struct free_buf {
	struct free_buf *next;
};

struct buf_cache {
	struct free_buf *head[BUF_CLASSES];
	unsigned count[BUF_CLASSES];
};

static _Thread_local struct buf_cache *t_cache;
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static bool g_key_ok;

static void cache_free(struct buf_cache *c)
{
	for (unsigned k = 0; k < BUF_CLASSES; k++) {
		struct free_buf *b = c->head[k];
		while (b) {
			struct free_buf *next = b->next;
			free(b);
			b = next;
		}
	}
	free(c);
}

/* Thread exit without buf_cache_drain(): free that thread's cache. */
static void key_destructor(void *arg)
{
	cache_free(arg);
	t_cache = NULL;
}

static void key_create(void)
{
	g_key_ok = pthread_key_create(&g_key, key_destructor) == 0;
}

/* Class index for len, or -1 when len is not cached. */
static int class_of(size_t len)
{
	if (len > BUF_MAX_CACHED)
		return -1;
	unsigned k = 0;
	while (((size_t)1 << (BUF_MIN_SHIFT + k)) < len)
		k++;
	return (int)k;
}

static unsigned class_limit(unsigned k)
{
	unsigned by_bytes = BUF_CLASS_MAX_BYTES >> (BUF_MIN_SHIFT + k);
	return by_bytes < BUF_CLASS_MAX_COUNT ? by_bytes : BUF_CLASS_MAX_COUNT;
}

static struct buf_cache *cache_get(void)
{
	if (t_cache)
		return t_cache;
	pthread_once(&g_key_once, key_create);
	if (!g_key_ok)
		return NULL; /* no way to free it at thread exit: do not cache */
	struct buf_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (pthread_setspecific(g_key, c) != 0) {
		free(c);
		return NULL;
	}
	t_cache = c;
	return c;
}

void *buf_get(size_t len)
{
	int k = class_of(len);
	if (k < 0) {
		if (len > SIZE_MAX - 4095)
			return NULL;
		return aligned_alloc(4096, (len + 4095) / 4096 * 4096);
	}
	struct buf_cache *c = t_cache;
	if (c && c->head[k]) {
		struct free_buf *b = c->head[k];
		c->head[k] = b->next;
		c->count[k]--;
		return b;
	}
	return aligned_alloc(4096, (size_t)1 << (BUF_MIN_SHIFT + (unsigned)k));
}

void buf_put(void *buf, size_t len)
{
	if (!buf)
		return;
	int k = class_of(len);
	struct buf_cache *c = k < 0 ? NULL : cache_get();
	if (!c || c->count[k] >= class_limit((unsigned)k)) {
		free(buf);
		return;
	}
	struct free_buf *b = buf;
	b->next = c->head[k];
	c->head[k] = b;
	c->count[k]++;
}

void buf_cache_drain(void)
{
	struct buf_cache *c = t_cache;
	if (!c)
		return;
	t_cache = NULL;
	pthread_setspecific(g_key, NULL);
	cache_free(c);
}

unsigned buf_cache_count(size_t len)
{
	int k = class_of(len);
	return k < 0 || !t_cache ? 0 : t_cache->count[k];
}
