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

/* ---- history: the latest lines that went to the sink (log.read, `softhba log`) ---- */

/*
 * Every line handed to the sink (the writer's "N lines dropped" and "last
 * line repeated N times" lines included, and lines written directly before
 * log_init()/after log_fini()) gets the next sequence number (1, 2, ...,
 * never reused in a process) and is kept, fields apart, in a bounded
 * history: the newest LOG_HISTORY_LINES lines or LOG_HISTORY_BYTES of
 * context and text, whichever is reached first. Older lines fall out; a
 * reader that asks for lines after a sequence number learns how many fell
 * out before it read them (missed), so a gap is never silent. The writer
 * appends under a mutex held for one copy; readers are control paths.
 */
#define LOG_HISTORY_LINES 4096u
#define LOG_HISTORY_BYTES (1u << 20)
/* after_seq for "the newest max lines" instead of "the lines after N". */
#define LOG_READ_TAIL UINT64_MAX

struct log_record {
	uint64_t seq;
	uint64_t ts_ns;            /* CLOCK_REALTIME when the line was written */
	enum log_level level;
	enum log_comp comp;
	int reactor;               /* reactor index, -1 for another thread ("t") */
	const char *context;       /* NULL when the line has none */
	const char *text;          /* the message, control characters already spaces */
};

struct log_filter {
	enum log_level max_level;  /* this level and the more severe ones; LOG_DEBUG: all */
	uint32_t comp_mask;        /* bit (1u << comp) per component wanted; 0: every one */
	const char *context;       /* non-NULL: only lines whose context contains it */
};

struct log_history_pos {
	uint64_t first_seq;        /* oldest line held (last_seq + 1 when none is) */
	uint64_t last_seq;         /* newest line recorded so far (0: none yet) */
	uint64_t missed;           /* lines after after_seq that fell out before this read (any level/component) */
	uint64_t cursor;           /* the after_seq to pass next time */
	bool more;                 /* max was reached with matching lines left: read again at once */
};

/* Called for each line returned, oldest first, under the history lock:
 * rec and its strings are valid during the call only, and fn must not
 * log. Return 0 to go on, or -errno to stop (log_history_read returns it). */
typedef int (*log_record_fn)(const struct log_record *rec, void *arg);

/* The first max lines matching f (NULL: every line) with seq > after_seq,
 * or with after_seq == LOG_READ_TAIL the newest max matching lines.
 * Fills *pos (when non-NULL) in every case. Returns the number of lines
 * given to fn, -EINVAL (max 0, fn NULL), -ERANGE when after_seq is beyond
 * the newest line (a cursor from another process: the daemon restarted),
 * or what fn returned. */
int log_history_read(uint64_t after_seq, size_t max, const struct log_filter *f, log_record_fn fn, void *arg,
		     struct log_history_pos *pos);

/* "ERR", "WARN", "NOTICE", "INFO", "DEBUG": the level as lines show it. */
const char *log_level_name(enum log_level lvl);
/* "2026-11-24T10:00:00.123Z" (UTC, ms) into out (at least 32 bytes); returns its length. */
size_t log_format_time(char *out, size_t len, uint64_t ts_ns);

/* Test hook: empty the history and bound it to lines / bytes (0, 0: the
 * defaults; at least 4 lines and 1 KiB). Sequence numbers go on. */
void log_test_history_limits(unsigned lines, size_t bytes);

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
