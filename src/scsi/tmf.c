/* tmf.c - task management functions (SAM-5 7): LU-level effects of aborts, clears and resets. */
#include <stdlib.h>

#include "core/log.h"
#include "scsi/scsi_internal.h"

struct abort_msg {
	struct scsi_lu *lu;
	const struct scsi_nexus *only;
	unsigned idx;
};

static void abort_on_reactor(void *arg)
{
	struct abort_msg *m = arg;
	scsi_lu_abort_local(m->lu, m->idx, m->only);
	free(m);
}

/* Mark every in-flight task of lu (of nexus `only`, or all) aborted: on the
 * calling reactor at once, on the others through a message. */
void scsi_lu_abort(struct scsi_lu *lu, const struct scsi_nexus *only)
{
	struct reactor *self = reactor_self();
	unsigned nr = reactor_count();

	for (unsigned idx = 0; idx < lu->n_inflight && idx < nr; idx++) {
		struct abort_msg *m;
		if (self && reactor_index(self) == idx) {
			scsi_lu_abort_local(lu, idx, only);
			continue;
		}
		m = malloc(sizeof(*m));
		if (!m) {
			log_warn(LOGC_SCSI, lu->name, "task abort on reactor %u skipped: out of memory", idx);
			continue;
		}
		m->lu = lu;
		m->only = only;
		m->idx = idx;
		if (reactor_send_msg(reactor_get(idx), abort_on_reactor, m) != 0) {
			log_warn(LOGC_SCSI, lu->name, "task abort on reactor %u skipped: message queue full", idx);
			free(m);
		}
	}
}

/* Logical unit reset (SAM-5 6.3.3 / 5.14): abort all tasks, release the
 * RESERVE(6/10) reservation, clear medium removal prevention, restore mode
 * pages, unit attention `code` for every I_T nexus. PRs survive. */
static void lu_reset(struct scsi_lu *lu, uint16_t code)
{
	scsi_lu_abort(lu, NULL);
	pthread_mutex_lock(&lu->lock);
	lu->spc2_holder = NULL;
	scsi_lu_update_resv_gate(lu);
	for (struct scsi_itl *itl = lu->itls; itl; itl = itl->next_in_lu)
		itl->prevent = false;
	scsi_mode_reset(lu);
	scsi_ua_add_all(lu, NULL, code);
	pthread_mutex_unlock(&lu->lock);
}

int scsi_tmf_lu(struct scsi_nexus *n, uint64_t lun, enum scsi_tmf fn)
{
	struct scsi_target *t = n->target;
	struct scsi_lu *lu = scsi_target_lu(t, lun);

	switch (fn) {
	case SCSI_TMF_TARGET_WARM_RESET:
	case SCSI_TMF_TARGET_COLD_RESET: {
		uint16_t code = fn == SCSI_TMF_TARGET_WARM_RESET ? SCSI_UA_TARGET_RESET : SCSI_UA_COLD_RESET;
		unsigned cnt = scsi_target_lu_count(t);
		for (unsigned i = 0; i < cnt; i++) {
			struct scsi_lu *l = scsi_target_lu(t, scsi_target_lun_at(t, i));
			if (l)
				lu_reset(l, code);
		}
		log_notice(LOGC_SCSI, t->name, "target %s reset by %s", fn == SCSI_TMF_TARGET_WARM_RESET ? "warm" : "cold",
			   n->initiator_port);
		return SCSI_TMF_RSP_COMPLETE;
	}
	default:
		break;
	}

	if (!lu || !scsi_itl_get(n, lu))
		return SCSI_TMF_RSP_NO_LUN;

	switch (fn) {
	case SCSI_TMF_ABORT_TASK:
	case SCSI_TMF_QUERY_TASK:
		/* the task itself is the transport's (it knows the tag); no LU state changes */
		return SCSI_TMF_RSP_COMPLETE;
	case SCSI_TMF_ABORT_TASK_SET:
		/* only this I_T nexus's tasks; no unit attention (SAM-5 7.3) */
		scsi_lu_abort(lu, n);
		return SCSI_TMF_RSP_COMPLETE;
	case SCSI_TMF_CLEAR_TASK_SET:
		/* TST=000b: one task set shared by all I_T nexuses; the others are told */
		scsi_lu_abort(lu, NULL);
		pthread_mutex_lock(&lu->lock);
		scsi_ua_add_all(lu, n, SCSI_UA_CMDS_CLEARED);
		pthread_mutex_unlock(&lu->lock);
		return SCSI_TMF_RSP_COMPLETE;
	case SCSI_TMF_LU_RESET:
		lu_reset(lu, SCSI_UA_LU_RESET);
		log_notice(LOGC_SCSI, lu->name, "logical unit reset by %s", n->initiator_port);
		return SCSI_TMF_RSP_COMPLETE;
	case SCSI_TMF_CLEAR_ACA:
		/* NACA=1 is refused, so an ACA condition never exists */
		return SCSI_TMF_RSP_NOT_SUPPORTED;
	default:
		return SCSI_TMF_RSP_NOT_SUPPORTED;
	}
}
