/* log_history.c - the bounded history of lines that went to the log sink, with sequence numbers, for log.read. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/log_internal.h"

/*
 * Lines live in two preallocated arrays, allocated at the first line:
 * - entries: a circular array of per-line fields, the line with sequence
 *   number s at ents[s % cap_lines];
 * - bytes: a circular byte buffer holding each line's context and text,
 *   each NUL-terminated, laid out in sequence order. A line that does not
 *   fit before the end of the buffer starts again at 0 (the tail is left
 *   unused). Whatever a new line needs, the oldest lines give up first, so
 *   the history always holds one contiguous range of numbers [first, next).
 * The lock is held for one memcpy by writers and for one scan by readers.
 */

#define HIST_MIN_LINES 4u
#define HIST_MIN_BYTES 1024u

struct hent {
	uint64_t ts_ns;
	uint32_t off;      /* context (if any), then text, in bytes[] */
	uint16_t ctx_len;  /* without its NUL */
	uint16_t text_len; /* without its NUL */
	int16_t reactor;
	uint8_t level;
	uint8_t comp;
	bool has_ctx;
};

static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hent *h_ents;
static char *h_bytes;
static unsigned h_cap_lines = LOG_HISTORY_LINES;
static size_t h_cap_bytes = LOG_HISTORY_BYTES;
static uint64_t h_first = 1, h_next = 1; /* held: [h_first, h_next) */
static size_t h_wpos;                    /* where the next line's bytes go */

static size_t ent_bytes(const struct hent *e)
{
	return (e->has_ctx ? (size_t)e->ctx_len + 1 : 0) + (size_t)e->text_len + 1;
}

static bool overlaps(const struct hent *e, size_t start, size_t len)
{
	return e->off < start + len && start < e->off + ent_bytes(e);
}

void log_history_append(uint64_t ts_ns, enum log_level lvl, enum log_comp comp, int reactor, const char *ctx,
			size_t ctx_len, const char *text, size_t text_len)
{
	pthread_mutex_lock(&h_lock);
	if (!h_ents) {
		h_ents = calloc(h_cap_lines, sizeof(*h_ents));
		h_bytes = malloc(h_cap_bytes);
		if (!h_ents || !h_bytes) {
			free(h_ents);
			free(h_bytes);
			h_ents = NULL;
			h_bytes = NULL;
			/* The number is used all the same: readers see the line as missed. */
			h_first = ++h_next;
			pthread_mutex_unlock(&h_lock);
			return;
		}
		h_wpos = 0;
	}
	/* Bound each part (lines are ~500 bytes; this only matters for tiny test limits). */
	size_t room = h_cap_bytes / 2 - 1;
	if (ctx && ctx_len > room)
		ctx_len = room;
	if (text_len > room)
		text_len = room;
	if (ctx_len > UINT16_MAX)
		ctx_len = UINT16_MAX;
	if (text_len > UINT16_MAX)
		text_len = UINT16_MAX;
	struct hent ne = {
		.ts_ns = ts_ns, .ctx_len = ctx ? (uint16_t)ctx_len : 0, .text_len = (uint16_t)text_len,
		.reactor = (int16_t)(reactor < 0 || reactor > INT16_MAX ? -1 : reactor), .level = (uint8_t)lvl,
		.comp = (uint8_t)comp, .has_ctx = ctx != NULL,
	};
	size_t need = ent_bytes(&ne);

	while (h_next - h_first >= h_cap_lines)
		h_first++;
	size_t start = h_wpos;
	bool wrap = start + need > h_cap_bytes;
	if (wrap)
		start = 0;
	/* The oldest lines are the ones right after h_wpos: first those in the
	 * tail being skipped (on a wrap), then those under [start, start+need). */
	while (h_first < h_next) {
		const struct hent *e = &h_ents[h_first % h_cap_lines];
		if ((wrap && e->off >= h_wpos) || overlaps(e, start, need))
			h_first++;
		else
			break;
	}
	ne.off = (uint32_t)start;
	char *p = h_bytes + start;
	if (ctx) {
		memcpy(p, ctx, ne.ctx_len);
		p[ne.ctx_len] = '\0';
		p += ne.ctx_len + 1;
	}
	memcpy(p, text, ne.text_len);
	p[ne.text_len] = '\0';
	h_ents[h_next % h_cap_lines] = ne;
	h_next++;
	h_wpos = start + need;
	pthread_mutex_unlock(&h_lock);
}

static bool matches(const struct hent *e, const struct log_filter *f)
{
	if (!f)
		return true;
	if (e->level > (unsigned)f->max_level)
		return false;
	if (f->comp_mask && !(f->comp_mask & (1u << e->comp)))
		return false;
	if (f->context && (!e->has_ctx || !strstr(h_bytes + e->off, f->context)))
		return false;
	return true;
}

int log_history_read(uint64_t after_seq, size_t max, const struct log_filter *f, log_record_fn fn, void *arg,
		     struct log_history_pos *pos)
{
	struct log_history_pos p = { 0 };
	int rc = 0, n = 0;
	uint64_t from;

	if (max > INT_MAX)
		max = INT_MAX;
	pthread_mutex_lock(&h_lock);
	p.first_seq = h_first;
	p.last_seq = h_next - 1;
	p.cursor = after_seq == LOG_READ_TAIL || after_seq > p.last_seq ? p.last_seq : after_seq;
	if (!fn || max == 0) {
		rc = -EINVAL;
		goto out;
	}
	if (after_seq == LOG_READ_TAIL) {
		size_t found = 0;
		from = h_first;
		for (uint64_t s = h_next; s > h_first; s--) {
			if (matches(&h_ents[(s - 1) % h_cap_lines], f) && ++found == max) {
				from = s - 1;
				break;
			}
		}
	} else if (after_seq > p.last_seq) {
		rc = -ERANGE;
		goto out;
	} else {
		from = after_seq + 1;
		if (from < h_first) {
			p.missed = h_first - from;
			from = h_first;
		}
	}
	p.cursor = from - 1;
	for (uint64_t s = from; s < h_next; s++) {
		const struct hent *e = &h_ents[s % h_cap_lines];
		if (!matches(e, f)) {
			p.cursor = s;
			continue;
		}
		if ((size_t)n == max) {
			p.more = true;
			break;
		}
		const char *b = h_bytes + e->off;
		struct log_record rec = {
			.seq = s, .ts_ns = e->ts_ns, .level = (enum log_level)e->level, .comp = (enum log_comp)e->comp,
			.reactor = e->reactor, .context = e->has_ctx ? b : NULL,
			.text = e->has_ctx ? b + e->ctx_len + 1 : b,
		};
		if ((rc = fn(&rec, arg)) != 0)
			goto out;
		n++;
		p.cursor = s;
	}
	rc = n;
out:
	pthread_mutex_unlock(&h_lock);
	if (pos)
		*pos = p;
	return rc;
}

void log_test_history_limits(unsigned lines, size_t bytes)
{
	pthread_mutex_lock(&h_lock);
	free(h_ents);
	free(h_bytes);
	h_ents = NULL;
	h_bytes = NULL;
	h_cap_lines = lines ? (lines < HIST_MIN_LINES ? HIST_MIN_LINES : lines) : LOG_HISTORY_LINES;
	h_cap_bytes = bytes ? (bytes < HIST_MIN_BYTES ? HIST_MIN_BYTES : bytes) : LOG_HISTORY_BYTES;
	if (h_cap_bytes > UINT32_MAX)
		h_cap_bytes = UINT32_MAX;
	h_first = h_next;
	h_wpos = 0;
	pthread_mutex_unlock(&h_lock);
}
