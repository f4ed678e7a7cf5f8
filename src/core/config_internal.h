/* config_internal.h - the configuration parser's shared helpers (one parse context, key-path errors), used by config.c and config_raid.c. */
#ifndef SOFTHBA_CORE_CONFIG_INTERNAL_H
#define SOFTHBA_CORE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"

/* One parse: where the single error message goes. */
struct cfg_pctx {
	char *err;
	size_t errlen;
};

#define CFG_PATH_LEN 192

/* Write "<path>: <message>" into the context; returns -EINVAL. */
int cfg_fail(struct cfg_pctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cfg_fail_nomem(struct cfg_pctx *c);
/* Key paths: dst (CFG_PATH_LEN bytes) = path.key / path[idx]. */
void cfg_child(char *dst, const char *path, const char *key);
void cfg_elem(char *dst, const char *path, size_t idx);
/* "an object", "a string", ... */
const char *cfg_jtype(const json_t *v);
/* Refuse keys not in known (with a "did you mean" hint). */
int cfg_check_keys(struct cfg_pctx *c, const char *path, json_t *obj, const char *const *known, size_t n);
int cfg_need_object(struct cfg_pctx *c, const char *path, json_t *v);
/* Typed getters: absent and optional (required NULL) leaves *out untouched;
 * required is the hint printed when the key is missing. */
int cfg_get_string(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		   size_t maxlen, char **out);
int cfg_get_bool(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, bool *out);
int cfg_get_uint(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		 uint64_t min, uint64_t max, const char *what, uint64_t *out);
int cfg_get_size(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		 uint64_t *out);
int cfg_get_array(struct cfg_pctx *c, json_t *obj, const char *path, const char *key, const char *required,
		  json_t **out);

/* config_raid.c: the keys of a raid volume and its parser (name and backend
 * already read into v). */
extern const char *const cfg_raid_volume_keys[];
extern const size_t cfg_raid_volume_nkeys;
int cfg_parse_raid(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_volume *v);
void cfg_raid_free(struct cfg_raid *r);
/* The top-level "spares" (global hot spares), after the volumes were read; and their release. */
int cfg_parse_global_spares(struct cfg_pctx *c, struct softhba_config *cfg, json_t *root);
void cfg_global_spares_free(struct softhba_config *cfg);
/* "throttle": {"bandwidth": SIZE, "latency_us": N} of a volume or a member (at path). */
int cfg_parse_throttle(struct cfg_pctx *c, const char *path, json_t *o, struct cfg_throttle *t);

#endif
