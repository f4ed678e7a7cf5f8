/* test_bufpool.c - unit tests for the per-thread buffer caches: alignment, reuse, bounds, cross-thread put. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "core/bufpool.h"

static void test_alignment_and_size(void **state)
{
	(void)state;
	size_t lens[] = { 0, 1, 4095, 4096, 4097, 65536, 100000, BUF_MAX_CACHED, BUF_MAX_CACHED + 1, 9u << 20 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t *b = buf_get(lens[i]);
		assert_non_null(b);
		assert_int_equal((uintptr_t)b % 4096, 0);
		if (lens[i])
			memset(b, 0xab, lens[i]); /* ASan catches a short allocation */
		buf_put(b, lens[i]);
	}
	buf_cache_drain();
}

static void test_reuse_same_class(void **state)
{
	(void)state;
	void *a = buf_get(5000); /* 8 KiB class */
	buf_put(a, 5000);
	assert_int_equal(buf_cache_count(8192), 1);
	void *b = buf_get(8192); /* same class: same buffer back */
	assert_ptr_equal(a, b);
	assert_int_equal(buf_cache_count(8192), 0);
	buf_put(b, 8192);
	void *c = buf_get(4096); /* other class: not that buffer */
	assert_ptr_not_equal(c, a);
	buf_put(c, 4096);
	assert_int_equal(buf_cache_count(4096), 1);
	buf_cache_drain();
	assert_int_equal(buf_cache_count(4096), 0);
	assert_int_equal(buf_cache_count(8192), 0);
}

static void test_bounded(void **state)
{
	(void)state;
	enum { N = 100 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = buf_get(4096);
	for (int i = 0; i < N; i++)
		buf_put(p[i], 4096);
	assert_int_equal(buf_cache_count(4096), 64);
	/* 1 MiB class: 32 MiB / 1 MiB = 32 buffers at most. */
	for (int i = 0; i < 40; i++)
		p[i] = buf_get(1u << 20);
	for (int i = 0; i < 40; i++)
		buf_put(p[i], 1u << 20);
	assert_int_equal(buf_cache_count(1u << 20), 32);
	/* Above BUF_MAX_CACHED nothing is cached. */
	void *big = buf_get(BUF_MAX_CACHED + 4096);
	buf_put(big, BUF_MAX_CACHED + 4096);
	assert_int_equal(buf_cache_count(BUF_MAX_CACHED + 4096), 0);
	buf_cache_drain();
}

static void *taker(void *arg)
{
	void **out = arg;
	for (int i = 0; i < 8; i++)
		out[i] = buf_get(16384);
	return NULL;
}

static void *exiting_putter(void *arg)
{
	void **bufs = arg;
	for (int i = 0; i < 8; i++)
		buf_put(bufs[i], 16384);
	/* Thread ends without buf_cache_drain(): its destructor frees them (LSan checks). */
	return (void *)(uintptr_t)buf_cache_count(16384);
}

static void test_cross_thread(void **state)
{
	(void)state;
	void *bufs[8];
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, taker, bufs), 0);
	pthread_join(t, NULL);
	/* Taken on one thread, put on this one. */
	for (int i = 0; i < 8; i++)
		buf_put(bufs[i], 16384);
	assert_int_equal(buf_cache_count(16384), 8);
	buf_cache_drain();
	assert_int_equal(pthread_create(&t, NULL, taker, bufs), 0);
	pthread_join(t, NULL);
	void *ret;
	assert_int_equal(pthread_create(&t, NULL, exiting_putter, bufs), 0);
	pthread_join(t, &ret);
	assert_int_equal((uintptr_t)ret, 8);
	assert_int_equal(buf_cache_count(16384), 0); /* not this thread's cache */
	buf_put(NULL, 4096);                         /* harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment_and_size),
		cmocka_unit_test(test_reuse_same_class),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_cross_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
