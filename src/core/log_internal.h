/* log_internal.h - what log.c hands to the history (log_history.c); not for other layers. */
#ifndef SOFTHBA_CORE_LOG_INTERNAL_H
#define SOFTHBA_CORE_LOG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/* Record one line that went to the sink: it gets the next sequence number.
 * ctx may be NULL; ctx and text need not be NUL-terminated. Any thread;
 * takes the history lock for one copy. When the history cannot be
 * allocated the number is still used, so readers see the line as missed. */
void log_history_append(uint64_t ts_ns, enum log_level lvl, enum log_comp comp, int reactor, const char *ctx,
			size_t ctx_len, const char *text, size_t text_len);

#endif
