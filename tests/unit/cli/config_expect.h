/* config_expect.h - shared assertions of the config parser tests: a document parses, or is refused with exactly one message and changes nothing. */
#ifndef SOFTHBA_TEST_CONFIG_EXPECT_H
#define SOFTHBA_TEST_CONFIG_EXPECT_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

#define SENTINEL ((struct softhba_config *)(uintptr_t)0x5eed)

/* Parse text expecting a refusal with exactly msg; *out must stay untouched. */
static inline void expect_error(const char *text, const char *msg)
{
	struct softhba_config *cfg = SENTINEL;
	char err[512];
	memset(err, 0, sizeof(err));
	int rc = config_load_string(text, &cfg, err, sizeof(err));
	if (rc != -EINVAL || strcmp(err, msg) != 0)
		print_error("document: %s\nwant: %s\ngot (%d): %s\n", text, msg, rc, err);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(err, msg);
	assert_ptr_equal(cfg, SENTINEL);
}

/* Parse text expecting success; the caller frees the result with config_free(). */
static inline struct softhba_config *expect_ok(const char *text)
{
	struct softhba_config *cfg = NULL;
	char err[512] = "";
	int rc = config_load_string(text, &cfg, err, sizeof(err));
	if (rc)
		print_error("document: %s\nerror: %s\n", text, err);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	return cfg;
}

#endif
