/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Console frontends for the simulated-Xen tests and the benchmark: one that
 * behaves as Linux's hvc_xen and one as Windows XENCONS, on a real
 * struct xencons_interface page granted to dom0. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/io/console.h>

#include "harness.h"

typedef struct ConsFront {
        Harness *h;
        GuestDev dev;
        uint64_t gfn;
        uint32_t ref;
        evtchn_port_t port;
        struct xencons_interface *intf;
} ConsFront;

int cf_open(ConsFront *f, Harness *h, uint32_t domid, uint32_t devid);
void cf_close(ConsFront *f);
/* hvc_xen: waits for InitWait, writes ring-ref and port, then 3; waits for 4. */
int cf_connect_linux(ConsFront *f, int timeout_ms);
/* XENCONS: waits for InitWait (offline forever on 6), writes port and
 * ring-ref in one transaction, goes straight to 4; waits for 4. */
int cf_connect_windows(ConsFront *f, int timeout_ms);
/* Guest output: as much of data as out[] has room for (then notify). */
size_t cf_write(ConsFront *f, const void *data, size_t n);
/* Writes all of data, waiting for room, up to timeout_ms. */
int cf_write_all(ConsFront *f, const void *data, size_t n, int timeout_ms);
/* Guest input: whatever in[] holds, up to n bytes (then notify). */
size_t cf_read(ConsFront *f, void *buf, size_t n);
/* Reads exactly n bytes of input, waiting up to timeout_ms. */
int cf_read_all(ConsFront *f, void *buf, size_t n, int timeout_ms);
/* Opens the tty the backend wrote into F/tty, raw. */
int cf_open_tty(ConsFront *f, char **ret_path);
/* Reads exactly n bytes from fd within timeout_ms. */
int fd_read_all(int fd, void *buf, size_t n, int timeout_ms);
long cf_now_ms(void);
