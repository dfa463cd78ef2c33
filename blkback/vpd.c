/* SPDX-License-Identifier: GPL-2.0-or-later */

/* SCSI VPD pages for sm-data/scsi/0x12/{0x80,0x83}: Windows xenvbd returns
 * them verbatim to INQUIRY, and Windows takes the disk serial from 0x80.
 * Complete pages (4-byte header + payload), standard base64 with padding. */

#include <stdio.h>

#include "blkback.h"

static char *base64(const uint8_t *p, size_t n) {
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);
                *o++ = tbl[v >> 18 & 63];
                *o++ = tbl[v >> 12 & 63];
                *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? tbl[v & 63] : '=';
        }
        *o = 0;
        return out;
}

char *blk_vpd_page80_base64(const char *serial) {
        uint8_t page[4 + 64];
        size_t len = MIN(strlen(serial), (size_t) 64);

        page[0] = 0x00; /* direct-access block device */
        page[1] = 0x80;
        page[2] = 0;
        page[3] = (uint8_t) len;
        memcpy(page + 4, serial, len);
        return base64(page, 4 + len);
}

char *blk_vpd_page83_base64(const char *serial) {
        /* One T10 vendor-id designator, ASCII: "XENSRC  " + serial, the form
         * xenvbd synthesizes itself, but unique per disk. */
        uint8_t page[4 + 4 + 8 + 64];
        size_t len = MIN(strlen(serial), (size_t) 64);
        size_t dlen = 8 + len;

        page[0] = 0x00;
        page[1] = 0x83;
        page[2] = (uint8_t) ((4 + dlen) >> 8);
        page[3] = (uint8_t) (4 + dlen);
        page[4] = 0x02; /* code set: ASCII */
        page[5] = 0x01; /* association: LUN; designator type: T10 vendor id */
        page[6] = 0;
        page[7] = (uint8_t) dlen;
        memcpy(page + 8, "XENSRC  ", 8);
        memcpy(page + 16, serial, len);
        return base64(page, 8 + dlen);
}
