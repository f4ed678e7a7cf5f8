/* cli.h - subcommands of the softhba binary and the option-parsing helpers they share. */
#ifndef SOFTHBA_CLI_CLI_H
#define SOFTHBA_CLI_CLI_H

#include <getopt.h>

/* Exit statuses of every subcommand. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1   /* start-up or run-time failure */
#define CLI_EXIT_USAGE 2  /* bad command line or configuration */

/* Subcommands: argv[0] is the subcommand name. Return an exit status. */
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);

extern const char cli_usage_serve[];
extern const char cli_usage_demo[];

/* Print "softhba CMD: <message>; type 'softhba help CMD' ..." on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Explain a getopt_long() '?' or ':' return (optstring must begin with ':'); returns CLI_EXIT_USAGE. */
int cli_getopt_error(const char *cmd, int c, char **argv, const struct option *longopts);
/* Parse --reactors N (1..CFG_REACTORS_MAX); 0 or CLI_EXIT_USAGE after a message. */
int cli_parse_reactors(const char *cmd, const char *s, unsigned *out);

#endif
