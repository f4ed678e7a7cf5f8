/* test_log.c - unit tests for logging: line format, levels, drops with a tiny ring, squashing, shutdown drain. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/reactor.h"

static int g_fd = -1;

/* A fresh temp file as the sink. */
static int sink_open(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600); /* anonymous file */
	assert_true(fd >= 0);
	return fd;
}

/* Whole sink contents, NUL-terminated; caller frees. */
static char *sink_read(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *buf = malloc((size_t)n + 1);
	assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
	buf[n] = '\0';
	return buf;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void assert_match(const char *text, const char *re)
{
	regex_t rx;
	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	int rc = regexec(&rx, text, 0, NULL, 0);
	if (rc != 0)
		fprintf(stderr, "no line matches /%s/ in:\n%s\n", re, text);
	regfree(&rx);
	assert_int_equal(rc, 0);
}

#define TS "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "

static void test_format_and_levels(void **state)
{
	(void)state;
	g_fd = sink_open();
	assert_int_equal(log_init(g_fd), 0);
	assert_int_equal(log_init(g_fd), -EBUSY);
	assert_int_equal(log_get_level(LOGC_ISCSI), LOG_NOTICE);
	assert_int_equal(log_get_level(LOGC_CONF), LOG_INFO);
	log_warn(LOGC_ISCSI, "sess=iqn.x:0x23d000000001", "login failed: %s (%d)", "bad CHAP", 42);
	log_notice(LOGC_SCSI, NULL, "no context");
	log_info(LOGC_SCSI, NULL, "filtered out at the default level");
	log_set_level(LOGC_SCSI, LOG_DEBUG);
	log_debug(LOGC_SCSI, "vol=demo", "now visible");
	log_set_level(LOGC_SCSI, LOG_NOTICE);
	log_err(LOGC_BLK, NULL, "two\nlines\tand a tab");
	/* On a reactor thread the tag is rN. */
	assert_int_equal(reactors_init(1), 0);
	log_notice(LOGC_RAID, "arr=md0", "from reactor");
	reactors_fini();
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_notice(LOGC_MGMT, NULL, "%s", big);
	log_fini();

	char *out = sink_read(g_fd);
	assert_match(out, TS "WARN  iscsi t sess=iqn\\.x:0x23d000000001: login failed: bad CHAP \\(42\\)$");
	assert_match(out, TS "NOTICE scsi t: no context$");
	assert_match(out, TS "DEBUG scsi t vol=demo: now visible$");
	assert_match(out, TS "ERR   blk t: two lines and a tab$");
	assert_match(out, TS "NOTICE raid r0 arr=md0: from reactor$");
	assert_match(out, TS "NOTICE mgmt t: a{400,}\\.\\.\\.$");
	assert_null(strstr(out, "filtered out"));
	assert_int_equal(count_lines(out, "\n"), 6);
	free(out);
	close(g_fd);
}

static void test_sync_before_init(void **state)
{
	(void)state;
	int fd = sink_open();
	int saved = dup(2);
	dup2(fd, 2);
	log_warn(LOGC_CORE, "vol=v", "before init %d", 1);
	dup2(saved, 2);
	close(saved);
	char *out = sink_read(fd);
	assert_match(out, TS "WARN  core t vol=v: before init 1$");
	free(out);
	close(fd);
}

static void *burst(void *arg)
{
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < n; i++)
		log_notice(LOGC_CORE, NULL, "burst line %d", i);
	return NULL;
}

static void test_drops_counted_and_reported(void **state)
{
	(void)state;
	struct log_stats before, mid, after;
	int fd = sink_open();
	log_stats(&before);
	log_test_ring_slots(8);
	assert_int_equal(log_init(fd), 0);
	log_test_pause_writer(true);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, burst, (void *)(intptr_t)20), 0);
	pthread_join(t, NULL);
	log_stats(&mid);
	assert_int_equal(mid.dropped - before.dropped, 12);
	log_fini();
	log_test_ring_slots(0);
	log_stats(&after);
	assert_int_equal(after.dropped - before.dropped, 12);
	/* 8 lines plus the drop report. */
	assert_int_equal(after.written - before.written, 9);

	char *out = sink_read(fd);
	for (int i = 0; i < 8; i++) {
		char want[32];
		snprintf(want, sizeof(want), "burst line %d\n", i);
		assert_non_null(strstr(out, want));
	}
	assert_null(strstr(out, "burst line 8\n"));
	assert_match(out, TS "WARN  core t: log: 12 lines dropped \\(ring of thread t full\\)$");
	/* The report comes after the lines that made it. */
	assert_true(strstr(out, "dropped") > strstr(out, "burst line 7"));
	free(out);
	close(fd);
}

static void test_squash(void **state)
{
	(void)state;
	struct log_stats before, after;
	int fd = sink_open();
	log_stats(&before);
	assert_int_equal(log_init(fd), 0);
	for (int i = 0; i < 100; i++)
		log_warn(LOGC_ISCSI, "sess=s1", "connection reset");
	log_warn(LOGC_ISCSI, "sess=s2", "connection reset"); /* other context: a new line */
	log_warn(LOGC_ISCSI, "sess=s2", "connection reset");
	log_notice(LOGC_ISCSI, "sess=s2", "different");
	log_fini();
	log_stats(&after);
	assert_int_equal(after.squashed - before.squashed, 100);

	char *out = sink_read(fd);
	assert_int_equal(count_lines(out, "sess=s1: connection reset\n"), 1);
	assert_match(out, TS "WARN  iscsi t sess=s1: last line repeated 99 times$");
	assert_match(out, TS "WARN  iscsi t sess=s2: last line repeated 1 times$");
	assert_int_equal(count_lines(out, "\n"), 5);
	/* Order: s1 line, its repeat count, s2 line, its repeat count, different. */
	const char *a = strstr(out, "s1: connection reset");
	const char *b = strstr(out, "s1: last line repeated");
	const char *c = strstr(out, "s2: connection reset");
	const char *d = strstr(out, "s2: last line repeated");
	const char *e = strstr(out, "different");
	assert_true(a < b && b < c && c < d && d < e);
	free(out);
	close(fd);
}

static void test_squash_flushed_after_a_second(void **state)
{
	(void)state;
	int fd = sink_open();
	assert_int_equal(log_init(fd), 0);
	for (int i = 0; i < 5; i++)
		log_warn(LOGC_BLK, NULL, "member sdb timed out");
	char *out = NULL;
	/* The writer reports the count on its own within ~1 s + a poll period. */
	for (int tries = 0; tries < 40; tries++) {
		usleep(100000);
		free(out);
		out = sink_read(fd);
		if (strstr(out, "repeated"))
			break;
	}
	assert_match(out, TS "WARN  blk t: last line repeated 4 times$");
	free(out);
	log_fini();
	close(fd);
}

static void test_fini_drains_all_threads(void **state)
{
	(void)state;
	int fd = sink_open();
	assert_int_equal(log_init(fd), 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, burst, (void *)(intptr_t)200), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	log_notice(LOGC_CORE, NULL, "last words");
	log_fini();
	char *out = sink_read(fd);
	assert_int_equal(count_lines(out, "burst line "), 800);
	assert_int_equal(count_lines(out, "burst line 199\n"), 4);
	assert_non_null(strstr(out, "last words"));
	assert_null(strstr(out, "dropped"));
	free(out);
	close(fd);
}

static void test_parse(void **state)
{
	(void)state;
	enum log_level l;
	enum log_comp c;
	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_level_parse("WARN", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse("loud", &l), -EINVAL);
	assert_int_equal(log_level_parse(NULL, &l), -EINVAL);
	assert_int_equal(log_comp_parse("iscsi", &c), 0);
	assert_int_equal(c, LOGC_ISCSI);
	assert_int_equal(log_comp_parse("fs", &c), -EINVAL);
	assert_string_equal(log_comp_name(LOGC_RAID), "raid");

	char err[160];
	assert_int_equal(log_levels_parse("iscsi=debug,scsi=info", err, sizeof(err)), 0);
	assert_int_equal(log_get_level(LOGC_ISCSI), LOG_DEBUG);
	assert_int_equal(log_get_level(LOGC_SCSI), LOG_INFO);
	/* A bad item changes nothing and is named. */
	assert_int_equal(log_levels_parse("blk=debug,nope=info", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'nope'"));
	assert_int_equal(log_get_level(LOGC_BLK), LOG_NOTICE);
	assert_int_equal(log_levels_parse("raid=chatty", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'chatty'"));
	assert_int_equal(log_levels_parse("warn", err, sizeof(err)), 0);
	for (unsigned i = 0; i < LOGC__COUNT; i++)
		assert_int_equal(log_get_level((enum log_comp)i), LOG_WARN);
	assert_int_equal(log_levels_parse("all=notice,conf=info", err, sizeof(err)), 0);
	assert_int_equal(log_get_level(LOGC_CONF), LOG_INFO);
	assert_int_equal(log_get_level(LOGC_ISCSI), LOG_NOTICE);
}

static void test_env_levels(void **state)
{
	(void)state;
	char err[160];
	assert_int_equal(log_levels_parse("all=notice,conf=info", err, sizeof(err)), 0);
	int fd = sink_open();
	setenv("SOFTHBA_LOG", "raid=debug", 1);
	assert_int_equal(log_init(fd), 0);
	assert_int_equal(log_get_level(LOGC_RAID), LOG_DEBUG);
	log_fini();
	setenv("SOFTHBA_LOG", "raid=info,bogus=debug", 1);
	assert_int_equal(log_init(fd), 0);
	assert_int_equal(log_get_level(LOGC_RAID), LOG_DEBUG); /* unchanged */
	log_fini();
	unsetenv("SOFTHBA_LOG");
	char *out = sink_read(fd);
	assert_match(out, TS "WARN  core t: SOFTHBA_LOG ignored: unknown log component 'bogus'");
	free(out);
	close(fd);
	assert_int_equal(log_levels_parse("all=notice,conf=info", err, sizeof(err)), 0);
}

int main(void)
{
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_levels),
		cmocka_unit_test(test_sync_before_init),
		cmocka_unit_test(test_drops_counted_and_reported),
		cmocka_unit_test(test_squash),
		cmocka_unit_test(test_squash_flushed_after_a_second),
		cmocka_unit_test(test_fini_drains_all_threads),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_env_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
