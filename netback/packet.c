/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Header parsing for checksum offload, GSO and flow hashing. Every offset is
 * checked against the frame length: frames come from guests. */

#include <arpa/inet.h>
#include <netinet/in.h>

#include "netback.h"

#define ETH_HLEN_ 14u
#define ETH_P_8021Q_ 0x8100u
#define ETH_P_8021AD_ 0x88a8u
#define ETH_P_IP_ 0x0800u
#define ETH_P_IPV6_ 0x86ddu
#define VLAN_DEPTH_MAX 2u
#define IPV6_EXT_MAX 8u

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

int packet_parse(const uint8_t *f, size_t len, PacketInfo *ret) {
        PacketInfo pi = {};
        unsigned off = 12;

        if (len < ETH_HLEN_)
                return -EINVAL;
        pi.ethertype = get16(f + off);
        off += 2;
        for (unsigned i = 0; i < VLAN_DEPTH_MAX && (pi.ethertype == ETH_P_8021Q_ || pi.ethertype == ETH_P_8021AD_);
             i++) {
                if (len < off + 4)
                        return -EINVAL;
                pi.ethertype = get16(f + off + 2);
                off += 4;
        }
        pi.l3_off = off;

        if (pi.ethertype == ETH_P_IP_) {
                unsigned ihl;
                if (len < off + 20 || (f[off] >> 4) != 4)
                        return -EINVAL;
                ihl = (f[off] & 0xfu) * 4u;
                if (ihl < 20 || len < off + ihl)
                        return -EINVAL;
                pi.l4_proto = f[off + 9];
                pi.fragment = (get16(f + off + 6) & 0x3fffu) != 0; /* MF or offset */
                pi.l4_off = off + ihl;
        } else if (pi.ethertype == ETH_P_IPV6_) {
                uint8_t next;
                if (len < off + 40 || (f[off] >> 4) != 6)
                        return -EINVAL;
                pi.ipv6 = true;
                next = f[off + 6];
                off += 40;
                for (unsigned i = 0; i < IPV6_EXT_MAX; i++) {
                        if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
                                if (len < off + 8)
                                        return -EINVAL;
                                next = f[off];
                                off += (f[off + 1] + 1u) * 8u;
                        } else if (next == IPPROTO_FRAGMENT) {
                                if (len < off + 8)
                                        return -EINVAL;
                                pi.fragment = true;
                                next = f[off];
                                off += 8;
                        } else
                                break;
                }
                if (len < off)
                        return -EINVAL;
                pi.l4_proto = next;
                pi.l4_off = off;
        } else
                return -EPROTONOSUPPORT;

        if (pi.l4_proto == IPPROTO_TCP) {
                if (len < pi.l4_off + 20)
                        return -EINVAL;
                pi.l4_hdr_len = (f[pi.l4_off + 12] >> 4) * 4u;
                if (pi.l4_hdr_len < 20 || len < pi.l4_off + pi.l4_hdr_len)
                        return -EINVAL;
        } else if (pi.l4_proto == IPPROTO_UDP) {
                if (len < pi.l4_off + 8)
                        return -EINVAL;
                pi.l4_hdr_len = 8;
        }
        *ret = pi;
        return 0;
}

uint32_t csum_partial(const void *buf, size_t len, uint32_t sum) {
        const uint8_t *p = buf;
        uint64_t s = sum;

        for (; len >= 2; p += 2, len -= 2)
                s += (uint32_t) (p[0] << 8 | p[1]);
        if (len)
                s += (uint32_t) p[0] << 8;
        while (s >> 32)
                s = (s & 0xffffffffu) + (s >> 32);
        return (uint32_t) s;
}

uint16_t csum_fold(uint32_t sum) {
        while (sum >> 16)
                sum = (sum & 0xffffu) + (sum >> 16);
        return (uint16_t) sum;
}

uint32_t packet_pseudo_sum(const uint8_t *f, const PacketInfo *pi, size_t l4_len) {
        uint32_t s = 0;

        if (pi->ipv6) {
                s = csum_partial(f + pi->l3_off + 8, 32, 0);
                s += (uint32_t) (l4_len >> 16) + (uint32_t) (l4_len & 0xffffu);
        } else {
                s = csum_partial(f + pi->l3_off + 12, 8, 0);
                s += (uint32_t) l4_len;
        }
        s += pi->l4_proto;
        return csum_fold(s);
}

int packet_complete_csum(uint8_t *f, size_t len, unsigned start, unsigned offset) {
        uint16_t c;

        if (start >= len || (size_t) start + offset + 2 > len)
                return -EINVAL;
        /* The field holds the pseudo-header sum; sum everything from start. */
        c = (uint16_t) ~csum_fold(csum_partial(f + start, len - start, 0));
        if (c == 0 && f[start + offset] == 0 && offset == 6)
                c = 0xffff; /* UDP: 0 means "no checksum" */
        f[start + offset] = (uint8_t) (c >> 8);
        f[start + offset + 1] = (uint8_t) c;
        return 0;
}
