/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The two blkif request layouts that exist: x86_32 (64-bit fields 4-aligned,
 * 108-byte slots) and x86_64 (8-aligned, 112-byte slots). The public header
 * only has the native one, so both are spelled out here, sizes checked. */

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <xenctrl.h> /* barriers for ring.h */
#include <xen/io/blkif.h>

typedef uint64_t __attribute__((aligned(4))) blk_u64_a4;
typedef uint64_t __attribute__((aligned(8))) blk_u64_a8;

#define BLKIF_LAYOUT(name, u64)                                                              \
        struct name##_rw {                                                                   \
                uint8_t operation, nr_segments;                                              \
                uint16_t handle;                                                             \
                u64 id, sector_number;                                                       \
                struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];            \
        };                                                                                   \
        struct name##_discard {                                                              \
                uint8_t operation, flag;                                                     \
                uint16_t handle;                                                             \
                u64 id, sector_number, nr_sectors;                                           \
        };                                                                                   \
        struct name##_indirect {                                                             \
                uint8_t operation, indirect_op;                                              \
                uint16_t nr_segments;                                                        \
                u64 id, sector_number;                                                       \
                uint16_t handle, _pad1;                                                      \
                uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];               \
        };                                                                                   \
        union name##_request {                                                               \
                uint8_t operation;                                                           \
                struct name##_rw rw;                                                         \
                struct name##_discard discard;                                               \
                struct name##_indirect indirect;                                             \
        };                                                                                   \
        struct name##_response {                                                             \
                u64 id;                                                                      \
                uint8_t operation;                                                           \
                int16_t status;                                                              \
        };                                                                                   \
        DEFINE_RING_TYPES(name, union name##_request, struct name##_response)

BLKIF_LAYOUT(blkif_x86_32, blk_u64_a4);
BLKIF_LAYOUT(blkif_x86_64, blk_u64_a8);

static_assert(sizeof(union blkif_x86_32_request) == 108, "x86_32 request slot");
static_assert(sizeof(struct blkif_x86_32_response) == 12, "x86_32 response");
static_assert(offsetof(struct blkif_x86_32_indirect, indirect_grefs) == 24, "x86_32 indirect");
static_assert(offsetof(struct blkif_x86_32_discard, nr_sectors) == 20, "x86_32 discard");
static_assert(sizeof(union blkif_x86_64_request) == 112, "x86_64 request slot");
static_assert(sizeof(struct blkif_x86_64_response) == 16, "x86_64 response");
static_assert(offsetof(struct blkif_x86_64_indirect, indirect_grefs) == 28, "x86_64 indirect");

