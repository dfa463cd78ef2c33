/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The Toeplitz hash that the frontend configures over the control ring
 * (netif.h, Windows RSS): input and hash type chosen by the flags it set. */

#include <netinet/in.h>

#include "netback.h"

uint32_t toeplitz_hash(const uint8_t *key, size_t key_len, const uint8_t *buf, size_t len) {
        uint64_t prefix = 0, hash = 0;
        size_t ki;

        for (ki = 0; ki < 8; ki++)
                prefix = prefix << 8 | (ki < key_len ? key[ki] : 0);
        for (size_t i = 0; i < len; i++) {
                uint8_t byte = buf[i];
                for (unsigned bit = 0; bit < 8; bit++) {
                        if (byte & 0x80)
                                hash ^= prefix;
                        prefix <<= 1;
                        byte <<= 1;
                }
                prefix |= ki < key_len ? key[ki] : 0;
                ki++;
        }
        return (uint32_t) (hash >> 32);
}

bool vif_flow_hash(const Vif *v, const uint8_t *f, size_t len, uint32_t *ret_hash, uint8_t *ret_type) {
        uint8_t in[36];
        size_t n;
        PacketInfo pi;
        bool tcp;
        uint8_t type;

        if (v->hash_alg != XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ || v->hash_flags == 0)
                return false;
        if (packet_parse(f, len, &pi) < 0)
                return false;
        tcp = pi.l4_proto == IPPROTO_TCP && !pi.fragment && pi.l4_hdr_len > 0;

        if (!pi.ipv6) {
                memcpy(in, f + pi.l3_off + 12, 8);
                n = 8;
                if (tcp && (v->hash_flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP)) {
                        memcpy(in + 8, f + pi.l4_off, 4);
                        n = 12;
                        type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
                } else if (v->hash_flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4)
                        type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4;
                else
                        return false;
        } else {
                memcpy(in, f + pi.l3_off + 8, 32);
                n = 32;
                if (tcp && (v->hash_flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP)) {
                        memcpy(in + 32, f + pi.l4_off, 4);
                        n = 36;
                        type = _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;
                } else if (v->hash_flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6)
                        type = _XEN_NETIF_CTRL_HASH_TYPE_IPV6;
                else
                        return false;
        }
        *ret_hash = toeplitz_hash(v->hash_key, sizeof v->hash_key, in, n);
        *ret_type = type;
        return true;
}
