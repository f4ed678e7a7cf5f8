/* raidvol.h - a configured RAID volume at run time: its leaf devices (members, spares, fault-injection wrappers), start (create or assemble) and stop. */
#ifndef SOFTHBA_MGMT_RAIDVOL_H
#define SOFTHBA_MGMT_RAIDVOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct blk_dev;

/*
 * The volume owns every leaf device it opened (the array itself never
 * does: RAID_F_OWN_MEMBERS is not used), so a refused or replaced member
 * stays inspectable until the volume is freed. Everything runs on the
 * reactor that started the volume (reactor 0 in the daemon), which also
 * owns the array.
 */

enum raidvol_origin {
	RAIDVOL_MEMBER = 0,      /* cfg raid.members[cfg_index] */
	RAIDVOL_SPARE,           /* cfg raid.spares[cfg_index] */
	RAIDVOL_ADDED,           /* opened at run time (raid.spare.add, raid.member.replace) */
	RAIDVOL_GLOBAL,          /* a global spare (top-level "spares", raid.spare.add without a name) */
};

struct raidvol_dev {
	char name[64];           /* what the array and the control API call it: "<volume>.m0", ".s0", ".x0" */
	char *path;              /* file devices, else NULL */
	enum cfg_backend backend;
	enum raidvol_origin origin;
	unsigned cfg_index;
	struct blk_dev *base;    /* the leaf (file or malloc) */
	struct blk_dev *disk;    /* "throttle": the disk simulation over base, or NULL */
	struct blk_dev *wrap;    /* fault-injection wrapper around disk (else base), or NULL */
	struct blk_dev *dev;     /* what the array uses: wrap, else disk, else base */
	bool had_superblock;     /* a softhba superblock was on it at start-up */
	bool blank;              /* known to be all zeroes when opened (new file, malloc) */
	char refused[256];       /* why assembly refused it ("" = not refused) */
	char note[128];          /* what start-up did with it besides ("added as a spare: no superblock") */
	struct cfg_inject faults; /* the fault injected now (wrap only) */
	struct blk_dev *retired[4]; /* wrappers the array dropped (re-add in place): freed with the volume */
	unsigned n_retired;
};

struct raidvol {
	const struct cfg_volume *v;
	struct blk_dev *array;   /* NULL until started, and after stop */
	struct raidvol_dev **devs; /* members (config order), spares, then run-time additions */
	unsigned n_devs;
	unsigned n_added;        /* run-time devices opened so far (names .x0, .x1, ...) */
	bool created;            /* this start created the array (else it was assembled) */
	char start_msg[1024];    /* the engine's create/assemble message */
	/* start/stop in progress */
	void (*cb)(void *arg, int status, const char *msg);
	void *cb_arg;
	bool stopping;
};

/* Open every member and spare of v (files created/extended as configured,
 * fault wrappers set up) and look for superblocks. Synchronous; on failure
 * err says which member and why, and nothing stays open. */
int raidvol_open(const struct cfg_volume *v, struct raidvol **out, char *err, size_t errlen);

/* Start the array on the calling reactor: assemble it from the superblocks,
 * or create it when none is found and the config allows; then add the
 * spares and set the rebuild rate. cb(arg, 0 or -errno, msg) runs later on
 * this reactor, msg (valid during the call) saying what was done or why it
 * failed. Returns 0 (cb will run) or -errno with err set (cb will not). */
int raidvol_start(struct raidvol *rv, void (*cb)(void *arg, int status, const char *msg), void *arg, char *err,
		  size_t errlen);

/* Orderly stop of a started array (raid_stop: drain, flush, mark clean);
 * cb(arg, status, NULL) later. Returns 0, or -errno (cb not called) when
 * there is nothing to stop. */
int raidvol_stop(struct raidvol *rv, void (*cb)(void *arg, int status, const char *msg), void *arg);

/* Destroy every leaf device and the volume (the array must be stopped or never started). */
void raidvol_free(struct raidvol *rv);

/* The device named name (its array name "r5.m0", or its path), or NULL. */
struct raidvol_dev *raidvol_find(struct raidvol *rv, const char *name);
/* The device the array uses as role, or NULL. */
struct raidvol_dev *raidvol_by_blk(struct raidvol *rv, const struct blk_dev *dev);

/* Open one more leaf device at run time (spare, replacement). Returns 0 with
 * *out, or -errno with err set. */
int raidvol_add_dev(struct raidvol *rv, const struct cfg_member *m, struct raidvol_dev **out, char *err,
		    size_t errlen);
/* Forget the device added last (it was opened for a call that then failed). */
void raidvol_drop_last(struct raidvol *rv);

/* A fresh device over d's leaf for the array to take back as a new member
 * (the array refuses the device object it already failed): a transparent
 * fault wrapper named like d. Returns 0 with *out, or -errno (-ENOSPC:
 * re-added too often in one run). */
int raidvol_fresh_dev(struct raidvol_dev *d, struct blk_dev **out);
/* The array took fresh (from raidvol_fresh_dev) for d: d uses it from now on,
 * its previous wrapper is kept until the volume is freed. */
void raidvol_adopt_fresh(struct raidvol_dev *d, struct blk_dev *fresh);

/* One device opened outside any volume (a global spare, named name: cfg
 * spares[idx], or added at run time). Returns 0 with *out (origin
 * RAIDVOL_GLOBAL), or -errno with err set. */
int raidvol_dev_open(const struct cfg_member *m, const char *name, bool added, unsigned idx,
		     struct raidvol_dev **out, char *err, size_t errlen);
void raidvol_dev_free(struct raidvol_dev *d);
/* rv takes d (a global spare that carries rv's superblock): offered to its
 * assembly, freed with rv. Returns 0 or -ENOMEM. */
int raidvol_take_dev(struct raidvol *rv, struct raidvol_dev *d);

/*
 * Global hot spares (raidvol_global.c): the top-level "spares" of the
 * configuration and raid.spare.add without a volume. They wait in the
 * engine's global pool (raid_add_spare(NULL, ...)), from which any array
 * that loses a member takes one; a degraded array that has no spare of its
 * own gets one directly. The pool of devices is process-wide like the
 * engine's; everything runs on reactor 0, which owns the arrays.
 */
/* Open cfg->spares (before the arrays start). A spare that carries the
 * superblock of one of the raid volumes (it took over a role in an earlier
 * run) is handed to that volume, which offers it to its assembly. vols:
 * per cfg volume, NULL when not raid. Returns 0 or -errno with err set
 * (nothing stays open). */
int raidvol_global_open(const struct softhba_config *cfg, struct raidvol *const *vols, char *err, size_t errlen);
/* After the arrays started: give the spares to degraded arrays that need
 * one, the rest to the engine's global pool. */
void raidvol_global_start(struct raidvol *const *vols, unsigned n);
/* Open m as one more global spare and offer it as raidvol_global_start does.
 * *to: the volume that took it at once, or NULL (it waits in the pool).
 * Returns 0 with *out, or -errno with err set. */
int raidvol_global_add(const struct cfg_member *m, struct raidvol *const *vols, unsigned n, struct raidvol_dev **out,
		       struct raidvol **to, char *err, size_t errlen);
/* The global device named name (or with that path), or NULL. */
struct raidvol_dev *raidvol_global_find(const char *name);
/* The i-th global device (NULL past the end); whether it still waits as a spare. */
struct raidvol_dev *raidvol_global_dev(unsigned i);
/* Take every global spare out of the engine's pool and free the devices
 * (after every array was stopped or destroyed). */
void raidvol_global_free(void);

/* Set the fault of a wrapped device (replacing the previous one). Returns 0,
 * -EOPNOTSUPP (no "inject" wrapper: err says how to get one) or -errno. */
int raidvol_inject(struct raidvol_dev *d, const struct cfg_inject *f, char *err, size_t errlen);

#endif
