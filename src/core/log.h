/* log.h - tagged, leveled logging through a bounded per-thread ring; drops are counted and reported, floods squashed. */
#ifndef SOFTHBA_CORE_LOG_H
#define SOFTHBA_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every line carries: time, level, component, the reactor (or thread)
 * that wrote it, and a context tag (volume, array or session: "vol=demo",
 * "sess=iqn...:0x23d000000001"), then the message.
 *
 * Writers never block: a line goes into the calling thread's bounded ring
 * and a writer thread drains the rings to the sink (stderr by default).
 * When a ring is full the line is dropped and the ring's drop counter is
 * incremented; the writer reports "N lines dropped" in the stream as soon
 * as it can, and log_stats() reports the totals. The same line (same
 * component, context and text) written again and again is squashed into
 * one "last line repeated N times" line.
 */

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_NOTICE = 2, LOG_INFO = 3, LOG_DEBUG = 4 };

enum log_comp {
	LOGC_CORE = 0,
	LOGC_BLK,
	LOGC_RAID,
	LOGC_SCSI,
	LOGC_ISCSI,
	LOGC_NBD,
	LOGC_MGMT,
	LOGC_CONF,
	LOGC__COUNT
};

/* Start the writer thread. sink_fd is where lines go (2 for stderr).
 * Before log_init() (and after log_fini()) lines go straight to stderr. */
int log_init(int sink_fd);
/* Drain every ring and stop the writer thread. */
void log_fini(void);

/* Lines above this level for a component are not formatted at all. */
void log_set_level(enum log_comp comp, enum log_level level);
enum log_level log_get_level(enum log_comp comp);
/* Parse "debug", "info", ... ; returns -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *out);
/* Parse component names "core", "blk", "scsi", "iscsi", ... ; -EINVAL otherwise. */
int log_comp_parse(const char *s, enum log_comp *out);
const char *log_comp_name(enum log_comp comp);

struct log_stats {
	uint64_t written;   /* lines handed to the sink */
	uint64_t dropped;   /* lines lost because a ring was full */
	uint64_t squashed;  /* repeats folded into "repeated N times" */
};
void log_stats(struct log_stats *out);

/* Apply a level list such as "iscsi=debug,scsi=info", "debug" (every
 * component) or "all=warn". Validated whole before anything changes;
 * -EINVAL with a sentence in err naming the bad item. log_init() applies
 * the SOFTHBA_LOG environment variable this way. */
int log_levels_parse(const char *spec, char *err, size_t errlen);

/* Line format: "2026-11-24T10:00:00.123Z WARN  iscsi r1 sess=x: text"
 * (UTC, ms; level padded to 5; "rN" on reactor N, "t" on other threads;
 * the context only when non-NULL). Control characters in a line become
 * spaces; a line longer than ~500 bytes is cut and ends with "...". */

/* Test hooks: rings created after log_test_ring_slots(n) have n slots
 * (rounded up to a power of two; 0 restores 512); a paused writer drains
 * nothing until resumed (log_fini() resumes it). */
void log_test_ring_slots(unsigned slots);
void log_test_pause_writer(bool paused);

void log_msg(enum log_level lvl, enum log_comp comp, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void log_vmsg(enum log_level lvl, enum log_comp comp, const char *ctx, const char *fmt, va_list ap);

#define LOG_ENABLED(comp, lvl) ((lvl) <= log_get_level(comp))
#define LOGX(lvl, comp, ctx, ...) \
	do { if (LOG_ENABLED(comp, lvl)) log_msg(lvl, comp, ctx, __VA_ARGS__); } while (0)
#define log_err(comp, ctx, ...)    LOGX(LOG_ERR, comp, ctx, __VA_ARGS__)
#define log_warn(comp, ctx, ...)   LOGX(LOG_WARN, comp, ctx, __VA_ARGS__)
#define log_notice(comp, ctx, ...) LOGX(LOG_NOTICE, comp, ctx, __VA_ARGS__)
#define log_info(comp, ctx, ...)   LOGX(LOG_INFO, comp, ctx, __VA_ARGS__)
#define log_debug(comp, ctx, ...)  LOGX(LOG_DEBUG, comp, ctx, __VA_ARGS__)

#endif
