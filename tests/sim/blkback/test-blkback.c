/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The block backend against the simulated Xen, driven by two frontends
 * written here: one that behaves as Windows xenvbd (its close cycle before
 * connecting, the keys it reads and writes, indirect requests, flush and
 * discard and its reaction to EOPNOTSUPP, hot-unplug by online=0 + state=5)
 * and one as Linux blkfront (persistent grants asked for and used: one
 * writable grant per page of a pool, reused and never revoked while
 * connected; the x86_32 ABI, several queues). Data is checked against a
 * model of the disk kept here. */

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "blkback.h" /* BLK_PERSISTENT_MAX_PER_QUEUE */
#include "blkfront.h"
#include "service.h"

#define T_WAIT 8000
#define DISK_SECTORS 16384u /* 8 MiB */
#define SCRIPT_OURS "/etc/xen/scripts/pvbackd-block"

static Harness H;
static char imgdir[256]; /* on a disk filesystem, so O_DIRECT is used */
static char frozen[300]; /* test_abandoned_io's frozen mount, thawed by teardown if a test failed */

typedef struct Model {
        uint8_t *data;
        bool *known; /* false after a discard on a block device (contents undefined) */
        uint64_t sectors;
} Model;

static int setup(void **state) {
        (void) state;
        snprintf(imgdir, sizeof imgdir, "/var/tmp/pvbackd-blk-XXXXXX");
        if (!mkdtemp(imgdir))
                return -1;
        if (harness_start(&H, "[limits]\nmax-queues = 4\n") < 0)
                return -1;
        H.wait_ms = T_WAIT;
        return 0;
}

static int teardown(void **state) {
        int r;
        char cmd[700];

        (void) state;
        if (frozen[0]) {
                snprintf(cmd, sizeof cmd, "fsfreeze -u '%s' 2>/dev/null", frozen);
                (void) !system(cmd);
                frozen[0] = 0;
        }
        r = harness_finish_checked(&H);
        /* test_persistent_bounce's overlay, if a failure left it mounted */
        snprintf(cmd, sizeof cmd, "umount '%s/ovl/m' 2>/dev/null; rm -rf '%s'", imgdir, imgdir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", imgdir);
        return r;
}

/* ---- helpers ---- */

static char *make_image(const char *dir, const char *name, uint64_t bytes, Model *m) {
        char *path;
        int fd;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) bytes), 0);
        close(fd);
        if (m) {
                m->sectors = bytes / 512;
                m->data = calloc(1, bytes);
                m->known = malloc(m->sectors * sizeof(bool));
                assert_non_null(m->data);
                assert_non_null(m->known);
                for (uint64_t i = 0; i < m->sectors; i++)
                        m->known[i] = true;
        }
        return path;
}

static void model_free(Model *m) {
        free(m->data);
        free(m->known);
}

static void guest(uint32_t domid) {
        char name[32];
        snprintf(name, sizeof name, "guest%u", domid);
        if (xsim_domain_query(domid, NULL) < 0)
                assert_int_equal(xsim_domain_create(domid, name, NULL, BF_GUEST_PAGES), 0);
}

static void add_disk(uint32_t domid, uint32_t devid, const char *params, const char *script, const char *mode,
                     const char *const *more) {
        const char *kv[40] = {
                "params", params, "script", script, "mode", mode, "device-type", "disk",
                "removable", "1", "bootable", "1", "type", "phy", "dev", "xvda",
                "discard-enable", strcmp(mode, "r") == 0 ? "0" : "1", "specification", "xen",
        };
        size_t n = 20;
        for (; more && *more && n < 38; more++)
                kv[n++] = *more;
        kv[n] = NULL;
        guest(domid);
        assert_int_equal(ts_device_add(&H, "vbd", domid, devid, kv), 0);
}

/* The usual start: a writable disk on img, attached by our script, and a
 * frontend opened on it. */
static void add_disk_and_open(BlkFront *f, uint32_t domid, uint32_t devid, const char *img) {
        add_disk(domid, devid, img, SCRIPT_OURS, "w", NULL);
        assert_int_equal(bf_open(f, &H, domid, devid), 0);
}

static unsigned be_uint(BlkFront *f, const char *key, unsigned def) {
        char *v = bf_read_be(f, key);
        unsigned r = v ? (unsigned) strtoul(v, NULL, 10) : def;
        free(v);
        return r;
}

/* The frontend's close: 5, then 6 once the backend followed, and the
 * backend at 6 too. */
static void close_frontend(BlkFront *f) {
        assert_int_equal(bf_set_state(f, XenbusStateClosing), 0);
        assert_int_equal(bf_wait_backend(f, XenbusStateClosing, T_WAIT), 0);
        assert_int_equal(bf_set_state(f, XenbusStateClosed), 0);
        assert_int_equal(bf_wait_backend(f, XenbusStateClosed, T_WAIT), 0);
}

/* Windows xenvbd: the close cycle first (1 -> 5 -> 6 -> 1), then prepare,
 * connect with min(advertised, 2) queues and order min(advertised, 1). */
static void connect_windows(BlkFront *f) {
        unsigned order, nq;

        assert_int_equal(bf_wait_backend(f, XenbusStateInitWait, T_WAIT), 0);
        close_frontend(f);
        assert_int_equal(bf_set_state(f, XenbusStateInitialising), 0);
        assert_int_equal(bf_wait_backend(f, XenbusStateInitWait, T_WAIT), 0);
        /* FrontendPrepare / RingConnect / FrontendSetNumQueues reads */
        assert_true(be_uint(f, "feature-max-indirect-segments", 0) > BLKIF_MAX_SEGMENTS_PER_REQUEST);
        order = be_uint(f, "max-ring-page-order", 0);
        nq = be_uint(f, "multi-queue-max-queues", 1);
        assert_true(nq >= 1);
        order = order < 1 ? order : 1;
        nq = nq < 2 ? nq : 2;
        assert_int_equal(bf_setup_rings(f, nq, order, false, true, false), 0);
        assert_int_equal(bf_set_state(f, XenbusStateInitialised), 0);
        assert_int_equal(bf_wait_backend(f, XenbusStateConnected, T_WAIT), 0);
        /* __ReadDiskInfo: sector-size is the unit of everything */
        assert_int_equal(be_uint(f, "sector-size", 0), 512);
        assert_true(be_uint(f, "sectors", 0) > 0);
        assert_int_equal(bf_set_state(f, XenbusStateConnected), 0);
}

/* Linux blkfront; persistent: it writes feature-persistent=1 (the default
 * of xen_blkfront.feature_persistent) and, as pvbackd offers them, uses
 * persistent grants. */
static void connect_linux_as(BlkFront *f, unsigned nq, unsigned order, bool x86_32, bool persistent) {
        assert_int_equal(bf_wait_backend(f, XenbusStateInitWait, T_WAIT), 0);
        assert_int_equal(bf_setup_rings(f, nq, order, x86_32, false, persistent), 0);
        assert_int_equal(f->persistent, persistent);
        assert_int_equal(bf_set_state(f, XenbusStateInitialised), 0);
        assert_int_equal(bf_wait_backend(f, XenbusStateConnected, T_WAIT), 0);
        assert_int_equal(bf_set_state(f, XenbusStateConnected), 0);
}

static void connect_linux(BlkFront *f, unsigned nq, unsigned order, bool x86_32) {
        connect_linux_as(f, nq, order, x86_32, true);
}

static uint32_t rnd(uint32_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        return *s;
}

typedef struct Inflight {
        BfReq req;
        unsigned q, page0, first, nsect;
        bool write;
} Inflight;

/* One round of up to qd non-overlapping random requests spread over the
 * queues: reads, writes (random data), flushes, discards. */
typedef struct Round {
        Inflight fl[32];
        unsigned n;
        bool answered[32];
} Round;

static void round_build(BlkFront *f, Model *m, Round *rd, unsigned qd, bool discard, uint32_t *seed) {
        unsigned page = 0;

        assert_true(qd <= 32);
        rd->n = 0;
        memset(rd->answered, 0, sizeof rd->answered);
        while (rd->n < qd) {
                Inflight *x = &rd->fl[rd->n];
                uint32_t kind = rnd(seed) % 100;
                unsigned maxsect = rnd(seed) % 4 == 0 ? 1024 : 64;
                bool overlap = false;

                x->q = rnd(seed) % f->nq;
                x->first = rnd(seed) % 8;
                x->nsect = 1 + rnd(seed) % maxsect;
                x->page0 = page;
                x->write = false;
                uint64_t sector = rnd(seed) % (m->sectors - x->nsect);
                for (unsigned k = 0; k < rd->n; k++)
                        if (sector < rd->fl[k].req.sector + (rd->fl[k].nsect ? rd->fl[k].nsect : rd->fl[k].req.nr_sectors) &&
                            rd->fl[k].req.sector < sector + x->nsect)
                                overlap = true;
                if (overlap)
                        continue;
                if (kind < 8) {
                        x->req = (BfReq) { .operation = BLKIF_OP_FLUSH_DISKCACHE, .id = ++f->next_id };
                        x->nsect = 0;
                        x->req.sector = UINT64_MAX / 2; /* never overlaps */
                } else if (kind < 16 && discard) {
                        x->req = (BfReq) { .operation = BLKIF_OP_DISCARD, .id = ++f->next_id,
                                           .sector = sector, .nr_sectors = x->nsect };
                        x->nsect = 0;
                } else {
                        unsigned pages = (x->first + x->nsect + 7) / 8;
                        if (page + pages > BF_DATA_PAGES)
                                break;
                        x->write = kind < 58;
                        if (x->write)
                                for (unsigned p = 0; p < pages; p++)
                                        for (unsigned b = 0; b < 4096; b++)
                                                bf_page(f, page + p)[b] = (uint8_t) rnd(seed);
                        else
                                for (unsigned p = 0; p < pages; p++)
                                        memset(bf_page(f, page + p), 0xa5, 4096);
                        bf_build_rw(f, &x->req, x->write, sector, page, x->first, x->nsect, rnd(seed) % 8 == 0,
                                    rd->n);
                        page += pages;
                }
                rd->n++;
        }
}

static void round_submit(BlkFront *f, const Round *rd) {
        for (unsigned k = 0; k < rd->n; k++)
                bf_put(f, rd->fl[k].q, &rd->fl[k].req);
        for (unsigned qi = 0; qi < f->nq; qi++)
                bf_push(f, qi);
}

/* Collects the round's responses: each id answered once, reads checked
 * against the model, writes applied to it after their OKAY, discards too
 * (switched off on EOPNOTSUPP, as Windows does). */
static void round_collect(BlkFront *f, Model *m, Round *rd, bool *discard, bool block_device, unsigned round) {
        for (unsigned qi = 0; qi < f->nq; qi++) {
                unsigned want = 0;
                BfResult res[32];
                for (unsigned k = 0; k < rd->n; k++)
                        want += rd->fl[k].q == qi;
                int got = bf_collect(f, qi, res, (int) want, (int) want, T_WAIT);
                if (got != (int) want)
                        fail_msg("queue %u: %d of %u responses (round %u)", qi, got, want, round);
                for (int i = 0; i < got; i++) {
                        Inflight *x = NULL;
                        for (unsigned k = 0; k < rd->n; k++)
                                if (rd->fl[k].req.id == res[i].id && rd->fl[k].q == qi) {
                                        if (rd->answered[k])
                                                fail_msg("a second response for id %" PRIu64 " (round %u)",
                                                         res[i].id, round);
                                        rd->answered[k] = true;
                                        x = &rd->fl[k];
                                }
                        if (!x)
                                fail_msg("response with unknown id %" PRIu64 " (round %u)", res[i].id, round);
                        if (x->req.operation == BLKIF_OP_DISCARD) {
                                if (res[i].status == BLKIF_RSP_EOPNOTSUPP) {
                                        *discard = false; /* xenvbd: feature off, SRB success */
                                        continue;
                                }
                                assert_int_equal(res[i].status, BLKIF_RSP_OKAY);
                                for (uint64_t s = x->req.sector; s < x->req.sector + x->req.nr_sectors; s++) {
                                        memset(m->data + s * 512, 0, 512);
                                        m->known[s] = !block_device;
                                }
                                continue;
                        }
                        if (res[i].status != BLKIF_RSP_OKAY)
                                fail_msg("operation %u (sector %" PRIu64 ", %u sectors) failed: %d",
                                         x->req.operation, x->req.sector, x->nsect, res[i].status);
                        if (x->req.operation == BLKIF_OP_FLUSH_DISKCACHE)
                                continue;
                        for (unsigned s = 0; s < x->nsect; s++) {
                                unsigned off = (x->first + s) * 512;
                                uint8_t *g = bf_page(f, x->page0 + off / 4096) + off % 4096;
                                uint8_t *d = m->data + (x->req.sector + s) * 512;
                                if (x->write) {
                                        memcpy(d, g, 512);
                                        m->known[x->req.sector + s] = true;
                                } else if (m->known[x->req.sector + s] && memcmp(d, g, 512) != 0)
                                        fail_msg("read of sector %" PRIu64 " differs from the model (round %u)",
                                                 x->req.sector + s, round);
                        }
                }
        }
}

/* Random rounds of round_build(), each submitted and collected. */
static void workload(BlkFront *f, Model *m, unsigned rounds, unsigned qd, bool discard, bool block_device,
                     uint32_t seed) {
        for (unsigned round = 0; round < rounds; round++) {
                Round rd;

                round_build(f, m, &rd, qd, discard, &seed);
                round_submit(f, &rd);
                round_collect(f, m, &rd, &discard, block_device, round);
        }
}

static void check_image(const char *path, const Model *m) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t buf[512];

        assert_true(fd >= 0);
        for (uint64_t s = 0; s < m->sectors; s++) {
                assert_int_equal(pread(fd, buf, 512, (off_t) (s * 512)), 512);
                if (m->known[s] && memcmp(buf, m->data + s * 512, 512) != 0)
                        fail_msg("%s: sector %" PRIu64 " differs from the model", path, s);
        }
        close(fd);
}

static int simple_rw(BlkFront *f, unsigned qi, bool write, uint64_t sector, unsigned nsect) {
        BfReq r;
        bf_build_rw(f, &r, write, sector, 0, 0, nsect, false, 0);
        return bf_roundtrip(f, qi, &r, T_WAIT);
}

static char *b64dec(const char *in, size_t *ret_len) {
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(in), o = 0;
        char *out = calloc(1, n);
        uint32_t acc = 0;
        int bits = 0;

        assert_int_equal(n % 4, 0);
        for (size_t i = 0; i < n && in[i] != '='; i++) {
                const char *p = strchr(tbl, in[i]);
                assert_non_null(p);
                acc = acc << 6 | (uint32_t) (p - tbl);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char) (acc >> bits & 0xff);
                }
        }
        *ret_len = o;
        return out;
}

/* ---- tests ---- */

static void test_windows_frontend(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "win.img", DISK_SECTORS * 512ull, &m), *v;
        size_t len;
        char ring_ref[64];

        (void) state;
        add_disk(1, 51712, img, SCRIPT_OURS, "w", NULL);
        wait_be(&H, "vbd", 1, 51712, "state", "2");
        /* Everything xenvbd and xencrsh read, published with InitWait. */
        assert_be(&H, "vbd", 1, 51712, "pvbackd-status", "ready");
        assert_be(&H, "vbd", 1, 51712, "max-ring-page-order", "4");
        assert_be(&H, "vbd", 1, 51712, "multi-queue-max-queues", "4");
        assert_be(&H, "vbd", 1, 51712, "feature-max-indirect-segments", "256");
        assert_be(&H, "vbd", 1, 51712, "feature-flush-cache", "1");
        assert_be(&H, "vbd", 1, 51712, "feature-barrier", "1");
        assert_be(&H, "vbd", 1, 51712, "feature-discard", "1");
        assert_be_absent(&H, "vbd", 1, 51712, "discard-secure"); /* files: never */
        assert_be(&H, "vbd", 1, 51712, "sector-size", "512");
        assert_be(&H, "vbd", 1, 51712, "info", "2"); /* removable */
        assert_be(&H, "vbd", 1, 51712, "feature-persistent", "1"); /* offered; xenvbd does not ask */
        v = be_read(&H, "vbd", 1, 51712, "sectors");
        assert_string_equal(v, "16384");
        free(v);
        v = be_read(&H, "vbd", 1, 51712, "sm-data/scsi/0x12/0x80");
        assert_non_null(v);
        char *page = b64dec(v, &len);
        assert_true(len > 4 && (uint8_t) page[1] == 0x80 && (size_t) page[3] == len - 4);
        assert_memory_equal(page + 4, "PVBD", 4);
        free(page);
        free(v);
        v = be_read(&H, "vbd", 1, 51712, "sm-data/scsi/0x12/0x83");
        assert_non_null(v);
        page = b64dec(v, &len);
        assert_true(len > 16 && (uint8_t) page[1] == 0x83);
        assert_memory_equal(page + 8, "XENSRC  PVBD", 12);
        free(page);
        free(v);

        assert_int_equal(bf_open(&f, &H, 1, 51712), 0);
        connect_windows(&f);
        workload(&f, &m, 40, 16, true, false, 12345);
        /* No persistent grants for xenvbd: grant copy, nothing but the
         * rings mapped between requests. */
        assert_int_equal(xsim_foreign_maps(1), (int) (f.nq << f.order));
        /* A secure discard, not offered: EOPNOTSUPP, nothing erased. */
        {
                BfReq r = { .operation = BLKIF_OP_DISCARD, .flag = BLKIF_DISCARD_SECURE, .sector = 0,
                            .nr_sectors = 64 };
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_EOPNOTSUPP);
        }

        /* Hot-unplug: libxl writes online=0 and state=5 in one transaction;
         * xenvbd ejects and writes 6 directly (no 5), then revokes. */
        {
                char p[256];
                xs_transaction_t t = xs_transaction_start(H.xs);
                snprintf(p, sizeof p, "%s/online", f.dev.be);
                xs_write(H.xs, t, p, "0", 1);
                snprintf(p, sizeof p, "%s/state", f.dev.be);
                xs_write(H.xs, t, p, "5", 1);
                assert_true(xs_transaction_end(H.xs, t, false));
        }
        assert_int_equal(bf_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        /* Still serving while Windows decides (vetoed ejects keep going). */
        assert_int_equal(simple_rw(&f, 0, true, 100, 8), BLKIF_RSP_OKAY);
        memcpy(m.data + 100 * 512, bf_page(&f, 0), 8 * 512);
        guest_dev_write(&f.dev, XBT_NULL, f.dev.fe, "ejected", "1");
        assert_int_equal(bf_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(bf_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        /* Everything unmapped before Closed: the ring grants can be revoked. */
        for (unsigned qi = 0; qi < f.nq; qi++)
                for (unsigned i = 0; i < (1u << f.order); i++)
                        assert_int_equal(xsim_grant_end(1, f.q[qi].refs[i]), 0);
        (void) ring_ref;
        check_image(img, &m);
        bf_close(&f);
        model_free(&m);
        free(img);
}

static void test_linux_frontend_x86_32_multiqueue(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "linux.img", DISK_SECTORS * 512ull, &m);

        (void) state;
        add_disk_and_open(&f, 2, 51728, img);
        connect_linux(&f, 4, 2, true);
        /* Linux asked for persistent grants, and they are offered: the
         * data pages stay mapped between requests. */
        assert_be(&H, "vbd", 2, 51728, "feature-persistent", "1");
        workload(&f, &m, 40, 24, true, false, 777);
        assert_true(xsim_foreign_maps(2) > (int) (f.nq << f.order));

        /* A barrier with data (old Linux): ordered write + flush. */
        {
                BfReq r;
                bf_build_rw(&f, &r, true, 4000, 0, 0, 16, false, 0);
                for (unsigned i = 0; i < 16 * 512; i++)
                        bf_page(&f, 0)[i] = (uint8_t) (i * 7);
                r.operation = BLKIF_OP_WRITE_BARRIER;
                assert_int_equal(bf_roundtrip(&f, 1, &r, T_WAIT), BLKIF_RSP_OKAY);
                memcpy(m.data + 4000 * 512, bf_page(&f, 0), 16 * 512);
                r = (BfReq) { .operation = BLKIF_OP_WRITE_BARRIER };
                assert_int_equal(bf_roundtrip(&f, 2, &r, T_WAIT), BLKIF_RSP_OKAY);
        }
        /* Guest closes; reconnects with another layout (native, 1 queue). */
        assert_int_equal(bf_set_state(&f, XenbusStateClosing), 0);
        assert_int_equal(bf_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        assert_int_equal(bf_set_state(&f, XenbusStateClosed), 0);
        assert_int_equal(bf_wait_backend(&f, XenbusStateClosed, T_WAIT), 0);
        assert_int_equal(xsim_foreign_maps(2), 0); /* persistent maps dropped with the rings */
        {
                char p[256];
                snprintf(p, sizeof p, "%s/multi-queue-num-queues", f.dev.fe);
                xs_rm(f.dev.xs, XBT_NULL, p);
                snprintf(p, sizeof p, "%s/ring-page-order", f.dev.fe);
                xs_rm(f.dev.xs, XBT_NULL, p);
        }
        assert_int_equal(bf_set_state(&f, XenbusStateInitialising), 0);
        connect_linux(&f, 1, 0, false);
        workload(&f, &m, 10, 16, true, false, 4242);
        check_image(img, &m);
        bf_close(&f);
        model_free(&m);
        free(img);
}

static void test_missing_image_reported(void **state) {
        char path[300], *v;

        (void) state;
        snprintf(path, sizeof path, "%s/absent.img", imgdir);
        add_disk(3, 51712, path, SCRIPT_OURS, "w", NULL);
        wait_be(&H, "vbd", 3, 51712, "pvbackd-status", "error");
        v = be_read(&H, "vbd", 3, 51712, "hotplug-error");
        assert_non_null(v);
        char want[400];
        snprintf(want, sizeof want, "pvbackd: disk image %s: No such file or directory", path);
        assert_string_equal(v, want);
        free(v);
        assert_be(&H, "vbd", 3, 51712, "state", "2");
}

static void test_bad_toolstack_config_refused(void **state) {
        const char *virtio[] = { "specification", "virtio", NULL };
        char *img = make_image(imgdir, "spec.img", 1 << 20, NULL), *v;

        (void) state;
        guest(4);
        /* add_disk writes specification=xen first; a later key wins */
        add_disk(4, 1, img, SCRIPT_OURS, "w", virtio);
        wait_be(&H, "vbd", 4, 1, "pvbackd-status", "error");
        v = be_read(&H, "vbd", 4, 1, "hotplug-error");
        assert_non_null(strstr(v, "specification"));
        free(v);
        const char *cd[] = { "device-type", "floppy", NULL };
        add_disk(4, 2, img, SCRIPT_OURS, "w", cd);
        wait_be(&H, "vbd", 4, 2, "pvbackd-status", "error");
        v = be_read(&H, "vbd", 4, 2, "hotplug-error");
        assert_non_null(strstr(v, "device-type"));
        free(v);
        free(img);
}

/* The stock block script: InitWait first, the store only once
 * physical-device-path appears. */
static void test_stock_block_script(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "stock.img", DISK_SECTORS * 512ull, &m);
        char p[256];

        (void) state;
        add_disk(5, 51712, "/some/thing/the/script/resolves", "/etc/xen/scripts/block", "w", NULL);
        wait_be(&H, "vbd", 5, 51712, "state", "2");
        assert_be_absent(&H, "vbd", 5, 51712, "pvbackd-status");
        assert_be_absent(&H, "vbd", 5, 51712, "sectors");
        assert_be(&H, "vbd", 5, 51712, "max-ring-page-order", "4");
        snprintf(p, sizeof p, "/local/domain/0/backend/vbd/5/51712/physical-device-path");
        assert_int_equal(ts_write(&H, p, img), 0);
        wait_be(&H, "vbd", 5, 51712, "pvbackd-status", "ready");
        assert_be(&H, "vbd", 5, 51712, "sectors", "16384");
        assert_int_equal(bf_open(&f, &H, 5, 51712), 0);
        connect_linux(&f, 1, 0, false);
        workload(&f, &m, 10, 8, true, false, 99);
        check_image(img, &m);
        bf_close(&f);
        model_free(&m);
        free(img);
}

static void test_read_only(void **state) {
        BlkFront f;
        char *img = make_image(imgdir, "ro.img", 1 << 20, NULL);
        BfReq r;

        (void) state;
        add_disk(6, 51712, img, SCRIPT_OURS, "r", NULL);
        wait_be(&H, "vbd", 6, 51712, "state", "2");
        assert_be(&H, "vbd", 6, 51712, "info", "6"); /* removable | read-only */
        assert_be_absent(&H, "vbd", 6, 51712, "feature-discard");
        assert_int_equal(bf_open(&f, &H, 6, 51712), 0);
        connect_linux(&f, 1, 0, false);
        assert_int_equal(simple_rw(&f, 0, false, 0, 8), BLKIF_RSP_OKAY);
        assert_int_equal(simple_rw(&f, 0, true, 0, 8), BLKIF_RSP_ERROR);
        r = (BfReq) { .operation = BLKIF_OP_FLUSH_DISKCACHE };
        assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
        bf_close(&f);
        free(img);
}

/* discard-enable=0: not advertised; a frontend that sends one anyway gets
 * EOPNOTSUPP (Windows would report success and switch discard off). */
static void test_discard_disabled(void **state) {
        const char *nodiscard[] = { "discard-enable", "0", NULL };
        char *img = make_image(imgdir, "nd.img", 1 << 20, NULL);
        BlkFront f;
        BfReq r;

        (void) state;
        add_disk(7, 51712, img, SCRIPT_OURS, "w", nodiscard);
        wait_be(&H, "vbd", 7, 51712, "state", "2");
        assert_be_absent(&H, "vbd", 7, 51712, "feature-discard");
        assert_int_equal(bf_open(&f, &H, 7, 51712), 0);
        connect_windows(&f);
        r = (BfReq) { .operation = BLKIF_OP_DISCARD, .sector = 8, .nr_sectors = 8 };
        assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_EOPNOTSUPP);
        assert_int_equal(simple_rw(&f, 0, true, 0, 8), BLKIF_RSP_OKAY);
        bf_close(&f);
        free(img);
}

static void test_hostile_requests(void **state) {
        BlkFront f;
        char *img = make_image(imgdir, "hostile.img", DISK_SECTORS * 512ull, NULL);
        BfReq r;

        (void) state;
        add_disk_and_open(&f, 8, 51712, img);
        /* Grant copy (no persistent grants), so the copy faults below reach
         * it; the persistent-grant cases are in test_persistent_grants. */
        connect_linux_as(&f, 1, 1, false, false);

#define EXPECT_ERROR(what)                                                                 \
        do {                                                                               \
                int st_ = bf_roundtrip(&f, 0, &r, T_WAIT);                                 \
                if (st_ != BLKIF_RSP_ERROR)                                                \
                        fail_msg("%s: status %d, wanted BLKIF_RSP_ERROR", what, st_);      \
                assert_int_equal(simple_rw(&f, 0, true, 64, 16), BLKIF_RSP_OKAY);          \
                assert_int_equal(simple_rw(&f, 0, false, 64, 16), BLKIF_RSP_OKAY);         \
        } while (0)

        r = (BfReq) { .operation = 99 };
        EXPECT_ERROR("unknown operation");
        r = (BfReq) { .operation = BLKIF_OP_RESERVED_1 };
        EXPECT_ERROR("reserved operation");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8, false, 0);
        r.nr_segments = 12;
        EXPECT_ERROR("12 direct segments");
        r.nr_segments = 0;
        EXPECT_ERROR("0 segments");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8, false, 0);
        r.seg[0].first_sect = 5;
        r.seg[0].last_sect = 3;
        EXPECT_ERROR("first_sect > last_sect");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8, false, 0);
        r.seg[0].last_sect = 8;
        EXPECT_ERROR("last_sect beyond the page");
        bf_build_rw(&f, &r, true, DISK_SECTORS - 1, 0, 0, 2, false, 0);
        EXPECT_ERROR("range beyond the disk");
        bf_build_rw(&f, &r, true, UINT64_MAX - 2, 0, 0, 8, false, 0);
        EXPECT_ERROR("range overflowing");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8 * 20, true, 0);
        r.nr_segments = 300;
        EXPECT_ERROR("more indirect segments than offered");
        r.nr_segments = 0;
        EXPECT_ERROR("0 indirect segments");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8 * 20, true, 0);
        r.indirect_op = BLKIF_OP_FLUSH_DISKCACHE;
        EXPECT_ERROR("bad indirect operation");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8 * 20, true, 0);
        r.indirect_grefs[0] = 4000; /* not granted */
        EXPECT_ERROR("bad indirect page grant");
        bf_build_rw(&f, &r, true, 0, 0, 0, 8, false, 0);
        r.seg[0].gref = 4001;
        EXPECT_ERROR("bad grant ref (write)");
        bf_build_rw(&f, &r, false, 0, 0, 0, 8, false, 0);
        r.seg[0].gref = f.ref_ro[0]; /* reading into a read-only grant */
        EXPECT_ERROR("read into a read-only grant");
        r = (BfReq) { .operation = BLKIF_OP_DISCARD, .sector = DISK_SECTORS - 4, .nr_sectors = 8 };
        EXPECT_ERROR("discard beyond the disk");
        r = (BfReq) { .operation = BLKIF_OP_DISCARD, .sector = 8, .nr_sectors = UINT64_MAX - 4 };
        EXPECT_ERROR("discard overflowing");
        /* faults injected in the grant copy of a WRITE */
        bf_build_rw(&f, &r, true, 0, 0, 0, 8, false, 0);
        xsim_fault_copy(8, 1);
        EXPECT_ERROR("failed grant copy");
        assert_true(harness_log_contains(&H, "bad request"));
        assert_be(&H, "vbd", 8, 51712, "state", "4");
        bf_close(&f);
        free(img);
}

static void test_broken_ring_closes_only_that_device(void **state) {
        BlkFront a, b;
        char *ia = make_image(imgdir, "a.img", 1 << 20, NULL), *ib = make_image(imgdir, "b.img", 1 << 20, NULL);
        char p[300];

        (void) state;
        add_disk(9, 51712, ia, SCRIPT_OURS, "w", NULL);
        add_disk(9, 51728, ib, SCRIPT_OURS, "w", NULL);
        assert_int_equal(bf_open_pages(&a, &H, 9, 51712, 64), 0);
        assert_int_equal(bf_open_pages(&b, &H, 9, 51728, 64), 0);
        connect_linux(&a, 1, 0, false);
        connect_linux(&b, 1, 0, false);
        {
                blkif_x86_64_sring_t *s = a.q[0].sring;
                s->req_prod = s->rsp_prod + a.q[0].size + 5;
                xenevtchn_notify(a.dev.xce, a.q[0].port);
        }
        snprintf(p, sizeof p, "/local/domain/0/error/backend/vbd/9/51712/error");
        assert_int_equal(bf_wait_backend(&a, XenbusStateClosing, T_WAIT), 0);
        char *e = ts_read(&H, "%s", p);
        assert_non_null(e);
        assert_non_null(strstr(e, "beyond the ring"));
        free(e);
        assert_int_equal(simple_rw(&b, 0, true, 0, 8), BLKIF_RSP_OKAY);
        assert_be(&H, "vbd", 9, 51728, "state", "4");
        bf_close(&a);
        bf_close(&b);
        free(ia);
        free(ib);
}

/* A flush answered OKAY means the data is in the image, whatever happens
 * to the daemon next. */
static void test_flush_then_sigkill(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "kill.img", DISK_SECTORS * 512ull, &m);
        BfReq r;
        int status;

        (void) state;
        add_disk_and_open(&f, 10, 51712, img);
        connect_linux(&f, 1, 0, false);
        workload(&f, &m, 10, 16, false, false, 31337);
        r = (BfReq) { .operation = BLKIF_OP_FLUSH_DISKCACHE };
        assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
        kill(H.pvbackd, SIGKILL);
        assert_int_equal(waitpid(H.pvbackd, &status, 0), H.pvbackd);
        H.pvbackd = -1;
        check_image(img, &m);
        bf_close(&f);
        model_free(&m);
        free(img);
}

/* ENOSPC from a full filesystem fails the request only. */
static void test_enospc_fails_only_the_request(void **state) {
        char mnt[300], *img;
        BlkFront f;
        int st, errors = 0;

        (void) state;
        snprintf(mnt, sizeof mnt, "%s/small", imgdir);
        assert_int_equal(mkdir(mnt, 0700), 0);
        if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0) {
                print_message("skipped: cannot mount a small tmpfs (%s)\n", strerror(errno));
                skip();
        }
        img = make_image(mnt, "full.img", 4 << 20, NULL); /* sparse, larger than the fs */
        add_disk_and_open(&f, 11, 51712, img);
        connect_linux(&f, 1, 0, false);
        for (unsigned i = 0; i < 128; i++) {
                st = simple_rw(&f, 0, true, (uint64_t) i * 64, 64);
                assert_true(st == BLKIF_RSP_OKAY || st == BLKIF_RSP_ERROR);
                errors += st == BLKIF_RSP_ERROR;
        }
        assert_true(errors > 0);
        /* reads and rewrites of allocated blocks still work */
        assert_int_equal(simple_rw(&f, 0, false, 0, 64), BLKIF_RSP_OKAY);
        assert_int_equal(simple_rw(&f, 0, true, 0, 64), BLKIF_RSP_OKAY);
        assert_be(&H, "vbd", 11, 51712, "state", "4");
        assert_true(harness_log_contains(&H, "I/O error"));
        bf_close(&f);
        ts_device_remove(&H, "vbd", 11, 51712, true);
        (void) umount2(mnt, MNT_DETACH);
        free(img);
}

static void test_loop_device(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "loop.img", DISK_SECTORS * 512ull, &m), cmd[400], dev[64] = "";
        FILE *p;

        (void) state;
        snprintf(cmd, sizeof cmd, "losetup -f --show '%s' 2>/dev/null", img);
        p = geteuid() == 0 ? popen(cmd, "r") : NULL;
        if (!p || !fgets(dev, sizeof dev, p) || dev[0] != '/') {
                if (p)
                        pclose(p);
                print_message("skipped: no loop device (not root, or losetup failed)\n");
                model_free(&m);
                free(img);
                skip();
        }
        pclose(p);
        dev[strcspn(dev, "\n")] = 0;
        add_disk(12, 51712, dev, SCRIPT_OURS, "w", NULL);
        wait_be(&H, "vbd", 12, 51712, "pvbackd-status", "ready");
        assert_be(&H, "vbd", 12, 51712, "sectors", "16384");
        assert_int_equal(bf_open(&f, &H, 12, 51712), 0);
        connect_windows(&f);
        workload(&f, &m, 20, 16, true, true, 2024);
        {
                BfReq r = { .operation = BLKIF_OP_FLUSH_DISKCACHE };
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
        }
        /* A loop device has no secure erase (the BLKSECDISCARD probe says
         * EOPNOTSUPP): not offered, and a secure discard is answered
         * EOPNOTSUPP with nothing erased (check_image below). */
        assert_be(&H, "vbd", 12, 51712, "feature-discard", "1");
        assert_be_absent(&H, "vbd", 12, 51712, "discard-secure");
        {
                BfReq r = { .operation = BLKIF_OP_DISCARD, .flag = BLKIF_DISCARD_SECURE, .sector = 0,
                            .nr_sectors = DISK_SECTORS };
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_EOPNOTSUPP);
        }
        check_image(dev, &m);
        bf_close(&f);
        ts_device_remove(&H, "vbd", 12, 51712, true);
        snprintf(cmd, sizeof cmd, "losetup -d '%s'", dev);
        if (system(cmd) != 0)
                print_message("losetup -d %s failed\n", dev);
        model_free(&m);
        free(img);
}

static bool run_line(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool run_line(char *out, size_t n, const char *fmt, ...) {
        char cmd[700];
        va_list ap;
        FILE *p;
        bool ok;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        p = popen(cmd, "r");
        if (!p)
                return false;
        ok = fgets(out, (int) n, p) && out[0] == '/';
        ok = pclose(p) == 0 && ok;
        out[strcspn(out, "\n")] = 0;
        return ok;
}

static bool wait_log(const char *s, int ms) {
        for (; ms > 0; ms -= 20) {
                if (harness_log_contains(&H, s))
                        return true;
                usleep(20000);
        }
        return harness_log_contains(&H, s);
}

/* Writes the kernel holds when the disk goes away: a loop device on a file
 * of a frozen filesystem. They are abandoned with their buffers after
 * BLK_RELEASE_WAIT_MS, and released once the kernel completes them (the
 * next connect reaps). */
static void test_abandoned_io_released(void **state) {
        char fs[300], mnt[300], *disk, *img, l1[64] = "", l2[64] = "";
        BlkFront f, g;
        BfReq r;

        (void) state;
        snprintf(mnt, sizeof mnt, "%s/frz", imgdir);
        assert_int_equal(mkdir(mnt, 0700), 0);
        free(make_image(imgdir, "fs.img", 64u << 20, NULL));
        snprintf(fs, sizeof fs, "%s/fs.img", imgdir);
        if (geteuid() != 0 || !run_line(l1, sizeof l1, "losetup -f --show '%s' 2>/dev/null", fs) ||
            harness_sh("mkfs.ext4 -q '%s' && mount '%s' '%s'", l1, l1, mnt) != 0) {
                if (l1[0])
                        (void) harness_sh("losetup -d '%s'", l1);
                print_message("skipped: no loop device, ext4 or mount\n");
                skip();
        }
        disk = make_image(mnt, "disk.img", DISK_SECTORS * 512ull, NULL);
        assert_true(run_line(l2, sizeof l2, "losetup -f --show '%s'", disk));
        add_disk_and_open(&f, 13, 51712, l2);
        connect_linux(&f, 1, 0, false);
        assert_int_equal(simple_rw(&f, 0, true, 0, 8), BLKIF_RSP_OKAY);

        assert_int_equal(harness_sh("fsfreeze -f '%s'", mnt), 0);
        snprintf(frozen, sizeof frozen, "%s", mnt);
        for (unsigned i = 0; i < 8; i++) {
                bf_build_rw(&f, &r, true, (uint64_t) i * 8, i, 0, 8, false, 0);
                bf_put(&f, 0, &r);
        }
        bf_push(&f, 0);
        usleep(300000);
        (void) ts_device_remove(&H, "vbd", 13, 51712, true);
        assert_true(wait_log("abandoning them", 15000));
        bf_close(&f);

        assert_int_equal(harness_sh("fsfreeze -u '%s'", mnt), 0);
        frozen[0] = 0;
        usleep(200000);
        /* Another disk connects: the kernel is done with the old I/O, which is released. */
        img = make_image(imgdir, "after.img", DISK_SECTORS * 512ull, NULL);
        add_disk_and_open(&g, 14, 51712, img);
        connect_linux(&g, 1, 0, false);
        assert_true(wait_log("completed 8 abandoned I/Os", T_WAIT));
        assert_true(harness_log_contains(&H, "(0 abandoned left)"));
        assert_int_equal(simple_rw(&g, 0, true, 0, 8), BLKIF_RSP_OKAY);
        bf_close(&g);
        ts_device_remove(&H, "vbd", 14, 51712, true);

        (void) harness_sh("losetup -d '%s'; umount '%s'; losetup -d '%s'", l2, mnt, l1);
        free(disk);
        free(img);
}

/* Rewrites pvbackd.conf and reloads it (SIGHUP; READY=1 once applied). */
static void reload_config(const char *text) {
        FILE *f = fopen(H.config_path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(kill(H.pvbackd, SIGHUP), 0);
        assert_true(harness_wait_notify(&H, "READY=1", T_WAIT));
}

/* The number in the last "(<n> grant-mapped" of the daemon's log. */
static long mapped_in_log(void) {
        FILE *f = fopen(H.stderr_path, "re");
        char line[1024];
        long n = -1;

        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
                char *p = strstr(line, "writes (");
                if (p && strstr(p, "grant-mapped"))
                        n = strtol(p + strlen("writes ("), NULL, 10);
        }
        fclose(f);
        return n;
}

/* [disk "<params>"] in pvbackd.conf: the serial reaches VPD page 0x80 (and
 * 0x83), persistent-grants = no withdraws the offer (a Linux frontend that
 * asks does not get them), and grant-map = always moves the data through
 * grant mappings, each unmapped before its response is visible (Windows
 * revokes at once). */
static void test_configured_serial_and_grant_map(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "mapped.img", DISK_SECTORS * 512ull, &m), conf[600], *v, *page;
        size_t len;
        int maps0;

        (void) state;
        snprintf(conf, sizeof conf, "[limits]\nmax-queues = 4\n[disk \"%s\"]\nserial = PVBD SERIAL-0042\n"
                 "grant-map = always\npersistent-grants = no\n", img);
        reload_config(conf);
        add_disk(13, 51712, img, SCRIPT_OURS, "w", NULL);
        wait_be(&H, "vbd", 13, 51712, "pvbackd-status", "ready");
        v = be_read(&H, "vbd", 13, 51712, "sm-data/scsi/0x12/0x80");
        assert_non_null(v);
        page = b64dec(v, &len);
        assert_int_equal(len, 4 + strlen("PVBD SERIAL-0042"));
        assert_int_equal((uint8_t) page[1], 0x80);
        assert_int_equal((uint8_t) page[3], strlen("PVBD SERIAL-0042"));
        assert_memory_equal(page + 4, "PVBD SERIAL-0042", strlen("PVBD SERIAL-0042"));
        free(page);
        free(v);
        v = be_read(&H, "vbd", 13, 51712, "sm-data/scsi/0x12/0x83");
        assert_non_null(v);
        page = b64dec(v, &len);
        assert_true(len == 16 + strlen("PVBD SERIAL-0042") &&
                    memcmp(page + 16, "PVBD SERIAL-0042", strlen("PVBD SERIAL-0042")) == 0);
        free(page);
        free(v);

        assert_int_equal(bf_open(&f, &H, 13, 51712), 0);
        assert_int_equal(bf_wait_backend(&f, XenbusStateInitWait, T_WAIT), 0);
        assert_be_absent(&H, "vbd", 13, 51712, "feature-persistent");
        assert_int_equal(bf_setup_rings(&f, 2, 1, false, false, true), 0); /* Linux asks all the same */
        assert_false(f.persistent);
        assert_int_equal(bf_set_state(&f, XenbusStateInitialised), 0);
        assert_int_equal(bf_wait_backend(&f, XenbusStateConnected, T_WAIT), 0);
        assert_int_equal(bf_set_state(&f, XenbusStateConnected), 0);
        maps0 = xsim_foreign_maps(13); /* the rings */
        /* Each response: its grants are already unmapped. */
        for (unsigned i = 0; i < 20; i++) {
                assert_int_equal(simple_rw(&f, i % 2, i % 3 != 0, (uint64_t) i * 300, 1 + i * 37 % 700),
                                 BLKIF_RSP_OKAY);
                assert_int_equal(xsim_foreign_maps(13), maps0);
        }
        for (uint64_t s = 0; s < m.sectors; s++)
                m.known[s] = false; /* simple_rw wrote page contents the model does not track */
        workload(&f, &m, 20, 16, true, false, 77);
        assert_int_equal(xsim_foreign_maps(13), maps0);
        check_image(img, &m);
        /* Close: the backend disconnects and logs its counters. */
        assert_int_equal(bf_set_state(&f, XenbusStateClosing), 0);
        assert_int_equal(bf_wait_backend(&f, XenbusStateClosing, T_WAIT), 0);
        assert_int_equal(bf_set_state(&f, XenbusStateClosed), 0);
        for (int i = 0; i < 200 && mapped_in_log() < 0; i++)
                usleep(20 * 1000);
        assert_true(mapped_in_log() > 0);
        bf_close(&f);
        ts_device_remove(&H, "vbd", 13, 51712, true);
        model_free(&m);
        free(img);
}

/* Growth of the image while connected is published as `sectors` and the
 * new area is usable; a shrink is refused and logged, not published. */
static void test_online_resize(void **state) {
        BlkFront f;
        char *img = make_image(imgdir, "grow.img", DISK_SECTORS * 512ull, NULL);
        int fd;

        (void) state;
        add_disk(14, 51712, img, SCRIPT_OURS, "w", NULL);
        wait_be(&H, "vbd", 14, 51712, "pvbackd-status", "ready");
        assert_int_equal(bf_open(&f, &H, 14, 51712), 0);
        connect_windows(&f);
        assert_be(&H, "vbd", 14, 51712, "sectors", "16384");
        /* Beyond the end: refused. */
        assert_int_equal(simple_rw(&f, 0, true, 20000, 8), BLKIF_RSP_ERROR);

        fd = open(img, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 2 * DISK_SECTORS * 512ll), 0);
        wait_be(&H, "vbd", 14, 51712, "sectors", "32768");
        memset(bf_page(&f, 0), 0x3c, 4096);
        assert_int_equal(simple_rw(&f, 0, true, 32760, 8), BLKIF_RSP_OKAY);
        memset(bf_page(&f, 0), 0, 4096);
        assert_int_equal(simple_rw(&f, 0, false, 32760, 8), BLKIF_RSP_OKAY);
        assert_int_equal(bf_page(&f, 0)[4095], 0x3c);
        assert_int_equal(simple_rw(&f, 0, false, 32761, 8), BLKIF_RSP_ERROR);

        /* Shrinking under a guest: logged, the published size stays. */
        assert_int_equal(ftruncate(fd, DISK_SECTORS * 512ll / 2), 0);
        for (int i = 0; i < 100 && !harness_log_contains(&H, "shrank"); i++)
                usleep(20 * 1000);
        assert_true(harness_log_contains(&H, "shrank"));
        assert_be(&H, "vbd", 14, 51712, "sectors", "32768");
        close(fd);
        bf_close(&f);
        ts_device_remove(&H, "vbd", 14, 51712, true);
        free(img);
}

/* The harness's own directory is tmpfs: before Linux 6.6 it refused
 * O_DIRECT, and the backend falls back to buffered I/O. */
static void test_tmpfs_without_o_direct(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(H.dir, "tmpfs.img", DISK_SECTORS * 512ull, &m);

        (void) state;
        add_disk_and_open(&f, 13, 51712, img);
        connect_windows(&f);
        workload(&f, &m, 10, 16, true, false, 5);
        check_image(img, &m);
        int fd = open(img, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0 && errno == EINVAL)
                assert_true(harness_log_contains(&H, "does not take O_DIRECT"));
        else
                print_message("note: this tmpfs takes O_DIRECT; the buffered fallback was not exercised\n");
        if (fd >= 0)
                close(fd);
        bf_close(&f);
        model_free(&m);
        free(img);
}

/* Mapped persistently so far (the rings aside). */
static int persistent_maps(BlkFront *f) {
        return xsim_foreign_maps(f->dev.domid) - (int) (f->nq << f->order);
}


/* Persistent grants as Linux blkfront uses them: the random workload
 * checked against the model, each ref mapped once and kept while
 * connected, a ref that cannot be mapped fails only its request, the same
 * ref in flight as a READ target and a WRITE source, and a reconnect with a
 * new set of refs (the old mappings dropped at disconnect). */
static void test_persistent_grants(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "persistent.img", DISK_SECTORS * 512ull, &m);
        uint32_t old_ref0;
        int maps;

        (void) state;
        add_disk_and_open(&f, 15, 51712, img);
        connect_linux(&f, 2, 1, false);
        assert_true(f.persistent);
        workload(&f, &m, 30, 16, true, false, 1515);
        maps = persistent_maps(&f);
        assert_true(maps > 0 && maps <= 2 * (int) BLK_PERSISTENT_MAX_PER_QUEUE);
        /* The same pool again: nothing new to map. */
        workload(&f, &m, 30, 16, true, false, 1515);
        assert_int_equal(persistent_maps(&f), maps);
        check_image(img, &m);

        /* An indirect request's descriptor page is a persistent grant too
         * (Linux takes it from the same pool): mapped once, then read
         * through the map, whatever it says next time. */
        {
                BfReq r;
                unsigned ind = BF_IND_PAGES - 1;
                memset(bf_page(&f, 600), 0x5a, 16 * 4096);
                bf_build_rw(&f, &r, true, 4096, 600, 0, 128, true, ind);
                assert_int_equal(r.operation, BLKIF_OP_INDIRECT);
                assert_int_equal(r.indirect_grefs[0], f.ind_ref_rw[ind]);
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
                assert_int_equal(xsim_grant_map_count(15, f.ind_ref_rw[ind]), 1);
                memcpy(m.data + 4096ull * 512, bf_page(&f, 600), 16 * 4096);
                memset(m.known + 4096, true, 128);
                bf_build_rw(&f, &r, false, 4096, 600, 0, 128, true, ind);
                memset(bf_page(&f, 600), 0, 16 * 4096);
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
                assert_int_equal(xsim_grant_map_count(15, f.ind_ref_rw[ind]), 1);
                for (unsigned i = 0; i < 16 * 4096; i++)
                        assert_int_equal(bf_page(&f, 600)[i], 0x5a);
                maps = persistent_maps(&f);
        }

        /* A ref that fails to map (a fresh one) fails its request; the
         * next try maps it. */
        {
                BfReq r;
                uint32_t fresh;
                assert_int_equal(xsim_grant_access(15, 0, f.data_gfn0 + 1000, false, &fresh), 0);
                memset(bf_page(&f, 1000), 0x77, 4096);
                bf_build_rw(&f, &r, true, 512, 1000, 0, 8, false, 0);
                r.seg[0].gref = fresh;
                assert_int_equal(xsim_fault_map(15, 1), 0);
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_ERROR);
                r.id = 0;
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
                memcpy(m.data + 512 * 512, bf_page(&f, 1000), 4096);
                assert_true(harness_log_contains(&H, "cannot map grant"));
        }
        /* One ref in flight as a WRITE source and a READ target: both are
         * served (the page's contents are the guest's problem). */
        {
                BfReq w, r;
                BfResult res[2];
                bf_build_rw(&f, &w, true, 1024, 3, 0, 8, false, 0);
                bf_build_rw(&f, &r, false, 2048, 3, 0, 8, false, 1);
                bf_put(&f, 0, &w);
                bf_put(&f, 0, &r);
                bf_push(&f, 0);
                assert_int_equal(bf_collect(&f, 0, res, 2, 2, T_WAIT), 2);
                assert_int_equal(res[0].status, BLKIF_RSP_OKAY);
                assert_int_equal(res[1].status, BLKIF_RSP_OKAY);
                for (unsigned s = 1024; s < 1032; s++)
                        m.known[s] = false; /* raced with the read into the same page */
        }
        workload(&f, &m, 5, 16, false, false, 99);
        check_image(img, &m);

        /* Disconnect drops every mapping: the old refs can be revoked. */
        close_frontend(&f);
        assert_int_equal(xsim_foreign_maps(15), 0);
        old_ref0 = f.ref_rw[0];
        assert_int_equal(bf_regrant_rw(&f, BF_DATA_PAGES), 0);
        assert_true(f.ref_rw[0] != old_ref0);
        assert_int_equal(bf_set_state(&f, XenbusStateInitialising), 0);
        connect_linux(&f, 2, 1, false); /* new rings too */
        workload(&f, &m, 20, 16, true, false, 4545);
        check_image(img, &m);
        assert_true(persistent_maps(&f) > 0);
        assert_int_equal(xsim_grant_map_count(15, old_ref0), 0);
        close_frontend(&f);
        assert_int_equal(xsim_foreign_maps(15), 0);
        bf_close(&f);
        model_free(&m);
        free(img);
}

/* The number in front of the daemon's last "<what>" log text (-1: none). */
static long number_before_in_log(const char *what) {
        FILE *fl = fopen(H.stderr_path, "re");
        char line[1024];
        long n = -1;

        assert_non_null(fl);
        while (fgets(line, sizeof line, fl)) {
                char *p = strstr(line, what);
                if (p) {
                        while (p > line && p[-1] >= '0' && p[-1] <= '9')
                                p--;
                        n = strtol(p, NULL, 10);
                }
        }
        fclose(fl);
        return n;
}

/* Persistent grants on a store where I/O on guest pages is not safe (here
 * an overlay file system, which pvbackd does not know to be local, opened
 * with O_DIRECT): the grants are still mapped once, but the I/O goes
 * through daemon buffers filled and emptied with memcpy. */
static void test_persistent_bounce(void **state) {
        char mnt[300], cmd[800];
        BlkFront f;
        Model m;
        char *img;

        (void) state;
        snprintf(mnt, sizeof mnt, "%s/ovl/m", imgdir);
        snprintf(cmd, sizeof cmd,
                 "d='%s/ovl'; mkdir -p $d/l $d/u $d/w $d/m && "
                 "mount -t overlay overlay -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w $d/m",
                 imgdir);
        if (geteuid() != 0 || system(cmd) != 0) {
                print_message("skipped: cannot mount an overlay file system (not root, or no overlayfs)\n");
                skip();
        }
        img = make_image(mnt, "bounce.img", DISK_SECTORS * 512ull, &m);
        add_disk_and_open(&f, 17, 51712, img);
        connect_linux(&f, 2, 1, false);
        assert_true(f.persistent);
        assert_true(harness_log_contains(&H, "may be network storage"));
        workload(&f, &m, 20, 16, false, false, 1717);
        check_image(img, &m);
        assert_true(persistent_maps(&f) > 0);
        close_frontend(&f);
        assert_int_equal(xsim_foreign_maps(17), 0);
        assert_true(number_before_in_log(" through a buffer)") > 0);
        bf_close(&f);
        model_free(&m);
        unlink(img);
        free(img);
        snprintf(cmd, sizeof cmd, "umount -l '%s'", mnt); /* the daemon keeps the image open */
        assert_int_equal(system(cmd), 0);
}

/* More distinct refs than a queue maps persistently: the ones past the
 * bound are grant-copied, and the data is right either way. */
static void test_persistent_bound(void **state) {
        enum { EXTRA = BLK_PERSISTENT_MAX_PER_QUEUE + 64 };
        static uint32_t extra[EXTRA];
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "bound.img", DISK_SECTORS * 512ull, &m);

        (void) state;
        add_disk_and_open(&f, 16, 51712, img);
        connect_linux(&f, 1, 0, false);
        /* EXTRA fresh writable refs over the data pages, each used once: one
         * page write of a pattern naming the ref, then read back. */
        for (unsigned i = 0; i < EXTRA; i++)
                assert_int_equal(xsim_grant_access(16, 0, f.data_gfn0 + i % BF_DATA_PAGES, false, &extra[i]), 0);
        for (unsigned i = 0; i < EXTRA; i++) {
                BfReq r;
                uint8_t *pg = bf_page(&f, i % BF_DATA_PAGES);
                bf_build_rw(&f, &r, true, (uint64_t) i * 8 % DISK_SECTORS, i % BF_DATA_PAGES, 0, 8, false, 0);
                r.seg[0].gref = extra[i];
                for (unsigned b = 0; b < 4096; b++)
                        pg[b] = (uint8_t) (i * 31 + b);
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
                memcpy(m.data + (uint64_t) i * 8 % DISK_SECTORS * 512, pg, 4096);
        }
        assert_int_equal(persistent_maps(&f), BLK_PERSISTENT_MAX_PER_QUEUE);
        for (unsigned i = 0; i < EXTRA; i++) {
                BfReq r;
                uint8_t *pg = bf_page(&f, i % BF_DATA_PAGES);
                bf_build_rw(&f, &r, false, (uint64_t) i * 8 % DISK_SECTORS, i % BF_DATA_PAGES, 0, 8, false, 0);
                r.seg[0].gref = extra[i];
                memset(pg, 0xa5, 4096);
                assert_int_equal(bf_roundtrip(&f, 0, &r, T_WAIT), BLKIF_RSP_OKAY);
                assert_memory_equal(pg, m.data + (uint64_t) i * 8 % DISK_SECTORS * 512, 4096);
        }
        assert_int_equal(persistent_maps(&f), BLK_PERSISTENT_MAX_PER_QUEUE);
        workload(&f, &m, 10, 16, true, false, 1616);
        check_image(img, &m);
        close_frontend(&f);
        assert_int_equal(xsim_foreign_maps(16), 0);
        for (int i = 0; i < 200 && number_before_in_log(" copied past their bound") <= 0; i++)
                usleep(20 * 1000);
        assert_true(number_before_in_log(" copied past their bound") >= 2 * 64);
        bf_close(&f);
        model_free(&m);
        free(img);
}

/* ---- restart and crash under I/O ---- */

/* The end of a restart test: the disk works on, the image is the model,
 * and the frontend closes as usual. */
static void works_on_and_matches(BlkFront *f, Model *m, char *img, bool discard, uint32_t seed) {
        workload(f, m, 2, 16, discard, false, seed);
        check_image(img, m);
        close_frontend(f);
        bf_close(f);
        model_free(m);
        free(img);
}

typedef enum Stop {
        STOP_RESTART, /* SIGTERM, the FD store kept: systemctl restart */
        STOP_CRASH,   /* SIGKILL, the FD store kept: a crash, Restart=always */
        STOP_STOP,    /* SIGTERM and the FD store closed: systemctl stop; start */
} Stop;

static void stop_and_start(Stop how) {
        switch (how) {
        case STOP_RESTART:
                assert_int_equal(harness_stop_pvbackd(&H), 0);
                break;
        case STOP_CRASH:
                assert_int_equal(harness_kill_pvbackd(&H, SIGKILL), SIGKILL);
                break;
        case STOP_STOP:
                assert_int_equal(harness_stop_pvbackd(&H), 0);
                service_close_fds(H.sm);
                break;
        }
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
}

static uint32_t test_seed(void) {
        const char *e = getenv("PVBACKD_RESTART_SEED");
        uint32_t seed = e ? (uint32_t) strtoul(e, NULL, 0) : (uint32_t) time(NULL) ^ (uint32_t) getpid() << 16;

        return seed ?: 1;
}

/* pvbackd stopped at a random moment while the frontend has a round of
 * requests in flight, cycles times, by every way there is, and started
 * again: every request is answered exactly once, no unknown id, reads match
 * the model, nothing comes late, the device works on and the image is the
 * model. The seed is printed; PVBACKD_RESTART_SEED=<seed> runs it again. */
static void restart_under_io(bool windows, uint32_t domid, unsigned cycles) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, windows ? "restart-w.img" : "restart-l.img", DISK_SECTORS * 512ull, &m);
        uint32_t seed = test_seed();
        bool discard = true;
        unsigned counts[3] = {};

        print_message("restart under I/O (%s): seed %u\n", windows ? "Windows" : "Linux", seed);
        add_disk_and_open(&f, domid, 51712, img);
        if (windows)
                connect_windows(&f);
        else
                connect_linux(&f, 2, 1, false);
        for (unsigned c = 0; c < cycles; c++) {
                Stop how = c % 5 == 4 ? STOP_STOP : rnd(&seed) % 3 == 0 ? STOP_RESTART : STOP_CRASH;
                Round rd;

                round_build(&f, &m, &rd, 8 + rnd(&seed) % 25, discard, &seed);
                round_submit(&f, &rd);
                usleep(rnd(&seed) % 4000);
                stop_and_start(how);
                counts[how]++;
                round_collect(&f, &m, &rd, &discard, false, c);
        }
        print_message("restart under I/O: %u restarts, %u crashes, %u stops\n", counts[0], counts[1], counts[2]);
        usleep(200 * 1000);
        for (unsigned qi = 0; qi < f.nq; qi++) {
                BfResult extra;
                if (bf_collect(&f, qi, &extra, 1, 1, 0) != 0)
                        fail_msg("queue %u: a response no request is waiting for (id %" PRIu64 ")", qi, extra.id);
        }
        works_on_and_matches(&f, &m, img, discard, seed);
}

/* Starts pvbackd with crash point at armed ($PVBACKD_CRASH_AT). */
static void start_armed(const char *at) {
        setenv("PVBACKD_CRASH_AT", at, 1);
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        unsetenv("PVBACKD_CRASH_AT");
}

static void expect_crash(const char *at) {
        int status = harness_wait_pvbackd_death(&H, T_WAIT);
        if (status < 0 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                fail_msg("pvbackd did not die at %s (%d)", at, status);
}

/* pvbackd killed at each named instant of a request's life, of a
 * persistent grant's mapping, of an event channel's binding and of the
 * recovery itself, with a round in flight: the next process answers every
 * request exactly once and reads match the model. */
static void test_crash_points(void **state) {
        static const char *const in_io[] = { "blk-taken:5", "blk-submitted:2", "blk-completed:2", "blk-pushed:2",
                                             "blk-persistent-map:3" };
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "crashpoints.img", DISK_SECTORS * 512ull, &m);
        uint32_t seed = test_seed();
        bool discard = true;
        unsigned round = 0;
        Round rd;

        (void) state;
        print_message("crash points: seed %u\n", seed);
        add_disk_and_open(&f, 42, 51712, img);
        connect_linux(&f, 2, 1, false);
        workload(&f, &m, 2, 16, discard, false, seed);

        /* In the data path: the restarted process dies at the point. */
        for (size_t i = 0; i < ELEMENTSOF(in_io); i++) {
                assert_int_equal(harness_stop_pvbackd(&H), 0);
                start_armed(in_io[i]);
                round_build(&f, &m, &rd, 24, discard, &seed);
                round_submit(&f, &rd);
                expect_crash(in_io[i]);
                assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
                round_collect(&f, &m, &rd, &discard, false, round++);
        }

        /* Between binding an event channel and noting it: after a stop (the
         * bindings went with the store), the re-attach binds afresh. */
        assert_int_equal(harness_stop_pvbackd(&H), 0);
        service_close_fds(H.sm);
        setenv("PVBACKD_CRASH_AT", "evtchn-bound:1", 1);
        assert_int_equal(harness_start_pvbackd(&H, NULL), -ECHILD); /* the re-attach runs before READY=1 */
        unsetenv("PVBACKD_CRASH_AT");
        assert_true(harness_log_contains(&H, "Crash point evtchn-bound reached"));
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        workload(&f, &m, 2, 16, discard, false, seed);

        /* In the recovery: a crash with a round in flight, then a second
         * crash while the next process recovers from the first. */
        round_build(&f, &m, &rd, 24, discard, &seed);
        round_submit(&f, &rd);
        usleep(500);
        assert_int_equal(harness_kill_pvbackd(&H, SIGKILL), SIGKILL);
        setenv("PVBACKD_CRASH_AT", "blk-recovery:3", 1);
        /* The recovery runs before READY=1: the start fails. */
        assert_int_equal(harness_start_pvbackd(&H, NULL), -ECHILD);
        unsetenv("PVBACKD_CRASH_AT");
        assert_true(harness_log_contains(&H, "Crash point blk-recovery reached"));
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        round_collect(&f, &m, &rd, &discard, false, round++);

        works_on_and_matches(&f, &m, img, discard, seed);
}

/* The daemon's XenStore connection breaks: it exits with a failure for its
 * service manager to restart it, and the new process serves the disk on
 * from where the earlier one stopped. */
static void test_xenstore_lost(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "xslost.img", DISK_SECTORS * 512ull, &m);
        uint32_t seed = test_seed();
        bool discard = true;
        Round rd;
        int status;

        (void) state;
        add_disk_and_open(&f, 43, 51712, img);
        connect_linux(&f, 1, 0, false);
        workload(&f, &m, 2, 16, discard, false, seed);
        round_build(&f, &m, &rd, 24, discard, &seed);
        round_submit(&f, &rd);
        assert_int_equal(xsim_drop_xs_connections(H.pvbackd), 0);
        status = harness_wait_pvbackd_death(&H, T_WAIT);
        assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_true(harness_log_contains(&H, "Lost the XenStore connection, exiting for a restart"));
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        round_collect(&f, &m, &rd, &discard, false, 0);
        works_on_and_matches(&f, &m, img, discard, seed);
}

/* A record the new process cannot use (another version's) is not taken as
 * a fresh start under a frontend in mid-stream: the device is closed with
 * the reason, and the other disks of the guest are served on. */
static void test_unusable_record_closes_the_device(void **state) {
        BlkFront f, g;
        char *ia = make_image(imgdir, "rec-a.img", DISK_SECTORS * 512ull, NULL);
        char *ib = make_image(imgdir, "rec-b.img", DISK_SECTORS * 512ull, NULL);
        char path[512];
        uint32_t version = 99;
        int fd;

        (void) state;
        add_disk_and_open(&f, 44, 51712, ia);
        connect_linux(&f, 1, 0, false);
        add_disk(44, 51728, ib, SCRIPT_OURS, "w", NULL);
        assert_int_equal(bf_open_pages(&g, &H, 44, 51728, 16), 0);
        connect_linux(&g, 1, 0, false);
        assert_int_equal(harness_stop_pvbackd(&H), 0);
        snprintf(path, sizeof path, "%s/vbd-44-51712", H.dir);
        fd = open(path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, &version, sizeof version, 4), (ssize_t) sizeof version); /* StateHeader.version */
        close(fd);
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        wait_be(&H, "vbd", 44, 51712, "state", "5");
        assert_true(harness_log_contains(&H, "cannot be used"));
        assert_int_equal(simple_rw(&g, 0, true, 0, 8), BLKIF_RSP_OKAY);
        bf_close(&f);
        bf_close(&g);
        free(ia);
        free(ib);
}

/* A stream kept STREAM_QD deep with requests of mixed sizes and flushes, so
 * that small ones pass large ones and flushes and a request can stay in
 * flight while more than a ring of others complete, through random restarts
 * and crashes: every response is for a request in flight and comes once,
 * reads match the model, the image matches it at the end. */
#define STREAM_QD 32 /* the whole ring (one page, 64-bit layout) */
#define STREAM_PAGES (BF_DATA_PAGES / STREAM_QD)

static void test_restart_under_stream(void **state) {
        BlkFront f;
        Model m;
        char *img = make_image(imgdir, "stream.img", DISK_SECTORS * 512ull, &m);
        Inflight fl[STREAM_QD];
        bool busy[STREAM_QD] = {};
        uint32_t seed = test_seed();
        unsigned done = 0, stops = 0, n_busy = 0, next_stop = 100;
        bool discard = false;

        (void) state;
        print_message("restart under a stream: seed %u\n", seed);
        add_disk_and_open(&f, 45, 51712, img);
        connect_linux(&f, 1, 0, false);
        while (done < 3000 || n_busy > 0) {
                BfResult res[STREAM_QD];
                int got;

                for (unsigned i = 0; i < STREAM_QD && done < 3000; i++) {
                        Inflight *x = &fl[i];
                        bool large = rnd(&seed) % 4 == 0, overlap = false;
                        uint64_t sector;

                        if (busy[i])
                                continue;
                        if (rnd(&seed) % 16 == 0) {
                                x->req = (BfReq) { .operation = BLKIF_OP_FLUSH_DISKCACHE, .id = ++f.next_id };
                                x->nsect = 0;
                                bf_put(&f, 0, &x->req);
                                busy[i] = true;
                                n_busy++;
                                continue;
                        }
                        x->q = 0;
                        x->first = 0;
                        x->nsect = large ? STREAM_PAGES * 8 : 1 + rnd(&seed) % 8;
                        x->page0 = i * STREAM_PAGES;
                        x->write = rnd(&seed) % 2;
                        sector = rnd(&seed) % (m.sectors - x->nsect);
                        for (unsigned k = 0; k < STREAM_QD; k++)
                                if (busy[k] && fl[k].nsect && sector < fl[k].req.sector + fl[k].nsect &&
                                    fl[k].req.sector < sector + x->nsect)
                                        overlap = true;
                        if (overlap)
                                continue;
                        for (unsigned p = 0; p < (x->nsect + 7) / 8; p++)
                                for (unsigned b = 0; b < 4096; b++)
                                        bf_page(&f, x->page0 + p)[b] = x->write ? (uint8_t) rnd(&seed) : 0xa5;
                        bf_build_rw(&f, &x->req, x->write, sector, x->page0, 0, x->nsect, false, i);
                        bf_put(&f, 0, &x->req);
                        busy[i] = true;
                        n_busy++;
                }
                bf_push(&f, 0);
                if (done >= next_stop && done < 3000) {
                        usleep(rnd(&seed) % 2000);
                        stop_and_start(rnd(&seed) % 3 == 0 ? STOP_RESTART : STOP_CRASH);
                        stops++;
                        next_stop = done + 60 + rnd(&seed) % 100;
                }
                got = bf_collect(&f, 0, res, 1, STREAM_QD, T_WAIT);
                if (got == 0 && n_busy > 0)
                        fail_msg("no response in %d ms with %u requests in flight", T_WAIT, n_busy);
                for (int r = 0; r < got; r++) {
                        Inflight *x = NULL;
                        unsigned i;

                        for (i = 0; i < STREAM_QD; i++)
                                if (busy[i] && fl[i].req.id == res[r].id) {
                                        x = &fl[i];
                                        break;
                                }
                        if (!x)
                                fail_msg("a response for id %" PRIu64 ", which is not in flight", res[r].id);
                        if (res[r].status != BLKIF_RSP_OKAY)
                                fail_msg("request %" PRIu64 " failed: %d", res[r].id, res[r].status);
                        for (unsigned s = 0; s < x->nsect; s++) {
                                uint8_t *g = bf_page(&f, x->page0 + s / 8) + (s % 8) * 512;
                                uint8_t *d = m.data + (x->req.sector + s) * 512;
                                if (x->write)
                                        memcpy(d, g, 512);
                                else if (memcmp(d, g, 512) != 0)
                                        fail_msg("read of sector %" PRIu64 " differs from the model",
                                                 x->req.sector + s);
                        }
                        busy[i] = false;
                        n_busy--;
                        done++;
                }
        }
        print_message("restart under a stream: %u requests, %u stops\n", done, stops);
        assert_true(stops >= 10);
        usleep(200 * 1000);
        {
                BfResult extra;
                if (bf_collect(&f, 0, &extra, 1, 1, 0) != 0)
                        fail_msg("a response no request is waiting for (id %" PRIu64 ")", extra.id);
        }
        works_on_and_matches(&f, &m, img, discard, seed);
}

/* A disk on a small frontend (16 data pages), connected as Linux does. */
static void small_disk(BlkFront *f, uint32_t domid, uint32_t devid, const char *img) {
        add_disk(domid, devid, img, SCRIPT_OURS, "w", NULL);
        assert_int_equal(bf_open_pages(f, &H, domid, devid, 16), 0);
        connect_linux(f, 1, 0, false);
}

/* What happened while pvbackd was down is followed when it is back: a
 * guest destroyed meanwhile leaves no zombie; its domid reused by a new
 * guest gets that guest's disk served afresh (the record left is another
 * guest's); a frontend that began to close meanwhile is followed to Closed;
 * a disk added meanwhile is served; an untouched guest works on. */
static void test_restart_reconciles(void **state) {
        BlkFront keep, added, gone, reused, closing;
        char *img[5];

        (void) state;
        for (int i = 0; i < 5; i++) {
                char name[32];
                snprintf(name, sizeof name, "reconcile%d.img", i);
                img[i] = make_image(imgdir, name, DISK_SECTORS * 512ull, NULL);
        }
        small_disk(&keep, 46, 51712, img[0]);
        small_disk(&gone, 47, 51712, img[1]);
        small_disk(&closing, 49, 51712, img[2]);
        assert_int_equal(simple_rw(&keep, 0, true, 0, 8), BLKIF_RSP_OKAY);

        assert_int_equal(harness_kill_pvbackd(&H, SIGKILL), SIGKILL);
        /* The outage: libxl destroys guest 47 (removing its backend
         * directory itself, as nobody answers) and creates another with
         * the same domid; guest 49's frontend starts to close; guest 46
         * gets a second disk. */
        bf_close(&gone);
        /* What libxl's forced removal ends with when no backend answers. */
        assert_true(xs_rm(H.xs, XBT_NULL, "/local/domain/47/device/vbd/51712"));
        assert_true(xs_rm(H.xs, XBT_NULL, "/local/domain/0/backend/vbd/47/51712"));
        assert_int_equal(xsim_domain_destroy(47), 0);
        for (int i = 0; i < 100 && xsim_domain_query(47, NULL) >= 0; i++)
                usleep(20 * 1000);
        assert_true(xsim_domain_query(47, NULL) < 0); /* gone, not a zombie */
        assert_int_equal(bf_set_state(&closing, XenbusStateClosing), 0);
        add_disk(46, 51728, img[3], SCRIPT_OURS, "w", NULL);
        add_disk(47, 51712, img[4], SCRIPT_OURS, "w", NULL); /* the new guest 47 */

        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        assert_int_equal(simple_rw(&keep, 0, false, 0, 8), BLKIF_RSP_OKAY);
        assert_int_equal(bf_open_pages(&added, &H, 46, 51728, 16), 0);
        connect_linux(&added, 1, 0, false);
        assert_int_equal(simple_rw(&added, 0, true, 8, 8), BLKIF_RSP_OKAY);
        assert_int_equal(bf_open_pages(&reused, &H, 47, 51712, 16), 0);
        connect_linux(&reused, 1, 0, false);
        assert_int_equal(simple_rw(&reused, 0, true, 16, 8), BLKIF_RSP_OKAY);
        assert_int_equal(bf_wait_backend(&closing, XenbusStateClosing, T_WAIT), 0);
        assert_int_equal(bf_set_state(&closing, XenbusStateClosed), 0);
        assert_int_equal(bf_wait_backend(&closing, XenbusStateClosed, T_WAIT), 0);
        assert_false(harness_log_contains(&H, "Cannot re-attach"));
        bf_close(&keep);
        bf_close(&added);
        bf_close(&reused);
        bf_close(&closing);
        for (int i = 0; i < 5; i++)
                free(img[i]);
}

/* The ring's indices are written by the guest too: one that moved its
 * response index while pvbackd was down (by more than any push could have)
 * has its disk closed with the reason; the guest's other disk is served. */
static void test_tampered_ring_after_restart(void **state) {
        BlkFront f, g;
        char *ia = make_image(imgdir, "tamper-a.img", DISK_SECTORS * 512ull, NULL);
        char *ib = make_image(imgdir, "tamper-b.img", DISK_SECTORS * 512ull, NULL);
        blkif_x86_64_sring_t *sring;

        (void) state;
        small_disk(&f, 50, 51712, ia);
        small_disk(&g, 50, 51728, ib);
        assert_int_equal(simple_rw(&f, 0, true, 0, 8), BLKIF_RSP_OKAY);
        assert_int_equal(harness_kill_pvbackd(&H, SIGKILL), SIGKILL);
        sring = f.q[0].sring;
        sring->rsp_prod += 5; /* responses nobody wrote */
        assert_int_equal(harness_start_pvbackd(&H, NULL), 0);
        wait_be(&H, "vbd", 50, 51712, "state", "5");
        assert_true(harness_log_contains(&H, "queue 0: cannot re-attach: "));
        assert_int_equal(simple_rw(&g, 0, true, 0, 8), BLKIF_RSP_OKAY);
        bf_close(&f);
        bf_close(&g);
        free(ia);
        free(ib);
}

static void test_restart_under_io_windows(void **state) {
        (void) state;
        restart_under_io(true, 40, 25);
}

static void test_restart_under_io_linux(void **state) {
        (void) state;
        restart_under_io(false, 41, 25);
}

static const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
        T(test_windows_frontend),
        T(test_linux_frontend_x86_32_multiqueue),
        T(test_missing_image_reported),
        T(test_bad_toolstack_config_refused),
        T(test_stock_block_script),
        T(test_read_only),
        T(test_discard_disabled),
        T(test_hostile_requests),
        T(test_broken_ring_closes_only_that_device),
        T(test_flush_then_sigkill),
        T(test_enospc_fails_only_the_request),
        T(test_loop_device),
        T(test_abandoned_io_released),
        T(test_tmpfs_without_o_direct),
        T(test_configured_serial_and_grant_map),
        T(test_online_resize),
        T(test_persistent_grants),
        T(test_persistent_bound),
        T(test_persistent_bounce),
        T(test_restart_under_io_windows),
        T(test_restart_under_io_linux),
        T(test_restart_under_stream),
        T(test_crash_points),
        T(test_xenstore_lost),
        T(test_unusable_record_closes_the_device),
        T(test_restart_reconciles),
        T(test_tampered_ring_after_restart),
};

DEFINE_SIM_TEST_MAIN("blkback", tests);
