/* methods_iscsi.c - management methods about the iSCSI target: iscsi.target.list, iscsi.session.list. */
#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"
#include "iscsi/iscsi.h"
#include "mgmt/mgmt.h"

static json_t *portals_json(const struct mgmt_daemon *dm)
{
	json_t *a = json_array();
	for (unsigned i = 0; a && i < dm->n_portals; i++)
		json_array_append_new(a, json_string(dm->portals[i]));
	return a;
}

static json_t *target_json(const struct mgmt_daemon *dm, const struct cfg_target *t)
{
	json_t *luns = json_array();
	json_t *o = json_pack("{s:s, s:s?, s:o}", "name", t->name, "alias", t->alias, "portals", portals_json(dm));
	if (!o || !luns) {
		json_decref(luns);
		json_decref(o);
		return NULL;
	}
	for (unsigned j = 0; j < t->n_luns; j++) {
		const struct cfg_lun *l = &t->luns[j];
		const struct cfg_volume *v = &dm->cfg->volumes[l->volume];
		json_t *lo = json_pack("{s:I, s:s, s:b, s:b, s:b, s:b}", "lun", (json_int_t)l->lun, "volume", v->name,
				       "read_only", l->read_only || v->read_only, "thin", l->thin, "removable",
				       l->removable, "write_cache", l->write_cache);
		if (!lo || json_array_append_new(luns, lo)) {
			json_decref(luns);
			json_decref(o);
			return NULL;
		}
	}
	json_object_set_new(o, "luns", luns);
	return o;
}

static void target_list(struct rpc_req *req, void *params)
{
	(void)params;
	const struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	json_t *arr = json_array();

	for (unsigned i = 0; arr && dm && dm->cfg && dm->cfg->iscsi.enabled && i < dm->cfg->iscsi.n_targets; i++) {
		json_t *o = target_json(dm, &dm->cfg->iscsi.targets[i]);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, arr);
}

RPC_METHOD_NOPARAMS(iscsi_target_list, "iscsi.target.list", target_list,
		    "Every iSCSI target with its portals and LUNs (and the volume behind each LUN).",
		    "array of {name, alias, portals: [HOST:PORT], luns: [{lun, volume, read_only, thin, removable, "
		    "write_cache}]}");

static void session_list(struct rpc_req *req, void *params)
{
	(void)params;
	const struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	struct iscsi_session_info *ss = NULL;
	unsigned n = 0;
	char isid[16];

	if (!dm || !dm->iscsi)
		return rpc_reply_error(req, RPC_ERR_UNAVAILABLE, NULL, "iSCSI is not running in this daemon; add an "
				       "\"iscsi\" section to the configuration to serve it");
	if (iscsi_server_sessions(dm->iscsi, &ss, &n))
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	json_t *arr = json_array();
	for (unsigned i = 0; arr && i < n; i++) {
		snprintf(isid, sizeof(isid), "%02x%02x%02x%02x%02x%02x", ss[i].isid[0], ss[i].isid[1], ss[i].isid[2],
			 ss[i].isid[3], ss[i].isid[4], ss[i].isid[5]);
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s}", "initiator", ss[i].initiator_name, "target",
				      ss[i].target_name, "isid", isid, "tsih", ss[i].tsih, "cid", ss[i].cid, "reactor",
				      (int)ss[i].reactor, "type", ss[i].discovery ? "discovery" : "normal");
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(ss);
	if (!arr)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory (or a name that is not UTF-8); "
				       "retry");
	rpc_reply(req, arr);
}

RPC_METHOD_NOPARAMS(iscsi_session_list, "iscsi.session.list", session_list,
		    "The iSCSI sessions logged in now.",
		    "array of {initiator, target, isid (hex), tsih, cid, reactor, type (normal|discovery)}");
