/* main.c - the softhba binary: subcommand dispatch, --help/--version, and the serve command line. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/serve.h"
#include "core/config.h"
#include "core/util.h"

static const char usage_main[] =
	"usage: softhba <command> [options]\n"
	"\n"
	"User-space storage controller: volumes served as SCSI disks over iSCSI.\n"
	"\n"
	"Commands:\n"
	"  serve --config FILE   run the daemon a JSON configuration describes\n"
	"  demo                  serve a demo RAID 5 volume on 127.0.0.1:3260, no configuration needed\n"
	"  help [COMMAND]        show this text, or the options of COMMAND\n"
	"\n"
	"Client commands (ask a running daemon; see 'softhba help status'):\n"
	"  status | volume list | target list | session list | raid ...\n"
	"  log [-n N] [--follow] | log-level [COMP LEVEL] | rpc METHOD [JSON-PARAMS]\n"
	"                        with [--socket PATH] [--json]\n"
	"\n"
	"Options:\n"
	"  -h, --help            show this text\n"
	"  -V, --version         print the version\n"
	"\n"
	"The configuration format is described in docs/configuration.md.\n";

const char cli_usage_serve[] =
	"usage: softhba serve --config FILE [--reactors N] [--log-level LEVEL] [--check]\n"
	"\n"
	"Run the daemon FILE describes (JSON, see docs/configuration.md) until SIGINT\n"
	"or SIGTERM. The whole file is checked before anything starts. Once every\n"
	"portal listens, one line per exported LUN, iscsi://HOST:PORT/TARGET/LUN, is\n"
	"printed on stdout. SIGINT/SIGTERM closes the sessions, flushes every volume\n"
	"and exits; a second one exits at once.\n"
	"\n"
	"  -c, --config FILE      the configuration (required)\n"
	"  -r, --reactors N       event-loop threads (default: the config's \"reactors\",\n"
	"                         else one per online CPU)\n"
	"  -l, --log-level LEVEL  error, warn, notice, info or debug; replaces log.level\n"
	"                         (log.components still apply)\n"
	"      --check            only validate FILE: exit 0 if it is valid, 2 otherwise\n"
	"  -h, --help             show this text\n"
	"\n"
	"Exit status: 0 clean shutdown, 1 start-up or shutdown failure,\n"
	"2 bad command line or configuration.\n";

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "softhba%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nType 'softhba help%s%s' for usage.\n", cmd ? " " : "", cmd ? cmd : "");
	return CLI_EXIT_USAGE;
}

int cli_getopt_error(const char *cmd, int c, char **argv, const struct option *longopts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const char *names[32];
	size_t n = 0;

	for (const struct option *o = longopts; o->name && n < ARRAY_SIZE(names); o++)
		names[n++] = o->name;
	if (c == ':') {
		if (optopt && optopt < 256 && strncmp(arg, "--", 2) != 0)
			return cli_usage_error(cmd, "option '-%c' needs a value", optopt);
		return cli_usage_error(cmd, "option '%s' needs a value", arg);
	}
	if (optopt && optopt < 256 && strncmp(arg, "--", 2) != 0)
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	if (optopt) /* a long option given "=value" that takes none */
		return cli_usage_error(cmd, "option '%.*s' takes no value", (int)strcspn(arg, "="), arg);
	char word[64];
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
	const char *hint = config_suggest(word, names, n);
	if (hint)
		return cli_usage_error(cmd, "unknown option '%s'; did you mean '--%s'?", arg, hint);
	return cli_usage_error(cmd, "unknown option '%s'", arg);
}

int cli_parse_reactors(const char *cmd, const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 1 || v > CFG_REACTORS_MAX)
		return cli_usage_error(cmd, "--reactors wants a number from 1 to %u, not '%s'", CFG_REACTORS_MAX, s);
	*out = (unsigned)v;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "reactors", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct serve_params p = { .listen_hint = "change iscsi.portals in the configuration" };
	const char *path = NULL;
	bool check = false;
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":c:r:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'r':
			if (cli_parse_reactors("serve", optarg, &p.reactors))
				return CLI_EXIT_USAGE;
			break;
		case 'l':
			if (log_level_parse(optarg, &p.log_level))
				return cli_usage_error("serve", "--log-level wants error, warn, notice, info or debug, not '%s'",
						       optarg);
			p.log_level_set = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			fputs(cli_usage_serve, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error("serve", c, argv, opts);
		}
	}
	if (optind < argc) {
		const char *a = argv[optind];
		size_t l = strlen(a);
		if (l > 5 && strcmp(a + l - 5, ".json") == 0)
			return cli_usage_error("serve", "unexpected argument '%s'; did you mean '--config %s'?", a, a);
		return cli_usage_error("serve", "unexpected argument '%s'", a);
	}
	if (!path)
		return cli_usage_error("serve", "--config FILE is required, e.g. 'softhba serve --config softhba.json' "
					       "(or try 'softhba demo')");

	struct softhba_config *cfg = NULL;
	char err[512];
	if (config_load_file(path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "softhba: %s: %s\n", path, err);
		return CLI_EXIT_USAGE;
	}
	if (check) {
		printf("%s: valid (%u volume(s), %u target(s))\n", path, cfg->n_volumes, cfg->iscsi.n_targets);
		config_free(cfg);
		return CLI_EXIT_OK;
	}
	p.cfg = cfg;
	int status = serve_run(&p);
	config_free(cfg);
	return status;
}

static int cmd_version(void)
{
	printf("softhba %s\n", SOFTHBA_VERSION);
	return CLI_EXIT_OK;
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "serve", cmd_serve, cli_usage_serve },
	{ "demo", cmd_demo, cli_usage_demo },
	{ "status", cmd_ctl, cli_usage_ctl },
	{ "volume", cmd_ctl, cli_usage_ctl },
	{ "target", cmd_ctl, cli_usage_ctl },
	{ "session", cmd_ctl, cli_usage_ctl },
	{ "log-level", cmd_ctl, cli_usage_ctl },
	{ "rpc", cmd_ctl, cli_usage_ctl },
	{ "raid", cmd_ctl, cli_usage_raid },
	{ "log", cmd_log, cli_usage_log },
};

static const char *const all_words[] = { "serve", "demo", "help", "version", "--help", "--version",
					 "status", "volume", "target", "session", "log-level", "rpc", "raid", "log" };

static int unknown_command(const char *what)
{
	const char *hint = config_suggest(what, all_words, ARRAY_SIZE(all_words));
	if (hint)
		return cli_usage_error(NULL, "unknown command '%s'; did you mean '%s'?", what, hint);
	return cli_usage_error(NULL, "unknown command '%s'; the commands are serve, demo and help", what);
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2)
		return cli_usage_error("help", "give one command, e.g. 'softhba help serve'");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			fputs(commands[i].usage, stdout);
			return CLI_EXIT_OK;
		}
	}
	if (strcmp(argv[1], "help") == 0) {
		fputs(usage_main, stdout);
		return CLI_EXIT_OK;
	}
	return unknown_command(argv[1]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return CLI_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		if (argc > 2)
			return cli_usage_error(NULL, "'%s' takes no arguments", cmd);
		return cmd_version();
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	if (ctl_is_option(cmd)) /* softhba --socket PATH status */
		return cmd_ctl(argc - 1, argv + 1);
	if (cmd[0] == '-') {
		const char *hint = config_suggest(cmd, all_words + 4, 2);
		if (hint)
			return cli_usage_error(NULL, "unknown option '%s'; did you mean '%s'?", cmd, hint);
		return cli_usage_error(NULL, "unknown option '%s'; options of a command go after it, e.g. "
					     "'softhba serve --config FILE'", cmd);
	}
	return unknown_command(cmd);
}
