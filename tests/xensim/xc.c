/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libxenctrl replacement: just enough to enumerate domains and query event
 * channels. */
#include <string.h>
#include <xenctrl.h>

#include "xsim-internal.h"

struct xc_interface_core {
        uint32_t domid;
};

xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger, unsigned open_flags) {
        struct xsim_domtab *t;
        xc_interface *xch;
        uint32_t domid;
        int r;

        (void) logger;
        (void) dombuild_logger;
        (void) open_flags;
        r = xsim_self_domid(&domid);
        if (r >= 0)
                r = xsim_domtab(&t);
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        xch = calloc(1, sizeof(*xch));
        if (!xch) {
                errno = ENOMEM;
                return NULL;
        }
        xch->domid = domid;
        return xch;
}

int xc_interface_close(xc_interface *xch) {
        free(xch);
        return 0;
}

static void fill(xc_domaininfo_t *info, uint32_t domid, const struct xsim_domentry *e) {
        memset(info, 0, sizeof(*info));
        info->domain = (domid_t) domid;
        if (e->state == XSIM_DOM_DYING)
                info->flags |= XEN_DOMINF_dying;
        if (e->flags & XSIM_DF_SHUTDOWN)
                info->flags |= XEN_DOMINF_shutdown |
                               (((e->flags >> XSIM_DF_REASON_SHIFT) & XEN_DOMINF_shutdownmask) << XEN_DOMINF_shutdownshift);
        if (e->flags & XSIM_DF_PAUSED)
                info->flags |= XEN_DOMINF_paused;
        else if (e->state == XSIM_DOM_ALIVE && !(e->flags & XSIM_DF_SHUTDOWN))
                info->flags |= XEN_DOMINF_blocked;
        info->tot_pages = e->nr_pages;
        info->max_pages = e->nr_pages;
        info->nr_online_vcpus = 1;
        info->max_vcpu_id = 0;
        info->cpupool = 0;
        memcpy(info->handle, e->uuid, sizeof(info->handle));
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain, unsigned int max_domains, xc_domaininfo_t *info) {
        struct xsim_domtab *t;
        unsigned n = 0;
        int r;

        if (!xch || (max_domains && !info)) {
                errno = EINVAL;
                return -1;
        }
        if (xch->domid != 0) {
                errno = EPERM;      /* the domctl is privileged */
                return -1;
        }
        r = xsim_domtab(&t);
        if (r >= 0)
                r = xsim_lock(&t->lock);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        for (uint32_t d = first_domain; d <= t->max_domid && d < XSIM_MAX_DOMS && n < max_domains; d++) {
                const struct xsim_domentry *e = &t->dom[d];
                /* gen == 0: still being created, not visible yet */
                if (e->state == XSIM_DOM_NONE || e->gen == 0)
                        continue;
                fill(&info[n++], d, e);
        }
        xsim_unlock(&t->lock);
        return (int) n;
}

/* EVTCHNOP_status: dom0 may ask about any domain's ports, others about their
 * own (DOMID_SELF or their id).  A port whose owner's fd is gone reads as
 * Xen would show it after evtchn_close(): closed, its peer unbound. */
int xc_evtchn_status(xc_interface *xch, xc_evtchn_status_t *status) {
        int r;

        if (!xch || !status) {
                errno = EINVAL;
                return -1;
        }
        r = xsim_evtchn_status(xch->domid, status);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}
