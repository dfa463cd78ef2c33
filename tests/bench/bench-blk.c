/* SPDX-License-Identifier: GPL-2.0-or-later */

/* Data-path benchmark of the block backend on the simulated Xen: 4 KiB
 * random read/write at queue depth 1 and 32, 32 KiB and 128 KiB random
 * reads (either side of the mapping threshold), 1 MiB sequential
 * read/write, through pvbackd-sim (a frontend in this process), next to fio
 * (libaio, O_DIRECT) run directly on the same backing in the same run,
 * which is the limit. Each workload that decides the data-movement policy
 * runs three times on the same connected disk of a frontend without
 * persistent grants (as Windows xenvbd), switched by rewriting
 * pvbackd.conf ([disk "<params>"] grant-map = never | always | auto) and
 * SIGHUP: grant copy, grant mapping, and the chosen policy (auto: map from
 * BLK_MAP_MIN_SEGMENTS segments); then once on a second guest's disk on the
 * same backing whose frontend uses persistent grants as Linux blkfront does
 * (its copy into and out of its grant pool included). For 128 KiB and
 * more, a second reference: the two-party run (run_two_party), the most a
 * frontend that copies its data can get on this machine. Backings: a tmpfs
 * file and, as root, a loop device on it. Reports IOPS, MB/s, p50/p99
 * latency, the daemon's CPU time per I/O, the ratios, and the daemon's
 * memory per connected queue. Lines are "name value unit". */

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libaio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include "bench-util.h"
#include "blkfront.h"

#define DISK_BYTES (256ull << 20)
#define RUN_SECONDS 3.0
/* The two-party reference runs for requests of 128 KiB and more. */
#define TWO_PARTY_MIN_SECTORS 256
#define ELEMENTS(x) (sizeof(x) / sizeof((x)[0]))

typedef struct Workload {
        const char *name, *fio_rw;
        bool write, random;
        unsigned bs_sectors, qd;
        bool policies; /* compare copy, map and auto */
} Workload;

static const Workload workloads[] = {
        { "randread-4k-qd1", "randread", false, true, 8, 1, false },
        { "randread-4k-qd32", "randread", false, true, 8, 32, true },
        { "randwrite-4k-qd1", "randwrite", true, true, 8, 1, false },
        { "randwrite-4k-qd32", "randwrite", true, true, 8, 32, true },
        { "randread-32k-qd8", "randread", false, true, 64, 8, true },
        { "randread-128k-qd8", "randread", false, true, 256, 8, true },
        { "seqread-1m-qd4", "read", false, false, 2048, 4, true },
        { "seqwrite-1m-qd4", "write", true, false, 2048, 4, true },
};

/* BLK_BENCH_ONLY=<substring of workload names>, BLK_BENCH_BACKING=tmpfs|loop
 * and BLK_BENCH_POLICY=<list of copy, map, auto, persistent, two-party>
 * narrow a run (profiling); unset, everything runs. */
static bool selected(const char *var, const char *name) {
        const char *v = getenv(var);
        return !v || !*v || strstr(name, v) || strstr(v, name);
}

static const char *const policies[] = { "never", "always", "auto" };
static const char *const policy_label[] = { "copy", "map", "auto" };

/* Switches the disk's data-movement policy: pvbackd.conf, then SIGHUP
 * (the class's reload op applies it to connected disks). */
static int set_policy(Harness *h, const char *params, const char *policy) {
        FILE *f = fopen(h->config_path, "we");

        if (!f)
                return -1;
        fprintf(f, "[disk \"%s\"]\ngrant-map = %s\n", params, policy);
        if (fclose(f) != 0 || kill(h->pvbackd, SIGHUP) < 0)
                return -1;
        /* RELOADING=1 ... READY=1; reading them also keeps the notify
         * socket from filling up (the daemon's send would block). */
        return harness_wait_notify(h, "READY=1", 5000) ? 0 : -1;
}

typedef struct Result {
        double iops, mbs, p50_us, p99_us, cpu_us_per_io;
        bool ok;
} Result;

static uint32_t rnd(uint32_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        return *s;
}

/* The Linux blkfront copy with persistent grants: a WRITE's data copied
 * from the request's own pages (bio) into the pool pages before it is
 * queued, a READ's out of them once answered. */
static void frontend_copy(BlkFront *f, uint8_t *bio, unsigned slot, unsigned pages, bool to_pool) {
        for (unsigned p = 0; p < pages; p++) {
                uint8_t *b = bio + ((size_t) slot * pages + p) * 4096;
                if (to_pool)
                        memcpy(bf_page(f, slot * pages + p), b, 4096);
                else
                        memcpy(b, bf_page(f, slot * pages + p), 4096);
        }
}

static Result run_pvbackd(Harness *h, BlkFront *f, const Workload *w) {
        unsigned pages = w->bs_sectors / 8, qd = w->qd;
        uint8_t *bio = f->persistent ? calloc((size_t) qd * pages, 4096) : NULL;
        uint64_t disk_sectors = DISK_BYTES / 512, next_seq = 0, ios = 0;
        size_t cap = 1 << 20, nlat = 0;
        double *lat = malloc(cap * sizeof(double)), start[64], t0, t1, cpu0, cpu1;
        uint32_t seed = 42;
        Result res = {};

        for (unsigned i = 0; i < qd; i++) {
                BfReq r;
                uint64_t sector = w->random ? (rnd(&seed) % (disk_sectors / w->bs_sectors)) * w->bs_sectors
                                            : (next_seq += w->bs_sectors) % disk_sectors;
                start[i] = now_s();
                if (bio && w->write)
                        frontend_copy(f, bio, i, pages, true);
                bf_build_rw(f, &r, w->write, sector, i * pages, 0, w->bs_sectors, false, i);
                r.id = i;
                bf_put(f, 0, &r);
        }
        bf_push(f, 0);
        cpu0 = process_cpu_seconds(h->pvbackd);
        t0 = now_s();
        for (;;) {
                BfResult rs[64];
                int n = bf_collect(f, 0, rs, 1, 64, 5000);
                double t = now_s();
                if (n <= 0) {
                        fprintf(stderr, "%s: no response for 5 s\n", w->name);
                        free(lat);
                        free(bio);
                        return res;
                }
                for (int k = 0; k < n; k++) {
                        unsigned i = (unsigned) rs[k].id;
                        BfReq r;
                        if (rs[k].status != BLKIF_RSP_OKAY || i >= qd) {
                                fprintf(stderr, "%s: status %d\n", w->name, rs[k].status);
                                free(lat);
                                free(bio);
                                return res;
                        }
                        if (bio && !w->write)
                                frontend_copy(f, bio, i, pages, false);
                        t = now_s();
                        if (nlat < cap)
                                lat[nlat++] = t - start[i];
                        ios++;
                        if (t - t0 >= RUN_SECONDS)
                                continue;
                        uint64_t sector = w->random ? (rnd(&seed) % (disk_sectors / w->bs_sectors)) * w->bs_sectors
                                                    : (next_seq += w->bs_sectors) % disk_sectors;
                        start[i] = now_s();
                        if (bio && w->write)
                                frontend_copy(f, bio, i, pages, true);
                        bf_build_rw(f, &r, w->write, sector, i * pages, 0, w->bs_sectors, false, i);
                        r.id = i;
                        bf_put(f, 0, &r);
                        /* at once, as a guest whose I/O is submitted on
                         * another vCPU than the one handling completions */
                        bf_push(f, 0);
                }
                if (t - t0 >= RUN_SECONDS && f->q[0].rsp_cons == f->q[0].req_prod_pvt)
                        break;
        }
        t1 = now_s();
        cpu1 = process_cpu_seconds(h->pvbackd);
        qsort(lat, nlat, sizeof *lat, cmp_double);
        res.iops = (double) ios / (t1 - t0);
        res.mbs = res.iops * w->bs_sectors * 512 / 1e6;
        res.p50_us = lat[nlat / 2] * 1e6;
        res.p99_us = lat[nlat * 99 / 100] * 1e6;
        res.cpu_us_per_io = (cpu1 - cpu0) / (double) ios * 1e6;
        res.ok = true;
        free(lat);
        free(bio);
        return res;
}

static bool have_fio(void) {
        return system("fio --version >/dev/null 2>&1") == 0;
}

/* fio --minimal (terse v3): read iops 8, read clat percentiles 18..37;
 * write iops 49, write clat percentiles 59..78; p50 is the 7th, p99 the
 * 13th of the default list. CPU from the child's rusage. */
static Result run_fio(const char *path, const Workload *w) {
        char cmd[1024], line[16384];
        Result res = {};
        struct rusage ru0, ru1;
        FILE *p;

        snprintf(cmd, sizeof cmd,
                 "fio --name=ref --filename='%s' --direct=1 --ioengine=libaio --rw=%s --bs=%u "
                 "--iodepth=%u --runtime=%g --time_based --size=%llu --minimal --randrepeat=0 2>/dev/null",
                 path, w->fio_rw, w->bs_sectors * 512, w->qd, RUN_SECONDS, DISK_BYTES);
        getrusage(RUSAGE_CHILDREN, &ru0);
        p = popen(cmd, "r");
        if (!p)
                return res;
        line[0] = 0;
        if (!fgets(line, sizeof line, p))
                line[0] = 0;
        pclose(p);
        getrusage(RUSAGE_CHILDREN, &ru1);
        {
                char *fields[200];
                unsigned n = 0;
                for (char *s = strtok(line, ";"); s && n < 200; s = strtok(NULL, ";"))
                        fields[n++] = s;
                if (n < 90)
                        return res;
                unsigned iops_f = w->write ? 48 : 7, pct0 = w->write ? 58 : 17;
                double iops = atof(fields[iops_f]);
                const char *p50 = strchr(fields[pct0 + 6], '='), *p99 = strchr(fields[pct0 + 12], '=');
                double cpu = (double) (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                                       ru0.ru_stime.tv_sec) +
                             (double) (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                                       ru0.ru_stime.tv_usec) / 1e6;
                res.iops = iops;
                res.mbs = iops * w->bs_sectors * 512 / 1e6;
                res.p50_us = p50 ? atof(p50 + 1) : 0;
                res.p99_us = p99 ? atof(p99 + 1) : 0;
                res.cpu_us_per_io = iops > 0 ? cpu / (iops * RUN_SECONDS) * 1e6 : 0;
                res.ok = iops > 0;
        }
        return res;
}

/* The two-party reference for the large rows: the most that any path in
 * which the frontend copies its data (Linux blkfront with persistent
 * grants) can reach on this machine, measured on the same backing in the
 * same run, with no ring, simulated Xen or daemon in it. One thread keeps
 * qd requests in flight with libaio and O_DIRECT on a pool of 4 KiB pages,
 * one iovec entry a page as pvbackd's I/O on persistent grants, and waits
 * in poll() for completions (an eventfd) or for a copied slot; a second
 * thread, woken through an eventfd, copies each read out of its pages once
 * it has completed and each write into them before it is submitted, as the
 * frontend does. So it pays the two copies and a wake-up across cores per
 * request, as pvbackd and its frontend do, and nothing else. What it shows
 * that fio cannot: on tmpfs, the kernel's copy into pages that the other
 * core has just read is slower than fio's into its own cached buffer. */
enum { SLOT_SUBMIT, SLOT_IN_FLIGHT, SLOT_COPY }; /* whose turn a slot is */

typedef struct TwoParty {
        const Workload *w;
        uint8_t *pool, *bio;
        _Atomic int turn[64];
        int copy_efd, copied_efd; /* producer -> copier, copier -> producer */
        atomic_bool stop;
} TwoParty;

static void efd_kick(int fd) {
        uint64_t one = 1;
        if (write(fd, &one, sizeof one) != sizeof one)
                abort(); /* an eventfd write of 1 fails only on overflow */
}

static void *two_party_copier(void *userdata) {
        TwoParty *tp = userdata;
        size_t bytes = (size_t) tp->w->bs_sectors * 512;
        uint64_t kicks;

        while (read(tp->copy_efd, &kicks, sizeof kicks) == sizeof kicks && !atomic_load(&tp->stop))
                for (unsigned s = 0; s < tp->w->qd; s++) {
                        if (atomic_load(&tp->turn[s]) != SLOT_COPY)
                                continue;
                        if (tp->w->write)
                                memcpy(tp->pool + s * bytes, tp->bio + s * bytes, bytes);
                        else
                                memcpy(tp->bio + s * bytes, tp->pool + s * bytes, bytes);
                        atomic_store(&tp->turn[s], SLOT_SUBMIT);
                        efd_kick(tp->copied_efd);
                }
        return NULL;
}

static Result run_two_party(const char *path, const Workload *w) {
        unsigned pages = w->bs_sectors / 8, qd = w->qd, in_flight = 0;
        size_t bytes = (size_t) pages * 4096;
        uint64_t offset = 0, ios = 0, drained;
        uint32_t seed = 42;
        struct iocb cbs[64];
        struct iovec *iov = calloc((size_t) qd * pages, sizeof *iov);
        TwoParty tp = { .w = w };
        io_context_t ctx = 0;
        Result res = {};
        pthread_t copier;
        double t0, t1;
        int fd = open(path, (w->write ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC);
        int aio_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        tp.copy_efd = eventfd(0, EFD_CLOEXEC);
        tp.copied_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        tp.pool = aligned_alloc(4096, qd * bytes);
        tp.bio = aligned_alloc(4096, qd * bytes);
        if (fd < 0 || aio_efd < 0 || tp.copy_efd < 0 || tp.copied_efd < 0 || !iov || !tp.pool || !tp.bio ||
            qd > 64 || io_setup(64, &ctx) < 0)
                goto out;
        memset(tp.pool, 0, qd * bytes);
        memset(tp.bio, 0x5a, qd * bytes);
        for (unsigned s = 0; s < qd; s++) {
                atomic_init(&tp.turn[s], w->write ? SLOT_COPY : SLOT_SUBMIT);
                for (unsigned p = 0; p < pages; p++)
                        iov[s * pages + p] = (struct iovec) { tp.pool + s * bytes + (size_t) p * 4096, 4096 };
        }
        if (pthread_create(&copier, NULL, two_party_copier, &tp) != 0) {
                io_destroy(ctx);
                goto out;
        }
        if (w->write)
                efd_kick(tp.copy_efd);
        t0 = now_s();
        for (;;) {
                struct pollfd pfd[2] = { { aio_efd, POLLIN, 0 }, { tp.copied_efd, POLLIN, 0 } };
                struct io_event ev[64];
                bool running = now_s() - t0 < RUN_SECONDS;
                int n;

                for (unsigned s = 0; running && s < qd; s++) {
                        struct iocb *cb = &cbs[s];
                        if (atomic_load(&tp.turn[s]) != SLOT_SUBMIT)
                                continue;
                        if (w->write)
                                io_prep_pwritev(cb, fd, &iov[s * pages], (int) pages, (long long) offset);
                        else
                                io_prep_preadv(cb, fd, &iov[s * pages], (int) pages, (long long) offset);
                        io_set_eventfd(cb, aio_efd);
                        cb->data = (void *) (uintptr_t) s;
                        offset = w->random ? (rnd(&seed) % (DISK_BYTES / bytes)) * bytes
                                           : (offset + bytes) % DISK_BYTES;
                        atomic_store(&tp.turn[s], SLOT_IN_FLIGHT);
                        if (io_submit(ctx, 1, &cb) != 1)
                                goto stop;
                        in_flight++;
                }
                if (!running && in_flight == 0)
                        break;
                if (poll(pfd, 2, 5000) <= 0)
                        goto stop;
                (void) !read(aio_efd, &drained, sizeof drained);
                (void) !read(tp.copied_efd, &drained, sizeof drained);
                n = io_getevents(ctx, 0, 64, ev, NULL);
                if (n < 0)
                        goto stop;
                for (int k = 0; k < n; k++) {
                        if (ev[k].res != bytes)
                                goto stop;
                        atomic_store(&tp.turn[(uintptr_t) ev[k].data], SLOT_COPY);
                        in_flight--;
                        ios++;
                }
                if (n > 0)
                        efd_kick(tp.copy_efd);
        }
        t1 = now_s();
        res.iops = (double) ios / (t1 - t0);
        res.mbs = res.iops * (double) bytes / 1e6;
        res.ok = ios > 0;
stop:
        atomic_store(&tp.stop, true);
        efd_kick(tp.copy_efd);
        pthread_join(copier, NULL);
        io_destroy(ctx); /* waits for what is still in flight after an error */
out:
        if (fd >= 0)
                close(fd);
        for (int i = 0, efds[] = { aio_efd, tp.copy_efd, tp.copied_efd }; i < 3; i++)
                if (efds[i] >= 0)
                        close(efds[i]);
        free(iov);
        free(tp.pool);
        free(tp.bio);
        return res;
}

static void report_pv(const char *backing, const Workload *w, const char *label, const Result *pv,
                      const Result *fio) {
        printf("%s/%s/pvbackd-%s iops %.0f\n", backing, w->name, label, pv->iops);
        printf("%s/%s/pvbackd-%s throughput %.1f MB/s\n", backing, w->name, label, pv->mbs);
        printf("%s/%s/pvbackd-%s latency-p50 %.1f us\n", backing, w->name, label, pv->p50_us);
        printf("%s/%s/pvbackd-%s latency-p99 %.1f us\n", backing, w->name, label, pv->p99_us);
        printf("%s/%s/pvbackd-%s cpu-per-io %.2f us\n", backing, w->name, label, pv->cpu_us_per_io);
        if (fio->ok)
                printf("%s/%s/ratio-%s iops %.2f (pvbackd/fio)\n", backing, w->name, label, pv->iops / fio->iops);
}

static void report(const char *backing, const Workload *w, const Result *pv, const Result *fio) {
        report_pv(backing, w, "auto", pv, fio);
        if (!fio->ok) {
                printf("%s/%s/fio skipped (fio not available or failed)\n", backing, w->name);
                return;
        }
        printf("%s/%s/fio iops %.0f\n", backing, w->name, fio->iops);
        printf("%s/%s/fio throughput %.1f MB/s\n", backing, w->name, fio->mbs);
        printf("%s/%s/fio latency-p50 %.1f us\n", backing, w->name, fio->p50_us);
        printf("%s/%s/fio latency-p99 %.1f us\n", backing, w->name, fio->p99_us);
        printf("%s/%s/fio cpu-per-io %.2f us\n", backing, w->name, fio->cpu_us_per_io);
}

/* The two-party reference next to pvbackd with persistent grants (the
 * same two copies, plus rings, events and the daemon). */
static void report_two_party(const char *backing, const Workload *w, const char *path, const Result *pers,
                             const Result *fio) {
        Result tp = run_two_party(path, w);

        if (!tp.ok) {
                printf("%s/%s/two-party failed\n", backing, w->name);
                return;
        }
        printf("%s/%s/two-party iops %.0f\n", backing, w->name, tp.iops);
        printf("%s/%s/two-party throughput %.1f MB/s\n", backing, w->name, tp.mbs);
        if (fio->ok)
                printf("%s/%s/ratio-two-party iops %.2f (two-party/fio: the ceiling of a frontend that copies)\n",
                       backing, w->name, tp.iops / fio->iops);
        if (pers->ok)
                printf("%s/%s/ratio-persistent-to-two-party iops %.2f (pvbackd persistent/two-party)\n",
                       backing, w->name, pers->iops / tp.iops);
}

/* Connects a frontend to device devid of domid: a single queue with a
 * 4-page ring, Linux-like; persistent: asks for persistent grants. */
static int connect_frontend(Harness *h, BlkFront *f, uint32_t domid, uint32_t devid, const char *const *kv,
                            bool persistent) {
        char p[128];

        if (ts_device_add(h, "vbd", domid, devid, kv) < 0)
                return -1;
        snprintf(p, sizeof p, "/local/domain/0/backend/vbd/%u/%u/state", domid, devid);
        if (ts_wait(h, p, "2", 10000) < 0 || bf_open(f, h, domid, devid) < 0)
                return -1;
        if (bf_setup_rings(f, 1, 2, false, false, persistent) < 0 || bf_set_state(f, XenbusStateInitialised) < 0 ||
            bf_wait_backend(f, XenbusStateConnected, 10000) < 0)
                return -1;
        if (f->persistent != persistent) {
                fprintf(stderr, "persistent grants %s\n", persistent ? "not offered" : "used unasked");
                return -1;
        }
        return bf_set_state(f, XenbusStateConnected);
}

/* Two guests' disks on the same backing: one whose frontend does not ask for
 * persistent grants (Windows xenvbd; the copy / map / auto policies apply),
 * one whose frontend does (Linux blkfront: persistent grants, with the
 * frontend's own copy in and out of its pool counted). */
static int bench_backing(Harness *h, const char *label, const char *path, uint32_t domid, bool fio) {
        const char *kv[] = { "params", path, "script", "/etc/xen/scripts/pvbackd-block", "mode", "w",
                             "device-type", "disk", "specification", "xen", "discard-enable", "1", NULL };
        BlkFront f, fp;
        long rss0, rss1;

        char name2[64];

        snprintf(name2, sizeof name2, "%s-persistent", label);
        /* Two guests: each frontend grants all its pages twice. */
        if (xsim_domain_create(domid, label, NULL, BF_GUEST_PAGES) < 0 ||
            xsim_domain_create(domid + 100, name2, NULL, BF_GUEST_PAGES) < 0)
                return -1;
        rss0 = harness_rss_kib(h);
        if (connect_frontend(h, &f, domid, 51712, kv, false) < 0 ||
            connect_frontend(h, &fp, domid + 100, 51712, kv, true) < 0)
                return -1;
        for (size_t i = 0; i < ELEMENTS(workloads); i++) {
                const Workload *w = &workloads[i];
                Result pv[ELEMENTS(policies)] = {}, pers = {};

                if (!selected("BLK_BENCH_ONLY", w->name))
                        continue;
                Result ref = fio ? run_fio(path, w) : (Result) {};

                for (size_t k = w->policies ? 0 : ELEMENTS(policies) - 1; k < ELEMENTS(policies); k++) {
                        if (!selected("BLK_BENCH_POLICY", policy_label[k]))
                                continue;
                        if (set_policy(h, path, policies[k]) < 0)
                                return -1;
                        pv[k] = run_pvbackd(h, &f, w);
                        if (!pv[k].ok)
                                return -1;
                }
                if (selected("BLK_BENCH_POLICY", "persistent")) {
                        pers = run_pvbackd(h, &fp, w);
                        if (!pers.ok)
                                return -1;
                }
                report(label, w, &pv[ELEMENTS(policies) - 1], &ref);
                if (w->policies)
                        for (size_t k = 0; k + 1 < ELEMENTS(policies); k++)
                                report_pv(label, w, policy_label[k], &pv[k], &ref);
                report_pv(label, w, "persistent", &pers, &ref);
                if (w->bs_sectors >= TWO_PARTY_MIN_SECTORS && selected("BLK_BENCH_POLICY", "two-party"))
                        report_two_party(label, w, path, &pers, &ref);
        }
        rss1 = harness_rss_kib(h);
        printf("%s/memory-per-connected-queue %ld KiB (after the workloads; mean of a copy and a persistent "
               "queue, 4-page rings; the simulator's persistent mappings count in the daemon's RSS)\n",
               label, (rss1 - rss0) / 2);
        bf_close(&f);
        bf_close(&fp);
        return 0;
}


int main(void) {
        Harness h;
        char img[256], cmd[512], dev[64] = "";
        bool fio = have_fio();
        int fd, r = 0;
        FILE *p;

        if (!fio)
                printf("fio not installed (apt-get install fio): the reference column is skipped\n");
        if (harness_start(&h, NULL) < 0) {
                fprintf(stderr, "cannot start the simulated Xen and pvbackd\n");
                return 1;
        }
        /* A tmpfs file, filled (holes would make reads free). */
        snprintf(img, sizeof img, "%s/bench.img", h.dir);
        fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return 1;
        {
                static uint8_t buf[1 << 20];
                memset(buf, 0x5a, sizeof buf);
                for (unsigned i = 0; i < DISK_BYTES >> 20; i++)
                        if (write(fd, buf, sizeof buf) != (ssize_t) sizeof buf)
                                return 1;
        }
        close(fd);
        if (selected("BLK_BENCH_BACKING", "tmpfs"))
                r |= bench_backing(&h, "tmpfs-file", img, 1, fio);

        snprintf(cmd, sizeof cmd, "losetup -f --show '%s' 2>/dev/null", img);
        p = geteuid() == 0 && selected("BLK_BENCH_BACKING", "loop") ? popen(cmd, "r") : NULL;
        if (p && fgets(dev, sizeof dev, p) && dev[0] == '/') {
                dev[strcspn(dev, "\n")] = 0;
                r |= bench_backing(&h, "loop-device", dev, 2, fio);
        } else
                printf("loop-device skipped (not root or losetup failed)\n");
        if (p)
                pclose(p);
        harness_finish(&h);
        if (dev[0] == '/') {
                snprintf(cmd, sizeof cmd, "losetup -d '%s'", dev);
                if (system(cmd) != 0)
                        fprintf(stderr, "losetup -d %s failed\n", dev);
        }
        return r ? 1 : 0;
}
