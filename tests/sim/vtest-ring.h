/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The ring of "vtest", a device kind that exists only for the simulated-Xen
 * tests of the XenBus core: each request names a granted buffer, and the
 * backend answers with a checksum of its bytes, read by grant copy. It uses
 * the real ring macros of xen/io/ring.h, like blkif and netif. */

#include <stddef.h>
#include <stdint.h>
#include <xenctrl.h> /* xen_mb() and friends, which ring.h uses */
#include <xen/io/ring.h>

struct vtest_request {
        uint64_t id;
        uint32_t gref;
        uint16_t offset;
        uint16_t len;
};

struct vtest_response {
        uint64_t id;
        int32_t status; /* 0, or -1 for a bad request */
        uint32_t sum;   /* vtest_checksum() of the buffer */
};

DEFINE_RING_TYPES(vtest, struct vtest_request, struct vtest_response);

/* FNV-1a: order-sensitive, so a copy from the wrong offset is noticed. */
static inline uint32_t vtest_checksum(const uint8_t *p, size_t n) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 16777619u;
        return h;
}
