/* lock.c - range locks on the owner reactor: stripes for RAID 5/6, array chunks for mirrors while a sync job runs. */
#include <errno.h>
#include <stdlib.h>

#include "blk/raid/raid_internal.h"

/*
 * A hash table of held keys, each with a FIFO of waiters; owner reactor
 * only, so no atomics. Whoever holds a key runs; the next waiter is
 * granted inside raid_unlock(), in arrival order.
 */

#define STRIPE_BUCKETS 1024u

struct stripe_lock {
	uint64_t key;
	struct raid_lockw *head, *tail; /* waiters */
	struct stripe_lock *next;
};

struct stripe_table {
	struct stripe_lock *bucket[STRIPE_BUCKETS];
};

int raid_stripe_table_new(struct raid_array *a)
{
	a->stripes = calloc(1, sizeof(*a->stripes));
	return a->stripes ? 0 : -ENOMEM;
}

void raid_stripe_table_free(struct raid_array *a)
{
	if (a->stripes == NULL)
		return;
	for (unsigned i = 0; i < STRIPE_BUCKETS; i++) {
		struct stripe_lock *l = a->stripes->bucket[i];
		while (l) {
			struct stripe_lock *n = l->next;
			free(l);
			l = n;
		}
	}
	free(a->stripes);
	a->stripes = NULL;
}

/* ---- range locks on the owner (stripes for RAID 5/6, chunks for mirrors under a sync) ---- */
static struct stripe_lock **lock_slot(struct stripe_table *t, uint64_t key)
{
	struct stripe_lock **pp = &t->bucket[(key * 0x9E3779B97F4A7C15ull) >> 54 & (STRIPE_BUCKETS - 1)];
	while (*pp && (*pp)->key != key)
		pp = &(*pp)->next;
	return pp;
}

void raid_lock(struct raid_array *a, struct raid_lockw *w, uint64_t key,
	       void (*granted)(struct raid_lockw *w, int status))
{
	reactor_assert_on(a->owner);
	w->key = key;
	w->granted = granted;
	w->wnext = NULL;
	w->locked = false;
	if (a->stripes == NULL && raid_stripe_table_new(a) != 0) {
		granted(w, -ENOMEM);
		return;
	}
	struct stripe_lock **pp = lock_slot(a->stripes, key);
	if (*pp) {
		struct stripe_lock *l = *pp;
		if (l->tail)
			l->tail->wnext = w;
		else
			l->head = w;
		l->tail = w;
		return;
	}
	struct stripe_lock *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		granted(w, -ENOMEM);
		return;
	}
	l->key = key;
	*pp = l;
	w->locked = true;
	granted(w, 0);
}

void raid_unlock(struct raid_array *a, struct raid_lockw *w)
{
	struct stripe_lock **pp = lock_slot(a->stripes, w->key);
	struct stripe_lock *l = *pp;
	w->locked = false;
	struct raid_lockw *n = l->head;
	if (n == NULL) {
		*pp = l->next;
		free(l);
		return;
	}
	l->head = n->wnext;
	if (l->head == NULL)
		l->tail = NULL;
	n->locked = true;
	n->granted(n, 0);
}
