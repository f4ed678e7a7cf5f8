/* ua.c - per I_T_L nexus unit attention queues (SAM-5 5.14): queue, supersede, report oldest first. */
#include "scsi/scsi_internal.h"

static bool is_reset_class(uint16_t code)
{
	return (code >> 8) == 0x29;
}

void scsi_ua_add(struct scsi_itl *itl, uint16_t code)
{
	if (is_reset_class(code)) {
		/* a reset supersedes everything queued before it: the state those
		 * conditions described was reset too */
		itl->ua[0] = code;
		itl->ua_n = 1;
	} else {
		for (unsigned i = 0; i < itl->ua_n; i++)
			if (itl->ua[i] == code)
				return;
		if (itl->ua_n == SCSI_UA_QUEUE) {
			/* full: the newest condition replaces the last queued one */
			itl->ua[SCSI_UA_QUEUE - 1] = code;
		} else {
			itl->ua[itl->ua_n++] = code;
		}
	}
	atomic_store_explicit(&itl->ua_count, itl->ua_n, memory_order_release);
}

void scsi_ua_add_all(struct scsi_lu *lu, const struct scsi_nexus *except, uint16_t code)
{
	for (struct scsi_itl *itl = lu->itls; itl; itl = itl->next_in_lu)
		if (itl->nexus != except)
			scsi_ua_add(itl, code);
}

uint16_t scsi_ua_take(struct scsi_itl *itl)
{
	uint16_t code;

	if (itl->ua_n == 0)
		return 0;
	code = itl->ua[0];
	for (unsigned i = 1; i < itl->ua_n; i++)
		itl->ua[i - 1] = itl->ua[i];
	itl->ua_n--;
	atomic_store_explicit(&itl->ua_count, itl->ua_n, memory_order_release);
	return code;
}

void scsi_ua_clear(struct scsi_itl *itl)
{
	itl->ua_n = 0;
	atomic_store_explicit(&itl->ua_count, 0, memory_order_release);
}
