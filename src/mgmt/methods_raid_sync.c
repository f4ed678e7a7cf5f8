/* methods_raid_sync.c - management methods that start RAID background work: spares, re-add, remove, replace, scrub, rebuild rate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/blk.h"
#include "core/config.h"
#include "core/log.h"
#include "mgmt/methods_raid.h"

json_t *mraid_sync_json(const struct raid_info *in)
{
	const struct raid_sync_info *s = &in->sync;
	json_t *o = json_pack("{s:s, s:I}", "kind", raid_sync_kind_name(s->kind), "rate_limit_bps",
			      (json_int_t)s->rate_limit_bps);
	if (!o)
		return NULL;
	if (s->kind != RAID_SYNC_NONE) {
		json_t *t = json_array();
		for (unsigned r = 0; t && r < in->nmembers; r++)
			if (s->targets & (1u << r))
				json_array_append_new(t, json_integer(r));
		json_object_set_new(o, "targets", t ? t : json_null());
		json_object_set_new(o, "percent", json_integer(s->percent));
		json_object_set_new(o, "done_blocks", json_integer((json_int_t)s->done_blocks));
		json_object_set_new(o, "total_blocks", json_integer((json_int_t)s->total_blocks));
		json_object_set_new(o, "rate_bps", json_integer((json_int_t)s->rate_bps));
		json_object_set_new(o, "eta_s", json_integer((json_int_t)s->eta_s));
	}
	if (s->last_kind != RAID_SYNC_NONE) {
		json_object_set_new(o, "last", json_pack("{s:s, s:s}", "kind", raid_sync_kind_name(s->last_kind), "status",
							 s->last_status == 0 ? "done"
							 : s->last_status == -ECANCELED ? "stopped"
							 : strerror(-s->last_status)));
	}
	return o;
}

static void log_call(struct rpc_req *req, const char *vol, const char *what, const char *dev)
{
	const struct rpc_ctx *ctx = rpc_req_ctx(req);
	log_notice(LOGC_MGMT, vol, "%s%s%s by uid %u pid %d", what, dev ? " " : "", dev ? dev : "", (unsigned)ctx->uid,
		   (int)ctx->pid);
}

static const char *busy_hint(struct raidvol *rv)
{
	struct raid_info in;
	static char buf[160];
	if (raid_get_info(rv->array, &in) == 0 && in.sync.kind != RAID_SYNC_NONE)
		snprintf(buf, sizeof(buf), "a %s runs (%u%%); wait for it (or stop a scrub with raid.scrub.stop)",
			 raid_sync_kind_name(in.sync.kind), in.sync.percent);
	else
		snprintf(buf, sizeof(buf), "another rebuild, replace or scrub runs; wait for it");
	return buf;
}

/* ---- raid.spare.add ---- */

struct spare_params {
	const char *name;
	json_t *member;
};

static const struct rpc_param spare_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .offset = offsetof(struct spare_params, name),
	  .help = "the raid volume's name; without it the spare is global (any array may take it)" },
	{ .name = "member", .type = RPC_T_OBJECT, .required = true, .offset = offsetof(struct spare_params, member),
	  .help = "the new device, as a member in the configuration: {\"backend\": \"file\", \"path\": ..., "
		  "\"size\": ..., \"inject\"?: {}}" },
};

/* Where a global spare is: {name, path?, size, note?, array, role} (array/role null while it waits). */
static json_t *global_json(const struct mgmt_daemon *dm, const struct raidvol_dev *d)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "name", d->name, "backend", d->backend == CFG_BACKEND_FILE ? "file"
			      : "malloc", "size", (json_int_t)(d->base->info.num_blocks * d->base->info.block_size));
	if (!o)
		return NULL;
	if (d->path)
		json_object_set_new(o, "path", json_string(d->path));
	if (d->note[0])
		json_object_set_new(o, "note", json_string(d->note));
	const char *array = NULL;
	int role = -1;
	for (unsigned v = 0; dm->cfg && dm->raid && v < dm->cfg->n_volumes && !array; v++) {
		struct raid_info in;
		if (!dm->raid[v] || !dm->raid[v]->array || raid_get_info(dm->raid[v]->array, &in) != 0)
			continue;
		for (unsigned r = 0; r < in.nmembers; r++)
			if (strcmp(in.members[r].name, d->name) == 0) {
				array = dm->raid[v]->v->name;
				role = (int)r;
			}
	}
	json_object_set_new(o, "array", array ? json_string(array) : json_null());
	json_object_set_new(o, "role", role >= 0 ? json_integer(role) : json_null());
	json_object_set_new(o, "inject", d->wrap ? json_pack("{s:s}", "mode", config_inject_mode_name(d->faults.mode))
						  : json_null());
	return o;
}

static json_t *global_list_json(const struct mgmt_daemon *dm)
{
	json_t *arr = json_array();
	struct raidvol_dev *d;
	for (unsigned i = 0; arr && (d = raidvol_global_dev(i)) != NULL; i++) {
		json_t *o = global_json(dm, d);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static void global_spare_add(struct rpc_req *req, json_t *member)
{
	const struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	char err[400];
	struct cfg_member m;
	struct raidvol_dev *d;
	struct raidvol *to;

	if (!dm || !dm->cfg || !dm->raid)
		return rpc_reply_error(req, RPC_ERR_UNAVAILABLE, NULL, "the daemon has no volumes yet; retry in a moment");
	if (mraid_member_param(req, member, "params.member", &m))
		return;
	int rc = raidvol_global_add(&m, dm->raid, dm->cfg->n_volumes, &d, &to, err, sizeof(err));
	config_member_free(&m);
	if (rc)
		return rpc_reply_error(req, rc == -EEXIST ? RPC_ERR_INVALID_PARAMS : RPC_ERR_FAILED, NULL, "%s", err);
	log_call(req, to ? to->v->name : NULL, "global spare added:", d->name);
	json_t *o = json_pack("{s:o?, s:s?, s:I, s:o?}", "device", global_json(dm, d), "given_to",
			      to ? to->v->name : NULL, "pool", (json_int_t)raid_global_spares(), "global_spares",
			      global_list_json(dm));
	if (!o)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, o);
}

static void spare_add(struct rpc_req *req, void *params)
{
	struct spare_params *p = params;
	char err[400];
	struct cfg_member m;
	struct raidvol_dev *d;

	if (!p->name)
		return global_spare_add(req, p->member);
	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv || mraid_member_param(req, p->member, "params.member", &m))
		return;
	int rc = raidvol_add_dev(rv, &m, &d, err, sizeof(err));
	config_member_free(&m);
	if (rc)
		return rpc_reply_error(req, rc == -EEXIST || rc == -EINVAL ? RPC_ERR_INVALID_PARAMS : RPC_ERR_FAILED,
				       NULL, "%s", err);
	rc = raid_add_spare(rv->array, d->dev);
	if (rc) {
		raidvol_drop_last(rv);
		if (rc == -ENOSPC)
			return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" has as many spares as it can hold; "
					       "use one (or replace a member) first", p->name);
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" refused the spare: %s (a spare must be at "
				       "least as large as a member, with the same block size)", p->name, strerror(-rc));
	}
	snprintf(d->note, sizeof(d->note), "added as a spare at run time");
	log_call(req, p->name, "spare added:", d->name);
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_spare_add, "raid.spare.add", spare_add, struct spare_params, spare_params,
	   "Open a new device and give it to the array as a hot spare: it takes over (and is rebuilt) when a "
	   "member fails, at once if one has failed already. Without a name the spare is global: a degraded "
	   "array without a spare takes it at once, else it waits for any array to lose a member.",
	   "the array's state, as raid.get; global: {device: {name, backend, size, path?, note?, array, role, "
	   "inject}, given_to (the array that took it at once, or null), pool (spares waiting in the global "
	   "pool), global_spares: [device, ...]}");

/* ---- raid.spare.list ---- */

static void spare_list(struct rpc_req *req, void *params)
{
	(void)params;
	const struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	json_t *arr = dm ? global_list_json(dm) : json_array();
	json_t *o = arr ? json_pack("{s:o, s:I}", "global_spares", arr, "pool", (json_int_t)raid_global_spares()) : NULL;
	if (!o)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, o);
}

RPC_METHOD_NOPARAMS(raid_spare_list, "raid.spare.list", spare_list,
		    "The global hot spares (top-level \"spares\", raid.spare.add without a name) and where each one "
		    "is: waiting, or holding a role of an array.",
		    "{global_spares: [{name, backend, size, path?, note?, array, role, inject}], pool (spares waiting "
		    "in the engine's global pool)}");

/* ---- raid.member.add (re-add) ---- */

struct readd_params {
	const char *name;
	const char *member;
	struct mraid_role role;
	bool full;
};

static const struct rpc_param readd_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct readd_params, name),
	  .help = "the raid volume's name" },
	{ .name = "member", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct readd_params, member),
	  .help = "a device of this volume that left the array (failed, refused at start) or an unused one: its name "
		  "or path" },
	{ .name = "role", .type = RPC_T_CUSTOM, .type_name = "an integer", .decode = mraid_decode_role,
	  .offset = offsetof(struct readd_params, role),
	  .help = "the failed or missing role it takes (default: the first one)" },
	{ .name = "full", .type = RPC_T_BOOL, .offset = offsetof(struct readd_params, full),
	  .help = "a failed member: rebuild all of it instead of only the regions written while it was away "
		  "(when its content cannot be trusted)" },
};

/* The same device takes its role back (raid_readd_member): the writes it
 * missed are all in write-intent bitmap regions, so only those are rebuilt.
 * Returns true when the request was answered; false (nothing done) when the
 * array cannot do that (no bitmap): the caller rebuilds the member whole. */
static bool readd_partial(struct rpc_req *req, struct raidvol *rv, struct raidvol_dev *d, unsigned role)
{
	struct raid_info in;
	bool offline = raid_get_info(rv->array, &in) == 0 && in.state == RAID_ARRAY_OFFLINE;
	int rc = raid_readd_member(rv->array, role);
	if (rc == -EINVAL)
		return false;
	if (rc == -ESTALE) {
		rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" is offline and %s cannot bring it back: its "
				"data is not current (array writes were started after it failed, or were in flight "
				"when it failed), and the array has too few members to rebuild it; bring back the "
				"members that failed last", rv->v->name, d->name);
		return true;
	}
	if (rc == 0 && offline) {
		raid_get_info(rv->array, &in);
		snprintf(d->note, sizeof(d->note), "failed while nothing was written, back as role %u with its data "
			 "(array %s)", role, raid_array_state_name(in.state));
		log_call(req, rv->v->name, "member back in an offline array:", d->name);
		mraid_reply_state(req, rv);
		return true;
	}
	if (rc == -EBUSY && raid_get_info(rv->array, &in) == 0 && in.sync.kind == RAID_SYNC_NONE)
		rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot re-add %s now: its failure is still being recorded "
				"in the other members' superblocks (or a scrub is stopping); retry in a moment", d->name);
	else if (rc == -EBUSY)
		rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot re-add %s now: %s", d->name, busy_hint(rv));
	else if (rc)
		rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" refused %s back as role %u: %s", rv->v->name,
				d->name, role, strerror(-rc));
	if (rc)
		return true;
	snprintf(d->note, sizeof(d->note), "failed, re-added as role %u: only the regions written while it was "
		 "away resync", role);
	log_call(req, rv->v->name, "failed member re-added (bitmap resync):", d->name);
	mraid_reply_state(req, rv);
	return true;
}

/* The device failed in its role and is still the array's record of it, and
 * its content is not to be trusted (full) or the array has no bitmap: a
 * fresh wrapper over the same storage takes the role as a new device, and
 * is rebuilt whole. */
static void readd_failed(struct rpc_req *req, struct raidvol *rv, struct raidvol_dev *d, unsigned role, bool full)
{
	struct raid_info in;
	bool offline = raid_get_info(rv->array, &in) == 0 && in.state == RAID_ARRAY_OFFLINE;
	if ((!full || offline) && readd_partial(req, rv, d, role))
		return;
	struct blk_dev *fresh;
	int rc = raidvol_fresh_dev(d, &fresh);
	if (rc == -ENOSPC)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "%s was re-added too often in this run; restart the "
				       "daemon or give the array a new device (raid.spare.add)", d->name);
	if (rc)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "cannot re-add %s: %s", d->name, strerror(-rc));
	rc = raid_replace_member(rv->array, role, fresh);
	if (rc) {
		blk_destroy(fresh);
		if (rc == -EBUSY)
			return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot re-add %s now: %s", d->name,
					       busy_hint(rv));
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" refused %s back as role %u: %s",
				       rv->v->name, d->name, role, strerror(-rc));
	}
	raidvol_adopt_fresh(d, fresh);
	snprintf(d->note, sizeof(d->note), "failed, re-added as role %u: rebuilt whole", role);
	log_call(req, rv->v->name, "failed member re-added:", d->name);
	mraid_reply_state(req, rv);
}

static void member_add(struct rpc_req *req, void *params)
{
	struct readd_params *p = params;
	struct raid_info in;
	int role = -1;

	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	struct raidvol_dev *d = mraid_find_dev(req, rv, p->member, false, 0);
	if (!d)
		return;
	raid_get_info(rv->array, &in);
	for (unsigned r = 0; r < in.nmembers; r++) {
		if (strcmp(in.members[r].name, d->name) != 0)
			continue;
		if (in.members[r].state == RAID_MEMBER_ACTIVE)
			return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "%s is already active as role %u of \"%s\"",
					       d->name, r, p->name);
		if (p->role.set && p->role.role != r)
			return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "%s failed as role %u; it can only come "
					       "back as role %u", d->name, r, r);
		return readd_failed(req, rv, d, r, p->full);
	}
	if (in.state == RAID_ARRAY_OFFLINE)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" is offline: nothing can be rebuilt onto "
				       "%s; add back the members that failed (once their fault is gone) to bring it online",
				       p->name, d->name);
	if (p->role.set) {
		if (p->role.role >= in.nmembers || in.members[p->role.role].state == RAID_MEMBER_ACTIVE)
			return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "role %u of \"%s\" is %s; name a "
					       "failed or missing role", p->role.role, p->name,
					       p->role.role >= in.nmembers ? "out of range" : "active");
		role = (int)p->role.role;
	}
	for (unsigned r = 0; r < in.nmembers && role < 0; r++)
		if (in.members[r].state != RAID_MEMBER_ACTIVE)
			role = (int)r;
	if (role < 0)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" has no failed or missing role to take %s; "
				       "make it a spare with raid.spare.add instead", p->name, d->name);
	int rc = raid_replace_member(rv->array, (unsigned)role, d->dev);
	if (rc == -EBUSY)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot re-add %s now: %s", d->name, busy_hint(rv));
	if (rc)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" refused %s for role %d: %s (it must be "
				       "unused, not a spare, as large as a member, with the same block size)", p->name,
				       d->name, role, strerror(-rc));
	snprintf(d->note, sizeof(d->note), "re-added as role %d (was refused: %.80s)", role,
		 d->refused[0] ? d->refused : "-");
	d->refused[0] = '\0';
	log_call(req, p->name, "device re-added:", d->name);
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_member_add, "raid.member.add", member_add, struct readd_params, readd_params,
	   "Give a device back to the array: one that failed (after its fault was cleared, say) takes its role "
	   "again and only the regions written while it was away are resynchronised (the whole member with "
	   "full, or without a write-intent bitmap); one refused at start (stale) or unused takes a failed or "
	   "missing role and is rebuilt from the other members.",
	   "the array's state, as raid.get");

/* ---- raid.member.remove ---- */

struct remove_params {
	const char *name;
	struct mraid_role role;
	const char *member;
};

static const struct rpc_param remove_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct remove_params, name),
	  .help = "the raid volume's name" },
	{ .name = "role", .type = RPC_T_CUSTOM, .type_name = "an integer", .decode = mraid_decode_role,
	  .offset = offsetof(struct remove_params, role), .help = "the failed member's role (position) in the array" },
	{ .name = "member", .type = RPC_T_STRING, .offset = offsetof(struct remove_params, member),
	  .help = "instead of role: the device's name (\"r5.m1\") or file path" },
};

struct remove_ctx {
	struct rpc_req *req;
	struct raidvol *rv;
	struct raidvol_dev *d;
	unsigned role;
};

/* Close the device and forget it (it is in rv->devs; global devices stay open). */
static void forget_dev(struct raidvol *rv, struct raidvol_dev *d)
{
	for (unsigned i = 0; i < rv->n_devs; i++) {
		if (rv->devs[i] != d)
			continue;
		memmove(&rv->devs[i], &rv->devs[i + 1], (rv->n_devs - i - 1) * sizeof(rv->devs[0]));
		rv->n_devs--;
		raidvol_dev_free(d);
		return;
	}
}

static void member_removed(void *arg, int status, struct blk_dev *dev)
{
	(void)dev;
	struct remove_ctx *c = arg;
	if (status)
		rpc_reply_error(c->req, RPC_ERR_FAILED, NULL, "removing %s: %s", c->d->name, strerror(-status));
	else {
		log_call(c->req, c->rv->v->name, "failed member removed:", c->d->name);
		forget_dev(c->rv, c->d);
		mraid_reply_state(c->req, c->rv);
	}
	free(c);
}

static void member_remove(struct rpc_req *req, void *params)
{
	struct remove_params *p = params;
	struct raid_info in;
	int role = -1;

	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	struct raidvol_dev *d = mraid_find_dev(req, rv, p->member, p->role.set, p->role.role);
	if (!d)
		return;
	raid_get_info(rv->array, &in);
	for (unsigned r = 0; r < in.nmembers; r++)
		if (strcmp(in.members[r].name, d->name) == 0)
			role = (int)r;
	if (role < 0 && d->refused[0]) { /* refused at start (missing from the array): just close it */
		log_call(req, p->name, "refused device removed:", d->name);
		forget_dev(rv, d);
		return mraid_reply_state(req, rv);
	}
	if (role < 0)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "%s holds no role in array \"%s\"; only a failed member "
				       "(or a device refused at start) can be removed", d->name, p->name);
	if (in.members[role].state == RAID_MEMBER_ACTIVE)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "member %d (%s) of \"%s\" is active: fail it first "
				       "(raid.member.fail), or use raid.member.replace to move its role to another "
				       "device without losing redundancy", role, d->name, p->name);
	struct remove_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory");
	*c = (struct remove_ctx){ .req = req, .rv = rv, .d = d, .role = (unsigned)role };
	int rc = raid_remove_member(rv->array, (unsigned)role, member_removed, c);
	if (rc == 0)
		return;
	free(c);
	if (rc == -EAGAIN)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot remove %s now: its failure is still being "
				       "recorded, or it is being rebuilt or replaced (%s)", d->name, busy_hint(rv));
	rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot remove member %d (%s) of \"%s\": %s", role, d->name,
			p->name, strerror(-rc));
}

RPC_METHOD(raid_member_remove, "raid.member.remove", member_remove, struct remove_params, remove_params,
	   "Take a failed member out of its role so its device can be taken away (the device is closed once "
	   "its last I/O has answered): the role stays missing, and the array degraded, until a spare or "
	   "raid.member.add fills it. An active member is refused: fail it first, or use raid.member.replace. "
	   "A device refused at start is just closed.",
	   "the array's state, as raid.get");

/* ---- raid.member.replace ---- */

struct replace_params {
	const char *name;
	struct mraid_role role;
	const char *member;
	json_t *with;
};

static const struct rpc_param replace_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct replace_params, name),
	  .help = "the raid volume's name" },
	{ .name = "role", .type = RPC_T_CUSTOM, .type_name = "an integer", .decode = mraid_decode_role,
	  .offset = offsetof(struct replace_params, role), .help = "the role to replace" },
	{ .name = "member", .type = RPC_T_STRING, .offset = offsetof(struct replace_params, member),
	  .help = "instead of role: the member device to replace (name or path)" },
	{ .name = "with", .type = RPC_T_ANY, .required = true, .offset = offsetof(struct replace_params, with),
	  .help = "the new device: a member object as in the configuration, or the name of an unused device of "
		  "this volume" },
};

static void member_replace(struct rpc_req *req, void *params)
{
	struct replace_params *p = params;
	char err[400];
	struct raid_info in;
	struct raidvol_dev *nd = NULL;
	bool opened = false;
	int role = -1;

	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	raid_get_info(rv->array, &in);
	if (p->role.set && !p->member) {
		if (p->role.role >= in.nmembers)
			return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "role %u does not exist: array \"%s\" "
					       "has roles 0..%u", p->role.role, p->name, in.nmembers - 1);
		role = (int)p->role.role; /* a missing role can be replaced too */
	} else {
		struct raidvol_dev *od = mraid_find_dev(req, rv, p->member, p->role.set, p->role.role);
		if (!od)
			return;
		for (unsigned r = 0; r < in.nmembers; r++)
			if (strcmp(in.members[r].name, od->name) == 0)
				role = (int)r;
		if (role < 0)
			return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "%s holds no role in array \"%s\"; "
					       "name a member listed under \"roles\"", od->name, p->name);
	}
	if (json_is_string(p->with)) {
		nd = mraid_find_dev(req, rv, json_string_value(p->with), false, 0);
		if (!nd)
			return;
	} else if (json_is_object(p->with)) {
		struct cfg_member m;
		if (mraid_member_param(req, p->with, "params.with", &m))
			return;
		int rc = raidvol_add_dev(rv, &m, &nd, err, sizeof(err));
		config_member_free(&m);
		if (rc)
			return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "%s", err);
		opened = true;
	} else {
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "parameter \"with\" must be a member object "
				       "({\"backend\": \"file\", \"path\": ..., \"size\": ...}) or the name of an unused "
				       "device, not %s", rpc_json_type_name(p->with));
	}
	int rc = raid_replace_member(rv->array, (unsigned)role, nd->dev);
	if (rc) {
		if (opened)
			raidvol_drop_last(rv);
		if (rc == -EBUSY)
			return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot replace role %d now: %s", role,
					       busy_hint(rv));
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "array \"%s\" refused %s for role %d: %s (the new "
				       "device must be unused, at least as large as a member, with the same block size)",
				       p->name, nd->name, role, strerror(-rc));
	}
	snprintf(nd->note, sizeof(nd->note), "replacing role %d", role);
	log_call(req, p->name, "replace started:", nd->name);
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_member_replace, "raid.member.replace", member_replace, struct replace_params, replace_params,
	   "Replace a member: a healthy one is copied to the new device first (I/O goes on), then swapped; a "
	   "failed or missing role is rebuilt onto it.",
	   "the array's state, as raid.get");

/* ---- scrub ---- */

struct scrub_params {
	const char *name;
	const char *mode;
};

static const struct rpc_param scrub_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct scrub_params, name),
	  .help = "the raid volume's name" },
	{ .name = "mode", .type = RPC_T_STRING, .offset = offsetof(struct scrub_params, mode),
	  .help = "check (count mismatches, default) or repair (also rewrite parity / copies)" },
};

static void scrub_start(struct rpc_req *req, void *params)
{
	struct scrub_params *p = params;
	enum raid_sync_kind kind = RAID_SYNC_CHECK;

	if (p->mode && strcmp(p->mode, "repair") == 0)
		kind = RAID_SYNC_REPAIR;
	else if (p->mode && strcmp(p->mode, "check") != 0)
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "unknown scrub mode \"%s\"; use \"check\" "
				       "or \"repair\"", p->mode);
	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	int rc = raid_scrub_start(rv->array, kind);
	if (rc == -EBUSY)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot start a scrub of \"%s\": %s", p->name,
				       busy_hint(rv));
	if (rc == -EINVAL && rv->v->raid->level == 0)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "RAID 0 has no parity or copies to check");
	if (rc)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot start a scrub of \"%s\": %s", p->name,
				       strerror(-rc));
	log_call(req, p->name, kind == RAID_SYNC_REPAIR ? "scrub (repair) started" : "scrub (check) started", NULL);
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_scrub_start, "raid.scrub.start", scrub_start, struct scrub_params, scrub_params,
	   "Scrub the array in the background: check counts every place parity or a copy disagrees (array LBA "
	   "and member in raid.get's scrub.locations); repair also rewrites them.",
	   "the array's state, as raid.get");

static void scrub_stop(struct rpc_req *req, void *params)
{
	struct scrub_params *p = params;
	if (p->mode)
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "raid.scrub.stop takes no \"mode\"");
	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	int rc = raid_scrub_stop(rv->array);
	if (rc == -ENOENT)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "no scrub runs on \"%s\" (a rebuild cannot be "
				       "stopped)", p->name);
	if (rc)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot stop the scrub of \"%s\": %s", p->name,
				       strerror(-rc));
	log_call(req, p->name, "scrub stopped", NULL);
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_scrub_stop, "raid.scrub.stop", scrub_stop, struct scrub_params, scrub_params,
	   "Stop a running scrub (its counts so far stay in raid.get).", "the array's state, as raid.get");

/* ---- raid.rebuild.rate.set ---- */

struct rate_params {
	const char *name;
	json_t *rate;
};

static const struct rpc_param rate_params[] = {
	{ .name = "name", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct rate_params, name),
	  .help = "the raid volume's name" },
	{ .name = "rate", .type = RPC_T_ANY, .required = true, .offset = offsetof(struct rate_params, rate),
	  .help = "bytes of member data per second for rebuild, resync and scrub: an integer or a size such as "
		  "\"50MiB\"; 0 = unlimited" },
};

static void rate_set(struct rpc_req *req, void *params)
{
	struct rate_params *p = params;
	char why[200];
	uint64_t rate = 0;

	if (json_is_integer(p->rate) && json_integer_value(p->rate) >= 0)
		rate = (uint64_t)json_integer_value(p->rate);
	else if (!json_is_string(p->rate))
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "parameter \"rate\" must be bytes per second: "
				       "a non-negative integer or a size such as \"50MiB\", not %s",
				       rpc_json_type_name(p->rate));
	else if (config_parse_size(json_string_value(p->rate), &rate, why, sizeof(why)))
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS, NULL, "parameter \"rate\": %s", why);
	struct raidvol *rv = mraid_find(req, p->name, true);
	if (!rv)
		return;
	int rc = raid_set_rebuild_rate(rv->array, rate);
	if (rc)
		return rpc_reply_error(req, RPC_ERR_FAILED, NULL, "cannot set the rebuild rate of \"%s\": %s", p->name,
				       strerror(-rc));
	log_notice(LOGC_MGMT, p->name, "rebuild rate set to %llu bytes/s%s", (unsigned long long)rate,
		   rate ? "" : " (unlimited)");
	mraid_reply_state(req, rv);
}

RPC_METHOD(raid_rebuild_rate_set, "raid.rebuild.rate.set", rate_set, struct rate_params, rate_params,
	   "Limit rebuild, resync and scrub to a rate (foreground I/O always keeps priority).",
	   "the array's state, as raid.get");
