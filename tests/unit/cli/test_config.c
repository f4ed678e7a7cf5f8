/* test_config.c - config parser: valid documents map to the right structs; every refusal names the key and changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "config_expect.h"

/* A minimal valid document with a hole for one volume and one target/LUN fragment. */
#define DOC(vols, iscsi_extra, luns) \
	"{\"volumes\": [" vols "], \"iscsi\": {\"portals\": [\"127.0.0.1:3260\"]" iscsi_extra \
	", \"targets\": [{\"name\": \"iqn.2026-11.org.softhba:t0\", \"luns\": [" luns "]}]}}"
#define VOL0 "{\"name\": \"ram0\", \"backend\": \"malloc\", \"size\": \"1MiB\"}"
#define LUN0 "{\"lun\": 0, \"volume\": \"ram0\"}"

static void test_minimal(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(DOC(VOL0, "", LUN0));
	assert_int_equal(cfg->reactors, 0);
	assert_int_equal(cfg->log_level, LOG_NOTICE);
	assert_null(cfg->control_socket);
	assert_int_equal(cfg->n_volumes, 1);
	assert_string_equal(cfg->volumes[0].name, "ram0");
	assert_int_equal(cfg->volumes[0].backend, CFG_BACKEND_MALLOC);
	assert_int_equal(cfg->volumes[0].size, 1u << 20);
	assert_int_equal(cfg->volumes[0].block_size, 512);
	assert_null(cfg->volumes[0].path);
	assert_true(cfg->iscsi.enabled);
	assert_int_equal(cfg->iscsi.n_portals, 1);
	assert_string_equal(cfg->iscsi.portals[0].host, "127.0.0.1");
	assert_int_equal(cfg->iscsi.portals[0].port, 3260);
	assert_false(cfg->iscsi.portals[0].ipv6);
	assert_int_equal(cfg->iscsi.max_recv_data_segment_length, 0);
	assert_int_equal(cfg->iscsi.n_targets, 1);
	struct cfg_target *t = &cfg->iscsi.targets[0];
	assert_string_equal(t->name, "iqn.2026-11.org.softhba:t0");
	assert_null(t->alias);
	assert_int_equal(t->n_luns, 1);
	assert_int_equal(t->luns[0].lun, 0);
	assert_int_equal(t->luns[0].volume, 0);
	assert_false(t->luns[0].thin);
	assert_true(t->luns[0].write_cache); /* default on */
	assert_int_equal(t->luns[0].sanitize_mib_s, UINT32_MAX); /* SANITIZE not paced by default */
	assert_false(t->luns[0].read_only);
	assert_null(t->luns[0].vendor);
	config_free(cfg);
}

static void test_full(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(
		"{\"reactors\": 3, \"control\": {\"socket\": \"/run/x/y.sock\"},"
		" \"log\": {\"level\": \"warn\", \"components\": {\"iscsi\": \"debug\", \"blk\": \"error\"}},"
		" \"volumes\": ["
		"  {\"name\": \"a\", \"backend\": \"null\", \"size\": 1099511627776, \"block_size\": 4096},"
		"  {\"name\": \"b.img_2-x\", \"backend\": \"file\", \"path\": \"/tmp/x.img\", \"direct\": true,"
		"   \"read_only\": true}],"
		" \"iscsi\": {\"portals\": [\"[::1]:0\", \"0.0.0.0:3261\"],"
		"  \"max_recv_data_segment_length\": 512, \"max_burst_length\": 16777215,"
		"  \"first_burst_length\": 65536, \"max_outstanding_r2t\": 65535, \"max_queue_depth\": 64,"
		"  \"nop_interval\": 5, \"nop_timeout\": 10, \"login_timeout\": 3, \"stall_timeout\": 3600,"
		"  \"targets\": ["
		"   {\"name\": \"eui.02004567a425678d\", \"alias\": \"Ärger disk\", \"luns\": ["
		"     {\"lun\": 16383, \"volume\": \"b.img_2-x\", \"thin\": true, \"removable\": true,"
		"      \"read_only\": true, \"write_cache\": false, \"vendor\": \"ACME\", \"product\": \"0123456789abcdef\","
		"      \"revision\": \"1.0\", \"serial\": \"S-1\"},"
		"     {\"lun\": 0, \"volume\": \"a\"}]},"
		"   {\"name\": \"naa.52004567ba64678d52004567ba64678d\"}]}}");
	assert_int_equal(cfg->reactors, 3);
	assert_string_equal(cfg->control_socket, "/run/x/y.sock");
	assert_int_equal(cfg->log_level, LOG_WARN);
	assert_true(cfg->comp_level_set[LOGC_ISCSI]);
	assert_int_equal(cfg->comp_level[LOGC_ISCSI], LOG_DEBUG);
	assert_true(cfg->comp_level_set[LOGC_BLK]);
	assert_int_equal(cfg->comp_level[LOGC_BLK], LOG_ERR);
	assert_false(cfg->comp_level_set[LOGC_SCSI]);
	assert_int_equal(cfg->n_volumes, 2);
	assert_int_equal(cfg->volumes[0].backend, CFG_BACKEND_NULL);
	assert_true(cfg->volumes[0].size == 1ull << 40);
	assert_int_equal(cfg->volumes[0].block_size, 4096);
	assert_int_equal(cfg->volumes[1].backend, CFG_BACKEND_FILE);
	assert_int_equal(cfg->volumes[1].size, 0);
	assert_string_equal(cfg->volumes[1].path, "/tmp/x.img");
	assert_true(cfg->volumes[1].direct);
	assert_true(cfg->volumes[1].read_only);
	assert_int_equal(cfg->iscsi.n_portals, 2);
	assert_string_equal(cfg->iscsi.portals[0].host, "::1");
	assert_true(cfg->iscsi.portals[0].ipv6);
	assert_int_equal(cfg->iscsi.portals[0].port, 0);
	assert_string_equal(cfg->iscsi.portals[1].host, "0.0.0.0");
	assert_int_equal(cfg->iscsi.portals[1].port, 3261);
	assert_int_equal(cfg->iscsi.max_recv_data_segment_length, 512);
	assert_int_equal(cfg->iscsi.max_burst_length, 16777215);
	assert_int_equal(cfg->iscsi.first_burst_length, 65536);
	assert_int_equal(cfg->iscsi.max_outstanding_r2t, 65535);
	assert_int_equal(cfg->iscsi.max_queue_depth, 64);
	assert_int_equal(cfg->iscsi.nop_interval_s, 5);
	assert_int_equal(cfg->iscsi.nop_timeout_s, 10);
	assert_int_equal(cfg->iscsi.login_timeout_s, 3);
	assert_int_equal(cfg->iscsi.stall_timeout_s, 3600);
	assert_int_equal(cfg->iscsi.n_targets, 2);
	struct cfg_target *t = &cfg->iscsi.targets[0];
	assert_string_equal(t->alias, "Ärger disk");
	assert_int_equal(t->n_luns, 2);
	assert_int_equal(t->luns[0].lun, 16383);
	assert_int_equal(t->luns[0].volume, 1);
	assert_true(t->luns[0].thin && t->luns[0].removable && t->luns[0].read_only);
	assert_false(t->luns[0].write_cache);
	assert_string_equal(t->luns[0].vendor, "ACME");
	assert_string_equal(t->luns[0].product, "0123456789abcdef");
	assert_string_equal(t->luns[0].revision, "1.0");
	assert_string_equal(t->luns[0].serial, "S-1");
	assert_int_equal(t->luns[1].volume, 0);
	assert_int_equal(cfg->iscsi.targets[1].n_luns, 0);
	config_free(cfg);
}

static void test_document_errors(void **state)
{
	(void)state;
	expect_error("[1, 2]", "the document must be a JSON object {...}, got an array");
	expect_error("{\"volumes\": [], }", "line 1, column 17: string or '}' expected near '}'");
	expect_error("{\"volumes\": [], \"volumes\": []}", "line 1, column 25: duplicate object key near '\"volumes\"'");
	expect_error("{\"volumes\": []}", "iscsi: missing; without it nothing is served (see docs/configuration.md)");
	expect_error("{\"volume\": [], \"iscsi\": {}}", "volume: unknown key; did you mean \"volumes\"?");
	expect_error("{\"zzzzzzzz\": 1}", "zzzzzzzz: unknown key; the keys allowed here are: reactors, log, volumes, iscsi, "
		     "control, spares");
	expect_error("{\"control\": {\"socket\": \"ctl.sock\"}}",
		     "control.socket: \"ctl.sock\" is not an absolute path; write the full path, e.g. "
		     "\"/run/softhba/softhba.sock\"");
	expect_error("{\"control\": {\"sock\": \"/x\"}}", "control.sock: unknown key; did you mean \"socket\"?");
	expect_error("{\"reactors\": 0, \"iscsi\": {}}", "reactors: 0 is out of range; use 1..1024 (event-loop threads)");
	expect_error("{\"reactors\": \"2\"}", "reactors: expected an integer, got a string");
	expect_error("{\"reactors\": 1.5}", "reactors: expected an integer, got a number with a fraction");
	expect_error("{\"volumes\": {}}", "volumes: expected an array [...], got an object");
}

static void test_log_errors(void **state)
{
	(void)state;
	expect_error("{\"log\": \"debug\"}", "log: expected an object {...}, got a string");
	expect_error("{\"log\": {\"levl\": \"debug\"}}", "log.levl: unknown key; did you mean \"level\"?");
	expect_error("{\"log\": {\"level\": \"verbose\"}}",
		     "log.level: unknown level \"verbose\"; use error, warn, notice, info or debug");
	expect_error("{\"log\": {\"level\": \"debgu\"}}", "log.level: unknown level \"debgu\"; did you mean \"debug\"?");
	expect_error("{\"log\": {\"level\": 4}}", "log.level: expected a level name string, got an integer");
	expect_error("{\"log\": {\"components\": {\"iscssi\": \"debug\"}}}",
		     "log.components.iscssi: unknown component; did you mean \"iscsi\"?");
	expect_error("{\"log\": {\"components\": {\"network\": \"debug\"}}}",
		     "log.components.network: unknown component; the components are: core, blk, raid, scsi, iscsi, "
		     "nbd, mgmt, conf");
	expect_error("{\"log\": {\"components\": {\"scsi\": \"loud\"}}}",
		     "log.components.scsi: unknown level \"loud\"; use error, warn, notice, info or debug");
	expect_error("{\"log\": {\"components\": []}}", "log.components: expected an object {...}, got an array");
}

static void test_volume_errors(void **state)
{
	(void)state;
	expect_error(DOC("1", "", ""), "volumes[0]: expected an object {...}, got an integer");
	expect_error(DOC("{\"backend\": \"malloc\", \"size\": 4096}", "", ""),
		     "volumes[0].name: missing; give every volume a unique name, e.g. \"name\": \"disk0\"");
	expect_error(DOC("{\"name\": \"\", \"backend\": \"malloc\", \"size\": 4096}", "", ""), "volumes[0].name: is empty");
	expect_error(DOC("{\"name\": \"a b\", \"backend\": \"malloc\", \"size\": 4096}", "", ""),
		     "volumes[0].name: \"a b\": volume names use only letters, digits, '.', '_' and '-'");
	expect_error(DOC("{\"name\": \"0123456789012345678901234567890123456789012345678901234567890123\", "
			 "\"backend\": \"malloc\", \"size\": 4096}", "", ""),
		     "volumes[0].name: is 64 bytes long; at most 63 are allowed");
	expect_error(DOC(VOL0 ", " VOL0, "", ""),
		     "volumes[1].name: \"ram0\" is already the name of volumes[0]; volume names must be unique");
	expect_error(DOC("{\"name\": \"a\", \"size\": 4096}", "", ""),
		     "volumes[0].backend: missing; set \"backend\" to \"malloc\", \"null\", \"file\" or \"raid\"");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"maloc\", \"size\": 4096}", "", ""),
		     "volumes[0].backend: unknown backend \"maloc\"; did you mean \"malloc\"?");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"raid5\", \"size\": 4096}", "", ""),
		     "volumes[0].backend: unknown backend \"raid5\"; did you mean \"raid\"?");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"ceph\", \"size\": 4096}", "", ""),
		     "volumes[0].backend: unknown backend \"ceph\"; use \"malloc\", \"null\", \"file\" or \"raid\"");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"malloc\"}", "", ""),
		     "volumes[0].size: missing; every malloc or null volume needs a size, e.g. \"256MiB\"");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": 0}", "", ""),
		     "volumes[0].size: is zero; give the volume a size, e.g. \"1GiB\"");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": -5}", "", ""), "volumes[0].size: -5 is negative");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": 1000}", "", ""),
		     "volumes[0].size: 1000 bytes is not a multiple of block_size 512; use 512 or 1024");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": 1000, \"block_size\": 4096}", "", ""),
		     "volumes[0].size: 1000 bytes is not a multiple of block_size 4096; use 4096");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": \"1 GB\"}", "", ""),
		     "volumes[0].size: \"1 GB\" has an unknown suffix \"GB\"; use K/KiB, M/MiB, G/GiB, T/TiB or P/PiB "
		     "(powers of 1024)");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": true}", "", ""),
		     "volumes[0].size: expected a size (bytes, or a string such as \"512MiB\"), got a boolean");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": 4096, \"block_size\": 1024}", "", ""),
		     "volumes[0].block_size: 1024 is not supported; use 512 or 4096");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"null\", \"size\": 4096, \"blocksize\": 512}", "", ""),
		     "volumes[0].blocksize: unknown key; did you mean \"block_size\"?");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"file\", \"size\": 4096}", "", ""),
		     "volumes[0].path: missing; a file volume needs the \"path\" of its file or block device");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"malloc\", \"size\": 4096, \"path\": \"/x\"}", "", ""),
		     "volumes[0].path: only file volumes have \"path\"; remove it or set \"backend\": \"file\"");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"malloc\", \"size\": 4096, \"read_only\": true}", "", ""),
		     "volumes[0].read_only: only file volumes have \"read_only\"; remove it or set \"backend\": \"file\" "
		     "(a LUN's read_only write-protects any volume)");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"file\", \"path\": \"/x\", \"direct\": \"yes\"}", "", ""),
		     "volumes[0].direct: expected true or false, got a string");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"file\", \"path\": \"/x\", \"size\": 0}", "", ""),
		     "volumes[0].size: is zero; give the volume a size, e.g. \"1GiB\", or leave \"size\" out to use the "
		     "file's own size");
	expect_error(DOC("{\"name\": \"a\", \"backend\": \"file\", \"path\": \"a\\u0000b\"}", "", ""),
		     "line 1, column 64: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'");
}

static void test_iscsi_errors(void **state)
{
	(void)state;
	expect_error("{\"iscsi\": []}", "iscsi: expected an object {...}, got an array");
	expect_error("{\"iscsi\": {\"targets\": []}}",
		     "iscsi.portals: missing; list the addresses to listen on, e.g. [\"127.0.0.1:3260\"]");
	expect_error("{\"iscsi\": {\"portals\": []}}",
		     "iscsi.portals: is empty; list at least one address, e.g. [\"127.0.0.1:3260\"]");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"]}}",
		     "iscsi.targets: missing; list the targets to export (an empty list exports none)");
	expect_error("{\"iscsi\": {\"portals\": [3260]}}", "iscsi.portals[0]: expected a \"HOST:PORT\" string, got an integer");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1\"]}}",
		     "iscsi.portals[0]: \"127.0.0.1\" has no port; write HOST:PORT, e.g. \"127.0.0.1:3260\"");
	expect_error("{\"iscsi\": {\"portals\": [\"::1:3260\"]}}",
		     "iscsi.portals[0]: \"::1:3260\": put an IPv6 address in brackets, e.g. \"[::1]:3260\"");
	expect_error("{\"iscsi\": {\"portals\": [\"localhost:3260\"]}}",
		     "iscsi.portals[0]: \"localhost:3260\": \"localhost\" is not a numeric IPv4 address (host names are "
		     "not resolved); e.g. \"127.0.0.1:3260\", or \"[::1]:3260\" for IPv6");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:65536\"]}}",
		     "iscsi.portals[0]: \"127.0.0.1:65536\": port 65536 is above 65535");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\", \"127.0.0.1:3260\"]}}",
		     "iscsi.portals[1]: \"127.0.0.1:3260\" is listed twice (also iscsi.portals[0])");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"max_recv_data_segment_length\": 511}}",
		     "iscsi.max_recv_data_segment_length: 511 is out of range; use 512..16777215 (RFC 7143 "
		     "MaxRecvDataSegmentLength, bytes)");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"max_burst_length\": 16777216}}",
		     "iscsi.max_burst_length: 16777216 is out of range; use 512..16777215 (RFC 7143 MaxBurstLength, bytes)");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"max_outstanding_r2t\": 0}}",
		     "iscsi.max_outstanding_r2t: 0 is out of range; use 1..65535 (RFC 7143 MaxOutstandingR2T)");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"max_queue_depth\": 5000}}",
		     "iscsi.max_queue_depth: 5000 is out of range; use 1..4096 (commands per session)");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"nop_interval\": 0}}",
		     "iscsi.nop_interval: 0 is out of range; use 1..3600 (seconds)");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"first_burst_length\": 8192, "
		     "\"max_burst_length\": 4096}}",
		     "iscsi.first_burst_length: 8192 exceeds max_burst_length 4096; FirstBurstLength may not exceed "
		     "MaxBurstLength (RFC 7143 13.14), lower first_burst_length");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"max_burst_length\": 4096}}",
		     "iscsi.first_burst_length: 262144 (the default) exceeds max_burst_length 4096; FirstBurstLength may "
		     "not exceed MaxBurstLength (RFC 7143 13.14), lower first_burst_length");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"max_recv_data_segment\": 4096}}",
		     "iscsi.max_recv_data_segment: unknown key; did you mean \"max_recv_data_segment_length\"?");
}

#define TGT(body) "{\"volumes\": [" VOL0 "], \"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"targets\": [" body "]}}"

static void test_target_errors(void **state)
{
	(void)state;
	expect_error(TGT("{\"alias\": \"x\"}"),
		     "iscsi.targets[0].name: missing; every target needs an iSCSI name, e.g. "
		     "iqn.2026-11.org.example:disk1");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org.softhba:T0\"}"),
		     "iscsi.targets[0].name: \"iqn.2026-11.org.softhba:T0\": iSCSI names are lower-case; write "
		     "\"iqn.2026-11.org.softhba:t0\"");
	expect_error(TGT("{\"name\": \"disk1\"}"),
		     "iscsi.targets[0].name: \"disk1\" must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 4.2.7), "
		     "e.g. iqn.2026-11.org.example:disk1");
	expect_error(TGT("{\"name\": \"iqn.2026-13.org.x\"}"), "iscsi.targets[0].name: \"iqn.2026-13.org.x\": month 13 is not 01..12");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org..x\"}"),
		     "iscsi.targets[0].name: \"iqn.2026-11.org..x\": empty label in the domain part \"org..x\"");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org.x:a_b\"}"),
		     "iscsi.targets[0].name: \"iqn.2026-11.org.x:a_b\": character '_' is not allowed; iSCSI names use a-z, "
		     "0-9, '.', '-' and ':'");
	expect_error(TGT("{\"name\": \"eui.02004567a425678\"}"),
		     "iscsi.targets[0].name: \"eui.02004567a425678\": \"eui.\" must be followed by exactly 16 hex digits "
		     "(an EUI-64), e.g. eui.02004567a425678d");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org.x\"}, {\"name\": \"iqn.2026-11.org.x\"}"),
		     "iscsi.targets[1].name: \"iqn.2026-11.org.x\" is already the name of iscsi.targets[0]; target names "
		     "must be unique");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org.x\", \"alias\": \"a\\tb\"}"),
		     "iscsi.targets[0].alias: contains a control character");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org.x\", \"lun\": []}"),
		     "iscsi.targets[0].lun: unknown key; did you mean \"luns\"?");
	expect_error(TGT("{\"name\": \"iqn.2026-11.org.x\", \"luns\": {}}"),
		     "iscsi.targets[0].luns: expected an array [...], got an object");
}

#define LUNS(body) TGT("{\"name\": \"iqn.2026-11.org.x\", \"luns\": [" body "]}")

static void test_lun_errors(void **state)
{
	(void)state;
	expect_error(LUNS("{\"volume\": \"ram0\"}"),
		     "iscsi.targets[0].luns[0].lun: missing; give every LUN its number, e.g. \"lun\": 0");
	expect_error(LUNS("{\"lun\": 16384, \"volume\": \"ram0\"}"),
		     "iscsi.targets[0].luns[0].lun: 16384 is out of range; use 0..16383 (flat LUN addressing)");
	expect_error(LUNS("{\"lun\": -1, \"volume\": \"ram0\"}"),
		     "iscsi.targets[0].luns[0].lun: -1 is out of range; use 0..16383 (flat LUN addressing)");
	expect_error(LUNS("{\"lun\": 3, \"volume\": \"ram0\"}, {\"lun\": 3, \"volume\": \"ram0\"}"),
		     "iscsi.targets[0].luns[1].lun: LUN 3 is already used by luns[0] of this target; LUN numbers must be "
		     "unique");
	expect_error(LUNS("{\"lun\": 0}"),
		     "iscsi.targets[0].luns[0].volume: missing; name the volume this LUN exports, e.g. \"volume\": \"disk0\"");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram9\"}"),
		     "iscsi.targets[0].luns[0].volume: no volume named \"ram9\"; did you mean \"ram0\"?");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"disk7\"}"),
		     "iscsi.targets[0].luns[0].volume: no volume named \"disk7\" (the volumes are: ram0)");
	expect_error("{\"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"targets\": [{\"name\": \"iqn.2026-11.org.x\", "
		     "\"luns\": [{\"lun\": 0, \"volume\": \"disk7\"}]}]}}",
		     "iscsi.targets[0].luns[0].volume: no volume named \"disk7\"; define it under \"volumes\"");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"thin\": 1}"),
		     "iscsi.targets[0].luns[0].thin: expected true or false, got an integer");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"writecache\": true}"),
		     "iscsi.targets[0].luns[0].writecache: unknown key; did you mean \"write_cache\"?");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"vendor\": \"TOOLONGVN\"}"),
		     "iscsi.targets[0].luns[0].vendor: is 9 bytes long; at most 8 are allowed");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"product\": \"caf\\u00e9\"}"),
		     "iscsi.targets[0].luns[0].product: SCSI identification strings are printable ASCII only");
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"revision\": \"12345\"}"),
		     "iscsi.targets[0].luns[0].revision: is 5 bytes long; at most 4 are allowed");
}

static void test_sanitize_rate(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"sanitize_rate\": \"16MiB\"}"));
	assert_int_equal(cfg->iscsi.targets[0].luns[0].sanitize_mib_s, 16);
	config_free(cfg);
	const char *msg = "iscsi.targets[0].luns[0].sanitize_rate: give the SANITIZE pacing in whole MiB per second, at "
			  "least \"1MiB\" (or leave the key out for no limit)";
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"sanitize_rate\": \"512KiB\"}"), msg);
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"sanitize_rate\": \"1536KiB\"}"), msg);
	expect_error(LUNS("{\"lun\": 0, \"volume\": \"ram0\", \"sanitize_rate\": 0}"), msg);
}

static void test_sizes(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },          { "4096", 4096 },          { "512MiB", 512ull << 20 }, { "1GiB", 1ull << 30 },
		{ "1G", 1ull << 30 }, { "2 TiB", 2ull << 40 },   { "3k", 3072 },             { "1p", 1ull << 50 },
		{ "16383P", 16383ull << 50 }, { "18446744073709551615", UINT64_MAX },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 1;
		char why[200] = "";
		assert_int_equal(config_parse_size(ok[i].s, &v, why, sizeof(why)), 0);
		assert_true(v == ok[i].v);
	}
	static const char *const bad[] = { "", "GiB", "-1", "1.5GiB", "1 GB", "1KB", "16384P", "18446744073709551616",
					   " 1", "1 G i B" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 77;
		char why[200] = "";
		assert_int_equal(config_parse_size(bad[i], &v, why, sizeof(why)), -EINVAL);
		assert_true(v == 77);
		assert_non_null(strstr(why, bad[i]));
	}
}

static void test_portals(void **state)
{
	(void)state;
	struct cfg_portal p;
	char why[300], buf[80];

	assert_int_equal(config_parse_portal("[0:0::1]:3260", &p, why, sizeof(why)), 0);
	assert_string_equal(p.host, "::1"); /* canonical form */
	assert_true(p.ipv6);
	config_format_portal(&p, 41234, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:41234");
	assert_int_equal(config_parse_portal("10.1.2.3:0", &p, why, sizeof(why)), 0);
	assert_false(p.ipv6);
	config_format_portal(&p, 3260, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.3:3260");

	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "[::1]", "\"[::1]\": write the port after the brackets, e.g. \"[::1]:3260\"" },
		{ "[::1:3260", "\"[::1:3260\": missing ']' after the IPv6 address, e.g. \"[::1]:3260\"" },
		{ "[1.2.3.4]:1", "\"[1.2.3.4]:1\": \"1.2.3.4\" is not a numeric IPv6 address" },
		{ "[]:1", "\"[]:1\": not a numeric IPv6 address in brackets" },
		{ ":3260", "\":3260\" has no host; use \"0.0.0.0:3260\" for every IPv4 address or \"127.0.0.1:3260\" "
			   "for this machine only" },
		{ "1.2.3.4:", "\"1.2.3.4:\" has no port after the colon; e.g. \"127.0.0.1:3260\"" },
		{ "1.2.3.4:32a", "\"1.2.3.4:32a\": port \"32a\" is not a number from 0 to 65535" },
		{ "1.2.3.4:99999999999999999999", "\"1.2.3.4:99999999999999999999\": port 99999999999999999999 is above "
						  "65535" },
		{ "256.1.1.1:1", "\"256.1.1.1:1\": \"256.1.1.1\" is not a numeric IPv4 address (host names are not "
				 "resolved); e.g. \"127.0.0.1:3260\", or \"[::1]:3260\" for IPv6" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfg_portal q = { .host = "keep", .port = 9 };
		assert_int_equal(config_parse_portal(bad[i].s, &q, why, sizeof(why)), -EINVAL);
		assert_string_equal(why, bad[i].why);
		assert_string_equal(q.host, "keep");
		assert_int_equal(q.port, 9);
	}
}

static void test_iscsi_names(void **state)
{
	(void)state;
	char why[300];
	static const char *const ok[] = {
		"iqn.2026-11.org.softhba:demo", "iqn.1993-08.org.debian:01:abc", "iqn.2001-04.com.example",
		"iqn.2001-04.com.example:storage.disk2.sys1.xyz", "eui.02004567a425678d",
		"naa.52004567ba64678d", "naa.52004567ba64678d52004567ba64678d",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		why[0] = '\0';
		if (config_check_iscsi_name(ok[i], why, sizeof(why)))
			print_error("%s: %s\n", ok[i], why);
		assert_int_equal(config_check_iscsi_name(ok[i], why, sizeof(why)), 0);
	}
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "", "the name is empty; e.g. iqn.2026-11.org.example:disk1" },
		{ "iqn.26-11.org.x", "\"iqn.26-11.org.x\": \"iqn.\" must be followed by the date yyyy-mm when the naming "
				     "authority owned its domain, then '.', then the domain reversed; e.g. "
				     "iqn.2026-11.org.example:disk1" },
		{ "iqn.2026-00.org.x", "\"iqn.2026-00.org.x\": month 00 is not 01..12" },
		{ "iqn.2026-11org.x", "\"iqn.2026-11org.x\": the date must be followed by '.' and the reversed domain; "
				      "e.g. iqn.2026-11.org.example:disk1" },
		{ "iqn.2026-11.:x", "\"iqn.2026-11.:x\": the reversed domain name after the date is missing; e.g. "
				    "iqn.2026-11.org.example:disk1" },
		{ "iqn.2026-11.org.x.", "\"iqn.2026-11.org.x.\": empty label in the domain part \"org.x.\"" },
		{ "iqn.2026-11.org.x:", "\"iqn.2026-11.org.x:\": nothing follows ':'; remove the colon or add a unique "
					"string" },
		{ "iqn.2026-11.org.x:a b", "\"iqn.2026-11.org.x:a b\": character ' ' is not allowed; iSCSI names use "
					   "a-z, 0-9, '.', '-' and ':'" },
		{ "iqn.2026-11.org.x:\x01", "\"iqn.2026-11.org.x:\x01\": byte 0x01 is not allowed; iSCSI names use "
					    "a-z, 0-9, '.', '-' and ':'" },
		{ "EUI.02004567A425678D", "\"EUI.02004567A425678D\": iSCSI names are lower-case; write "
					  "\"eui.02004567a425678d\"" },
		{ "IQN.2026-11.ORG.x:Y_", "\"IQN.2026-11.ORG.x:Y_\": character '_' is not allowed; iSCSI names use "
					  "a-z, 0-9, '.', '-' and ':'" },
		{ "IQN.2026-11.ORG", "\"IQN.2026-11.ORG\": iSCSI names are lower-case; write \"iqn.2026-11.org\"" },
		{ "iscsi.2026-11.org", "\"iscsi.2026-11.org\" must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 "
				       "4.2.7), e.g. iqn.2026-11.org.example:disk1" },
		{ "eui.02004567a425678g", "\"eui.02004567a425678g\": \"eui.\" must be followed by exactly 16 hex digits "
					  "(an EUI-64), e.g. eui.02004567a425678d" },
		{ "naa.52004567ba64678d5", "\"naa.52004567ba64678d5\": \"naa.\" must be followed by 16 or 32 hex digits, "
					   "e.g. naa.52004567ba64678d" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_check_iscsi_name(bad[i].s, why, sizeof(why)), -EINVAL);
		assert_string_equal(why, bad[i].why);
	}
	/* 223 bytes is the limit (RFC 7143 4.2.7.1). */
	char name[300] = "iqn.2026-11.org.x:";
	size_t l = strlen(name);
	memset(name + l, 'a', 223 - l);
	name[223] = '\0';
	assert_int_equal(config_check_iscsi_name(name, why, sizeof(why)), 0);
	strcat(name, "a");
	assert_int_equal(config_check_iscsi_name(name, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "the name is 224 bytes long; iSCSI names are at most 223 (RFC 7143 4.2.7.1)");
}

static void test_suggest(void **state)
{
	(void)state;
	static const char *const words[] = { "serve", "demo", "help", "block_size" };
	assert_string_equal(config_suggest("srve", words, 4), "serve");
	assert_string_equal(config_suggest("DEMO", words, 4), "demo");
	assert_string_equal(config_suggest("blocksize", words, 4), "block_size");
	assert_null(config_suggest("xyzzy", words, 4));
	assert_null(config_suggest("anything", words, 0));
}

static void test_files(void **state)
{
	(void)state;
	struct softhba_config *cfg = SENTINEL;
	char err[512] = "";

	assert_int_equal(config_load_file("/nonexistent/softhba.json", &cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "cannot open: No such file or directory");
	assert_ptr_equal(cfg, SENTINEL);

	char path[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char doc[] = "{\n  \"iscsi\": {\n    \"portals\": [\"127.0.0.1:3260\"],\n    \"targets\": []\n  },\n}\n";
	assert_int_equal(write(fd, doc, sizeof(doc) - 1), (ssize_t)(sizeof(doc) - 1));
	close(fd);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 6, column 1: string or '}' expected near '}'");
	assert_ptr_equal(cfg, SENTINEL);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, sizeof(doc) - 5), (ssize_t)(sizeof(doc) - 5)); /* drop the stray ',' */
	assert_int_equal(write(fd, "\n}\n", 3), 3);
	close(fd);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), 0);
	assert_true(cfg != SENTINEL);
	assert_int_equal(cfg->iscsi.n_targets, 0);
	config_free(cfg);
	unlink(path);
}

/* The example in docs/configuration.md must stay valid and mean what the doc says. */
static void test_doc_example(void **state)
{
	(void)state;
	const char *doc = getenv("SOFTHBA_CONFIG_DOC");
	if (!doc)
		doc = SOFTHBA_SOURCE_ROOT "/docs/configuration.md";
	FILE *f = fopen(doc, "r");
	assert_non_null(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	char *start = strstr(text, "```json\n");
	assert_non_null(start);
	start += strlen("```json\n");
	char *end = strstr(start, "```");
	assert_non_null(end);
	*end = '\0';
	struct softhba_config *cfg = expect_ok(start);
	assert_int_equal(cfg->reactors, 2);
	assert_int_equal(cfg->n_volumes, 3);
	assert_int_equal(cfg->volumes[1].backend, CFG_BACKEND_FILE);
	assert_true(cfg->volumes[2].size == 1ull << 40);
	assert_int_equal(cfg->iscsi.n_targets, 1);
	assert_true(cfg->iscsi.targets[0].luns[0].thin);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),      cmocka_unit_test(test_full),
		cmocka_unit_test(test_document_errors), cmocka_unit_test(test_log_errors),
		cmocka_unit_test(test_volume_errors), cmocka_unit_test(test_iscsi_errors),
		cmocka_unit_test(test_target_errors), cmocka_unit_test(test_lun_errors),
		cmocka_unit_test(test_sanitize_rate),
		cmocka_unit_test(test_sizes),         cmocka_unit_test(test_portals),
		cmocka_unit_test(test_iscsi_names),   cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_files),         cmocka_unit_test(test_doc_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
