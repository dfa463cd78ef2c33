/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cons-front.h"
#include "xensim.h"

#define ACCESS(x) (*(volatile __typeof__(x) *) &(x))

long cf_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int cf_open(ConsFront *f, Harness *h, uint32_t domid, uint32_t devid) {
        *f = (ConsFront) { .h = h };
        return guest_dev_open(&f->dev, "console", domid, devid);
}

void cf_close(ConsFront *f) {
        guest_dev_close(&f->dev);
}

static char *cf_read_node(ConsFront *f, const char *dir, const char *key) {
        char p[256];
        unsigned len;
        snprintf(p, sizeof p, "%s/%s", dir, key);
        return xs_read(f->dev.xs, XBT_NULL, p, &len);
}

static int cf_state(ConsFront *f, const char *dir) {
        char *v = cf_read_node(f, dir, "state");
        int s = v ? atoi(v) : -1;
        free(v);
        return s;
}

static int cf_setup_ring(ConsFront *f) {
        int r, port;

        r = xsim_page_alloc(f->dev.domid, &f->gfn);
        if (r < 0)
                return r;
        r = xsim_grant_access(f->dev.domid, 0, f->gfn, false, &f->ref);
        if (r < 0)
                return r;
        f->intf = xsim_guest_page(f->dev.domid, f->gfn);
        memset(f->intf, 0, sizeof *f->intf);
        port = xenevtchn_bind_unbound_port(f->dev.xce, 0);
        if (port < 0)
                return -errno;
        f->port = (evtchn_port_t) port;
        return 0;
}

int cf_connect_linux(ConsFront *f, int timeout_ms) {
        int r;

        r = guest_dev_wait_backend_state(&f->dev, XenbusStateInitWait, timeout_ms);
        if (r < 0)
                return r;
        r = cf_setup_ring(f);
        if (r < 0)
                return r;
        /* xencons_connect_backend: ring-ref and port in a transaction, then 3. */
        for (int i = 0; i < 10; i++) {
                xs_transaction_t t = xs_transaction_start(f->dev.xs);
                bool ok = guest_dev_write(&f->dev, t, f->dev.fe, "ring-ref", "%u", f->ref) &&
                          guest_dev_write(&f->dev, t, f->dev.fe, "port", "%u", f->port);
                if (!ok) {
                        xs_transaction_end(f->dev.xs, t, true);
                        return -errno;
                }
                if (xs_transaction_end(f->dev.xs, t, false))
                        break;
        }
        r = guest_dev_set_state(&f->dev, XenbusStateInitialised);
        if (r < 0)
                return r;
        r = guest_dev_wait_backend_state(&f->dev, XenbusStateConnected, timeout_ms);
        if (r < 0)
                return r;
        return guest_dev_set_state(&f->dev, XenbusStateConnected);
}

int cf_connect_windows(ConsFront *f, int timeout_ms) {
        long end = cf_now_ms() + timeout_ms;
        char *name, *proto;
        int s, r;

        /* FrontendPrepare: spin on the backend state; 6 means offline forever. */
        for (;;) {
                s = cf_state(f, f->dev.be);
                if (s == 2)
                        break;
                if (s == 6) {
                        guest_dev_set_state(&f->dev, XenbusStateClosed);
                        return -ENOLINK;
                }
                if (cf_now_ms() > end)
                        return -ETIMEDOUT;
                usleep(2000);
        }
        r = cf_setup_ring(f);
        if (r < 0)
                return r;
        for (int i = 0; i < 10; i++) {
                xs_transaction_t t = xs_transaction_start(f->dev.xs);
                bool ok = guest_dev_write(&f->dev, t, f->dev.fe, "port", "%u", f->port) &&
                          guest_dev_write(&f->dev, t, f->dev.fe, "ring-ref", "%u", f->ref);
                if (!ok) {
                        xs_transaction_end(f->dev.xs, t, true);
                        return -errno;
                }
                if (xs_transaction_end(f->dev.xs, t, false))
                        break;
        }
        /* FrontendConnect: straight to 4, then wait for the backend's 4. */
        r = guest_dev_set_state(&f->dev, XenbusStateConnected);
        if (r < 0)
                return r;
        for (;;) {
                s = cf_state(f, f->dev.be);
                if (s == 4)
                        break;
                if (s == 0 || s == 5 || s == 6) {
                        guest_dev_set_state(&f->dev, XenbusStateClosed);
                        return -ENOLINK;
                }
                if (cf_now_ms() > end)
                        return -ETIMEDOUT;
                usleep(2000);
        }
        /* After Connected it reads name and protocol from the backend. */
        name = cf_read_node(f, f->dev.be, "name");
        proto = cf_read_node(f, f->dev.be, "protocol");
        r = name && proto && strcmp(proto, "vt100") == 0 ? 0 : -EPROTO;
        free(name);
        free(proto);
        return r;
}

size_t cf_write(ConsFront *f, const void *data, size_t n) {
        struct xencons_interface *i = f->intf;
        XENCONS_RING_IDX cons = ACCESS(i->out_cons), prod = i->out_prod;
        size_t k = 0;

        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        while (k < n && prod - cons < sizeof i->out)
                i->out[MASK_XENCONS_IDX(prod++, i->out)] = ((const char *) data)[k++];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        ACCESS(i->out_prod) = prod;
        xenevtchn_notify(f->dev.xce, f->port);
        return k;
}

int cf_write_all(ConsFront *f, const void *data, size_t n, int timeout_ms) {
        long end = cf_now_ms() + timeout_ms;
        size_t done = 0;

        while (done < n) {
                size_t k = cf_write(f, (const char *) data + done, n - done);
                done += k;
                if (done < n) {
                        if (cf_now_ms() > end)
                                return -ETIMEDOUT;
                        usleep(k ? 100 : 1000);
                }
        }
        return 0;
}

size_t cf_read(ConsFront *f, void *buf, size_t n) {
        struct xencons_interface *i = f->intf;
        XENCONS_RING_IDX cons = i->in_cons, prod = ACCESS(i->in_prod);
        size_t k = 0;

        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        while (k < n && cons != prod)
                ((char *) buf)[k++] = i->in[MASK_XENCONS_IDX(cons++, i->in)];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        ACCESS(i->in_cons) = cons;
        if (k)
                xenevtchn_notify(f->dev.xce, f->port);
        return k;
}

int cf_read_all(ConsFront *f, void *buf, size_t n, int timeout_ms) {
        long end = cf_now_ms() + timeout_ms;
        size_t done = 0;

        while (done < n) {
                done += cf_read(f, (char *) buf + done, n - done);
                if (done < n) {
                        if (cf_now_ms() > end)
                                return -ETIMEDOUT;
                        usleep(500);
                }
        }
        return 0;
}

int cf_open_tty(ConsFront *f, char **ret_path) {
        char *tty = cf_read_node(f, f->dev.fe, "tty");
        struct termios t;
        int fd;

        if (!tty || !tty[0]) {
                free(tty);
                return -ENOENT;
        }
        fd = open(tty, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                int e = -errno;
                free(tty);
                return e;
        }
        if (tcgetattr(fd, &t) == 0) {
                cfmakeraw(&t);
                tcsetattr(fd, TCSANOW, &t);
        }
        if (ret_path)
                *ret_path = tty;
        else
                free(tty);
        return fd;
}

int fd_read_all(int fd, void *buf, size_t n, int timeout_ms) {
        long end = cf_now_ms() + timeout_ms;
        size_t done = 0;

        while (done < n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long left = end - cf_now_ms();
                ssize_t k;

                if (left < 0 || poll(&p, 1, (int) left) <= 0)
                        return -ETIMEDOUT;
                k = read(fd, (char *) buf + done, n - done);
                if (k < 0 && errno != EAGAIN)
                        return -errno;
                if (k > 0)
                        done += (size_t) k;
        }
        return 0;
}
