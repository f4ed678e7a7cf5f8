/* config_raid.c - the "raid" volume backend of the configuration: level, chunk, members, spares, fault injection, throttle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/config_internal.h"
#include "core/util.h"

/* The last ones are file/malloc keys, accepted by the key check so that they get their own explanation. */
const char *const cfg_raid_volume_keys[] = { "name", "backend", "level", "chunk", "members", "spares", "create",
					     "rebuild_rate", "member_timeout_ms", "journal", "bitmap", "bitmap_region", "size",
					     "block_size", "path", "direct", "read_only", "throttle" };
const size_t cfg_raid_volume_nkeys = ARRAY_SIZE(cfg_raid_volume_keys);

static const char *const inject_names[CFG_INJECT__COUNT] = {
	[CFG_INJECT_NONE] = "none",
	[CFG_INJECT_FAIL_READS] = "fail-reads",
	[CFG_INJECT_FAIL_WRITES] = "fail-writes",
	[CFG_INJECT_FAIL_ALL] = "fail-all",
	[CFG_INJECT_DISAPPEAR] = "disappear",
	[CFG_INJECT_DELAY] = "delay",
};

const char *config_inject_mode_name(enum cfg_inject_mode m)
{
	return (unsigned)m < CFG_INJECT__COUNT ? inject_names[m] : "?";
}

int config_inject_mode_parse(const char *s, enum cfg_inject_mode *out)
{
	for (unsigned i = 0; i < CFG_INJECT__COUNT; i++) {
		if (strcmp(s, inject_names[i]) == 0) {
			*out = (enum cfg_inject_mode)i;
			return 0;
		}
	}
	if (strcmp(s, "clear") == 0) { /* what an operator types to end a fault */
		*out = CFG_INJECT_NONE;
		return 0;
	}
	return -EINVAL;
}

/* ---- inject ---- */

static int parse_inject(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_inject *f)
{
	static const char *const keys[] = { "mode", "lba", "count", "delay_us", "after" };
	char p[CFG_PATH_LEN];
	char *mode = NULL;
	int rc;

	if ((rc = cfg_need_object(c, path, o)) || (rc = cfg_check_keys(c, path, o, keys, ARRAY_SIZE(keys))))
		return rc;
	if ((rc = cfg_get_string(c, o, path, "mode", NULL, 32, &mode)))
		return rc;
	f->mode = CFG_INJECT_NONE;
	if (mode) {
		rc = config_inject_mode_parse(mode, &f->mode);
		if (rc) {
			cfg_child(p, path, "mode");
			const char *hint = config_suggest(mode, inject_names, CFG_INJECT__COUNT);
			rc = hint ? cfg_fail(c, p, "unknown mode \"%s\"; did you mean \"%s\"?", mode, hint)
				  : cfg_fail(c, p, "unknown mode \"%s\"; use none, fail-reads, fail-writes, fail-all, "
						   "disappear or delay", mode);
		}
		free(mode);
		if (rc)
			return rc;
	}
	if ((rc = cfg_get_uint(c, o, path, "lba", NULL, 0, INT64_MAX, NULL, &f->lba)) ||
	    (rc = cfg_get_uint(c, o, path, "count", NULL, 0, INT64_MAX, "(blocks; 0 = to the end)", &f->count)) ||
	    (rc = cfg_get_uint(c, o, path, "delay_us", NULL, 0, 60000000, "(microseconds)", &f->delay_us)) ||
	    (rc = cfg_get_uint(c, o, path, "after", NULL, 0, INT64_MAX, "(requests)", &f->after)))
		return rc;
	bool fails = f->mode == CFG_INJECT_FAIL_READS || f->mode == CFG_INJECT_FAIL_WRITES || f->mode == CFG_INJECT_FAIL_ALL;
	static const char *const range_keys[] = { "lba", "count", "after" };
	for (size_t i = 0; i < ARRAY_SIZE(range_keys) && !fails; i++) {
		if (json_object_get(o, range_keys[i])) {
			cfg_child(p, path, range_keys[i]);
			return cfg_fail(c, p, "only the fail-reads, fail-writes and fail-all modes use \"%s\"; remove it "
					"or set \"mode\"", range_keys[i]);
		}
	}
	if (json_object_get(o, "delay_us") && f->mode != CFG_INJECT_DELAY) {
		cfg_child(p, path, "delay_us");
		return cfg_fail(c, p, "only the delay mode uses \"delay_us\"; remove it or set \"mode\": \"delay\"");
	}
	if (f->mode == CFG_INJECT_DELAY && f->delay_us == 0) {
		cfg_child(p, path, "delay_us");
		return cfg_fail(c, p, "missing; the delay mode needs \"delay_us\", e.g. 20000");
	}
	if (f->after && f->mode != CFG_INJECT_FAIL_ALL) {
		cfg_child(p, path, "after");
		return cfg_fail(c, p, "counts requests of every kind, so it goes with \"mode\": \"fail-all\" only");
	}
	if (f->after && (json_object_get(o, "lba") || json_object_get(o, "count"))) {
		cfg_child(p, path, "after");
		return cfg_fail(c, p, "cannot be combined with \"lba\"/\"count\": a fault either hits a block range "
				"or every request from the after-th on");
	}
	return 0;
}

/* ---- throttle ---- */

#define THROTTLE_MIN_BPS (64u << 10) /* slower makes a 1 MiB request take 16 s: member deadlines fire */

int cfg_parse_throttle(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_throttle *t)
{
	static const char *const keys[] = { "bandwidth", "latency_us" };
	char p[CFG_PATH_LEN];
	int rc;

	if ((rc = cfg_need_object(c, path, o)) || (rc = cfg_check_keys(c, path, o, keys, ARRAY_SIZE(keys))))
		return rc;
	t->bytes_per_sec = 0;
	t->latency_us = 0;
	if ((rc = cfg_get_size(c, o, path, "bandwidth", NULL, &t->bytes_per_sec)) ||
	    (rc = cfg_get_uint(c, o, path, "latency_us", NULL, 0, 60000000, "(microseconds per request)",
			       &t->latency_us)))
		return rc;
	if (t->bytes_per_sec && t->bytes_per_sec < THROTTLE_MIN_BPS) {
		cfg_child(p, path, "bandwidth");
		return cfg_fail(c, p, "%llu bytes per second is too slow to be useful; use at least \"64KiB\" "
				"(bytes per second, e.g. \"320MiB\" for a hard disk), or 0 for no cap",
				(unsigned long long)t->bytes_per_sec);
	}
	if (t->bytes_per_sec == 0 && t->latency_us == 0)
		return cfg_fail(c, path, "sets no limit; give \"bandwidth\" (bytes per second) and/or \"latency_us\", "
				"e.g. {\"bandwidth\": \"320MiB\", \"latency_us\": 100}, or remove \"throttle\"");
	return 0;
}

/* ---- members ---- */

static int parse_member(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_member *m)
{
	static const char *const keys[] = { "backend", "size", "block_size", "path", "direct", "inject", "throttle" };
	static const char *const backends[] = { "file", "malloc" };
	char p[CFG_PATH_LEN];
	char *backend = NULL;
	int rc;

	if ((rc = cfg_need_object(c, path, o)) || (rc = cfg_check_keys(c, path, o, keys, ARRAY_SIZE(keys))))
		return rc;
	if ((rc = cfg_get_string(c, o, path, "backend", "set \"backend\" to \"file\" or \"malloc\"", 16, &backend)))
		return rc;
	cfg_child(p, path, "backend");
	if (strcmp(backend, "file") == 0) {
		m->backend = CFG_BACKEND_FILE;
	} else if (strcmp(backend, "malloc") == 0) {
		m->backend = CFG_BACKEND_MALLOC;
	} else {
		const char *hint = config_suggest(backend, backends, ARRAY_SIZE(backends));
		rc = hint ? cfg_fail(c, p, "unknown member backend \"%s\"; did you mean \"%s\"?", backend, hint)
			  : cfg_fail(c, p, "a RAID member is a \"file\" or a \"malloc\" device, not \"%s\"", backend);
		free(backend);
		return rc;
	}
	free(backend);
	bool is_file = m->backend == CFG_BACKEND_FILE;

	uint64_t bs = 512;
	if ((rc = cfg_get_uint(c, o, path, "block_size", NULL, 0, UINT32_MAX, NULL, &bs)))
		return rc;
	if (bs != 512 && bs != 4096) {
		cfg_child(p, path, "block_size");
		return cfg_fail(c, p, "%llu is not supported; use 512 or 4096", (unsigned long long)bs);
	}
	m->block_size = (uint32_t)bs;
	if ((rc = cfg_get_size(c, o, path, "size", is_file ? NULL : "a malloc member needs a size, e.g. \"64MiB\"",
			       &m->size)))
		return rc;
	cfg_child(p, path, "size");
	if (json_object_get(o, "size") && m->size == 0)
		return cfg_fail(c, p, "is zero; give the member a size, e.g. \"256MiB\"%s",
				is_file ? ", or leave \"size\" out to use the file's own size" : "");
	if (m->size % bs)
		return cfg_fail(c, p, "%llu bytes is not a multiple of block_size %llu", (unsigned long long)m->size,
				(unsigned long long)bs);
	static const char *const file_only[] = { "path", "direct" };
	for (size_t i = 0; i < ARRAY_SIZE(file_only) && !is_file; i++) {
		if (json_object_get(o, file_only[i])) {
			cfg_child(p, path, file_only[i]);
			return cfg_fail(c, p, "only file members have \"%s\"; remove it or set \"backend\": \"file\"",
					file_only[i]);
		}
	}
	if (is_file) {
		if ((rc = cfg_get_string(c, o, path, "path", "a file member needs the \"path\" of its file or block device",
					 4095, &m->path)) ||
		    (rc = cfg_get_bool(c, o, path, "direct", &m->direct)))
			return rc;
	}
	json_t *inj = json_object_get(o, "inject");
	if (inj) {
		cfg_child(p, path, "inject");
		m->inject = true;
		if ((rc = parse_inject(c, p, inj, &m->faults)))
			return rc;
	}
	json_t *thr = json_object_get(o, "throttle");
	if (thr) {
		cfg_child(p, path, "throttle");
		m->throttle = true;
		if ((rc = cfg_parse_throttle(c, p, thr, &m->thr)))
			return rc;
	}
	return 0;
}

static int parse_member_list(struct cfg_pctx *c, const char *path, json_t *o, const char *key, const char *required,
			     struct cfg_member **out, unsigned *n)
{
	char lp[CFG_PATH_LEN], p[CFG_PATH_LEN];
	json_t *arr;
	int rc = cfg_get_array(c, o, path, key, required, &arr);

	if (rc || !arr || json_array_size(arr) == 0)
		return rc;
	cfg_child(lp, path, key);
	if (json_array_size(arr) > CFG_RAID_MAX_MEMBERS)
		return cfg_fail(c, lp, "has %zu entries; at most %u are allowed", json_array_size(arr),
				CFG_RAID_MAX_MEMBERS);
	*out = calloc(json_array_size(arr), sizeof(**out));
	if (!*out)
		return cfg_fail_nomem(c);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		cfg_elem(p, lp, i);
		*n = (unsigned)i + 1;
		if ((rc = parse_member(c, p, json_array_get(arr, i), &(*out)[i])))
			return rc;
	}
	return 0;
}

/* Every member and spare: one block size, no file used twice. */
static int check_members(struct cfg_pctx *c, const char *path, const struct cfg_raid *r)
{
	char p[CFG_PATH_LEN], lp[CFG_PATH_LEN], q[CFG_PATH_LEN];
	unsigned total = r->n_members + r->n_spares;

	for (unsigned i = 0; i < total; i++) {
		const struct cfg_member *m = i < r->n_members ? &r->members[i] : &r->spares[i - r->n_members];
		cfg_child(lp, path, i < r->n_members ? "members" : "spares");
		cfg_elem(p, lp, i < r->n_members ? i : i - r->n_members);
		if (m->block_size != r->members[0].block_size) {
			char bp[CFG_PATH_LEN];
			cfg_child(bp, p, "block_size");
			return cfg_fail(c, bp, "%u differs from members[0]'s %u; every member and spare of an array has one "
					"block size", m->block_size, r->members[0].block_size);
		}
		for (unsigned j = 0; j < i && m->path; j++) {
			const struct cfg_member *o = j < r->n_members ? &r->members[j] : &r->spares[j - r->n_members];
			if (!o->path || strcmp(o->path, m->path) != 0)
				continue;
			cfg_child(q, p, "path");
			return cfg_fail(c, q, "\"%s\" is already %s[%u]; every member and spare needs its own file", m->path,
					j < r->n_members ? "members" : "spares", j < r->n_members ? j : j - r->n_members);
		}
	}
	return 0;
}

/* "bitmap_region": a power of two from the chunk size (RAID 1: 64 KiB) to 1 TiB. */
static int parse_region(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_raid *r)
{
	char p[CFG_PATH_LEN];
	uint64_t region = 0;
	int rc;

	if (!json_object_get(o, "bitmap_region"))
		return 0;
	cfg_child(p, path, "bitmap_region");
	if (!r->bitmap || r->level == 0)
		return cfg_fail(c, p, "%s; remove \"bitmap_region\"", r->level == 0 ? "RAID 0 has no write-intent bitmap"
				: "\"bitmap\" is false, so there are no bitmap regions");
	if ((rc = cfg_get_size(c, o, path, "bitmap_region", NULL, &region)))
		return rc;
	uint64_t chunk = (r->chunk_kib ? r->chunk_kib : 64u) * 1024ull;
	if (region < chunk || (region & (region - 1)) || region > (1ull << 40))
		return cfg_fail(c, p, "%llu bytes is not a valid region size; use a power of two from the chunk size "
				"(%llu bytes) to 1TiB, e.g. \"64MiB\" (the default)", (unsigned long long)region,
				(unsigned long long)chunk);
	r->region_kib = (uint32_t)(region / 1024);
	return 0;
}

int cfg_parse_raid(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_volume *v)
{
	static const char *const creates[] = { "if-missing", "never" };
	char p[CFG_PATH_LEN];
	int rc;

	struct cfg_raid *r = calloc(1, sizeof(*r));
	if (!r)
		return cfg_fail_nomem(c);
	v->raid = r;
	r->journal = true;
	r->bitmap = true;
	if (strlen(v->name) > CFG_RAID_NAME_MAX) {
		cfg_child(p, path, "name");
		return cfg_fail(c, p, "\"%s\" is %zu bytes long; a raid volume's name is also its array name, at most %u "
				"bytes", v->name, strlen(v->name), CFG_RAID_NAME_MAX);
	}

	static const char *const not_here[] = { "size", "block_size", "path", "direct", "read_only", "throttle" };
	for (size_t i = 0; i < ARRAY_SIZE(not_here); i++) {
		if (json_object_get(o, not_here[i])) {
			cfg_child(p, path, not_here[i]);
			return cfg_fail(c, p, "a raid volume has no \"%s\": %s", not_here[i],
					i == 0 ? "its size follows from the level and the members' sizes; remove it"
					: i == 1 ? "it takes its members' block size; set \"block_size\" on the members"
						 : "set it on the members; remove it here");
		}
	}

	uint64_t level = 0;
	if ((rc = cfg_get_uint(c, o, path, "level", "a raid volume needs its \"level\": 0, 1, 5, 6 or 10", 0, 10,
			       "(RAID level: 0, 1, 5, 6 or 10)", &level)))
		return rc;
	cfg_child(p, path, "level");
	if (level != 0 && level != 1 && level != 5 && level != 6 && level != 10)
		return cfg_fail(c, p, "RAID level %llu is not supported; use 0, 1, 5, 6 or 10", (unsigned long long)level);
	r->level = (unsigned)level;

	if ((rc = parse_member_list(c, path, o, "members", "list the array's members, e.g. [{\"backend\": \"file\", "
				    "\"path\": \"/srv/d0.img\", \"size\": \"1GiB\"}, ...]", &r->members, &r->n_members)))
		return rc;
	static const unsigned min_members[] = { [0] = 2, [1] = 2, [5] = 3, [6] = 4, [10] = 2 };
	unsigned need = min_members[r->level];
	if (r->n_members < need) {
		cfg_child(p, path, "members");
		return cfg_fail(c, p, "RAID %u needs at least %u members, %u are listed", r->level, need, r->n_members);
	}
	if ((rc = parse_member_list(c, path, o, "spares", NULL, &r->spares, &r->n_spares)))
		return rc;
	if (r->n_spares && r->level == 0) {
		cfg_child(p, path, "spares");
		return cfg_fail(c, p, "RAID 0 has no redundancy to rebuild onto a spare; remove \"spares\"");
	}
	if ((rc = check_members(c, path, r)))
		return rc;
	v->block_size = r->members[0].block_size;

	if (json_object_get(o, "chunk")) {
		uint64_t chunk = 0;
		cfg_child(p, path, "chunk");
		if (r->level == 1)
			return cfg_fail(c, p, "RAID 1 is not striped and has no chunk size; remove \"chunk\"");
		if ((rc = cfg_get_size(c, o, path, "chunk", NULL, &chunk)))
			return rc;
		if (chunk < 1024 || chunk % 1024 || (chunk & (chunk - 1)) || chunk > (64u << 20) || chunk < v->block_size)
			return cfg_fail(c, p, "%llu bytes is not a valid chunk size; use a power of two from the block size "
					"(at least 1KiB) to 64MiB, e.g. \"64KiB\"", (unsigned long long)chunk);
		r->chunk_kib = (uint32_t)(chunk / 1024);
	}

	char *create = NULL;
	if ((rc = cfg_get_string(c, o, path, "create", NULL, 32, &create)))
		return rc;
	if (create) {
		cfg_child(p, path, "create");
		if (strcmp(create, "if-missing") == 0) {
			r->create = CFG_RAID_CREATE_IF_MISSING;
		} else if (strcmp(create, "never") == 0) {
			r->create = CFG_RAID_CREATE_NEVER;
		} else {
			const char *hint = config_suggest(create, creates, ARRAY_SIZE(creates));
			rc = hint ? cfg_fail(c, p, "unknown value \"%s\"; did you mean \"%s\"?", create, hint)
				  : cfg_fail(c, p, "unknown value \"%s\"; use \"if-missing\" (create the array when no "
						   "member has a superblock) or \"never\" (only assemble)", create);
		}
		free(create);
		if (rc)
			return rc;
	}
	if ((rc = cfg_get_size(c, o, path, "rebuild_rate", NULL, &r->rebuild_rate)))
		return rc;
	uint64_t tmo = 0;
	if ((rc = cfg_get_uint(c, o, path, "member_timeout_ms", NULL, 100, 3600000, "(milliseconds)", &tmo)))
		return rc;
	r->member_timeout_ms = (uint32_t)tmo;
	if ((rc = cfg_get_bool(c, o, path, "journal", &r->journal)) || (rc = cfg_get_bool(c, o, path, "bitmap", &r->bitmap)))
		return rc;
	if (json_object_get(o, "journal") && r->level != 5 && r->level != 6) {
		cfg_child(p, path, "journal");
		return cfg_fail(c, p, "only RAID 5 and 6 have a write journal; remove \"journal\"");
	}
	return parse_region(c, path, o, r);
}

void config_member_free(struct cfg_member *m)
{
	if (m)
		free(m->path);
}

void cfg_raid_free(struct cfg_raid *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->n_members; i++)
		config_member_free(&r->members[i]);
	for (unsigned i = 0; i < r->n_spares; i++)
		config_member_free(&r->spares[i]);
	free(r->members);
	free(r->spares);
	free(r);
}

/* ---- global spares ---- */

/* Where else path is used: a raid member or spare, or a file volume ("" when nowhere). */
static void path_user(const struct softhba_config *cfg, const char *path, char *out, size_t len)
{
	out[0] = '\0';
	for (unsigned i = 0; i < cfg->n_volumes && !out[0]; i++) {
		const struct cfg_volume *v = &cfg->volumes[i];
		if (v->path && strcmp(v->path, path) == 0)
			snprintf(out, len, "volumes[%u] (\"%s\")", i, v->name);
		for (unsigned j = 0; v->raid && j < v->raid->n_members + v->raid->n_spares && !out[0]; j++) {
			bool sp = j >= v->raid->n_members;
			const struct cfg_member *m = sp ? &v->raid->spares[j - v->raid->n_members] : &v->raid->members[j];
			if (m->path && strcmp(m->path, path) == 0)
				snprintf(out, len, "volumes[%u].%s[%u] (\"%s\")", i, sp ? "spares" : "members",
					 sp ? j - v->raid->n_members : j, v->name);
		}
	}
}

int cfg_parse_global_spares(struct cfg_pctx *c, struct softhba_config *cfg, json_t *root)
{
	char p[CFG_PATH_LEN], q[CFG_PATH_LEN], user[128];
	int rc;

	if ((rc = parse_member_list(c, "", root, "spares", NULL, &cfg->spares, &cfg->n_spares)) || cfg->n_spares == 0)
		return rc;
	bool any = false;
	for (unsigned i = 0; i < cfg->n_volumes; i++)
		any |= cfg->volumes[i].raid && cfg->volumes[i].raid->level != 0;
	if (!any)
		return cfg_fail(c, "spares", "no volume could use a global spare (only a raid volume of level 1, 5, 6 or "
				"10 rebuilds onto one); remove \"spares\" or add such a volume");
	for (unsigned i = 0; i < cfg->n_spares; i++) {
		const struct cfg_member *m = &cfg->spares[i];
		cfg_elem(p, "spares", i);
		cfg_child(q, p, "path");
		if (!m->path)
			continue;
		path_user(cfg, m->path, user, sizeof(user));
		if (user[0])
			return cfg_fail(c, q, "\"%s\" is already %s; a global spare needs its own file", m->path, user);
		for (unsigned j = 0; j < i; j++)
			if (cfg->spares[j].path && strcmp(cfg->spares[j].path, m->path) == 0)
				return cfg_fail(c, q, "\"%s\" is already spares[%u]; every spare needs its own file", m->path,
						j);
	}
	return 0;
}

void cfg_global_spares_free(struct softhba_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_spares; i++)
		config_member_free(&cfg->spares[i]);
	free(cfg->spares);
	cfg->spares = NULL;
	cfg->n_spares = 0;
}

int config_parse_member(const char *json, const char *path, struct cfg_member *out, char *err, size_t errlen)
{
	struct cfg_pctx c = { err, errlen };
	json_error_t je;
	json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	struct cfg_member m = { 0 };

	if (!o)
		return cfg_fail(&c, path, "is not valid JSON: %s", je.text);
	int rc = parse_member(&c, path, o, &m);
	json_decref(o);
	if (rc) {
		config_member_free(&m);
		return rc;
	}
	*out = m;
	return 0;
}

int config_parse_inject(const char *json, const char *path, struct cfg_inject *out, char *err, size_t errlen)
{
	struct cfg_pctx c = { err, errlen };
	json_error_t je;
	json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	struct cfg_inject f = { 0 };

	if (!o)
		return cfg_fail(&c, path, "is not valid JSON: %s", je.text);
	int rc = parse_inject(&c, path, o, &f);
	json_decref(o);
	if (rc == 0)
		*out = f;
	return rc;
}
