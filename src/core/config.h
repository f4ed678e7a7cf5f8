/* config.h - the daemon's JSON configuration parsed and validated into plain structs (schema: docs/configuration.md). */
#ifndef SOFTHBA_CORE_CONFIG_H
#define SOFTHBA_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/*
 * config_load_file() reads and checks the whole document before anything
 * is started: every refusal is one sentence that names the key path
 * ("iscsi.targets[0].luns[1].volume: no volume named \"ram9\" ...") and
 * says what to change. On success the structs below hold only valid
 * values; on failure nothing is allocated and *out is left untouched.
 *
 * Everything in a struct softhba_config is allocated with malloc() and
 * released by config_free(); code that builds a config by hand (the demo)
 * uses config_new() and malloc()/strdup() the same way.
 */

enum cfg_backend { CFG_BACKEND_MALLOC = 0, CFG_BACKEND_NULL, CFG_BACKEND_FILE };

struct cfg_volume {
	char *name;              /* 1..63 chars of [A-Za-z0-9._-], unique */
	enum cfg_backend backend;
	uint64_t size;           /* bytes, a multiple of block_size; 0 = file: keep the file's size */
	uint32_t block_size;     /* 512 or 4096 */
	char *path;              /* file backend only */
	bool direct;             /* file backend: O_DIRECT */
	bool read_only;          /* file backend: open read-only */
};

struct cfg_lun {
	uint32_t lun;            /* 0..16383, unique within the target */
	unsigned volume;         /* index into softhba_config.volumes */
	bool thin;
	bool removable;
	bool read_only;
	bool write_cache;
	char *vendor;            /* NULL = the SCSI layer's default */
	char *product;
	char *revision;
	char *serial;
};

struct cfg_target {
	char *name;              /* iqn./eui./naa. name, lower-case */
	char *alias;             /* NULL = none */
	struct cfg_lun *luns;
	unsigned n_luns;
};

#define CFG_HOST_MAX 46          /* INET6_ADDRSTRLEN */

struct cfg_portal {
	char host[CFG_HOST_MAX]; /* numeric address, canonical form, no brackets */
	uint16_t port;           /* 0 = any free port */
	bool ipv6;
};

struct cfg_iscsi {
	bool enabled;            /* the "iscsi" section is present */
	struct cfg_portal *portals;
	unsigned n_portals;
	struct cfg_target *targets;
	unsigned n_targets;
	/* 0 = not set: the iSCSI layer's default */
	uint32_t max_recv_data_segment_length;
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t max_outstanding_r2t;
	uint32_t max_queue_depth;
	uint32_t nop_interval_s;
	uint32_t nop_timeout_s;
	uint32_t login_timeout_s;
	uint32_t stall_timeout_s;
};

struct softhba_config {
	unsigned reactors;       /* 0 = not set (one per online CPU) */
	enum log_level log_level;
	bool comp_level_set[LOGC__COUNT];
	enum log_level comp_level[LOGC__COUNT];
	struct cfg_volume *volumes;
	unsigned n_volumes;
	struct cfg_iscsi iscsi;
	char *control_socket;    /* "control.socket": NULL = the command's default */
};

/* Limits the parser enforces (also used by the CLI for its options). */
#define CFG_REACTORS_MAX 1024u
#define CFG_LUN_MAX 16383u
#define CFG_VOLUME_NAME_MAX 63u
#define CFG_ISCSI_NAME_MAX 223u  /* RFC 7143 4.2.7.1 */
#define CFG_SOCKET_PATH_MAX 107u /* sizeof(sun_path) - 1 */

/* Parse and validate. err receives one line (no trailing newline) on
 * failure. Returns 0, -EINVAL (invalid document), -ENOENT/-EACCES/...
 * (file unreadable) or -ENOMEM. */
int config_load_file(const char *path, struct softhba_config **out, char *err, size_t errlen);
int config_load_string(const char *text, struct softhba_config **out, char *err, size_t errlen);

/* An empty config with defaults (log level notice). NULL on ENOMEM. */
struct softhba_config *config_new(void);
void config_free(struct softhba_config *cfg);

/* Building blocks, also used by the CLI. Each returns 0 or -EINVAL and,
 * on -EINVAL, writes what is wrong and what to write instead into why. */
/* "4096", "512MiB", "1G", "2 TiB" (binary suffixes K/KiB M/MiB G/GiB T/TiB P/PiB). */
int config_parse_size(const char *s, uint64_t *out, char *why, size_t whylen);
/* "HOST:PORT" (numeric IPv4) or "[IPv6]:PORT". */
int config_parse_portal(const char *s, struct cfg_portal *out, char *why, size_t whylen);
/* iqn.yyyy-mm.reversed.domain[:anything], eui.<16 hex>, naa.<16|32 hex> (RFC 7143 4.2.7). */
int config_check_iscsi_name(const char *name, char *why, size_t whylen);
/* "HOST:PORT" with IPv6 hosts in brackets, using port (the actual one). */
void config_format_portal(const struct cfg_portal *p, uint16_t port, char *buf, size_t len);

/* The candidate closest to word (small edit distance), or NULL: for "did you mean" hints. */
const char *config_suggest(const char *word, const char *const *candidates, size_t n);

#endif
