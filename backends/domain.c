/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The guests we serve: one Domain per domid with devices, told apart from a
 * later guest with the same domid by its UUID; released when Xen says it is
 * dying or gone; quiesced when it suspends. And, for classes that create
 * devices themselves, which domains appeared or went. */

#include <search.h>
#include <stdio.h>

#include "xenbus-internal.h"

static int domain_cmp(const void *a, const void *b) {
        uint32_t x = ((const Domain *) a)->domid, y = ((const Domain *) b)->domid;
        return x < y ? -1 : x > y;
}
static Domain *domain_find(Backend *b, uint32_t domid) {
        Domain key = { .domid = domid };
        void **n = tfind(&key, &b->domains, domain_cmp);
        return n ? *n : NULL;
}
void xenbus_domain_free(Domain *dom) {
        Backend *b = dom->backend;

        tdelete(dom, &b->domains, domain_cmp);
        LIST_REMOVE(dom, link);
        b->n_domains--;
        free(dom->name);
        free(dom);
}
static int domain_info(Backend *b, uint32_t domid, xc_domaininfo_t *ret) {
        int n = xc_domain_getinfolist(b->xc, domid, 1, ret);

        if (n < 0)
                return negative_errno();
        if (n == 0 || ret->domain != domid)
                return -ESRCH;
        return 0;
}

/* Releases every device of dom at once; this frees dom. */
static void domain_release_devices(Domain *dom, const char *why) {
        XenbusDevice *d;

        log_info("Releasing the devices of domain %u (%s): %s", dom->domid, dom->name ?: "?", why);
        while ((d = LIST_FIRST(&dom->devices))) {
                bool last = dom->n_devices == 1;
                xenbus_device_release(d, true);
                if (last)
                        break;
        }
}

int xenbus_domain_get(Backend *b, uint32_t domid, Domain **ret) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        xc_domaininfo_t info;
        Domain *dom;
        int r;

        r = domain_info(b, domid, &info);
        if (r < 0)
                return r;
        if (info.flags & XEN_DOMINF_dying)
                return -ESRCH;

        dom = domain_find(b, domid);
        if (dom && memcmp(dom->uuid, info.handle, sizeof dom->uuid) == 0) {
                *ret = dom;
                return 0;
        }
        if (dom) /* the domid was reused before we saw the old domain go */
                domain_release_devices(dom, "domain id reused by a new domain");

        if (b->n_domains >= b->config.max_guests)
                return -EUSERS;
        dom = calloc(1, sizeof *dom);
        if (!dom)
                return -ENOMEM;
        dom->backend = b;
        dom->domid = domid;
        memcpy(dom->uuid, info.handle, sizeof dom->uuid);
        LIST_INIT(&dom->devices);
        /* The name is only for logs; bounded and made printable. */
        if (asprintf(&path, "/local/domain/%u/name", domid) >= 0 &&
            xs_read_str(b->xs, XBT_NULL, path, XS_VALUE_MAX, &name) >= 0)
                dom->name = sanitize_for_log(name, 64);
        if (!tsearch(dom, &b->domains, domain_cmp)) {
                free(dom->name);
                free(dom);
                return -ENOMEM;
        }
        LIST_INSERT_HEAD(&b->domain_list, dom, link);
        b->n_domains++;
        *ret = dom;
        return 0;
}

static void domain_check_suspend(Domain *dom, const xc_domaininfo_t *info) {
        bool suspended = (info->flags & XEN_DOMINF_shutdown) &&
                         ((info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask) == SHUTDOWN_suspend;

        if (suspended == dom->suspended)
                return;
        dom->suspended = suspended;
        if (!suspended)
                return;
        log_info("Domain %u (%s) suspended: finishing in-flight I/O", dom->domid, dom->name ?: "?");
        for (XenbusDevice *d = LIST_FIRST(&dom->devices); d; d = LIST_NEXT(d, domain_link))
                if (d->connected && d->class->quiesce)
                        d->class->quiesce(d);
}

/* @releaseDomain carries no domid (Xen 4.17): look at every domain we serve. */
void xenbus_domains_check(Backend *b) {
        Domain *dom, *next;

        for (dom = LIST_FIRST(&b->domain_list); dom; dom = next) {
                xc_domaininfo_t info;
                int r = domain_info(b, dom->domid, &info);

                next = LIST_NEXT(dom, link);
                if (r == -ESRCH)
                        domain_release_devices(dom, "domain destroyed");
                else if (r < 0)
                        log_warning_errno(r, "Cannot query domain %u: %m", dom->domid);
                else if (info.flags & XEN_DOMINF_dying)
                        domain_release_devices(dom, "domain dying");
                else if (memcmp(dom->uuid, info.handle, sizeof info.handle) != 0)
                        domain_release_devices(dom, "domain id reused by a new domain");
                else
                        domain_check_suspend(dom, &info);
        }
}
/* ---- domains appearing and going, for classes that care ----------------- */

#define DOMID_BITMAP_BYTES (DOMID_FIRST_RESERVED / 8 + 1)

static bool bit_test(const uint8_t *m, uint32_t i) {
        return m[i / 8] & (1u << (i % 8));
}

static void bit_set(uint8_t *m, uint32_t i, bool v) {
        if (v)
                m[i / 8] |= (uint8_t) (1u << (i % 8));
        else
                m[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* Both special watches carry no domid: compare the live set with Xen's. */
void xenbus_domains_rescan(Backend *b) {
        _cleanup_free_ uint8_t *alive = calloc(1, DOMID_BITMAP_BYTES);
        xc_domaininfo_t info[256];
        uint32_t next = 1;

        if (!alive || !b->live_domids)
                return;
        for (;;) {
                int n = xc_domain_getinfolist(b->xc, next, ELEMENTSOF(info), info);
                if (n < 0)
                        return (void) log_warning_errno(negative_errno(), "Cannot list domains: %m");
                for (int i = 0; i < n; i++)
                        if (info[i].domain < DOMID_FIRST_RESERVED && !(info[i].flags & XEN_DOMINF_dying))
                                bit_set(alive, info[i].domain, true);
                if (n < (int) ELEMENTSOF(info))
                        break;
                next = info[n - 1].domain + 1;
        }
        for (uint32_t domid = 1; domid < DOMID_FIRST_RESERVED; domid++) {
                bool was = bit_test(b->live_domids, domid), is = bit_test(alive, domid);
                if (was == is)
                        continue;
                bit_set(b->live_domids, domid, is);
                for (size_t i = 0; i < b->n_classes; i++) {
                        const BackendClass *c = b->classes[i];
                        if (!b->class_enabled[i])
                                continue;
                        if (is && c->domain_introduced)
                                c->domain_introduced(b, domid);
                        else if (!is && c->domain_released)
                                c->domain_released(b, domid);
                }
        }
}

/* For classes with domain_introduced/domain_released: the live set starts
 * empty, so the first rescan introduces every running domain. */
int xenbus_domains_watch_start(Backend *b) {
        b->live_domids = calloc(1, DOMID_BITMAP_BYTES);
        if (!b->live_domids)
                return log_error_errno(-ENOMEM, "Out of memory");
        if (!xs_watch(b->xs, "@introduceDomain", "i"))
                return log_error_errno(negative_errno(), "Failed to watch @introduceDomain: %m");
        return 0;
}
