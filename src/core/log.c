/* log.c - leveled logging: per-thread SPSC rings drained by one writer thread, with drop counts and flood squashing. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "core/log.h"
#include "core/log_internal.h"
#include "core/reactor.h"

#define LOG_SLOT_SIZE 512u
#define LOG_DEFAULT_SLOTS 512u
#define LOG_POLL_MS 50
#define LOG_SQUASH_NS 1000000000ull

struct log_slot {
	uint64_t ts_ns;      /* CLOCK_REALTIME when written */
	uint16_t len;        /* bytes of body */
	uint16_t prefix_len; /* "LEVEL comp tag ctx" part of body, before ": " */
	uint16_t ctx_off;    /* where ctx starts in body; == prefix_len: no context */
	uint8_t level;       /* enum log_level */
	uint8_t comp;        /* enum log_comp */
	int16_t tag;         /* reactor index, -1: another thread */
	char body[LOG_SLOT_SIZE - 18];
};
_Static_assert(sizeof(struct log_slot) == LOG_SLOT_SIZE, "a log slot is 512 bytes");

struct log_ring {
	/* Producer side (the owning thread). */
	_Alignas(64) atomic_uint head;
	atomic_int busy;           /* set while the producer pushes (see log_fini) */
	atomic_int tag;            /* reactor index of the last line, -1: non-reactor */
	atomic_uint_fast64_t dropped;
	/* Consumer side (the writer thread). */
	_Alignas(64) atomic_uint tail;
	atomic_bool orphan;        /* owning thread ended: free once drained */
	uint64_t dropped_reported;
	struct log_slot last;      /* last line emitted, for squashing */
	bool have_last;
	uint64_t repeats;          /* identical lines since 'last' was emitted */
	uint64_t repeat_since_ns;  /* monotonic time of the first counted repeat */
	unsigned nslots;           /* power of two */
	struct log_ring *next;     /* registry list, under g_lock */
	struct log_slot slots[];
};

static atomic_int g_level[LOGC__COUNT] = {
	[LOGC_CORE] = LOG_NOTICE, [LOGC_BLK] = LOG_NOTICE, [LOGC_RAID] = LOG_NOTICE,
	[LOGC_SCSI] = LOG_NOTICE, [LOGC_ISCSI] = LOG_NOTICE, [LOGC_NBD] = LOG_NOTICE,
	[LOGC_MGMT] = LOG_NOTICE, [LOGC_CONF] = LOG_INFO,
};

static const char *const g_comp_names[LOGC__COUNT] = {
	[LOGC_CORE] = "core", [LOGC_BLK] = "blk", [LOGC_RAID] = "raid", [LOGC_SCSI] = "scsi",
	[LOGC_ISCSI] = "iscsi", [LOGC_NBD] = "nbd", [LOGC_MGMT] = "mgmt", [LOGC_CONF] = "conf",
};
static const char *const g_level_names[] = { "ERR", "WARN", "NOTICE", "INFO", "DEBUG" };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* ring list, init/fini */
static struct log_ring *g_rings;
static atomic_bool g_active;        /* writer running: lines go through rings */
static atomic_bool g_stop;
static atomic_bool g_paused;        /* test hook */
static atomic_bool g_wake_pending;
static atomic_uint g_new_slots = LOG_DEFAULT_SLOTS;
static int g_evfd = -1;
static int g_sink = 2;
static pthread_t g_writer;
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static bool g_key_ok;
static _Thread_local struct log_ring *t_ring;

static atomic_uint_fast64_t g_written, g_squashed, g_dropped_gone, g_dropped_sink;

/* ---- names and levels ---- */

const char *log_comp_name(enum log_comp comp)
{
	return (unsigned)comp < LOGC__COUNT ? g_comp_names[comp] : "?";
}

void log_set_level(enum log_comp comp, enum log_level level)
{
	if ((unsigned)comp < LOGC__COUNT && (unsigned)level <= LOG_DEBUG)
		atomic_store_explicit(&g_level[comp], (int)level, memory_order_relaxed);
}

enum log_level log_get_level(enum log_comp comp)
{
	if ((unsigned)comp >= LOGC__COUNT)
		return LOG_ERR;
	return (enum log_level)atomic_load_explicit(&g_level[comp], memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const struct { const char *name; enum log_level lvl; } names[] = {
		{ "err", LOG_ERR },       { "error", LOG_ERR },   { "warn", LOG_WARN },
		{ "warning", LOG_WARN },  { "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].lvl;
			return 0;
		}
	return -EINVAL;
}

int log_comp_parse(const char *s, enum log_comp *out)
{
	for (unsigned i = 0; s && i < LOGC__COUNT; i++)
		if (strcasecmp(s, g_comp_names[i]) == 0) {
			*out = (enum log_comp)i;
			return 0;
		}
	return -EINVAL;
}

int log_levels_parse(const char *spec, char *err, size_t errlen)
{
	char buf[256];
	if (!spec)
		return 0;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "log level list longer than %zu characters", sizeof(buf) - 1);
		return -EINVAL;
	}
	/* Validate everything first so a bad item changes nothing. */
	for (int apply = 0; apply < 2; apply++) {
		strcpy(buf, spec);
		char *save = NULL;
		for (char *item = strtok_r(buf, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
			char *eq = strchr(item, '=');
			enum log_level lvl;
			enum log_comp comp = LOGC__COUNT;
			const char *lv = item;
			if (eq) {
				*eq = '\0';
				lv = eq + 1;
				if (strcmp(item, "all") != 0 && log_comp_parse(item, &comp) < 0) {
					snprintf(err, errlen, "unknown log component '%s' (core, blk, raid, scsi, iscsi, nbd, mgmt, conf, all)", item);
					return -EINVAL;
				}
			}
			if (log_level_parse(lv, &lvl) < 0) {
				snprintf(err, errlen, "unknown log level '%s' (err, warn, notice, info, debug)", lv);
				return -EINVAL;
			}
			if (!apply)
				continue;
			if (comp == LOGC__COUNT)
				for (unsigned i = 0; i < LOGC__COUNT; i++)
					log_set_level((enum log_comp)i, lvl);
			else
				log_set_level(comp, lvl);
		}
	}
	return 0;
}

/* ---- formatting ---- */

static int thread_tag(void)
{
	struct reactor *r = reactor_self();
	return r ? (int)reactor_index(r) : -1;
}

static int tag_str(char *out, size_t n, int tag)
{
	return tag >= 0 ? snprintf(out, n, "r%d", tag) : snprintf(out, n, "t");
}

/* Format "LEVEL comp tag[ ctx]: message" into s->body and fill the slot's
 * fields but the time. Control characters become spaces so a message
 * cannot forge extra lines. */
static void format_slot(struct log_slot *s, enum log_level lvl, enum log_comp comp, int tag, const char *ctx,
			const char *fmt, va_list ap)
{
	char t[16];
	char *body = s->body;
	size_t cap = sizeof(s->body);
	tag_str(t, sizeof(t), tag);
	int c = snprintf(body, cap, "%-5s %s %s%s", g_level_names[lvl], log_comp_name(comp), t, ctx ? " " : "");
	int p = c;
	if (ctx)
		p += snprintf(body + c, cap - (size_t)c, "%s", ctx);
	if (p < 0)
		p = 0;
	if ((size_t)p > cap - 8)
		p = (int)(cap - 8);
	s->prefix_len = (uint16_t)p;
	s->ctx_off = ctx ? (uint16_t)c : (uint16_t)p;
	s->level = (uint8_t)lvl;
	s->comp = (uint8_t)comp;
	s->tag = (int16_t)tag;
	body[p] = ':';
	body[p + 1] = ' ';
	size_t len = (size_t)p + 2;
	int m = vsnprintf(body + len, cap - len, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= cap - len) {
		len = cap - 1;
		memcpy(body + len - 3, "...", 3); /* truncated */
	} else {
		len += (size_t)m;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)body[i] < 0x20 || body[i] == 0x7f)
			body[i] = ' ';
	s->len = (uint16_t)len;
}

static void make_slot(struct log_slot *s, uint64_t ts_ns, enum log_level lvl, enum log_comp comp, int tag,
		      const char *ctx, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void make_slot(struct log_slot *s, uint64_t ts_ns, enum log_level lvl, enum log_comp comp, int tag,
		      const char *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	format_slot(s, lvl, comp, tag, ctx, fmt, ap);
	va_end(ap);
	s->ts_ns = ts_ns;
}

/* The line went to the sink: keep it, fields apart, in the history. */
static void history_add(const struct log_slot *s)
{
	bool has_ctx = s->ctx_off < s->prefix_len;
	log_history_append(s->ts_ns, (enum log_level)s->level, (enum log_comp)s->comp, s->tag,
			   has_ctx ? s->body + s->ctx_off : NULL, has_ctx ? (size_t)(s->prefix_len - s->ctx_off) : 0,
			   s->body + s->prefix_len + 2, (size_t)s->len - s->prefix_len - 2);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "2026-11-24T10:00:00.123Z " : 25 bytes. */
static size_t format_time(char *out, uint64_t ts_ns)
{
	time_t s = (time_t)(ts_ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(out + n, 32 - n, ".%03uZ ", (unsigned)(ts_ns / 1000000ull % 1000u));
	return n;
}

static void write_all(int fd, const char *p, size_t n, uint64_t lines)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* The sink is gone: these lines are lost, and counted. */
			atomic_fetch_add(&g_dropped_sink, lines);
			atomic_fetch_sub(&g_written, lines);
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Before log_init() / after log_fini(): one write(2) per line to stderr. */
static void write_sync(const struct log_slot *s)
{
	char line[LOG_SLOT_SIZE + 64];
	size_t n = format_time(line, s->ts_ns);
	memcpy(line + n, s->body, s->len);
	n += s->len;
	line[n++] = '\n';
	atomic_fetch_add(&g_written, 1);
	history_add(s);
	write_all(2, line, n, 1);
}

/* ---- rings ---- */

/* The owning thread ended: its ring is freed by the writer once drained. */
static void ring_orphan(void *arg)
{
	struct log_ring *r = arg;
	atomic_store(&r->orphan, true);
	t_ring = NULL;
}

static void key_create(void)
{
	g_key_ok = pthread_key_create(&g_key, ring_orphan) == 0;
}

/* The calling thread's ring, created and registered at first use; NULL
 * when memory is short (the line is then counted as dropped). */
static struct log_ring *ring_self(void)
{
	if (t_ring)
		return t_ring;
	pthread_once(&g_key_once, key_create);
	unsigned nslots = atomic_load(&g_new_slots);
	struct log_ring *r = aligned_alloc(64, sizeof(*r) + (size_t)nslots * sizeof(struct log_slot));
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->nslots = nslots;
	atomic_store(&r->tag, -1);
	if (g_key_ok)
		pthread_setspecific(g_key, r);
	pthread_mutex_lock(&g_lock);
	r->next = g_rings;
	g_rings = r;
	pthread_mutex_unlock(&g_lock);
	t_ring = r;
	return r;
}

static void wake_writer(void)
{
	if (atomic_exchange(&g_wake_pending, true))
		return; /* the writer has a wake-up pending already */
	uint64_t one = 1;
	ssize_t rc;
	do
		rc = write(g_evfd, &one, sizeof(one));
	while (rc < 0 && errno == EINTR);
}

void log_vmsg(enum log_level lvl, enum log_comp comp, const char *ctx, const char *fmt, va_list ap)
{
	if ((unsigned)comp >= LOGC__COUNT || (unsigned)lvl > LOG_DEBUG || !LOG_ENABLED(comp, lvl))
		return;
	int tag = thread_tag();
	uint64_t ts = realtime_ns();
	struct log_ring *r = atomic_load(&g_active) ? ring_self() : NULL;
	if (r) {
		/* busy (seq_cst) pairs with log_fini: either fini sees us busy
		 * and waits, or we see the writer inactive and write directly. */
		atomic_store(&r->busy, 1);
		if (!atomic_load(&g_active)) {
			atomic_store(&r->busy, 0);
			r = NULL;
		}
	}
	if (!r) {
		if (atomic_load(&g_active)) { /* writer running but no ring: no memory */
			atomic_fetch_add(&g_dropped_gone, 1);
			return;
		}
		struct log_slot line;
		format_slot(&line, lvl, comp, tag, ctx, fmt, ap);
		line.ts_ns = ts;
		write_sync(&line);
		return;
	}
	unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (atomic_load_explicit(&r->tag, memory_order_relaxed) != tag)
		atomic_store_explicit(&r->tag, tag, memory_order_relaxed);
	if (head - tail >= r->nslots) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		wake_writer(); /* while busy: log_fini closes the eventfd only after */
		atomic_store(&r->busy, 0);
		return;
	}
	struct log_slot *s = &r->slots[head & (r->nslots - 1)];
	s->ts_ns = ts;
	format_slot(s, lvl, comp, tag, ctx, fmt, ap);
	/* release: the writer's acquire load of head sees the slot's contents. */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	if (lvl <= LOG_WARN || head + 1 - tail >= r->nslots / 2)
		wake_writer();
	atomic_store(&r->busy, 0);
}

void log_msg(enum log_level lvl, enum log_comp comp, const char *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, comp, ctx, fmt, ap);
	va_end(ap);
}

/* ---- the writer ---- */

struct out_buf {
	char data[64 * 1024];
	size_t len;
	uint64_t lines;
};

static void out_flush(struct out_buf *o)
{
	if (o->len)
		write_all(g_sink, o->data, o->len, o->lines);
	o->len = 0;
	o->lines = 0;
}

static void out_line(struct out_buf *o, const struct log_slot *s)
{
	if (o->len + s->len + 40 > sizeof(o->data))
		out_flush(o);
	o->len += format_time(o->data + o->len, s->ts_ns);
	memcpy(o->data + o->len, s->body, s->len);
	o->len += s->len;
	o->data[o->len++] = '\n';
	o->lines++;
	atomic_fetch_add(&g_written, 1);
	history_add(s);
}

/* "last line repeated N times", under the repeated line's level, component, thread and context. */
static void emit_repeats(struct out_buf *o, struct log_ring *r)
{
	if (!r->repeats)
		return;
	const struct log_slot *l = &r->last;
	char ctx[sizeof(l->body)];
	bool has_ctx = l->ctx_off < l->prefix_len;
	snprintf(ctx, sizeof(ctx), "%.*s", has_ctx ? (int)(l->prefix_len - l->ctx_off) : 0, l->body + l->ctx_off);
	struct log_slot s;
	make_slot(&s, realtime_ns(), (enum log_level)l->level, (enum log_comp)l->comp, l->tag, has_ctx ? ctx : NULL,
		  "last line repeated %llu times", (unsigned long long)r->repeats);
	out_line(o, &s);
	r->repeats = 0;
}

static void emit_drops(struct out_buf *o, struct log_ring *r)
{
	uint64_t d = atomic_load(&r->dropped);
	if (d == r->dropped_reported)
		return;
	char t[16];
	int tag = atomic_load(&r->tag);
	tag_str(t, sizeof(t), tag);
	struct log_slot s;
	make_slot(&s, realtime_ns(), LOG_WARN, LOGC_CORE, tag, NULL, "log: %llu lines dropped (ring of thread %s full)",
		  (unsigned long long)(d - r->dropped_reported), t);
	out_line(o, &s);
	r->dropped_reported = d;
}

static bool same_line(const struct log_slot *a, const struct log_slot *b)
{
	return a->len == b->len && memcmp(a->body, b->body, a->len) == 0;
}

static void drain_ring(struct out_buf *o, struct log_ring *r, uint64_t now_mono)
{
	unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned head = atomic_load_explicit(&r->head, memory_order_acquire);
	for (; tail != head; tail++) {
		const struct log_slot *s = &r->slots[tail & (r->nslots - 1)];
		if (r->have_last && same_line(s, &r->last)) {
			if (!r->repeats)
				r->repeat_since_ns = now_mono;
			r->repeats++;
			atomic_fetch_add(&g_squashed, 1);
			continue;
		}
		emit_repeats(o, r);
		out_line(o, s);
		r->last = *s;
		r->have_last = true;
	}
	/* release: the producer may reuse the slots only after we read them. */
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	if (r->repeats && now_mono - r->repeat_since_ns >= LOG_SQUASH_NS)
		emit_repeats(o, r);
	emit_drops(o, r);
}

/* One pass over every ring. With final, pending repeat counts are flushed too. */
static void drain_all(struct out_buf *o, bool final)
{
	uint64_t now = mono_ns();
	pthread_mutex_lock(&g_lock);
	struct log_ring **pp = &g_rings;
	while (*pp) {
		struct log_ring *r = *pp;
		bool orphan = atomic_load(&r->orphan);
		drain_ring(o, r, now);
		if (final || orphan) {
			emit_repeats(o, r);
			r->have_last = false;
		}
		if (orphan && atomic_load(&r->head) == atomic_load(&r->tail)) {
			atomic_fetch_add(&g_dropped_gone, atomic_load(&r->dropped));
			*pp = r->next;
			free(r);
			continue;
		}
		pp = &r->next;
	}
	pthread_mutex_unlock(&g_lock);
	out_flush(o);
}

static void *writer_main(void *arg)
{
	(void)arg;
	struct out_buf *o = malloc(sizeof(*o));
	if (!o)
		return NULL;
	o->len = 0;
	o->lines = 0;
	while (!atomic_load(&g_stop)) {
		struct pollfd p = { .fd = g_evfd, .events = POLLIN };
		if (poll(&p, 1, LOG_POLL_MS) > 0) {
			uint64_t v;
			while (read(g_evfd, &v, sizeof(v)) < 0 && errno == EINTR)
				;
		}
		atomic_store(&g_wake_pending, false);
		if (!atomic_load(&g_paused))
			drain_all(o, false);
	}
	/* log_fini made every producer write directly and waited for those
	 * mid-push: this last pass sees every line. */
	drain_all(o, true);
	free(o);
	return NULL;
}

int log_init(int sink_fd)
{
	pthread_mutex_lock(&g_lock);
	if (atomic_load(&g_active)) {
		pthread_mutex_unlock(&g_lock);
		return -EBUSY;
	}
	g_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_evfd < 0) {
		int e = -errno;
		pthread_mutex_unlock(&g_lock);
		return e;
	}
	g_sink = sink_fd;
	atomic_store(&g_stop, false);
	atomic_store(&g_wake_pending, false);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* the writer takes no signals */
	int rc = pthread_create(&g_writer, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		close(g_evfd);
		g_evfd = -1;
		pthread_mutex_unlock(&g_lock);
		return -rc;
	}
	pthread_setname_np(g_writer, "log-writer");
	atomic_store(&g_active, true);
	pthread_mutex_unlock(&g_lock);

	char err[160];
	const char *env = getenv("SOFTHBA_LOG");
	if (env && log_levels_parse(env, err, sizeof(err)) < 0)
		log_warn(LOGC_CORE, NULL, "SOFTHBA_LOG ignored: %s", err);
	return 0;
}

void log_fini(void)
{
	if (!atomic_load(&g_active))
		return;
	/* From here new lines go straight to stderr; wait for pushes in progress. */
	atomic_store(&g_active, false);
	pthread_mutex_lock(&g_lock);
	for (struct log_ring *r = g_rings; r; r = r->next)
		while (atomic_load(&r->busy))
			sched_yield();
	pthread_mutex_unlock(&g_lock);
	atomic_store(&g_paused, false);
	atomic_store(&g_stop, true);
	wake_writer();
	pthread_join(g_writer, NULL);
	close(g_evfd);
	g_evfd = -1;
}

void log_stats(struct log_stats *out)
{
	uint64_t dropped = atomic_load(&g_dropped_gone) + atomic_load(&g_dropped_sink);
	pthread_mutex_lock(&g_lock);
	for (struct log_ring *r = g_rings; r; r = r->next)
		dropped += atomic_load(&r->dropped);
	pthread_mutex_unlock(&g_lock);
	out->written = atomic_load(&g_written);
	out->dropped = dropped;
	out->squashed = atomic_load(&g_squashed);
}

void log_test_ring_slots(unsigned slots)
{
	unsigned n = 1;
	while (n < slots && n < (1u << 16))
		n <<= 1;
	atomic_store(&g_new_slots, slots ? n : LOG_DEFAULT_SLOTS);
}

void log_test_pause_writer(bool paused)
{
	atomic_store(&g_paused, paused);
	if (!paused)
		wake_writer();
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl <= LOG_DEBUG ? g_level_names[lvl] : "?";
}

size_t log_format_time(char *out, size_t len, uint64_t ts_ns)
{
	char buf[40];
	size_t n = format_time(buf, ts_ns);
	if (n && buf[n - 1] == ' ')
		buf[--n] = '\0';
	if (len == 0)
		return n;
	snprintf(out, len, "%s", buf);
	return n < len ? n : len - 1;
}
