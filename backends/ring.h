/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The one check of a shared ring's producer index, for every class. */

#include <stdbool.h>
#include <stdint.h>

/* Whether req_prod, read from the shared ring ONCE (the frontend may change
 * it under us, so the caller keeps and uses that copy), can be what an
 * honest frontend wrote, given our private req_cons and rsp_prod_pvt on a
 * ring of size slots. A frontend may post at most size requests beyond the
 * responses it has seen, and ours are never fewer than those, so
 * req_prod - rsp_prod_pvt > size is garbage; req_prod - req_cons > size too
 * (that also catches an index that went backwards). Unsigned arithmetic
 * modulo 2^32, as the ring indices wrap. False: treat the ring as broken. */
static inline bool ring_req_prod_sane(uint32_t req_prod, uint32_t req_cons, uint32_t rsp_prod_pvt, uint32_t size) {
        return req_prod - req_cons <= size && req_prod - rsp_prod_pvt <= size;
}
