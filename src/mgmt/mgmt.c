/* mgmt.c - the management API's init table (every method, explicitly listed) and the control socket's start and stop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "mgmt/mgmt.h"

/* Each method is defined beside its handler with RPC_METHOD(); no
 * constructors: this table is the one place that says what is served. */
extern const struct rpc_method rpc_method_version;
extern const struct rpc_method rpc_method_daemon_status;
extern const struct rpc_method rpc_method_log_level_get;
extern const struct rpc_method rpc_method_log_level_set;
extern const struct rpc_method rpc_method_log_read;
extern const struct rpc_method rpc_method_volume_list;
extern const struct rpc_method rpc_method_iscsi_target_list;
extern const struct rpc_method rpc_method_iscsi_session_list;
extern const struct rpc_method rpc_method_raid_list;
extern const struct rpc_method rpc_method_raid_get;
extern const struct rpc_method rpc_method_raid_member_fail;
extern const struct rpc_method rpc_method_raid_member_add;
extern const struct rpc_method rpc_method_raid_member_remove;
extern const struct rpc_method rpc_method_raid_member_replace;
extern const struct rpc_method rpc_method_raid_spare_add;
extern const struct rpc_method rpc_method_raid_spare_list;
extern const struct rpc_method rpc_method_raid_scrub_start;
extern const struct rpc_method rpc_method_raid_scrub_stop;
extern const struct rpc_method rpc_method_raid_rebuild_rate_set;
extern const struct rpc_method rpc_method_volume_inject;

const struct rpc_method *const mgmt_methods[] = {
	&rpc_method_version,
	&rpc_method_daemon_status,
	&rpc_method_log_level_get,
	&rpc_method_log_level_set,
	&rpc_method_log_read,
	&rpc_method_volume_list,
	&rpc_method_iscsi_target_list,
	&rpc_method_iscsi_session_list,
	&rpc_method_raid_list,
	&rpc_method_raid_get,
	&rpc_method_raid_member_fail,
	&rpc_method_raid_member_add,
	&rpc_method_raid_member_remove,
	&rpc_method_raid_member_replace,
	&rpc_method_raid_spare_add,
	&rpc_method_raid_spare_list,
	&rpc_method_raid_scrub_start,
	&rpc_method_raid_scrub_stop,
	&rpc_method_raid_rebuild_rate_set,
	&rpc_method_volume_inject,
};
const size_t mgmt_n_methods = RPC_ARRAY_LEN(mgmt_methods);

const char *mgmt_level_name(unsigned level)
{
	static const char *const names[] = { "error", "warn", "notice", "info", "debug" };
	return level < RPC_ARRAY_LEN(names) ? names[level] : "?";
}

int mgmt_start(struct mgmt_daemon *dm, const char *path, bool required)
{
	char err[600];
	struct rpc_server *s;
	int rc = rpc_server_create(mgmt_methods, mgmt_n_methods, dm, NULL, &s);

	if (rc) {
		snprintf(err, sizeof(err), "control socket %s: cannot create the server: %s", path, strerror(-rc));
	} else if ((rc = rpc_server_listen(s, path, err, sizeof(err))) != 0) {
		rpc_server_destroy(s);
	} else {
		dm->rpc = s;
		return 0;
	}
	if (required) {
		fprintf(stderr, "softhba: %s\n", err);
		return rc;
	}
	log_warn(LOGC_MGMT, NULL, "%s; running without a control socket (set control.socket in the configuration)",
		 err);
	return 0;
}

void mgmt_stop(struct mgmt_daemon *dm)
{
	if (!dm->rpc)
		return;
	rpc_server_destroy(dm->rpc);
	dm->rpc = NULL;
}
