/* demo.c - `softhba demo`: the embedded default configuration (a RAID 5 volume over four sparse member files, served over iSCSI) and its banner. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "core/config.h"

#define DEMO_TARGET "iqn.2026-11.org.softhba:demo"
#define DEMO_VOLUME "demo"
#define DEMO_MEMBERS 4
#define DEMO_MEMBER_SIZE (512ull << 20)
#define DEMO_LISTEN "127.0.0.1:3260"

const char cli_usage_demo[] =
	"usage: softhba demo [--state-dir DIR] [--iscsi-listen HOST:PORT] [--reactors N]\n"
	"\n"
	"Serve a RAID 5 volume (about 1.5 GiB) as LUN 0 of target\n"
	DEMO_TARGET ". Its four members are sparse 512 MiB files,\n"
	"member0.img .. member3.img, in the state directory; each carries a RAID\n"
	"superblock, so a restart reassembles the array with what was written.\n"
	"'softhba raid show demo' shows the array; 'softhba raid fail demo 1' lets\n"
	"you watch it run degraded, 'softhba raid add demo demo.m1' rebuilds the\n"
	"member. Ctrl-C stops.\n"
	"\n"
	"  -s, --state-dir DIR           where the member files live (default: $SOFTHBA_STATE_DIR;\n"
	"                                else /var/lib/softhba/demo as root; else\n"
	"                                $XDG_STATE_HOME/softhba/demo or ~/.local/state/softhba/demo)\n"
	"  -l, --iscsi-listen HOST:PORT  address to serve on (default " DEMO_LISTEN ";\n"
	"                                [::1]:3260 for IPv6; port 0 picks a free port)\n"
	"  -r, --reactors N              event-loop threads (default: one per online CPU)\n"
	"  -h, --help                    show this text\n";

struct demo {
	char state_dir[PATH_MAX];
	char members[DEMO_MEMBERS][PATH_MAX + 16];
	struct cfg_portal portal;
};

/* Default state directory, following the rules in cli_usage_demo. */
static int default_state_dir(char *out, size_t len)
{
	const char *env = getenv("SOFTHBA_STATE_DIR");
	int n;

	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/var/lib/softhba/demo");
	else if ((env = getenv("XDG_STATE_HOME")) && env[0] == '/')
		n = snprintf(out, len, "%s/softhba/demo", env);
	else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || !*home) {
			fprintf(stderr, "softhba demo: no home directory to keep the demo disk in; give --state-dir DIR\n");
			return -ENOENT;
		}
		n = snprintf(out, len, "%s/.local/state/softhba/demo", home);
	}
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "softhba demo: the state directory path is too long; give a shorter --state-dir\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* mkdir -p with mode 0700 for what it creates; the last component must end up a directory. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Create or reopen the state directory; a lock file keeps a second demo out of it. */
static int open_state(struct demo *dm, int *lock_fd)
{
	char lock[PATH_MAX + 16];
	char real[PATH_MAX];
	int rc = make_dirs(dm->state_dir);

	if (rc) {
		fprintf(stderr, "softhba demo: cannot use %s as the state directory: %s; give another one with "
				"--state-dir DIR\n", dm->state_dir, strerror(-rc));
		return rc;
	}
	if (realpath(dm->state_dir, real))
		snprintf(dm->state_dir, sizeof(dm->state_dir), "%s", real);
	snprintf(lock, sizeof(lock), "%s/lock", dm->state_dir);
	*lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lock_fd < 0) {
		rc = -errno;
		fprintf(stderr, "softhba demo: cannot open %s: %s\n", lock, strerror(-rc));
		return rc;
	}
	if (flock(*lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK)
			fprintf(stderr, "softhba demo: another softhba demo is using %s; stop it first, or give this one "
					"its own --state-dir\n", dm->state_dir);
		else
			fprintf(stderr, "softhba demo: cannot lock %s: %s\n", lock, strerror(-rc));
		close(*lock_fd);
		*lock_fd = -1;
		return rc;
	}
	for (unsigned i = 0; i < DEMO_MEMBERS; i++)
		snprintf(dm->members[i], sizeof(dm->members[i]), "%s/member%u.img", dm->state_dir, i);
	return 0;
}

/* The embedded default: one RAID 5 volume over buffered sparse files, one target, one LUN, one portal. */
static struct softhba_config *demo_config(const struct demo *dm)
{
	struct softhba_config *cfg = config_new();
	if (!cfg)
		return NULL;
	cfg->volumes = calloc(1, sizeof(*cfg->volumes));
	cfg->iscsi.portals = calloc(1, sizeof(*cfg->iscsi.portals));
	cfg->iscsi.targets = calloc(1, sizeof(*cfg->iscsi.targets));
	if (!cfg->volumes || !cfg->iscsi.portals || !cfg->iscsi.targets)
		goto nomem;

	struct cfg_volume *v = &cfg->volumes[0];
	cfg->n_volumes = 1;
	v->name = strdup(DEMO_VOLUME);
	v->backend = CFG_BACKEND_RAID;
	v->block_size = 512;
	v->raid = calloc(1, sizeof(*v->raid));
	if (!v->name || !v->raid)
		goto nomem;
	struct cfg_raid *r = v->raid;
	r->level = 5;
	r->journal = true;
	r->bitmap = true;
	r->create = CFG_RAID_CREATE_IF_MISSING; /* first run creates; later runs assemble from the superblocks */
	r->members = calloc(DEMO_MEMBERS, sizeof(*r->members));
	if (!r->members)
		goto nomem;
	r->n_members = DEMO_MEMBERS;
	for (unsigned i = 0; i < DEMO_MEMBERS; i++) {
		struct cfg_member *m = &r->members[i];
		m->backend = CFG_BACKEND_FILE;
		m->size = DEMO_MEMBER_SIZE;
		m->block_size = 512;
		m->direct = false; /* buffered: the page cache is a volatile cache, so WCE=1 is true and FLUSH = fdatasync */
		m->path = strdup(dm->members[i]);
		if (!m->path)
			goto nomem;
	}

	cfg->iscsi.enabled = true;
	cfg->iscsi.portals[0] = dm->portal;
	cfg->iscsi.n_portals = 1;

	struct cfg_target *t = &cfg->iscsi.targets[0];
	cfg->iscsi.n_targets = 1;
	t->name = strdup(DEMO_TARGET);
	t->alias = strdup("softhba demo");
	t->luns = calloc(1, sizeof(*t->luns));
	if (!t->name || !t->alias || !t->luns)
		goto nomem;
	t->n_luns = 1;
	t->luns[0] = (struct cfg_lun){ .lun = 0, .volume = 0, .write_cache = true }; /* RAID 5 cannot deallocate: not thin */
	t->luns[0].serial = strdup("softhba-demo-0");
	if (!t->luns[0].serial)
		goto nomem;
	return cfg;
nomem:
	config_free(cfg);
	return NULL;
}

static void demo_banner(const struct serve_ready *r, void *arg)
{
	const struct demo *dm = arg;
	const char *hp = r->n_portals ? r->portals[0] : "?";

	printf("softhba demo: serving a RAID 5 volume over iSCSI\n"
	       "  members: %s/member0.img .. member%u.img (sparse, %llu MiB each;\n"
	       "           superblocks on each: a restart reassembles the array)\n"
	       "  target:  " DEMO_TARGET ", LUN 0, on %s\n"
	       "  control: softhba raid show " DEMO_VOLUME "   (softhba raid fail " DEMO_VOLUME " 1: run degraded)\n"
	       "Connect to:\n", dm->state_dir, DEMO_MEMBERS - 1, DEMO_MEMBER_SIZE >> 20, hp);
	for (unsigned i = 0; i < r->n_lun_urls; i++)
		printf("%s\n", r->lun_urls[i]);
	printf("For example:\n"
	       "  iscsi-inq %s\n"
	       "  iscsi-ls iscsi://%s\n"
	       "  iscsiadm -m discovery -t st -p %s\n"
	       "  iscsiadm -m node -T " DEMO_TARGET " -p %s --login\n"
	       "Ctrl-C stops.\n",
	       r->n_lun_urls ? r->lun_urls[0] : "", hp, hp, hp);
	fflush(stdout);
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "iscsi-listen", required_argument, NULL, 'l' },
		{ "reactors", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct demo dm = { 0 };
	const char *state = NULL, *listen = DEMO_LISTEN;
	unsigned reactors = 0;
	char why[300];
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":s:l:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			state = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'r':
			if (cli_parse_reactors("demo", optarg, &reactors))
				return CLI_EXIT_USAGE;
			break;
		case 'h':
			fputs(cli_usage_demo, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error("demo", c, argv, opts);
		}
	}
	if (optind < argc)
		return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
	if (config_parse_portal(listen, &dm.portal, why, sizeof(why)))
		return cli_usage_error("demo", "--iscsi-listen %s", why);
	if (state && !*state)
		return cli_usage_error("demo", "--state-dir wants a directory, not an empty string");
	if (state) {
		if (strlen(state) >= sizeof(dm.state_dir))
			return cli_usage_error("demo", "--state-dir path is too long");
		snprintf(dm.state_dir, sizeof(dm.state_dir), "%s", state);
	} else if (default_state_dir(dm.state_dir, sizeof(dm.state_dir))) {
		return CLI_EXIT_FAIL;
	}

	int lock_fd = -1;
	if (open_state(&dm, &lock_fd))
		return CLI_EXIT_FAIL;
	struct softhba_config *cfg = demo_config(&dm);
	if (!cfg) {
		fprintf(stderr, "softhba demo: out of memory\n");
		close(lock_fd);
		return CLI_EXIT_FAIL;
	}
	char ctl[PATH_MAX + 16];
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", dm.state_dir);
	struct serve_params p = {
		.cfg = cfg,
		.reactors = reactors,
		.control_socket = ctl,
		.listen_hint = "pick another address with --iscsi-listen HOST:PORT (port 0 picks a free one)",
		.ready = demo_banner,
		.ready_arg = &dm,
	};
	int status = serve_run(&p);
	config_free(cfg);
	close(lock_fd);
	return status;
}
