/* methods_raid.c - management methods about RAID volumes: raid.list, raid.get, raid.member.fail, volume.inject. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/blk.h"
#include "core/config.h"
#include "core/log.h"
#include "mgmt/methods_raid.h"

/* ---- shared helpers ---- */

static void volume_names(const struct mgmt_daemon *dm, bool raid_only, char *buf, size_t len, const char **names,
			 size_t *n, size_t max)
{
	size_t used = 0;
	buf[0] = '\0';
	*n = 0;
	for (unsigned i = 0; dm->cfg && i < dm->cfg->n_volumes; i++) {
		const struct cfg_volume *v = &dm->cfg->volumes[i];
		if (raid_only && v->backend != CFG_BACKEND_RAID)
			continue;
		if (*n < max)
			names[(*n)++] = v->name;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", v->name);
	}
}

struct raidvol *mraid_find(struct rpc_req *req, const char *name, bool running)
{
	const struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	char list[256];
	const char *names[64];
	size_t n;

	for (unsigned i = 0; dm && dm->cfg && i < dm->cfg->n_volumes; i++) {
		const struct cfg_volume *v = &dm->cfg->volumes[i];
		if (strcmp(v->name, name) != 0)
			continue;
		struct raidvol *rv = dm->raid ? dm->raid[i] : NULL;
		if (v->backend != CFG_BACKEND_RAID) {
			rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "volume \"%s\" is not a raid volume (its backend is "
					"%s); name a volume whose \"backend\" is \"raid\"", name,
					v->backend == CFG_BACKEND_FILE ? "file" : v->backend == CFG_BACKEND_MALLOC ? "malloc"
													 : "null");
			return NULL;
		}
		if (!rv || (running && !rv->array)) {
			rpc_reply_error(req, RPC_ERR_UNAVAILABLE, NULL, "the array of volume \"%s\" is not running (it is "
					"starting or stopping); retry in a moment", name);
			return NULL;
		}
		return rv;
	}
	if (!dm || !dm->cfg) {
		rpc_reply_error(req, RPC_ERR_UNAVAILABLE, NULL, "the daemon has no volumes yet; retry in a moment");
		return NULL;
	}
	volume_names(dm, true, list, sizeof(list), names, &n, RPC_ARRAY_LEN(names));
	const char *hint = config_suggest(name, names, n);
	if (n == 0)
		rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "no raid volume named \"%s\": this daemon has none (add "
				"a volume with \"backend\": \"raid\" to the configuration)", name);
	else if (hint)
		rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "no raid volume named \"%s\"; did you mean \"%s\"?", name,
				hint);
	else
		rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "no raid volume named \"%s\" (the raid volumes are: %s)",
				name, list);
	return NULL;
}

struct raidvol_dev *mraid_find_dev(struct rpc_req *req, struct raidvol *rv, const char *dev, bool role_set,
				   uint32_t role)
{
	struct raid_info in;
	char list[512];
	size_t used = 0;

	if (dev) {
		struct raidvol_dev *d = raidvol_find(rv, dev);
		if (!d)
			d = raidvol_global_find(dev);
		if (d)
			return d;
		list[0] = '\0';
		for (unsigned i = 0; i < rv->n_devs && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
						 rv->devs[i]->name);
		rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "volume \"%s\" has no device \"%s\"; its devices are: %s "
				"(or give a member's file path)", rv->v->name, dev, list);
		return NULL;
	}
	if (!role_set) {
		rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "say which member: give \"role\" (0..%u) or "
				"\"member\" (a device name such as \"%s.m0\", or its path)",
				rv->v->raid->n_members - 1, rv->v->name);
		return NULL;
	}
	if (!rv->array || raid_get_info(rv->array, &in) != 0) {
		rpc_reply_error(req, RPC_ERR_UNAVAILABLE, NULL, "the array of volume \"%s\" is not running; name the "
				"device with \"member\" instead of \"role\"", rv->v->name);
		return NULL;
	}
	if (role >= in.nmembers) {
		rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "role %u does not exist: array \"%s\" has roles 0..%u",
				role, rv->v->name, in.nmembers - 1);
		return NULL;
	}
	for (unsigned i = 0; i < rv->n_devs; i++)
		if (in.members[role].name[0] && strcmp(rv->devs[i]->name, in.members[role].name) == 0)
			return rv->devs[i];
	struct raidvol_dev *g = in.members[role].name[0] ? raidvol_global_find(in.members[role].name) : NULL;
	if (g)
		return g;
	rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "role %u of array \"%s\" has no device (it is missing); name a "
			"device with \"member\"", role, rv->v->name);
	return NULL;
}

static const char *origin_name(enum raidvol_origin o)
{
	return o == RAIDVOL_MEMBER ? "member" : o == RAIDVOL_SPARE ? "spare" : o == RAIDVOL_GLOBAL ? "global" : "added";
}

static json_t *faults_json(const struct raidvol_dev *d)
{
	if (!d->wrap)
		return json_null();
	const struct cfg_inject *f = &d->faults;
	json_t *o = json_pack("{s:s}", "mode", config_inject_mode_name(f->mode));
	if (!o)
		return NULL;
	if (f->mode == CFG_INJECT_FAIL_READS || f->mode == CFG_INJECT_FAIL_WRITES || f->mode == CFG_INJECT_FAIL_ALL) {
		json_object_set_new(o, "lba", json_integer((json_int_t)f->lba));
		json_object_set_new(o, "count", json_integer((json_int_t)f->count));
		if (f->after)
			json_object_set_new(o, "after", json_integer((json_int_t)f->after));
	}
	if (f->mode == CFG_INJECT_DELAY)
		json_object_set_new(o, "delay_us", json_integer((json_int_t)f->delay_us));
	struct blk_error_stats st;
	if (blk_error_get_stats(d->wrap, &st) == 0) {
		json_object_set_new(o, "requests", json_integer((json_int_t)st.requests));
		json_object_set_new(o, "failed", json_integer((json_int_t)st.failed));
	}
	return o;
}

json_t *mraid_dev_json(struct raidvol *rv, const struct raidvol_dev *d, const struct raid_info *in)
{
	(void)rv;
	int role = -1;
	const char *state = "unused";
	for (unsigned r = 0; in && r < in->nmembers; r++) {
		if (strcmp(in->members[r].name, d->name) == 0) {
			role = (int)r;
			state = raid_member_state_name(in->members[r].state);
		}
	}
	if (role < 0 && d->refused[0])
		state = "refused";
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "name", d->name, "origin", origin_name(d->origin), "backend",
			      d->backend == CFG_BACKEND_FILE ? "file" : "malloc", "size",
			      (json_int_t)(d->base->info.num_blocks * d->base->info.block_size));
	if (!o)
		return NULL;
	json_object_set_new(o, "role", role >= 0 ? json_integer(role) : json_null());
	json_object_set_new(o, "state", json_string(state));
	if (d->path)
		json_object_set_new(o, "path", json_string(d->path));
	if (d->refused[0] && role < 0) /* a device that has a role since (rebuilt onto) is no longer refused */
		json_object_set_new(o, "refused", json_string(d->refused));
	if (d->note[0])
		json_object_set_new(o, "note", json_string(d->note));
	json_object_set_new(o, "inject", faults_json(d));
	return o;
}

static void uuid_str(const uint8_t *u, char *out)
{
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", u[i]);
}

static json_t *summary_json(struct raidvol *rv, const struct raid_info *in)
{
	char uuid[33];
	unsigned failed = 0;
	for (unsigned r = 0; r < in->nmembers; r++)
		failed += in->members[r].state != RAID_MEMBER_ACTIVE;
	uuid_str(in->uuid, uuid);
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:I, s:i, s:i, s:i, s:I, s:b, s:I, s:i}", "name", rv->v->name, "uuid",
			      uuid, "level", (int)in->level, "state", raid_array_state_name(in->state), "size",
			      (json_int_t)(in->num_blocks * in->block_size), "block_size", (int)in->block_size,
			      "members", (int)in->nmembers, "failed", (int)failed, "events", (json_int_t)in->events,
			      "dirty", in->dirty, "chunk_kib", (json_int_t)in->chunk_kib, "spares", (int)in->nspares);
	if (o)
		json_object_set_new(o, "sync", mraid_sync_json(in));
	return o;
}

static json_t *state_json(struct raidvol *rv)
{
	struct raid_info in;
	json_t *o;

	if (!rv->array || raid_get_info(rv->array, &in) != 0) {
		o = json_pack("{s:s, s:s, s:i}", "name", rv->v->name, "state", "stopped", "level", (int)rv->v->raid->level);
	} else {
		o = summary_json(rv, &in);
		json_t *roles = json_array();
		for (unsigned r = 0; o && roles && r < in.nmembers; r++) {
			const struct raid_member_info *m = &in.members[r];
			json_t *mo = json_pack("{s:i, s:s, s:s?}", "role", (int)r, "state", raid_member_state_name(m->state),
					       "device", m->name[0] ? m->name : NULL);
			if (mo && m->rebuilding)
				json_object_set_new(mo, "rebuilding", json_true());
			if (mo && m->replacing_with[0])
				json_object_set_new(mo, "replacing_with", json_string(m->replacing_with));
			json_array_append_new(roles, mo);
		}
		if (o)
			json_object_set_new(o, "roles", roles ? roles : json_null());
		else
			json_decref(roles);
		if (o) {
			json_object_set_new(o, "journal", json_boolean(in.journal));
			json_object_set_new(o, "bitmap_region_kib", json_integer((json_int_t)in.bitmap_region_kib));
			json_object_set_new(o, "bitmap_dirty", json_integer((json_int_t)in.bitmap_dirty));
			json_t *mm = json_array();
			for (unsigned i = 0; mm && i < in.nmismatch_log; i++)
				json_array_append_new(mm, json_pack("{s:I, s:i, s:I}", "array_lba",
								    (json_int_t)in.mismatch[i].array_lba, "member",
								    (int)in.mismatch[i].member, "member_lba",
								    (json_int_t)in.mismatch[i].member_lba));
			json_object_set_new(o, "scrub", json_pack("{s:I, s:o}", "mismatches",
								   (json_int_t)in.scrub_mismatches, "locations",
								   mm ? mm : json_array()));
		}
	}
	if (!o)
		return NULL;
	json_t *devs = json_array();
	for (unsigned i = 0; devs && i < rv->n_devs; i++)
		json_array_append_new(devs, mraid_dev_json(rv, rv->devs[i], rv->array ? &in : NULL));
	/* global spares the engine gave this array (a role, or a spare of its own) */
	struct raidvol_dev *g;
	for (unsigned i = 0; devs && rv->array && (g = raidvol_global_dev(i)) != NULL; i++) {
		bool here = false;
		for (unsigned r = 0; r < in.nmembers; r++)
			here |= strcmp(in.members[r].name, g->name) == 0;
		if (here)
			json_array_append_new(devs, mraid_dev_json(rv, g, &in));
	}
	json_object_set_new(o, "devices", devs ? devs : json_null());
	json_object_set_new(o, "created", json_boolean(rv->created));
	json_object_set_new(o, "start", json_string(rv->start_msg));
	return o;
}

void mraid_reply_state(struct rpc_req *req, struct raidvol *rv)
{
	json_t *o = state_json(rv);
	if (!o)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, o);
}

int mraid_member_param(struct rpc_req *req, json_t *obj, const char *pname, struct cfg_member *out)
{
	char err[400];
	char *text = json_dumps(obj, JSON_COMPACT);
	if (!text) {
		rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
		return -ENOMEM;
	}
	int rc = config_parse_member(text, pname, out, err, sizeof(err));
	free(text);
	if (rc)
		rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "%s (a member is written as in the configuration, "
				"e.g. {\"backend\": \"file\", \"path\": \"/srv/d4.img\", \"size\": \"1GiB\"})", err);
	return rc;
}

/* An optional role: the table decoder zeroes absent fields, so 0 needs a flag. */
int mraid_decode_role(json_t *v, void *field, char *why, size_t whylen)
{
	struct mraid_role *r = field;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= CFG_RAID_MAX_MEMBERS) {
		snprintf(why, whylen, "must be a member's role, an integer from 0 to %u, not %s", CFG_RAID_MAX_MEMBERS - 1,
			 json_is_integer(v) ? "that number" : rpc_json_type_name(v));
		return -EINVAL;
	}
	r->set = true;
	r->role = (uint32_t)json_integer_value(v);
	return 0;
}

/* ---- raid.list ---- */

static void raid_list(struct rpc_req *req, void *params)
{
	(void)params;
	const struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	json_t *arr = json_array();

	for (unsigned i = 0; arr && dm && dm->cfg && i < dm->cfg->n_volumes; i++) {
		struct raidvol *rv = dm->raid ? dm->raid[i] : NULL;
		if (dm->cfg->volumes[i].backend != CFG_BACKEND_RAID)
			continue;
		struct raid_info in;
		json_t *o;
		if (rv && rv->array && raid_get_info(rv->array, &in) == 0)
			o = summary_json(rv, &in);
		else
			o = json_pack("{s:s, s:s, s:i}", "name", dm->cfg->volumes[i].name, "state", "stopped", "level",
				      (int)dm->cfg->volumes[i].raid->level);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, arr);
}

RPC_METHOD_NOPARAMS(raid_list, "raid.list", raid_list, "Every RAID volume: level, state, members, background job.",
		    "array of {name, uuid, level, state (optimal|degraded|offline|stopped), size, block_size, "
		    "members, failed, events, dirty, chunk_kib, spares, sync: {kind, percent, ...} | null}");

/* ---- raid.get ---- */

struct name_params {
	const char *name;
};

static const struct rpc_param name_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct name_params, name),
	  .help = "the raid volume's name" },
};

static void raid_get(struct rpc_req *req, void *params)
{
	struct name_params *p = params;
	struct raidvol *rv = mraid_find(req, p->name, false);
	if (rv)
		mraid_reply_state(req, rv);
}

RPC_METHOD(raid_get, "raid.get", raid_get, struct name_params, name_params,
	   "One RAID volume in full: roles and their state, every device (members, spares, refused ones and why), "
	   "background job progress, scrub results, fault injection.",
	   "{name, uuid, level, state, size, block_size, members, failed, events, dirty, chunk_kib, spares, sync, "
	   "roles: [{role, state, device, rebuilding?, replacing_with?}], journal, bitmap_region_kib, bitmap_dirty, "
	   "scrub: {mismatches, locations: [{array_lba, member, member_lba}]}, devices: [{name, origin "
	   "(member|spare|added), backend, size, role, state (active|failed|missing|refused|unused), path?, "
	   "refused?, note?, inject}], created, start}");

/* ---- raid.member.fail ---- */

struct member_params {
	const char *name;
	struct mraid_role role;
	const char *member;
};

static const struct rpc_param member_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct member_params, name),
	  .help = "the raid volume's name" },
	{ .name = "role", .type = RPC_T_CUSTOM, .type_name = "an integer", .decode = mraid_decode_role,
	  .offset = offsetof(struct member_params, role), .help = "the member's role (position) in the array" },
	{ .name = "member", .type = RPC_T_STRING, .offset = offsetof(struct member_params, member),
	  .help = "instead of role: the member's device name (\"r5.m1\") or file path" },
};

static void member_fail(struct rpc_req *req, void *params)
{
	struct member_params *p = params;
	const struct rpc_ctx *ctx = rpc_req_ctx(req);
	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	struct raidvol_dev *d = mraid_find_dev(req, rv, p->member, p->role.set, p->role.role);
	if (!d)
		return;
	struct raid_info in;
	int role = -1;
	raid_get_info(rv->array, &in);
	for (unsigned r = 0; r < in.nmembers; r++)
		if (strcmp(in.members[r].name, d->name) == 0)
			role = (int)r;
	if (role < 0)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "device %s holds no role in array \"%s\" (it is a %s); "
				       "fail one of the devices listed under \"roles\" by 'softhba raid show %s'", d->name,
				       p->name, d->refused[0] ? "refused device" : origin_name(d->origin), p->name);
	int rc = raid_fail_member(rv->array, (unsigned)role);
	if (rc == -EALREADY)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "member %d (%s) of \"%s\" has already failed", role,
				       d->name, p->name);
	if (rc)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot fail member %d of \"%s\": %s", role, p->name,
				       strerror(-rc));
	log_notice(LOGC_MGMT, p->name, "member %d (%s) failed by uid %u pid %d", role, d->name, (unsigned)ctx->uid,
		   (int)ctx->pid);
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_member_fail, "raid.member.fail", member_fail, struct member_params, member_params,
	   "Mark a member failed, as an I/O error would (the array runs degraded, or goes offline when the level "
	   "cannot survive it; a spare takes over if there is one).",
	   "the array's state, as raid.get");

/* ---- volume.inject ---- */

struct inject_params {
	const char *volume;
	const char *member;
	struct mraid_role role;
	const char *mode;
	json_t *lba, *count, *delay_us, *after;
};

static const struct rpc_param inject_params[] = {
	{ .name = "volume", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct inject_params, volume),
	  .help = "the raid volume's name" },
	{ .name = "member", .type = RPC_T_STRING, .offset = offsetof(struct inject_params, member),
	  .help = "the device: its name (\"r5.m1\", \"r5.s0\") or file path" },
	{ .name = "role", .type = RPC_T_CUSTOM, .type_name = "an integer", .decode = mraid_decode_role,
	  .offset = offsetof(struct inject_params, role), .help = "instead of member: the device holding this role" },
	{ .name = "mode", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct inject_params, mode),
	  .help = "none (or clear), fail-reads, fail-writes, fail-all, disappear or delay" },
	{ .name = "lba", .type = RPC_T_ANY, .offset = offsetof(struct inject_params, lba),
	  .help = "fail-*: first member block of the failing range (default 0)" },
	{ .name = "count", .type = RPC_T_ANY, .offset = offsetof(struct inject_params, count),
	  .help = "fail-*: blocks in the range (default 0 = to the end)" },
	{ .name = "delay_us", .type = RPC_T_ANY, .offset = offsetof(struct inject_params, delay_us),
	  .help = "delay: microseconds added to every request" },
	{ .name = "after", .type = RPC_T_ANY, .offset = offsetof(struct inject_params, after),
	  .help = "fail-all: the after-th request from now and every later one fail (instead of a range)" },
};

static void volume_inject(struct rpc_req *req, void *params)
{
	struct inject_params *p = params;
	const struct rpc_ctx *ctx = rpc_req_ctx(req);
	char err[400];
	struct cfg_inject f;

	struct raidvol *rv = mraid_find(req, p->volume, false);
	if (!rv)
		return;
	struct raidvol_dev *d = mraid_find_dev(req, rv, p->member, p->role.set, p->role.role);
	if (!d)
		return;
	json_t *fo = json_pack("{s:s}", "mode", p->mode);
	if (fo && p->lba)
		json_object_set(fo, "lba", p->lba);
	if (fo && p->count)
		json_object_set(fo, "count", p->count);
	if (fo && p->delay_us)
		json_object_set(fo, "delay_us", p->delay_us);
	if (fo && p->after)
		json_object_set(fo, "after", p->after);
	char *text = fo ? json_dumps(fo, JSON_COMPACT) : NULL;
	json_decref(fo);
	if (!text)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	int rc = config_parse_inject(text, "params", &f, err, sizeof(err));
	free(text);
	if (rc)
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "%s", err);
	rc = raidvol_inject(d, &f, err, sizeof(err));
	if (rc)
		return rpc_reply_error(req, rc == -EOPNOTSUPP ? RPC_ERR_UNAVAILABLE : RPC_ERR_FAILED, NULL, "%s", err);
	log_notice(LOGC_MGMT, p->volume, "fault %s injected on %s by uid %u pid %d", config_inject_mode_name(f.mode),
		   d->name, (unsigned)ctx->uid, (int)ctx->pid);
	json_t *o = mraid_dev_json(rv, d, NULL);
	if (!o)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	json_object_del(o, "role");
	json_object_del(o, "state");
	rpc_reply(req, o);
}

RPC_METHOD(volume_inject, "volume.inject", volume_inject, struct inject_params, inject_params,
	   "Inject a fault into a RAID member or spare that has an \"inject\" wrapper in the configuration "
	   "(fail reads/writes in a block range, fail everything from the N-th request, delay, disappear), or "
	   "clear it (mode none).",
	   "the device: {name, origin, backend, size, path?, inject: {mode, lba, count, after?, delay_us?, requests, "
	   "failed}}");
