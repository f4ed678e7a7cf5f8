/* config.c - reads the daemon's JSON configuration with jansson and validates every key into struct softhba_config. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/config_internal.h"
#include "core/util.h"

int cfg_fail(struct cfg_pctx *c, const char *path, const char *fmt, ...)
{
	if (c->err && c->errlen) {
		int n = snprintf(c->err, c->errlen, "%s%s", path, *path ? ": " : "");
		if (n >= 0 && (size_t)n < c->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

int cfg_fail_nomem(struct cfg_pctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "out of memory while reading the configuration");
	return -ENOMEM;
}

void cfg_child(char *dst, const char *path, const char *key)
{
	if (snprintf(dst, CFG_PATH_LEN, "%s%s%s", path, *path ? "." : "", key) >= CFG_PATH_LEN)
		memcpy(dst + CFG_PATH_LEN - 4, "...", 4); /* a truncated path still points the right way */
}

void cfg_elem(char *dst, const char *path, size_t idx)
{
	if (snprintf(dst, CFG_PATH_LEN, "%s[%zu]", path, idx) >= CFG_PATH_LEN)
		memcpy(dst + CFG_PATH_LEN - 4, "...", 4);
}

const char *cfg_jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* Refuse keys the schema does not know (catches typos). */
int cfg_check_keys(struct cfg_pctx *c, const char *path, json_t *obj, const char *const *known, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		bool ok = false;
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (ok)
			continue;
		char p[CFG_PATH_LEN];
		cfg_child(p, path, key);
		const char *s = config_suggest(key, known, n);
		if (s)
			return cfg_fail(c, p, "unknown key; did you mean \"%s\"?", s);
		char list[256] = "";
		size_t used = 0;
		for (size_t i = 0; i < n && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", known[i]);
		return cfg_fail(c, p, "unknown key; the keys allowed here are: %s", list);
	}
	return 0;
}

int cfg_need_object(struct cfg_pctx *c, const char *path, json_t *v)
{
	if (!json_is_object(v))
		return cfg_fail(c, path, "expected an object {...}, got %s", cfg_jtype(v));
	return 0;
}

/* required: NULL = optional, else the hint printed when it is missing. */
int cfg_get_string(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		      size_t maxlen, char **out)
{
	char p[CFG_PATH_LEN];
	json_t *v = json_object_get(obj, key);

	cfg_child(p, path, key);
	if (!v)
		return required ? cfg_fail(c, p, "missing; %s", required) : 0;
	if (!json_is_string(v))
		return cfg_fail(c, p, "expected a string, got %s", cfg_jtype(v));
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0)
		return cfg_fail(c, p, "is empty");
	if (len > maxlen)
		return cfg_fail(c, p, "is %zu bytes long; at most %zu are allowed", len, maxlen);
	*out = strdup(s);
	return *out ? 0 : cfg_fail_nomem(c);
}

int cfg_get_bool(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, bool *out)
{
	char p[CFG_PATH_LEN];
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		cfg_child(p, path, key);
		return cfg_fail(c, p, "expected true or false, got %s", cfg_jtype(v));
	}
	*out = json_is_true(v);
	return 0;
}

/* Integer in [min, max]; *out untouched when absent and optional. what: NULL or text after the range. */
int cfg_get_uint(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		    uint64_t min, uint64_t max, const char *what, uint64_t *out)
{
	char p[CFG_PATH_LEN];
	json_t *v = json_object_get(obj, key);

	cfg_child(p, path, key);
	if (!v)
		return required ? cfg_fail(c, p, "missing; %s", required) : 0;
	if (!json_is_integer(v))
		return cfg_fail(c, p, "expected an integer, got %s", cfg_jtype(v));
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return cfg_fail(c, p, "%lld is out of range; use %llu..%llu%s%s", (long long)x, (unsigned long long)min,
			    (unsigned long long)max, what ? " " : "", what ? what : "");
	*out = (uint64_t)x;
	return 0;
}

int cfg_get_size(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		    uint64_t *out)
{
	char p[CFG_PATH_LEN], why[200];
	json_t *v = json_object_get(obj, key);

	cfg_child(p, path, key);
	if (!v)
		return required ? cfg_fail(c, p, "missing; %s", required) : 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return cfg_fail(c, p, "%lld is negative", (long long)json_integer_value(v));
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return cfg_fail(c, p, "expected a size (bytes, or a string such as \"512MiB\"), got %s", cfg_jtype(v));
	if (config_parse_size(json_string_value(v), out, why, sizeof(why)))
		return cfg_fail(c, p, "%s", why);
	return 0;
}

int cfg_get_array(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		     json_t **out)
{
	char p[CFG_PATH_LEN];
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	cfg_child(p, path, key);
	if (!v)
		return required ? cfg_fail(c, p, "missing; %s", required) : 0;
	if (!json_is_array(v))
		return cfg_fail(c, p, "expected an array [...], got %s", cfg_jtype(v));
	*out = v;
	return 0;
}

/* ---- log ---- */

static const char *const level_names[] = { "error", "warn", "notice", "info", "debug" };

static int get_level(struct cfg_pctx *c, const char *path, json_t *v, enum log_level *out)
{
	if (!json_is_string(v))
		return cfg_fail(c, path, "expected a level name string, got %s", cfg_jtype(v));
	const char *s = json_string_value(v);
	if (log_level_parse(s, out) == 0)
		return 0;
	const char *hint = config_suggest(s, level_names, ARRAY_SIZE(level_names));
	if (hint)
		return cfg_fail(c, path, "unknown level \"%s\"; did you mean \"%s\"?", s, hint);
	return cfg_fail(c, path, "unknown level \"%s\"; use error, warn, notice, info or debug", s);
}

static int parse_log(struct cfg_pctx *c, struct softhba_config *cfg, json_t *log)
{
	static const char *const keys[] = { "level", "components" };
	int rc;

	if ((rc = cfg_need_object(c, "log", log)) || (rc = cfg_check_keys(c, "log", log, keys, ARRAY_SIZE(keys))))
		return rc;
	json_t *lv = json_object_get(log, "level");
	if (lv && (rc = get_level(c, "log.level", lv, &cfg->log_level)))
		return rc;
	json_t *comps = json_object_get(log, "components");
	if (!comps)
		return 0;
	if ((rc = cfg_need_object(c, "log.components", comps)))
		return rc;
	const char *names[LOGC__COUNT];
	for (unsigned i = 0; i < LOGC__COUNT; i++)
		names[i] = log_comp_name((enum log_comp)i);
	const char *key;
	json_t *v;
	json_object_foreach(comps, key, v) {
		char p[CFG_PATH_LEN];
		enum log_comp comp;
		cfg_child(p, "log.components", key);
		if (log_comp_parse(key, &comp) != 0) {
			char list[160] = "";
			size_t used = 0;
			for (unsigned i = 0; i < LOGC__COUNT && used < sizeof(list); i++)
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
							 names[i]);
			const char *hint = config_suggest(key, names, LOGC__COUNT);
			if (hint)
				return cfg_fail(c, p, "unknown component; did you mean \"%s\"?", hint);
			return cfg_fail(c, p, "unknown component; the components are: %s", list);
		}
		if ((rc = get_level(c, p, v, &cfg->comp_level[comp])))
			return rc;
		cfg->comp_level_set[comp] = true;
	}
	return 0;
}

/* ---- volumes ---- */

static int check_volume_name(struct cfg_pctx *c, const char *path, const char *name)
{
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		    ch == '_' || ch == '-')
			continue;
		return cfg_fail(c, path, "\"%s\": volume names use only letters, digits, '.', '_' and '-'", name);
	}
	return 0;
}

static int parse_volume(struct cfg_pctx *c, struct softhba_config *cfg, const char *path, json_t *o, struct cfg_volume *v)
{
	static const char *const keys[] = { "name", "backend", "size", "block_size", "path", "direct", "read_only",
					    "throttle" };
	static const char *const backends[] = { "malloc", "null", "file", "raid" };
	char p[CFG_PATH_LEN];
	char *backend = NULL;
	int rc;

	if ((rc = cfg_need_object(c, path, o)))
		return rc;
	json_t *bk = json_object_get(o, "backend");
	bool raid = json_is_string(bk) && strcmp(json_string_value(bk), "raid") == 0;
	if ((rc = raid ? cfg_check_keys(c, path, o, cfg_raid_volume_keys, cfg_raid_volume_nkeys)
		       : cfg_check_keys(c, path, o, keys, ARRAY_SIZE(keys))))
		return rc;
	if ((rc = cfg_get_string(c, o, path, "name", "give every volume a unique name, e.g. \"name\": \"disk0\"",
			     CFG_VOLUME_NAME_MAX, &v->name)))
		return rc;
	cfg_child(p, path, "name");
	if ((rc = check_volume_name(c, p, v->name)))
		return rc;
	for (struct cfg_volume *o2 = cfg->volumes; o2 < v; o2++)
		if (strcmp(o2->name, v->name) == 0)
			return cfg_fail(c, p, "\"%s\" is already the name of volumes[%td]; volume names must be unique",
				    v->name, o2 - cfg->volumes);

	if ((rc = cfg_get_string(c, o, path, "backend", "set \"backend\" to \"malloc\", \"null\", \"file\" or \"raid\"",
				 16, &backend)))
		return rc;
	cfg_child(p, path, "backend");
	size_t b = 0;
	while (b < ARRAY_SIZE(backends) && strcmp(backend, backends[b]) != 0)
		b++;
	if (b == ARRAY_SIZE(backends)) {
		const char *hint = config_suggest(backend, backends, ARRAY_SIZE(backends));
		rc = hint ? cfg_fail(c, p, "unknown backend \"%s\"; did you mean \"%s\"?", backend, hint)
			  : cfg_fail(c, p, "unknown backend \"%s\"; use \"malloc\", \"null\", \"file\" or \"raid\"", backend);
		free(backend);
		return rc;
	}
	free(backend);
	v->backend = b == 0 ? CFG_BACKEND_MALLOC : b == 1 ? CFG_BACKEND_NULL : b == 2 ? CFG_BACKEND_FILE : CFG_BACKEND_RAID;
	if (v->backend == CFG_BACKEND_RAID)
		return cfg_parse_raid(c, path, o, v);
	bool is_file = v->backend == CFG_BACKEND_FILE;
	json_t *thr = json_object_get(o, "throttle");
	if (thr) {
		cfg_child(p, path, "throttle");
		v->throttle = true;
		if ((rc = cfg_parse_throttle(c, p, thr, &v->thr)))
			return rc;
	}

	uint64_t bs = 512;
	if ((rc = cfg_get_uint(c, o, path, "block_size", NULL, 0, UINT32_MAX, NULL, &bs)))
		return rc;
	if (bs != 512 && bs != 4096) {
		cfg_child(p, path, "block_size");
		return cfg_fail(c, p, "%llu is not supported; use 512 or 4096", (unsigned long long)bs);
	}
	v->block_size = (uint32_t)bs;

	if ((rc = cfg_get_size(c, o, path, "size", is_file ? NULL : "every malloc or null volume needs a size, e.g. \"256MiB\"",
			   &v->size)))
		return rc;
	cfg_child(p, path, "size");
	if (json_object_get(o, "size")) {
		if (v->size == 0)
			return cfg_fail(c, p, "is zero; give the volume a size, e.g. \"1GiB\"%s",
				    is_file ? ", or leave \"size\" out to use the file's own size" : "");
		if (v->size % bs) {
			uint64_t down = v->size / bs * bs;
			if (down)
				return cfg_fail(c, p, "%llu bytes is not a multiple of block_size %llu; use %llu or %llu",
					    (unsigned long long)v->size, (unsigned long long)bs,
					    (unsigned long long)down, (unsigned long long)(down + bs));
			return cfg_fail(c, p, "%llu bytes is not a multiple of block_size %llu; use %llu",
				    (unsigned long long)v->size, (unsigned long long)bs, (unsigned long long)bs);
		}
	}

	static const char *const file_only[] = { "path", "direct", "read_only" };
	for (size_t i = 0; i < ARRAY_SIZE(file_only) && !is_file; i++) {
		if (json_object_get(o, file_only[i])) {
			cfg_child(p, path, file_only[i]);
			return cfg_fail(c, p, "only file volumes have \"%s\"; remove it or set \"backend\": \"file\"%s",
				    file_only[i],
				    strcmp(file_only[i], "read_only") == 0 ? " (a LUN's read_only write-protects any volume)"
									   : "");
		}
	}
	if (!is_file)
		return 0;
	if ((rc = cfg_get_string(c, o, path, "path", "a file volume needs the \"path\" of its file or block device",
			     4095, &v->path)))
		return rc;
	if ((rc = cfg_get_bool(c, o, path, "direct", &v->direct)) || (rc = cfg_get_bool(c, o, path, "read_only", &v->read_only)))
		return rc;
	return 0;
}

static int parse_volumes(struct cfg_pctx *c, struct softhba_config *cfg, json_t *root)
{
	json_t *arr;
	int rc = cfg_get_array(c, root, "", "volumes", NULL, &arr);

	if (rc || !arr || json_array_size(arr) == 0)
		return rc;
	cfg->volumes = calloc(json_array_size(arr), sizeof(*cfg->volumes));
	if (!cfg->volumes)
		return cfg_fail_nomem(c);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char p[CFG_PATH_LEN];
		cfg_elem(p, "volumes", i);
		cfg->n_volumes = (unsigned)i + 1;
		if ((rc = parse_volume(c, cfg, p, json_array_get(arr, i), &cfg->volumes[i])))
			return rc;
	}
	return 0;
}

/* ---- iscsi ---- */

/* INQUIRY strings: printable ASCII only. */
static int get_ascii(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, size_t maxlen, char **out)
{
	int rc = cfg_get_string(c, obj, path, key, NULL, maxlen, out);
	if (rc || !*out)
		return rc;
	for (const char *s = *out; *s; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			char p[CFG_PATH_LEN];
			cfg_child(p, path, key);
			return cfg_fail(c, p, "SCSI identification strings are printable ASCII only");
		}
	}
	return 0;
}

static int parse_lun(struct cfg_pctx *c, struct softhba_config *cfg, const char *path, json_t *o, struct cfg_target *t,
		     struct cfg_lun *l)
{
	static const char *const keys[] = { "lun", "volume", "thin", "removable", "read_only", "write_cache",
					    "vendor", "product", "revision", "serial", "sanitize_rate" };
	char p[CFG_PATH_LEN];
	uint64_t lun = 0;
	char *vol = NULL;
	int rc;

	if ((rc = cfg_need_object(c, path, o)) || (rc = cfg_check_keys(c, path, o, keys, ARRAY_SIZE(keys))))
		return rc;
	if ((rc = cfg_get_uint(c, o, path, "lun", "give every LUN its number, e.g. \"lun\": 0", 0, CFG_LUN_MAX,
			   "(flat LUN addressing)", &lun)))
		return rc;
	l->lun = (uint32_t)lun;
	for (struct cfg_lun *o2 = t->luns; o2 < l; o2++) {
		if (o2->lun == l->lun) {
			cfg_child(p, path, "lun");
			return cfg_fail(c, p, "LUN %u is already used by luns[%td] of this target; LUN numbers must be unique",
				    l->lun, o2 - t->luns);
		}
	}
	if ((rc = cfg_get_string(c, o, path, "volume", "name the volume this LUN exports, e.g. \"volume\": \"disk0\"",
			     CFG_VOLUME_NAME_MAX + 64, &vol)))
		return rc;
	unsigned vi = 0;
	while (vi < cfg->n_volumes && strcmp(cfg->volumes[vi].name, vol) != 0)
		vi++;
	if (vi == cfg->n_volumes) {
		cfg_child(p, path, "volume");
		char list[200] = "";
		size_t used = 0;
		const char *names[64];
		size_t nn = 0;
		for (unsigned i = 0; i < cfg->n_volumes; i++) {
			if (nn < ARRAY_SIZE(names))
				names[nn++] = cfg->volumes[i].name;
			if (used < sizeof(list))
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
							 cfg->volumes[i].name);
		}
		const char *hint = config_suggest(vol, names, nn);
		if (cfg->n_volumes == 0)
			rc = cfg_fail(c, p, "no volume named \"%s\"; define it under \"volumes\"", vol);
		else if (hint)
			rc = cfg_fail(c, p, "no volume named \"%s\"; did you mean \"%s\"?", vol, hint);
		else
			rc = cfg_fail(c, p, "no volume named \"%s\" (the volumes are: %s)", vol, list);
		free(vol);
		return rc;
	}
	free(vol);
	l->volume = vi;
	l->write_cache = true;
	if ((rc = cfg_get_bool(c, o, path, "thin", &l->thin)) || (rc = cfg_get_bool(c, o, path, "removable", &l->removable)) ||
	    (rc = cfg_get_bool(c, o, path, "read_only", &l->read_only)) ||
	    (rc = cfg_get_bool(c, o, path, "write_cache", &l->write_cache)))
		return rc;
	if ((rc = get_ascii(c, o, path, "vendor", 8, &l->vendor)) ||
	    (rc = get_ascii(c, o, path, "product", 16, &l->product)) ||
	    (rc = get_ascii(c, o, path, "revision", 4, &l->revision)) ||
	    (rc = get_ascii(c, o, path, "serial", 64, &l->serial)))
		return rc;
	/* SANITIZE OVERWRITE pacing: bytes per second, whole MiB, or no limit when absent. */
	uint64_t rate = 0;
	l->sanitize_mib_s = UINT32_MAX;
	if ((rc = cfg_get_size(c, o, path, "sanitize_rate", NULL, &rate)))
		return rc;
	if (json_object_get(o, "sanitize_rate")) {
		if (rate < (1u << 20) || rate % (1u << 20) || (rate >> 20) >= UINT32_MAX) {
			cfg_child(p, path, "sanitize_rate");
			return cfg_fail(c, p, "give the SANITIZE pacing in whole MiB per second, at least \"1MiB\" "
				    "(or leave the key out for no limit)");
		}
		l->sanitize_mib_s = (uint32_t)(rate >> 20);
	}
	return 0;
}

static int parse_target(struct cfg_pctx *c, struct softhba_config *cfg, const char *path, json_t *o, struct cfg_target *t)
{
	static const char *const keys[] = { "name", "alias", "luns" };
	char p[CFG_PATH_LEN], why[300];
	json_t *luns;
	int rc;

	if ((rc = cfg_need_object(c, path, o)) || (rc = cfg_check_keys(c, path, o, keys, ARRAY_SIZE(keys))))
		return rc;
	if ((rc = cfg_get_string(c, o, path, "name", "every target needs an iSCSI name, e.g. iqn.2026-11.org.example:disk1",
			     1024, &t->name)))
		return rc;
	cfg_child(p, path, "name");
	if (config_check_iscsi_name(t->name, why, sizeof(why)))
		return cfg_fail(c, p, "%s", why);
	for (struct cfg_target *o2 = cfg->iscsi.targets; o2 < t; o2++)
		if (strcmp(o2->name, t->name) == 0)
			return cfg_fail(c, p, "\"%s\" is already the name of iscsi.targets[%td]; target names must be unique",
				    t->name, o2 - cfg->iscsi.targets);
	if ((rc = cfg_get_string(c, o, path, "alias", NULL, 255, &t->alias)))
		return rc;
	if (t->alias) {
		for (const char *s = t->alias; *s; s++) {
			if ((unsigned char)*s < 0x20 || *s == 0x7f) {
				cfg_child(p, path, "alias");
				return cfg_fail(c, p, "contains a control character");
			}
		}
	}
	if ((rc = cfg_get_array(c, o, path, "luns", NULL, &luns)) || !luns || json_array_size(luns) == 0)
		return rc;
	t->luns = calloc(json_array_size(luns), sizeof(*t->luns));
	if (!t->luns)
		return cfg_fail_nomem(c);
	char lp[CFG_PATH_LEN];
	cfg_child(lp, path, "luns");
	for (size_t i = 0; i < json_array_size(luns); i++) {
		cfg_elem(p, lp, i);
		t->n_luns = (unsigned)i + 1;
		if ((rc = parse_lun(c, cfg, p, json_array_get(luns, i), t, &t->luns[i])))
			return rc;
	}
	return 0;
}

static int parse_portals(struct cfg_pctx *c, struct cfg_iscsi *is, json_t *o)
{
	json_t *arr;
	char p[CFG_PATH_LEN], why[300];
	int rc = cfg_get_array(c, o, "iscsi", "portals", "list the addresses to listen on, e.g. [\"127.0.0.1:3260\"]", &arr);

	if (rc)
		return rc;
	if (json_array_size(arr) == 0)
		return cfg_fail(c, "iscsi.portals", "is empty; list at least one address, e.g. [\"127.0.0.1:3260\"]");
	is->portals = calloc(json_array_size(arr), sizeof(*is->portals));
	if (!is->portals)
		return cfg_fail_nomem(c);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		struct cfg_portal *pt = &is->portals[i];
		cfg_elem(p, "iscsi.portals", i);
		if (!json_is_string(v))
			return cfg_fail(c, p, "expected a \"HOST:PORT\" string, got %s", cfg_jtype(v));
		if (config_parse_portal(json_string_value(v), pt, why, sizeof(why)))
			return cfg_fail(c, p, "%s", why);
		is->n_portals = (unsigned)i + 1;
		for (struct cfg_portal *o2 = is->portals; o2 < pt && pt->port; o2++)
			if (o2->port == pt->port && strcmp(o2->host, pt->host) == 0)
				return cfg_fail(c, p, "\"%s\" is listed twice (also iscsi.portals[%td])", json_string_value(v),
					    o2 - is->portals);
	}
	return 0;
}

static int parse_iscsi(struct cfg_pctx *c, struct softhba_config *cfg, json_t *o)
{
	static const char *const keys[] = { "portals", "targets", "max_recv_data_segment_length", "max_burst_length",
					    "first_burst_length", "max_outstanding_r2t", "max_queue_depth",
					    "nop_interval", "nop_timeout", "login_timeout", "stall_timeout" };
	static const struct {
		const char *key;
		size_t off;
		uint32_t min, max;
		const char *what;
	} limits[] = {
		{ "max_recv_data_segment_length", offsetof(struct cfg_iscsi, max_recv_data_segment_length), 512, 16777215,
		  "(RFC 7143 MaxRecvDataSegmentLength, bytes)" },
		{ "max_burst_length", offsetof(struct cfg_iscsi, max_burst_length), 512, 16777215,
		  "(RFC 7143 MaxBurstLength, bytes)" },
		{ "first_burst_length", offsetof(struct cfg_iscsi, first_burst_length), 512, 16777215,
		  "(RFC 7143 FirstBurstLength, bytes)" },
		{ "max_outstanding_r2t", offsetof(struct cfg_iscsi, max_outstanding_r2t), 1, 65535,
		  "(RFC 7143 MaxOutstandingR2T)" },
		{ "max_queue_depth", offsetof(struct cfg_iscsi, max_queue_depth), 1, 4096, "(commands per session)" },
		{ "nop_interval", offsetof(struct cfg_iscsi, nop_interval_s), 1, 3600, "(seconds)" },
		{ "nop_timeout", offsetof(struct cfg_iscsi, nop_timeout_s), 1, 3600, "(seconds)" },
		{ "login_timeout", offsetof(struct cfg_iscsi, login_timeout_s), 1, 3600, "(seconds)" },
		{ "stall_timeout", offsetof(struct cfg_iscsi, stall_timeout_s), 1, 3600, "(seconds)" },
	};
	struct cfg_iscsi *is = &cfg->iscsi;
	json_t *targets;
	int rc;

	if ((rc = cfg_need_object(c, "iscsi", o)) || (rc = cfg_check_keys(c, "iscsi", o, keys, ARRAY_SIZE(keys))))
		return rc;
	is->enabled = true;
	if ((rc = parse_portals(c, is, o)))
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		uint64_t v = 0;
		if ((rc = cfg_get_uint(c, o, "iscsi", limits[i].key, NULL, limits[i].min, limits[i].max, limits[i].what, &v)))
			return rc;
		*(uint32_t *)(void *)((char *)is + limits[i].off) = (uint32_t)v;
	}
	/* RFC 7143 13.14: FirstBurstLength must not exceed MaxBurstLength (defaults 262144 / 1048576). */
	uint32_t fb = is->first_burst_length ? is->first_burst_length : 262144;
	uint32_t mb = is->max_burst_length ? is->max_burst_length : 1048576;
	if (fb > mb)
		return cfg_fail(c, "iscsi.first_burst_length",
			    "%u%s exceeds max_burst_length %u%s; FirstBurstLength may not exceed MaxBurstLength "
			    "(RFC 7143 13.14), lower first_burst_length", fb,
			    is->first_burst_length ? "" : " (the default)", mb, is->max_burst_length ? "" : " (the default)");

	if ((rc = cfg_get_array(c, o, "iscsi", "targets", "list the targets to export (an empty list exports none)",
			    &targets)))
		return rc;
	if (json_array_size(targets) == 0)
		return 0;
	is->targets = calloc(json_array_size(targets), sizeof(*is->targets));
	if (!is->targets)
		return cfg_fail_nomem(c);
	for (size_t i = 0; i < json_array_size(targets); i++) {
		char p[CFG_PATH_LEN];
		cfg_elem(p, "iscsi.targets", i);
		is->n_targets = (unsigned)i + 1;
		if ((rc = parse_target(c, cfg, p, json_array_get(targets, i), &is->targets[i])))
			return rc;
	}
	return 0;
}

/* ---- control ---- */

static int parse_control(struct cfg_pctx *c, struct softhba_config *cfg, json_t *o)
{
	static const char *const keys[] = { "socket" };
	int rc;

	if ((rc = cfg_need_object(c, "control", o)) || (rc = cfg_check_keys(c, "control", o, keys, ARRAY_SIZE(keys))))
		return rc;
	if ((rc = cfg_get_string(c, o, "control", "socket", NULL, CFG_SOCKET_PATH_MAX, &cfg->control_socket)))
		return rc;
	if (cfg->control_socket && cfg->control_socket[0] != '/')
		return cfg_fail(c, "control.socket", "\"%s\" is not an absolute path; write the full path, e.g. "
			    "\"/run/softhba/softhba.sock\"", cfg->control_socket);
	return 0;
}

/* ---- document ---- */

static int parse_root(struct cfg_pctx *c, struct softhba_config *cfg, json_t *root)
{
	static const char *const keys[] = { "reactors", "log", "volumes", "iscsi", "control", "spares" };
	int rc;

	if (!json_is_object(root))
		return cfg_fail(c, "", "the document must be a JSON object {...}, got %s", cfg_jtype(root));
	if ((rc = cfg_check_keys(c, "", root, keys, ARRAY_SIZE(keys))))
		return rc;
	uint64_t n = 0;
	if ((rc = cfg_get_uint(c, root, "", "reactors", NULL, 1, CFG_REACTORS_MAX, "(event-loop threads)", &n)))
		return rc;
	cfg->reactors = (unsigned)n;
	json_t *log = json_object_get(root, "log");
	if (log && (rc = parse_log(c, cfg, log)))
		return rc;
	if ((rc = parse_volumes(c, cfg, root)) || (rc = cfg_parse_global_spares(c, cfg, root)))
		return rc;
	json_t *ctl = json_object_get(root, "control");
	if (ctl && (rc = parse_control(c, cfg, ctl)))
		return rc;
	json_t *is = json_object_get(root, "iscsi");
	if (!is)
		return cfg_fail(c, "iscsi", "missing; without it nothing is served (see docs/configuration.md)");
	return parse_iscsi(c, cfg, is);
}

static int finish(struct cfg_pctx *c, json_t *root, struct softhba_config **out)
{
	struct softhba_config *cfg = config_new();
	if (!cfg) {
		json_decref(root);
		return cfg_fail_nomem(c);
	}
	int rc = parse_root(c, cfg, root);
	json_decref(root);
	if (rc) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

static int syntax_error(struct cfg_pctx *c, const json_error_t *je)
{
	if (json_error_code(je) == json_error_out_of_memory)
		return cfg_fail_nomem(c);
	if (je->line > 0)
		return cfg_fail(c, "", "line %d, column %d: %s", je->line, je->column, je->text);
	return cfg_fail(c, "", "%s", je->text);
}

int config_load_string(const char *text, struct softhba_config **out, char *err, size_t errlen)
{
	struct cfg_pctx c = { err, errlen };
	json_error_t je;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return syntax_error(&c, &je);
	return finish(&c, root, out);
}

int config_load_file(const char *path, struct softhba_config **out, char *err, size_t errlen)
{
	struct cfg_pctx c = { err, errlen };
	json_error_t je;
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		cfg_fail(&c, "", "cannot open: %s", strerror(e));
		return -e;
	}
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!root)
		return syntax_error(&c, &je);
	return finish(&c, root, out);
}

struct softhba_config *config_new(void)
{
	struct softhba_config *cfg = calloc(1, sizeof(*cfg));
	if (cfg)
		cfg->log_level = LOG_NOTICE;
	return cfg;
}

void config_free(struct softhba_config *cfg)
{
	if (!cfg)
		return;
	for (unsigned i = 0; i < cfg->n_volumes; i++) {
		free(cfg->volumes[i].name);
		free(cfg->volumes[i].path);
		cfg_raid_free(cfg->volumes[i].raid);
	}
	free(cfg->volumes);
	for (unsigned i = 0; i < cfg->iscsi.n_targets; i++) {
		struct cfg_target *t = &cfg->iscsi.targets[i];
		for (unsigned j = 0; j < t->n_luns; j++) {
			free(t->luns[j].vendor);
			free(t->luns[j].product);
			free(t->luns[j].revision);
			free(t->luns[j].serial);
		}
		free(t->luns);
		free(t->name);
		free(t->alias);
	}
	free(cfg->iscsi.targets);
	free(cfg->iscsi.portals);
	free(cfg->control_socket);
	cfg_global_spares_free(cfg);
	free(cfg);
}
