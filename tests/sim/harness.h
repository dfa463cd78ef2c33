/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The simulated-Xen test harness: starts xensimd and the real pvbackd built
 * against it, and plays the two other parties: the toolstack (writing what
 * libxl 4.17 writes, with its timeouts) and the guest frontends. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>
#include <xenevtchn.h>
#include <xenstore.h>
#include <xen/io/xenbus.h>

#include "vtest-ring.h"

typedef struct Harness {
        char *dir;
        char *config_path;
        pid_t pvbackd;
        struct ServiceManager *sm; /* systemd's part: notify socket, FD store (service.h) */
        char *notify_path;
        char status[256];     /* last STATUS= from sd_notify */
        bool ready;
        struct xs_handle *xs; /* dom0, as the toolstack */
        int stderr_fd;        /* pvbackd's stderr, kept in a file for the test's checks */
        char *stderr_path;
        int wait_ms;          /* how long wait_be() and wait_node() wait; HARNESS_WAIT_MS */
} Harness;

/* ms; generous for sanitizer builds on a busy machine. */
#define HARNESS_WAIT_MS 5000

/* Starts the simulator and pvbackd with the given pvbackd.conf text (NULL:
 * no file, defaults) and waits for READY=1. */
int harness_start(Harness *h, const char *config_text);
/* SIGTERM, wait; returns the exit status (or -errno). The FD store is kept,
 * as by `systemctl restart`. */
int harness_stop_pvbackd(Harness *h);
/* sig (SIGKILL, SIGABRT, ...) and wait, as a crash: the FD store is kept. */
int harness_kill_pvbackd(Harness *h, int sig);
/* Waits up to timeout_ms for pvbackd to die by itself: its wait status
 * (WIFSIGNALED, WEXITSTATUS...), -ETIMEDOUT if it lives on. */
int harness_wait_pvbackd_death(Harness *h, int timeout_ms);
void harness_finish(Harness *h);
/* The end of every test: stops pvbackd (SIGTERM), finishes, and returns -1
 * (after printing pvbackd's log) unless it exited with 0 and its log has no
 * sanitizer report (leaks, undefined behaviour). For cmocka teardowns. */
int harness_finish_checked(Harness *h);
/* pvbackd's resident memory (VmRSS) in KiB, or -1. */
long harness_rss_kib(Harness *h);
/* Reads sd_notify messages for up to timeout_ms; true if one contained want. */
bool harness_wait_notify(Harness *h, const char *want, int timeout_ms);
/* True if pvbackd's stderr so far contains s. */
bool harness_log_contains(Harness *h, const char *s);
/* Runs a shell command built from fmt; says on stderr when it fails.
 * Returns system()'s status. */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CPU time (user + system) a process / pvbackd has used so far, in seconds
 * (-1 if unknown). */
double process_cpu_seconds(pid_t pid);
double harness_cpu_seconds(Harness *h);
/* Starts pvbackd again (after a stop), with the same config. */
int harness_start_pvbackd(Harness *h, const char *const *extra_args);

/* Toolstack side (dom0). */
int ts_domain_create(Harness *h, uint32_t domid, const char *name);
/* Writes backend and frontend directories in one transaction as libxl's
 * device_add does: B owned by dom0 readable by the guest, F owned by the
 * guest readable by dom0. extra is key, value, ..., NULL for B. */
int ts_device_add(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *const *extra);
/* libxl's removal: [force: rm F], online=0, state=5 (unless 6), wait up to
 * 10 s for state 6, then rm B and F. -ETIMEDOUT like libxl's timeout. */
int ts_device_remove(Harness *h, const char *kind, uint32_t domid, uint32_t devid, bool force);
char *ts_read(Harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ts_write(Harness *h, const char *path, const char *value);
int ts_wait(Harness *h, const char *path, const char *want, int timeout_ms);
/* Milliseconds until path == want, or -1 on timeout. */
long ts_time_until(Harness *h, const char *path, const char *want, int timeout_ms);

/* Checks on XenStore nodes for the cmocka suites, failing the running test
 * with the path and what it held. A missing node reads as "(absent)". */
/* The backend directory's node /local/domain/0/backend/kind/domid/devid/key
 * (NULL if absent). */
char *be_read(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key);
void assert_be(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key, const char *want);
void assert_be_absent(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key);
/* Waits (h->wait_ms) until the backend node is want (NULL: absent). */
void wait_be(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key, const char *want);
/* The same for the frontend directory /local/domain/domid/device/kind/devid. */
void wait_fe(Harness *h, const char *kind, uint32_t domid, uint32_t devid, const char *key, const char *want);
/* Any node: the formatted path is want; waits until path is want (NULL: absent). */
void assert_node(Harness *h, const char *want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void wait_node(Harness *h, const char *path, const char *want);

/* The main of every simulated-Xen suite, as systemd's DEFINE_TEST_MAIN serves
 * its tests: checks what the suite needs, takes the test filter from
 * $SIM_TEST_FILTER (a cmocka glob on test names), runs the group.
 *   DEFINE_SIM_TEST_MAIN("blkback", tests);
 *   DEFINE_SIM_TEST_MAIN_WITH("vif-hotplug", tests, .usage = "XS-TOOL SCRIPT",
 *                             .paths = { &XS_TOOL, &SCRIPT });           */
typedef struct SimTestMain {
        const char *needs_root; /* why, if the suite is skipped (77) unless run as root */
        const char *usage;      /* the arguments, if it takes paths (set to their realpath) */
        const char **paths[4];
} SimTestMain;

int sim_test_main(int argc, char **argv, const char *name, const struct CMUnitTest *tests, size_t n,
                  const SimTestMain *m);
#define DEFINE_SIM_TEST_MAIN_WITH(name, tests, ...)                                                         \
        int main(int argc, char **argv) {                                                                   \
                return sim_test_main(argc, argv, name, tests, sizeof(tests) / sizeof((tests)[0]),           \
                                     &(const SimTestMain) { __VA_ARGS__ });                                 \
        }
#define DEFINE_SIM_TEST_MAIN(name, tests) DEFINE_SIM_TEST_MAIN_WITH(name, tests, .usage = NULL)

/* The guest's end of one device, shared by every test frontend (vtest,
 * blkfront, netfront, console): its XenStore and event-channel handles,
 * opened as the guest, and the frontend (F) and backend (B) directories. */
typedef struct GuestDev {
        uint32_t domid, devid;
        char fe[128], be[128];
        struct xs_handle *xs;
        xenevtchn_handle *xce;
} GuestDev;

/* Fills in the paths for kind ("vbd", "vif", "console", ...) and opens both
 * handles as domid; -errno if either fails (guest_dev_close() still due). */
int guest_dev_open(GuestDev *g, const char *kind, uint32_t domid, uint32_t devid);
void guest_dev_close(GuestDev *g);
/* Writes dir/key = the formatted value, as the guest, in transaction t
 * (XBT_NULL: none). false with errno set. */
bool guest_dev_write(GuestDev *g, xs_transaction_t t, const char *dir, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
/* Writes F/state. */
int guest_dev_set_state(GuestDev *g, XenbusState s);
/* B/state, or -errno. */
int guest_dev_backend_state(GuestDev *g);
/* Waits (as a frontend does, by watch) until B/state is s. */
int guest_dev_wait_backend_state(GuestDev *g, XenbusState s, int timeout_ms);

/* Frontend side (the guest): the vtest frontend. */
typedef struct Frontend {
        Harness *h;
        GuestDev dev;
        char kind[16];
        unsigned order;
        uint32_t ring_refs[16];
        uint64_t ring_gfn;
        evtchn_port_t port;
        vtest_front_ring_t ring;
        uint64_t data_gfn;
        uint32_t data_ref;
        uint64_t next_id;
} Frontend;

int fe_open(Frontend *f, Harness *h, const char *kind, uint32_t domid, uint32_t devid);
void fe_close(Frontend *f);
int fe_set_state(Frontend *f, XenbusState s);
/* Waits (as a frontend does, by watch) until B/state is s. */
int fe_wait_backend(Frontend *f, XenbusState s, int timeout_ms);
int fe_backend_state(Frontend *f);
/* Grants 2^order ring pages and a data page, allocates an unbound event
 * channel, writes ring-ref[N], ring-page-order, event-channel in one
 * transaction. */
int fe_setup_ring(Frontend *f, unsigned order);
/* Ends the grants; -EBUSY if the backend still maps any (as Xen refuses). */
int fe_end_grants(Frontend *f);
/* One request over the ring: copies len bytes of pattern into the data page
 * at offset, waits for the answer and checks its checksum. */
int fe_roundtrip(Frontend *f, uint16_t offset, uint16_t len, int timeout_ms);
/* Queues n requests without waiting (for throughput and broken-ring tests). */
void *fe_sring(Frontend *f);
