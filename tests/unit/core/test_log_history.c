/* test_log_history.c - unit tests for the log history: fields, wrap-around by lines and bytes, filters, paging, gaps, concurrent writers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/log_internal.h"
#include "core/reactor.h"

/* What a read returned, copied out of the callback. */
struct got {
	unsigned n;
	uint64_t seq[8192];
	enum log_level level[8192];
	enum log_comp comp[8192];
	int reactor[8192];
	uint64_t ts_ns[8192];
	char *ctx[8192];  /* NULL: none */
	char *text[8192];
	int stop_after;   /* >0: return -ECANCELED when this many were taken */
};

static struct got g;

static void got_reset(void)
{
	for (unsigned i = 0; i < g.n; i++) {
		free(g.ctx[i]);
		free(g.text[i]);
	}
	memset(&g, 0, sizeof(g));
}

static int collect(const struct log_record *r, void *arg)
{
	struct got *o = arg;
	if (o->stop_after && (int)o->n == o->stop_after)
		return -ECANCELED;
	if (o->n >= 8192)
		return -ENOSPC;
	o->seq[o->n] = r->seq;
	o->level[o->n] = r->level;
	o->comp[o->n] = r->comp;
	o->reactor[o->n] = r->reactor;
	o->ts_ns[o->n] = r->ts_ns;
	o->ctx[o->n] = r->context ? strdup(r->context) : NULL;
	o->text[o->n] = strdup(r->text);
	o->n++;
	return 0;
}

static int sink_open(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	assert_true(fd >= 0);
	return fd;
}

/* The newest sequence number recorded so far. */
static uint64_t last_seq(void)
{
	struct log_history_pos pos;
	got_reset();
	assert_true(log_history_read(LOG_READ_TAIL, 1, NULL, collect, &g, &pos) >= 0);
	got_reset();
	return pos.last_seq;
}

static void add(enum log_level lvl, enum log_comp comp, int reactor, const char *ctx, const char *text)
{
	log_history_append((uint64_t)time(NULL) * 1000000000ull, lvl, comp, reactor, ctx, ctx ? strlen(ctx) : 0, text,
			   strlen(text));
}

static int teardown(void **state)
{
	(void)state;
	got_reset();
	log_test_history_limits(0, 0);
	return 0;
}

/* Lines through the real writer keep level, component, reactor, context and text apart. */
static void test_fields_through_the_writer(void **state)
{
	(void)state;
	struct log_history_pos pos;
	int fd = sink_open();
	log_test_history_limits(0, 0);
	uint64_t base = last_seq();
	uint64_t t0 = (uint64_t)time(NULL);

	assert_int_equal(log_init(fd), 0);
	log_warn(LOGC_ISCSI, "sess=iqn.x:0x23d000000001", "login failed: %s", "bad CHAP");
	log_notice(LOGC_SCSI, NULL, "no context");
	assert_int_equal(reactors_init(1), 0);
	log_err(LOGC_RAID, "arr=md0", "from reactor\n0");
	reactors_fini();
	log_info(LOGC_SCSI, NULL, "below the level: never formatted, never kept");
	log_fini();
	int saved = dup(2);
	dup2(fd, 2);
	log_notice(LOGC_MGMT, "vol=late", "after fini"); /* direct to stderr, still kept */
	dup2(saved, 2);
	close(saved);

	int n = log_history_read(base, 100, NULL, collect, &g, &pos);
	assert_int_equal(n, 4);
	assert_int_equal(pos.missed, 0);
	assert_int_equal(pos.last_seq, base + 4);
	assert_int_equal(pos.cursor, base + 4);
	assert_false(pos.more);
	for (int i = 0; i < 4; i++)
		assert_int_equal(g.seq[i], base + 1 + (uint64_t)i);
	assert_int_equal(g.level[0], LOG_WARN);
	assert_int_equal(g.comp[0], LOGC_ISCSI);
	assert_int_equal(g.reactor[0], -1);
	assert_string_equal(g.ctx[0], "sess=iqn.x:0x23d000000001");
	assert_string_equal(g.text[0], "login failed: bad CHAP");
	assert_null(g.ctx[1]);
	assert_string_equal(g.text[1], "no context");
	assert_int_equal(g.level[2], LOG_ERR);
	assert_int_equal(g.comp[2], LOGC_RAID);
	assert_int_equal(g.reactor[2], 0);
	assert_string_equal(g.ctx[2], "arr=md0");
	assert_string_equal(g.text[2], "from reactor 0"); /* control characters became spaces */
	assert_int_equal(g.comp[3], LOGC_MGMT);
	assert_string_equal(g.ctx[3], "vol=late");
	for (int i = 0; i < 4; i++)
		assert_true(g.ts_ns[i] / 1000000000ull >= t0 && g.ts_ns[i] / 1000000000ull <= (uint64_t)time(NULL));
	close(fd);
	char tb[40];
	assert_int_equal(log_format_time(tb, sizeof(tb), 1795946400123000000ull), 24);
	assert_string_equal(tb, "2026-11-29T10:00:00.123Z");
	assert_int_equal(log_format_time(tb, 11, 1795946400123000000ull), 10);
	assert_string_equal(tb, "2026-11-29");
	assert_string_equal(log_level_name(LOG_NOTICE), "NOTICE");
	assert_string_equal(log_level_name(LOG_ERR), "ERR");
}

/* The writer's own lines (drops, repeats) are in the history too. */
static void *burst(void *arg)
{
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < n; i++)
		log_notice(LOGC_CORE, NULL, "burst line %d", i);
	return NULL;
}

static void test_drop_and_repeat_lines_kept(void **state)
{
	(void)state;
	struct log_history_pos pos;
	int fd = sink_open();
	uint64_t base = last_seq();
	log_test_ring_slots(8);
	assert_int_equal(log_init(fd), 0);
	log_test_pause_writer(true);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, burst, (void *)(intptr_t)20), 0);
	pthread_join(t, NULL);
	log_test_pause_writer(false);
	for (int i = 0; i < 5; i++)
		log_warn(LOGC_BLK, "vol=v0", "member sdb timed out");
	log_fini();
	log_test_ring_slots(0);

	/* 8 burst lines, the drop report, the blk line and its repeat count. */
	assert_int_equal(log_history_read(base, 100, NULL, collect, &g, &pos), 11);
	assert_string_equal(g.text[7], "burst line 7");
	assert_int_equal(g.level[8], LOG_WARN);
	assert_int_equal(g.comp[8], LOGC_CORE);
	assert_null(g.ctx[8]);
	assert_string_equal(g.text[8], "log: 12 lines dropped (ring of thread t full)");
	assert_string_equal(g.text[9], "member sdb timed out");
	assert_int_equal(g.comp[10], LOGC_BLK);
	assert_int_equal(g.level[10], LOG_WARN);
	assert_string_equal(g.ctx[10], "vol=v0");
	assert_string_equal(g.text[10], "last line repeated 4 times");
	close(fd);
}

/* Bounded by lines: the oldest fall out, a reader after them is told how many. */
static void test_wrap_by_lines_and_gap(void **state)
{
	(void)state;
	struct log_history_pos pos;
	char text[32];
	log_test_history_limits(8, 0);
	uint64_t base = last_seq();
	for (int i = 1; i <= 20; i++) {
		snprintf(text, sizeof(text), "line %d", i);
		add(LOG_NOTICE, LOGC_CORE, -1, NULL, text);
	}
	/* From the start: 12 missed, then lines 13..20. */
	assert_int_equal(log_history_read(base, 100, NULL, collect, &g, &pos), 8);
	assert_int_equal(pos.missed, 12);
	assert_int_equal(pos.first_seq, base + 13);
	assert_int_equal(pos.last_seq, base + 20);
	assert_string_equal(g.text[0], "line 13");
	assert_string_equal(g.text[7], "line 20");
	got_reset();
	/* After a line still held: no gap. */
	assert_int_equal(log_history_read(base + 15, 100, NULL, collect, &g, &pos), 5);
	assert_int_equal(pos.missed, 0);
	assert_string_equal(g.text[0], "line 16");
	got_reset();
	/* Just before the oldest: no gap either. */
	assert_int_equal(log_history_read(base + 12, 100, NULL, collect, &g, &pos), 8);
	assert_int_equal(pos.missed, 0);
	got_reset();
	/* Up to date: nothing, no gap, cursor unchanged. */
	assert_int_equal(log_history_read(base + 20, 100, NULL, collect, &g, &pos), 0);
	assert_int_equal(pos.missed, 0);
	assert_int_equal(pos.cursor, base + 20);
	/* The tail: the newest 3, never a gap. */
	assert_int_equal(log_history_read(LOG_READ_TAIL, 3, NULL, collect, &g, &pos), 3);
	assert_int_equal(pos.missed, 0);
	assert_string_equal(g.text[0], "line 18");
	assert_string_equal(g.text[2], "line 20");
	assert_int_equal(pos.cursor, base + 20);
	got_reset();
	/* Errors. */
	assert_int_equal(log_history_read(base + 21, 10, NULL, collect, &g, &pos), -ERANGE);
	assert_int_equal(pos.last_seq, base + 20);
	assert_int_equal(log_history_read(base, 0, NULL, collect, &g, &pos), -EINVAL);
	assert_int_equal(log_history_read(base, 10, NULL, NULL, NULL, &pos), -EINVAL);
	assert_int_equal(g.n, 0);
	/* A callback that stops: its error comes back, nothing after it is taken. */
	g.stop_after = 2;
	assert_int_equal(log_history_read(base, 100, NULL, collect, &g, &pos), -ECANCELED);
	assert_int_equal(g.n, 2);
	assert_int_equal(pos.cursor, base + 14);
	got_reset();
	/* Emptied by the hook: everything before is missed, numbering goes on. */
	log_test_history_limits(8, 0);
	assert_int_equal(log_history_read(base + 10, 10, NULL, collect, &g, &pos), 0);
	assert_int_equal(pos.missed, 10);
	assert_int_equal(pos.first_seq, base + 21);
	add(LOG_ERR, LOGC_BLK, 2, "vol=x", "after reset");
	assert_int_equal(log_history_read(base + 20, 10, NULL, collect, &g, &pos), 1);
	assert_int_equal(g.seq[0], base + 21);
	assert_int_equal(g.reactor[0], 2);
}

/* Bounded by bytes: random sizes, many laps of the byte buffer; what is held is
 * always one contiguous run ending at the newest line, intact, within the budget. */
static void test_wrap_by_bytes(void **state)
{
	(void)state;
	struct log_history_pos pos;
	const size_t budget = 4096;
	static char text[600], ctx[64];
	unsigned seed = 12345;
	log_test_history_limits(1000, budget);
	uint64_t base = last_seq();
	uint64_t min_held = UINT64_MAX, max_held = 0;

	for (int i = 1; i <= 3000; i++) {
		size_t tl = (size_t)(rand_r(&seed) % 480);
		int cl = rand_r(&seed) % 3 == 0 ? -1 : rand_r(&seed) % 40;
		/* Text: "#<i>:" then a fill derived from i, so corruption shows. */
		int h = snprintf(text, sizeof(text), "#%d:", i);
		for (size_t k = (size_t)h; k < (size_t)h + tl; k++)
			text[k] = (char)('a' + (i + (int)k) % 26);
		text[h + tl] = '\0';
		if (cl >= 0) {
			int ch = snprintf(ctx, sizeof(ctx), "c%d", i);
			memset(ctx + ch, 'z', (size_t)cl);
			ctx[ch + cl] = '\0';
		}
		add(LOG_INFO, LOGC_BLK, i % 4, cl >= 0 ? ctx : NULL, text);

		if (i % 7 && i != 3000)
			continue;
		got_reset();
		int n = log_history_read(base, 2000, NULL, collect, &g, &pos);
		assert_true(n >= 1);
		assert_int_equal(pos.last_seq, base + (uint64_t)i);
		assert_int_equal(pos.missed + (uint64_t)n, (uint64_t)i);
		assert_int_equal(g.seq[n - 1], base + (uint64_t)i);
		size_t bytes = 0;
		for (int k = 0; k < n; k++) {
			int num = (int)(g.seq[k] - base);
			if (k)
				assert_int_equal(g.seq[k], g.seq[k - 1] + 1);
			char want[16];
			snprintf(want, sizeof(want), "#%d:", num);
			assert_memory_equal(g.text[k], want, strlen(want));
			for (size_t c = strlen(want); g.text[k][c]; c++)
				assert_int_equal(g.text[k][c], 'a' + (num + (int)c) % 26);
			if (g.ctx[k]) {
				snprintf(want, sizeof(want), "c%d", num);
				assert_memory_equal(g.ctx[k], want, strlen(want));
				bytes += strlen(g.ctx[k]) + 1;
			}
			assert_int_equal(g.reactor[k], num % 4);
			bytes += strlen(g.text[k]) + 1;
		}
		assert_true(bytes <= budget);
		/* The budget is used: what fell out would not have fit with the rest. */
		assert_true(bytes + 600 > budget / 2);
		min_held = (uint64_t)n < min_held ? (uint64_t)n : min_held;
		max_held = (uint64_t)n > max_held ? (uint64_t)n : max_held;
	}
	assert_true(min_held >= 2);
	assert_true(max_held < 1000);
	got_reset();
	/* A line larger than the budget allows is cut, not refused. */
	static char huge[3000];
	memset(huge, 'q', sizeof(huge) - 1);
	log_test_history_limits(10, 1024);
	base = last_seq();
	add(LOG_WARN, LOGC_CORE, -1, NULL, huge);
	assert_int_equal(log_history_read(base, 10, NULL, collect, &g, &pos), 1);
	assert_true(strlen(g.text[0]) < 1024 && strlen(g.text[0]) > 400);
}

/* Filters: level, component mask, context substring; tail and paging with them. */
static void test_filters_and_paging(void **state)
{
	(void)state;
	struct log_history_pos pos;
	char text[32];
	log_test_history_limits(0, 0);
	uint64_t base = last_seq();
	static const enum log_comp comps[] = { LOGC_CORE, LOGC_ISCSI, LOGC_SCSI, LOGC_MGMT };
	static const char *const ctxs[] = { NULL, "sess=iqn.a:1", "vol=ram0", "sess=iqn.b:2" };
	for (int i = 0; i < 100; i++) {
		snprintf(text, sizeof(text), "n%d", i);
		add((enum log_level)(i % 5), comps[i % 4], -1, ctxs[(i / 4) % 4], text);
	}

	int n_warn = 0, n_comp = 0, n_sess = 0, n_b = 0, n_ctx = 0, n_all3 = 0;
	for (int i = 0; i < 100; i++) {
		const char *c = ctxs[(i / 4) % 4];
		n_warn += i % 5 <= LOG_WARN;
		n_comp += i % 4 == 1 || i % 4 == 3;
		n_sess += c && strstr(c, "sess=") != NULL;
		n_b += c && strstr(c, "iqn.b") != NULL;
		n_ctx += c != NULL;
		n_all3 += i % 4 == 1 && c && strstr(c, "iqn.a") && i % 5 <= LOG_NOTICE;
	}
	assert_true(n_all3 > 0 && n_b > 0);

	struct log_filter f = { .max_level = LOG_WARN };
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), n_warn);
	for (unsigned k = 0; k < g.n; k++)
		assert_true(g.level[k] <= LOG_WARN);
	got_reset();

	f = (struct log_filter){ .max_level = LOG_DEBUG, .comp_mask = 1u << LOGC_ISCSI | 1u << LOGC_MGMT };
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), n_comp);
	for (unsigned k = 0; k < g.n; k++)
		assert_true(g.comp[k] == LOGC_ISCSI || g.comp[k] == LOGC_MGMT);
	got_reset();

	f = (struct log_filter){ .max_level = LOG_DEBUG, .context = "sess=" };
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), n_sess);
	for (unsigned k = 0; k < g.n; k++)
		assert_non_null(strstr(g.ctx[k], "sess="));
	got_reset();
	f.context = "iqn.b";
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), n_b);
	got_reset();
	f.context = "";          /* any line that has a context */
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), n_ctx);
	got_reset();
	f.context = "nothing like this";
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), 0);
	assert_int_equal(pos.cursor, base + 100); /* scanned to the end: next time starts after it */
	assert_false(pos.more);

	/* Combined: iscsi (i % 4 == 1), sess=iqn.a ((i/4) % 4 == 1), ERR..NOTICE (i % 5 <= 2). */
	f = (struct log_filter){ .max_level = LOG_NOTICE, .comp_mask = 1u << LOGC_ISCSI, .context = "iqn.a" };
	assert_int_equal(log_history_read(base, 1000, &f, collect, &g, &pos), n_all3);
	for (unsigned k = 0; k < g.n; k++)
		assert_true(g.comp[k] == LOGC_ISCSI && strstr(g.ctx[k], "iqn.a") && g.level[k] <= LOG_NOTICE);
	got_reset();

	/* Tail with a filter: the newest 3 matching, oldest first. */
	f = (struct log_filter){ .max_level = LOG_DEBUG, .comp_mask = 1u << LOGC_SCSI };
	assert_int_equal(log_history_read(LOG_READ_TAIL, 3, &f, collect, &g, &pos), 3);
	assert_string_equal(g.text[0], "n90");
	assert_string_equal(g.text[1], "n94");
	assert_string_equal(g.text[2], "n98");
	got_reset();

	/* Paging through the cursor gives every match once, in order. */
	uint64_t cur = base;
	unsigned total = 0, calls = 0;
	int prev = -1;
	do {
		got_reset();
		int n = log_history_read(cur, 7, &f, collect, &g, &pos);
		assert_true(n >= 0 && n <= 7);
		for (int k = 0; k < n; k++) {
			int num = atoi(g.text[k] + 1);
			assert_true(num > prev);
			assert_int_equal(num % 4, 2);
			prev = num;
		}
		total += (unsigned)n;
		assert_true(pos.cursor >= cur);
		if (pos.more)
			assert_int_equal(n, 7);
		cur = pos.cursor;
		calls++;
	} while (pos.more && calls < 100);
	assert_int_equal(total, 25);
	assert_int_equal(cur, base + 100);
}

/* Writers on several threads through the real writer while a reader follows:
 * every number is returned or counted as missed, exactly once, in order. */
#define CW_THREADS 4
#define CW_LINES 3000
static atomic_int cw_done;

static void *cw_writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < CW_LINES; i++) {
		log_notice(LOGC_CORE, "w", "w%d n%d", id, i);
		if (i % 64 == 0)
			usleep(200); /* let the reader interleave */
	}
	atomic_fetch_add(&cw_done, 1);
	return NULL;
}

static void test_concurrent_writers_and_reader(void **state)
{
	(void)state;
	struct log_history_pos pos;
	int fd = sink_open();
	log_test_history_limits(64, 0);
	uint64_t base = last_seq();
	uint64_t cur = base, returned = 0, missed = 0;
	int last_n[CW_THREADS];
	for (int i = 0; i < CW_THREADS; i++)
		last_n[i] = -1;
	struct log_stats before, after;
	log_stats(&before);
	atomic_store(&cw_done, 0);
	assert_int_equal(log_init(fd), 0);
	pthread_t t[CW_THREADS];
	for (int i = 0; i < CW_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, cw_writer, (void *)(intptr_t)i), 0);
	bool final = false;
	for (int rounds = 0; rounds < 1000000; rounds++) {
		if (atomic_load(&cw_done) == CW_THREADS && !final) {
			for (int i = 0; i < CW_THREADS; i++)
				pthread_join(t[i], NULL);
			log_fini(); /* drains every ring into the history */
			final = true;
		}
		got_reset();
		int n = log_history_read(cur, 50, NULL, collect, &g, &pos);
		assert_true(n >= 0);
		missed += pos.missed;
		returned += (uint64_t)n;
		for (int k = 0; k < n; k++) {
			assert_int_equal(g.seq[k], (k ? g.seq[k - 1] : cur + pos.missed) + 1);
			int id, num;
			if (sscanf(g.text[k], "w%d n%d", &id, &num) == 2) {
				assert_true(id >= 0 && id < CW_THREADS);
				assert_true(num > last_n[id]); /* one thread's lines stay in order */
				last_n[id] = num;
			}
		}
		cur = pos.cursor;
		if (final && !pos.more)
			break;
		if (!pos.more)
			usleep(100);
	}
	assert_true(final);
	log_stats(&after);
	/* Every number handed out was returned or reported missed. */
	assert_int_equal(returned + missed, cur - base);
	assert_int_equal(cur, after.written - before.written + base);
	assert_true(returned > 0);
	close(fd);
}

int main(void)
{
	alarm(120);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fields_through_the_writer, teardown),
		cmocka_unit_test_teardown(test_drop_and_repeat_lines_kept, teardown),
		cmocka_unit_test_teardown(test_wrap_by_lines_and_gap, teardown),
		cmocka_unit_test_teardown(test_wrap_by_bytes, teardown),
		cmocka_unit_test_teardown(test_filters_and_paging, teardown),
		cmocka_unit_test_teardown(test_concurrent_writers_and_reader, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
