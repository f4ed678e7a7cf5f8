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

enum cfg_backend { CFG_BACKEND_MALLOC = 0, CFG_BACKEND_NULL, CFG_BACKEND_FILE, CFG_BACKEND_RAID };

/* Fault injection on a RAID member ("inject", and the volume.inject method). */
enum cfg_inject_mode {
	CFG_INJECT_NONE = 0,     /* transparent */
	CFG_INJECT_FAIL_READS,   /* reads of [lba, lba+count) fail with -EIO */
	CFG_INJECT_FAIL_WRITES,  /* writes (and unmap/write-zeroes) of the range fail with -EIO */
	CFG_INJECT_FAIL_ALL,     /* reads, writes and flushes fail (flushes have no range) */
	CFG_INJECT_DISAPPEAR,    /* every request fails with -ENODEV, as if unplugged */
	CFG_INJECT_DELAY,        /* every request completes delay_us later */
	CFG_INJECT__COUNT,
};

struct cfg_inject {
	enum cfg_inject_mode mode;
	uint64_t lba;            /* fail-*: first block (member blocks) */
	uint64_t count;          /* fail-*: blocks; 0 = to the end of the member */
	uint64_t delay_us;       /* delay */
	uint64_t after;          /* fail-*: 0 = at once, else from the after-th request on (sticky, no range) */
};

/* Disk simulation ("throttle" on a volume or a RAID member): blk_throttle_create(). */
struct cfg_throttle {
	uint64_t bytes_per_sec;  /* "bandwidth": 0 = no cap */
	uint64_t latency_us;     /* "latency_us": added to every request */
};

/* A RAID member or spare: a leaf device, optionally wrapped for fault injection. */
struct cfg_member {
	enum cfg_backend backend; /* malloc or file */
	uint64_t size;           /* bytes; file: 0 = keep the file's size */
	uint32_t block_size;     /* 512 or 4096 */
	char *path;              /* file */
	bool direct;             /* file: O_DIRECT */
	bool inject;             /* wrapped in an error device (faults set at start and at run time) */
	struct cfg_inject faults; /* faults from the start ("inject": {"mode": ...}) */
	bool throttle;           /* the leaf goes through a throttle device (under the inject wrapper) */
	struct cfg_throttle thr;
};

enum cfg_raid_create {
	CFG_RAID_CREATE_IF_MISSING = 0, /* create when no member has a superblock, else assemble */
	CFG_RAID_CREATE_NEVER,          /* only assemble: refuse to start without superblocks */
};

struct cfg_raid {
	unsigned level;          /* 0, 1, 5, 6, 10 */
	uint32_t chunk_kib;      /* 0 = the engine's default */
	struct cfg_member *members;
	unsigned n_members;
	struct cfg_member *spares;
	unsigned n_spares;
	enum cfg_raid_create create;
	uint64_t rebuild_rate;   /* bytes/s, 0 = unlimited */
	uint32_t member_timeout_ms; /* 0 = the engine's default */
	bool journal;            /* RAID 5/6 write journal (default true) */
	bool bitmap;             /* write-intent bitmap (default true) */
	uint32_t region_kib;     /* "bitmap_region": bytes of member data per bitmap bit / 1024; 0 = the engine's default */
};

struct cfg_volume {
	char *name;              /* 1..63 chars of [A-Za-z0-9._-], unique */
	enum cfg_backend backend;
	uint64_t size;           /* bytes, a multiple of block_size; 0 = file: keep the file's size */
	uint32_t block_size;     /* 512 or 4096 */
	char *path;              /* file backend only */
	bool direct;             /* file backend: O_DIRECT */
	bool read_only;          /* file backend: open read-only */
	struct cfg_raid *raid;   /* raid backend only (block_size: the members') */
	bool throttle;           /* malloc/null/file: exported through a throttle device */
	struct cfg_throttle thr;
};

struct cfg_lun {
	uint32_t lun;            /* 0..16383, unique within the target */
	unsigned volume;         /* index into softhba_config.volumes */
	bool thin;
	bool removable;
	bool read_only;
	bool write_cache;
	uint32_t sanitize_mib_s; /* SANITIZE OVERWRITE pacing, MiB/s; UINT32_MAX = no limit (default) */
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
	struct cfg_member *spares; /* "spares": global hot spares, any raid volume may take one */
	unsigned n_spares;
};

/* Limits the parser enforces (also used by the CLI for its options). */
#define CFG_REACTORS_MAX 1024u
#define CFG_LUN_MAX 16383u
#define CFG_VOLUME_NAME_MAX 63u
#define CFG_ISCSI_NAME_MAX 223u  /* RFC 7143 4.2.7.1 */
#define CFG_SOCKET_PATH_MAX 107u /* sizeof(sun_path) - 1 */
#define CFG_RAID_MAX_MEMBERS 32u  /* members (and spares) of one array */
#define CFG_RAID_NAME_MAX 31u     /* a raid volume's name is its array name (superblock field) */

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

/* Inject modes: "none", "fail-reads", "fail-writes", "fail-all", "disappear", "delay". */
const char *config_inject_mode_name(enum cfg_inject_mode m);
int config_inject_mode_parse(const char *s, enum cfg_inject_mode *out);
/* Parse one RAID member object (JSON text) as the configuration would, for
 * members added at run time; error messages start with path. Fills *out
 * (free with config_member_free) and returns 0, or -EINVAL/-ENOMEM. */
int config_parse_member(const char *json, const char *path, struct cfg_member *out, char *err, size_t errlen);
void config_member_free(struct cfg_member *m);
/* Parse one fault object ({"mode": ..., "lba": ..., ...}) the way "inject" is read. */
int config_parse_inject(const char *json, const char *path, struct cfg_inject *out, char *err, size_t errlen);

/* The candidate closest to word (small edit distance), or NULL: for "did you mean" hints. */
const char *config_suggest(const char *word, const char *const *candidates, size_t n);

#endif
