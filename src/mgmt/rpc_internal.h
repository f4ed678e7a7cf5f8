/* rpc_internal.h - what the control socket's files share: socket-file creation and the built-in methods. */
#ifndef SOFTHBA_MGMT_RPC_INTERNAL_H
#define SOFTHBA_MGMT_RPC_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "mgmt/rpc.h"

/* rpc_sock.c: a listening, nonblocking Unix stream socket at path, created
 * mode 0600 under a temporary name in the same directory and renamed into
 * place; a stale socket at path is replaced, a live one refused
 * (-EADDRINUSE). *dev and *ino identify the file created. Returns the fd or
 * -errno with one sentence in err. */
int rpc_sock_listen(const char *path, dev_t *dev, ino_t *ino, char *err, size_t errlen);
/* Remove path if it still is the file (dev, ino) we created. */
void rpc_sock_unlink(const char *path, dev_t dev, ino_t ino);

/* rpc_builtin.c: the methods rpc.list and rpc.describe. */
extern const struct rpc_method rpc_method_rpc_list;
extern const struct rpc_method rpc_method_rpc_describe;

#endif
