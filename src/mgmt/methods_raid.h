/* methods_raid.h - what the RAID management methods (methods_raid.c, methods_raid_sync.c) share: finding a volume, member JSON. */
#ifndef SOFTHBA_MGMT_METHODS_RAID_H
#define SOFTHBA_MGMT_METHODS_RAID_H

#include <jansson.h>

#include "blk/raid/raid.h"
#include "mgmt/mgmt.h"
#include "mgmt/raidvol.h"

/* An optional "role" parameter (RPC_T_CUSTOM with mraid_decode_role). */
struct mraid_role {
	bool set;
	uint32_t role;
};
int mraid_decode_role(json_t *v, void *field, char *why, size_t whylen);

/* The raid volume called name, or NULL after answering req with an error
 * that says which volumes exist. running: also refuse (RPC_ERR_UNAVAILABLE)
 * when its array is not running. */
struct raidvol *mraid_find(struct rpc_req *req, const char *name, bool running);

/* The device of rv a request names: dev ("r5.m1" or a path) when set, else
 * role (when role_set). NULL after answering req with an error. */
struct raidvol_dev *mraid_find_dev(struct rpc_req *req, struct raidvol *rv, const char *dev, bool role_set,
				   uint32_t role);

/* {name, path, backend, origin, role, ...}: one device of the volume. */
json_t *mraid_dev_json(struct raidvol *rv, const struct raidvol_dev *d, const struct raid_info *in);

/* The background job (rebuild, resync, replace, scrub) of info as JSON. */
json_t *mraid_sync_json(const struct raid_info *in);

/* Reply with rv's state (what raid.get answers), after an operation. */
void mraid_reply_state(struct rpc_req *req, struct raidvol *rv);

/* Parse a member object (RPC param) the configuration's way: 0, or -errno after answering req. */
int mraid_member_param(struct rpc_req *req, json_t *obj, const char *pname, struct cfg_member *out);

#endif
