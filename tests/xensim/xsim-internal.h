/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal definitions shared by the simulator library (libxensim) and the
 * simulated XenStore server (xensimd).  Not for use by tests: see xensim.h.
 */
#pragma once

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/event_channel.h>
#include <xen/io/xs_wire.h>
#include <xenstore.h>

#define XSIM_PAGE_SIZE     4096u
#define XSIM_MAX_DOMS      ((uint32_t) DOMID_FIRST_RESERVED)
#define XSIM_NR_GRANTS     4096u
#define XSIM_NR_PORTS      4096u
#define XSIM_MAX_PAGES     (1u << 20)   /* 4 GiB of sparse guest memory */
#define XSIM_DOM0_PAGES    1024u
#define XSIM_NODE_QUOTA    8192u        /* nodes per unprivileged domain */
#define XSIM_WATCH_QUOTA   128u         /* watches per unprivileged connection */
#define XSIM_TX_QUOTA      16u          /* open transactions per unprivileged connection */
#define XSIM_MAX_REQ       (XENSTORE_ABS_PATH_MAX + XENSTORE_PAYLOAD_MAX + 4096u)
#define XSIM_MAX_REPLY     (4u << 20)
#define XSIM_FIRST_GREF    8u           /* like Linux' GNTTAB_NR_RESERVED_ENTRIES */

/* Private message type used to identify/pair connections; first message on each. */
#define XSIM_MSG_HELLO     0x5853u

#define _cleanup_(f) __attribute__((cleanup(f)))
#define XSIM_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void xsim_freep(void *p) { free(*(void **) p); }
static inline void xsim_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_  _cleanup_(xsim_freep)
#define _cleanup_close_ _cleanup_(xsim_closep)

/* ---- shared domain table: DIR/domains ---- */

enum { XSIM_DOM_NONE = 0, XSIM_DOM_ALIVE = 1, XSIM_DOM_DYING = 2 };

#define XSIM_DF_PAUSED        (1u << 0)
#define XSIM_DF_SHUTDOWN      (1u << 1)
#define XSIM_DF_REASON_SHIFT  8

struct xsim_domentry {
        uint32_t state;           /* XSIM_DOM_* */
        uint32_t flags;           /* XSIM_DF_* | reason << XSIM_DF_REASON_SHIFT */
        uint64_t gen;             /* incarnation; matches the dom file header */
        uint32_t nr_pages;
        uint32_t pad;
        xen_domain_handle_t uuid;
        char name[64];
};

#define XSIM_DOMTAB_MAGIC 0x58534454u

struct xsim_domtab {
        uint32_t magic, version;
        pthread_mutex_t lock;     /* process-shared, robust */
        uint64_t next_gen;
        uint64_t next_handle_id;  /* atomic; unique id of event channel handles */
        uint32_t max_domid;       /* highest domid ever used, bounds scans */
        uint32_t pad;
        struct xsim_domentry dom[XSIM_MAX_DOMS];
};

/* ---- per-domain file: DIR/dom<ID>.mem ---- */

enum { XSIM_PORT_FREE = 0, XSIM_PORT_RESERVED, XSIM_PORT_UNBOUND, XSIM_PORT_INTERDOMAIN };

struct xsim_port {
        uint32_t state;
        uint32_t remote_dom;
        uint32_t remote_port;
        uint8_t pending, masked, pad[2];
        uint32_t owner_pid;       /* names the owner's FIFO (its opener's pid) */
        uint32_t pad2;
        uint64_t owner_id;        /* unique handle id, 0 = none; owned while any
                                   * copy of the handle's fd lives (evtchn.c) */
};

#define XSIM_DOM_MAGIC 0x58534d44u

struct xsim_dom_hdr {
        uint32_t magic, version;
        uint32_t domid, nr_pages;
        uint64_t gen;
        pthread_mutex_t lock;     /* protects everything below */
        uint32_t dying;
        uint32_t foreign_maps;    /* live grant mappings of this domain's grants */
        uint32_t fault_map, fault_copy;
        uint32_t next_page;       /* bump allocator for xsim_page_alloc */
        uint32_t next_ref;        /* search hint for xsim_grant_access */
        uint32_t next_port;       /* search hint for port allocation */
        uint32_t pad;
        grant_entry_v1_t grants[XSIM_NR_GRANTS];
        uint32_t map_count[XSIM_NR_GRANTS];
        uint32_t wmap_count[XSIM_NR_GRANTS];
        struct xsim_port ports[XSIM_NR_PORTS];
};

#define XSIM_HDR_SIZE (((sizeof(struct xsim_dom_hdr)) + XSIM_PAGE_SIZE - 1) & ~(size_t) (XSIM_PAGE_SIZE - 1))

static inline off_t xsim_page_offset(uint64_t gfn) {
        return (off_t) (XSIM_HDR_SIZE + gfn * XSIM_PAGE_SIZE);
}

/* Per-process view of one incarnation of a domain.  Never freed while the
 * simulator runs, so pointers into it stay valid even after the domain died. */
struct xsim_dom {
        uint32_t domid;
        uint64_t gen;
        int fd;
        size_t size;
        struct xsim_dom_hdr *hdr;
        uint8_t *pages;
        struct xsim_dom *retired_next;
};

/* shm.c */
int xsim_dir(const char **ret);
int xsim_path(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int xsim_self_domid(uint32_t *ret);
/* The domain a library handle being opened acts as; -ENOENT without XENSIM_DIR. */
int xsim_caller_domid(uint32_t *ret);
/* The start of a library's open: a zeroed handle of size bytes for the
 * calling domain, whose id goes to *ret_domid. NULL with errno set. */
void *xsim_handle_new(size_t size, uint32_t *ret_domid);
int xsim_mutex_init_shared(pthread_mutex_t *m);
int xsim_lock(pthread_mutex_t *m);
void xsim_unlock(pthread_mutex_t *m);
int xsim_domtab(struct xsim_domtab **ret);
int xsim_domtab_create(const char *dir);
int xsim_dom_get(uint32_t domid, struct xsim_dom **ret);
int xsim_dom_file_create(uint32_t domid, uint64_t gen, uint32_t nr_pages);
int xsim_lock_pair(struct xsim_dom *a, struct xsim_dom *b);
void xsim_unlock_pair(struct xsim_dom *a, struct xsim_dom *b);
void xsim_caches_reset(void);

/* evtchn.c */
void xsim_wake(uint32_t domid, uint32_t owner_pid, uint64_t owner_id, uint32_t port);
void xsim_evtchn_reset(void);
int xsim_evtchn_close_domain(uint32_t domid);
struct xenevtchn_handle *xsim_evtchn_open(uint32_t domid, unsigned flags);
/* EVTCHNOP_status for a caller in domain `caller`; negative errno on failure. */
int xsim_evtchn_status(uint32_t caller, evtchn_status_t *st);

/* mappers.c: what one process maps of one domain (its ledger's slot) */
struct xsim_mapper_slot {
        uint64_t gen;             /* the domain's incarnation; 0 = nothing */
        uint32_t foreign;         /* frames mapped through foreignmem */
        uint32_t pad;
        uint32_t map[XSIM_NR_GRANTS];
        uint32_t wmap[XSIM_NR_GRANTS];
};
#define XSIM_MAPPER_FOREIGN UINT32_MAX
/* This process's slot for domid (its ledger is created on first use). */
int xsim_mapper_slot(uint32_t domid, struct xsim_mapper_slot **ret);
/* Count delta mappings of grant ref (or XSIM_MAPPER_FOREIGN frames) of
 * incarnation gen; caller holds the domain's lock. */
void xsim_mapper_count(struct xsim_mapper_slot *s, uint64_t gen, uint32_t ref, bool write, int delta);
/* Release the mappings of dead processes; true if a dying domain lost its
 * last mapping (then xensimd's reap() must run). */
bool xsim_mappers_reap(void);
void xsim_mappers_reset(void);

/* xs-client.c */
struct xs_handle *xsim_xs_open(uint32_t domid);
int xsim_xs_domid(struct xs_handle *h);
int xsim_ctl(const char *const *argv, char **ret_reply);
/* Tells xensimd that a dying domain may have lost its last mapping. */
void xsim_poke_reaper(void);
void xsim_ctl_reset(void);

/* Helpers to pack/unpack the binary parts of the private protocol. */
static inline int xsim_errno_or(int def) {
        return errno > 0 ? errno : def;
}
