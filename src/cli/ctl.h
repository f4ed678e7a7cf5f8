/* ctl.h - the softhba client: subcommands that talk to a running daemon over its control socket (JSON-RPC 2.0). */
#ifndef SOFTHBA_CLI_CTL_H
#define SOFTHBA_CLI_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* `softhba [--socket PATH] [--json] status | volume list | target list |
 * session list | log-level [COMP LEVEL] | rpc METHOD [JSON-PARAMS]`.
 * argv[0] is the subcommand word or a client option; returns an exit
 * status (0, 1 daemon error or unreachable, 2 usage). */
int cmd_ctl(int argc, char **argv);
extern const char cli_usage_ctl[];

/* The client's command line: options and the words after them. */
struct ctl {
	const char *socket;
	bool json;
	const char *words[16];
	unsigned n_words;
};

/* Call method (params stolen) and print the result with print (or as JSON
 * with --json or when print is NULL); errors go to stderr. Returns an exit status. */
int ctl_run(const struct ctl *o, const char *method, json_t *params, void (*print)(json_t *r));

/* ctl_raid.c: `softhba raid ...` (o->words[0] is "raid"). */
int ctl_raid(const struct ctl *o);
extern const char cli_usage_raid[];

/* ctl_log.c: `softhba log ...`; argv[0] is "log", c holds the options
 * given before it. cmd_log: the same from main's command table. */
int ctl_log(const struct ctl *c, int argc, char **argv);
int cmd_log(int argc, char **argv);
extern const char cli_usage_log[];

/* True for the options that may come before a client subcommand (--socket, --json). */
bool ctl_is_option(const char *arg);

/* ---- ctl_conn.c: one call over the socket ---- */

#define CTL_TIMEOUT_S 30
#define CTL_MAX_ANSWER (64u << 20)

/* The socket to use: explicit (--socket), else $SOFTHBA_SOCKET, else the
 * first of /run/softhba/softhba.sock and the demo's <state dir>/ctl.sock
 * that exists, else /run/softhba/softhba.sock. When the path is a default,
 * *also receives the other default (for the "cannot connect" message) or "". */
void ctl_socket_path(const char *explicit_path, char *out, size_t len, char *also, size_t alsolen);

/* Call method with params (reference stolen; NULL: none). Returns 0 with
 * *result set (caller owns it), 1 with *error set (the daemon's error
 * object, caller owns it), or -errno with why set (could not reach the
 * daemon, no or malformed answer). */
int ctl_call(const char *path, const char *method, json_t *params, json_t **result, json_t **error, char *why,
	     size_t whylen);

#endif
