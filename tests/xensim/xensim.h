/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xensim: a simulated Xen for testing pvbackd without a hypervisor.
 *
 * libxensim implements the parts of libxenstore, libxenevtchn, libxengnttab
 * and libxenctrl that pvbackd uses, with the real prototypes from the Debian
 * headers.  Link pvbackd's sources against xensim_dep instead of the real
 * libraries.  This header is the *test-side* API: it plays hypervisor and
 * toolstack (domain lifecycle), and lets a test act as a guest.
 *
 * Environment:
 *   XENSIM_DIR    directory holding all simulator state (required; every
 *                 library entry point fails with errno=ENOENT without it).
 *                 xsim_start() sets it for the calling process and children.
 *   XENSIM_DOMID  domain the plain xs_open()/xenevtchn_open()/
 *                 xengnttab_open()/xc_interface_open() act as (default 0 =
 *                 dom0, the only privileged domain).
 *   XENSIMD       default xensimd path for xsim_start(NULL, ...).
 *   XENSIM_DEBUG  if set, xensimd logs to stderr.
 *
 * Conventions: functions returning int return >= 0 on success and a
 * negative errno-style value on failure.  Functions are thread-safe.
 *
 * Semantics worth knowing:
 *   - Grant maps need GTF_permit_access, entry.domid == mapper's domid, no
 *     PROT_WRITE on GTF_readonly, frame < the granter's page count and a
 *     granter that is not dying; any failure makes the map call return NULL
 *     with errno=EINVAL and undoes partial work.
 *   - Grant copy statuses: GNTST_okay, GNTST_bad_domain (no such or dying
 *     domain), GNTST_bad_gntref (ref out of range or not permit_access),
 *     GNTST_permission_denied (wrong grantee, or writing a read-only grant),
 *     GNTST_bad_page (frame beyond guest memory), GNTST_bad_copy_arg
 *     (offset + len > 4096), GNTST_general_error (injected fault, NULL
 *     local pointer).
 *   - xengnttab_close() unmaps whatever the handle still has mapped.
 *   - Grant and foreign mappings die with the process that made them (not
 *     with a fork child that inherited them): its counts, GTF_reading/
 *     GTF_writing and foreign_maps are released by the next look at them
 *     (xsim_grant_end/_map_count/_flags, xsim_foreign_maps,
 *     xsim_domain_query, and xensimd's zombie reaper).
 *   - Event channel delivery follows the Linux evtchn device: a delivered
 *     port is masked until xenevtchn_unmask(); further notifications only
 *     set it pending; unmask re-delivers a pending port.  xenevtchn_fd() is
 *     O_NONBLOCK; xenevtchn_pending() returns -1/EAGAIN when nothing is
 *     queued.
 *   - Bindings belong to the open file behind xenevtchn_fd(), as with the
 *     Linux device: they live while any copy of that fd does (dup, fork,
 *     SCM_RIGHTS, systemd's FD store), events keep being queued on it, and
 *     xenevtchn_fdopen() of a copy gives a handle owning the same ports
 *     (EINVAL with flags, EBADF for a closed fd, ENOTTY for an fd that is
 *     not an event channel handle's).  xenevtchn_close() closes its own fd;
 *     when the last copy goes (also by a process dying), every port bound on
 *     it is closed like Xen's evtchn_close(): an interdomain peer becomes
 *     unbound for its old remote domain again (the guest is not told).
 *   - xc_evtchn_status() reports a port as EVTCHNOP_status does.
 *   - @introduceDomain / @releaseDomain events carry no domid and are only
 *     delivered to dom0 watchers.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xenevtchn.h>
#include <xenstore.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- lifecycle ---- */

/* Create a fresh state directory (under /dev/shm if writable, else $TMPDIR
 * or /tmp), export XENSIM_DIR, start xensimd (xensimd_path, or $XENSIMD if
 * NULL) and wait until it is ready (up to 10 s).  xensimd dies with the
 * calling thread (PR_SET_PDEATHSIG).  dom0 exists afterwards with
 * /local/domain/0.  If ret_dir is non-NULL it receives a malloc'd copy of the
 * directory path.  Returns -EBUSY if already started. */
int xsim_start(const char *xensimd_path, char **ret_dir);

/* Stop xensimd, drop all cached mappings, delete the state directory
 * (FIFOs, domain files, socket) and unset XENSIM_DIR.  Close every handle
 * first.  Safe to call when not started. */
void xsim_stop(void);

/* ---- domains, acting as hypervisor/toolstack ---- */

/* Create domain domid (1..DOMID_FIRST_RESERVED-1) with nr_pages of guest
 * memory (sparse; at most 1M pages).  uuid may be NULL (all zero).  Writes
 * /local/domain/<id> (owner dom0, guest read) with name and domid, creates
 * .../device (owner dom0, guest read) and .../data (owned by the guest), then
 * fires @introduceDomain.  -EEXIST if the domid is in use (also by a zombie). */
int xsim_domain_create(uint32_t domid, const char *name, const xen_domain_handle_t uuid, unsigned nr_pages);

/* Set/clear XEN_DOMINF_paused as reported by xc_domain_getinfolist(). */
int xsim_domain_pause(uint32_t domid);
int xsim_domain_unpause(uint32_t domid);

/* Mark the domain shut down with the given SHUTDOWN_* reason (0..255), and
 * fire @releaseDomain. */
int xsim_domain_shutdown(uint32_t domid, unsigned reason);
/* Xen's soft reset (XEN_DOMCTL_soft_reset, for kexec): the domain's event
 * channels closed, its shutdown state cleared; id, UUID and memory kept. */
int xsim_domain_soft_reset(uint32_t domid);

/* Mark the domain dying, close all its event channels (peers become
 * unbound), refuse new grant maps, fire @releaseDomain.  The domain stays
 * listed (XEN_DOMINF_dying) as a zombie while other domains still map its
 * grants; when the last mapping goes it vanishes and @releaseDomain fires
 * again.  XenStore nodes are left alone (remove them like libxl would). */
int xsim_domain_destroy(uint32_t domid);

struct xsim_domain_info {
        bool dying;             /* destroyed (zombie or about to vanish) */
        bool zombie;            /* dying but still has foreign mappings */
        bool paused;
        bool shutdown;
        unsigned shutdown_reason;
        unsigned nr_pages;
        unsigned foreign_maps;  /* live grant mappings of its grants */
};

/* 0 and *ret filled if the domain exists (alive or zombie), -ESRCH if not.
 * ret may be NULL. */
int xsim_domain_query(uint32_t domid, struct xsim_domain_info *ret);

/* ---- acting as a guest ---- */

/* XenStore / event channel handles acting as domain domid (use with the
 * ordinary xs_* / xenevtchn_* functions; close with xs_close /
 * xenevtchn_close).  NULL with errno on failure. */
struct xs_handle *xsim_xs_open_as(uint32_t domid);
xenevtchn_handle *xsim_evtchn_open_as(uint32_t domid);

/* Pointer to guest frame gfn of domid, shared with every mapping of it;
 * NULL if the domain does not exist or gfn is out of range. */
void *xsim_guest_page(uint32_t domid, uint64_t gfn);

/* Allocate a fresh zeroed guest page (bump allocator); -ENOMEM when full. */
int xsim_page_alloc(uint32_t domid, uint64_t *ret_gfn);

/* Guest domid grants `remote` access to its frame gfn (v1 entry with
 * GTF_permit_access [| GTF_readonly]); returns the grant ref in *ret_ref.
 * -EINVAL bad gfn, -ENOSPC table full, -ESRCH no such (or dying) domain. */
int xsim_grant_access(uint32_t domid, uint32_t remote, uint64_t gfn, bool readonly, uint32_t *ret_ref);

/* Revoke a grant; -EBUSY while it is mapped (GTF_reading/GTF_writing set). */
int xsim_grant_end(uint32_t domid, uint32_t ref);

/* Number of live mappings of the grant (>= 0), or negative errno. */
int xsim_grant_map_count(uint32_t domid, uint32_t ref);

/* Current flags word of the grant entry (GTF_*), or negative errno. */
int xsim_grant_flags(uint32_t domid, uint32_t ref);

/* Total live mappings of domid's grants by anyone (>= 0), or negative errno. */
int xsim_foreign_maps(uint32_t domid);

/* ---- fault injection ---- */

/* Every XenStore connection of process pid is closed, as when xenstored
 * goes away under it. */
int xsim_drop_xs_connections(pid_t pid);
/* The next n transaction commits (any client) fail with EAGAIN. */
int xsim_fault_tx_conflicts(unsigned n);
/* dom0's watches on paths starting with prefix, one per line (malloc'd). */
int xsim_watches(const char *prefix, char **ret);
/* The next n grant references mapped from domid fail (the map call returns
 * NULL/EINVAL). */
int xsim_fault_map(uint32_t domid, unsigned n);
/* The next n grant-copy segments touching a grant of domid fail with
 * GNTST_general_error. */
int xsim_fault_copy(uint32_t domid, unsigned n);

/* ---- foreign memory and the domain builder (foreignmem.c) ---- */

/* libxenforeignmemory is simulated too: dom0 maps frames of a live domain by
 * number (frame < nr_pages); each mapped frame counts in foreign_maps and
 * keeps a destroyed domain a zombie until unmapped, like a grant mapping. */

/* Writes grant entry ref of domid as the domain builder does
 * (xc_dom_gnttab_seed), including the reserved entries 0 (console) and 1
 * (xenstore) that xsim_grant_access() never hands out: v1 entry granting
 * frame gfn to remote with GTF_permit_access [| GTF_readonly], also over an
 * entry that is mapped (restore, soft reset: existing mappings keep their
 * frame).  -EINVAL bad ref or gfn, -ESRCH no such (or dying) domain. */
int xsim_grant_seed(uint32_t domid, uint32_t ref, uint32_t remote, uint64_t gfn, bool readonly);

/* The next n frames of domid that anyone foreign-maps fail (EFAULT). */
int xsim_fault_foreign_map(uint32_t domid, unsigned n);

/* ---- helpers ---- */

/* Wait until path reads as want (or does not exist, if want is NULL), using a
 * private watch with the permissions of h's domain (h's own watch events are
 * not consumed).  0 on success, -ETIMEDOUT after timeout_ms (< 0: forever). */
int xsim_wait_value(struct xs_handle *h, const char *path, const char *want, int timeout_ms);

#ifdef __cplusplus
}
#endif
