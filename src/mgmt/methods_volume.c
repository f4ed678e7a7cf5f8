/* methods_volume.c - management methods about volumes: volume.list. */
#include <stddef.h>

#include "blk/blk.h"
#include "core/config.h"
#include "mgmt/mgmt.h"

static const char *backend_name(enum cfg_backend b)
{
	switch (b) {
	case CFG_BACKEND_MALLOC: return "malloc";
	case CFG_BACKEND_NULL: return "null";
	case CFG_BACKEND_FILE: return "file";
	case CFG_BACKEND_RAID: return "raid";
	}
	return "?";
}

static json_t *volume_json(const struct cfg_volume *v, struct blk_dev *dev)
{
	json_t *flags = json_array();
	json_t *o = json_pack("{s:s, s:s, s:s}", "name", v->name, "backend", backend_name(v->backend), "state",
			      dev ? "online" : "absent");
	if (!o || !flags) {
		json_decref(flags);
		json_decref(o);
		return NULL;
	}
	if (v->path)
		json_object_set_new(o, "path", json_string(v->path));
	if (!dev) {
		/* Not created (yet, or any more): what the configuration says. */
		json_object_set_new(o, "size", json_integer((json_int_t)v->size));
		json_object_set_new(o, "block_size", json_integer(v->block_size));
		json_object_set_new(o, "flags", flags);
		return o;
	}
	const struct blk_info *in = &dev->info;
	struct blk_file_stats fs;
	json_object_set_new(o, "size", json_integer((json_int_t)(in->num_blocks * in->block_size)));
	json_object_set_new(o, "block_size", json_integer(in->block_size));
	json_object_set_new(o, "blocks", json_integer((json_int_t)in->num_blocks));
	if (in->read_only)
		json_array_append_new(flags, json_string("read_only"));
	if (in->volatile_cache)
		json_array_append_new(flags, json_string("volatile_cache"));
	if (in->supports_unmap)
		json_array_append_new(flags, json_string("unmap"));
	if (in->rotational)
		json_array_append_new(flags, json_string("rotational"));
	if (v->backend == CFG_BACKEND_FILE && blk_file_get_stats(dev, &fs) == 0 && fs.direct)
		json_array_append_new(flags, json_string("direct"));
	json_object_set_new(o, "flags", flags);
	return o;
}

static void volume_list(struct rpc_req *req, void *params)
{
	(void)params;
	struct mgmt_daemon *dm = rpc_req_ctx(req)->app;
	json_t *arr = json_array();

	for (unsigned i = 0; arr && dm && dm->cfg && i < dm->cfg->n_volumes; i++) {
		json_t *o = volume_json(&dm->cfg->volumes[i], dm->devs ? dm->devs[i] : NULL);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, arr);
}

RPC_METHOD_NOPARAMS(volume_list, "volume.list", volume_list,
		    "Every volume: name, backend, size, block size, flags.",
		    "array of {name, backend, state (online|absent), path (file), size (bytes), block_size, blocks, "
		    "flags: [read_only, volatile_cache, unmap, rotational, direct]}");
