/* SPDX-License-Identifier: GPL-2.0-or-later */

/* The console data path. Guest output: out[] -> buffer -> the reader (pty
 * master or socket client), and to the log file and journal as it is read.
 * Guest input: the reader -> in[]. The shared indices are read once, checked
 * (a producer more than a ring ahead is a broken frontend), and only the
 * copies are used. Flow control as xenconsoled: at most rate-limit events per
 * rate-interval-ms per console, after which the ring is left alone until the
 * interval ends; at most buffer-limit bytes buffered, then the overflow
 * policy (discard the oldest, or stop reading the ring). */

#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "consback.h"

#define READ_ONCE(x) (*(const volatile __typeof__(x) *) &(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *) &(x) = (v))
#define cons_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define cons_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define cons_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

static const PvbackdConfig *console_config(Console *c) {
        return backend_config(c->cc->backend);
}

/* A broken ring: a secondary console's device closes; a primary console
 * (no handshake to close) stops until the toolstack gives it a new ring or
 * port, as after a restore. */
_printf_(3, 4) static void console_fatal(Console *c, int error, const char *fmt, ...) {
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (c->dev) {
                xenbus_device_fatal(c->dev, error, "%s", msg);
                return;
        }
        log_cons_full(c, LOG_ERR, error, "%s: console stopped", msg);
        c->failed = true;
        console_ring_stop(c);
}

static bool console_failed(const Console *c) {
        return c->dev ? xenbus_device_failed(c->dev) : c->failed;
}

/* ---- the buffer ------------------------------------------------------------ */

static void buffer_drop(ConsBuffer *buf, size_t n) {
        n = MIN(n, buf->len);
        buf->head = buf->cap ? (buf->head + n) % buf->cap : 0;
        buf->len -= n;
        if (buf->len == 0)
                buf->head = 0;
}

/* Grows to hold want bytes, never beyond limit; returns the capacity. */
static size_t buffer_reserve(ConsBuffer *buf, size_t want, size_t limit) {
        size_t cap = buf->cap ?: 4096;
        uint8_t *d;

        want = MIN(want, limit);
        if (want <= buf->cap)
                return buf->cap;
        while (cap < want)
                cap *= 2;
        cap = MIN(cap, limit);
        d = malloc(cap);
        if (!d)
                return buf->cap;
        /* Linearise while copying. */
        for (size_t i = 0; i < buf->len; i++)
                d[i] = buf->data[(buf->head + i) % buf->cap];
        free(buf->data);
        buf->data = d;
        buf->cap = cap;
        buf->head = 0;
        return cap;
}

void cons_buffer_append(ConsBuffer *buf, const uint8_t *data, size_t n, size_t limit) {
        size_t cap;

        if (n > limit) { /* only the newest limit bytes can survive */
                buf->discarded += n - limit + buf->len;
                buffer_drop(buf, buf->len);
                data += n - limit;
                n = limit;
        }
        cap = buffer_reserve(buf, buf->len + n, limit);
        if (buf->len + n > cap) { /* discard the oldest */
                size_t drop = buf->len + n - cap;
                if (drop > buf->len) { /* allocation failed with nothing to make room: drop the new data */
                        buf->discarded += n;
                        return;
                }
                buf->discarded += drop;
                buffer_drop(buf, drop);
        }
        for (size_t i = 0; i < n; i++)
                buf->data[(buf->head + buf->len + i) % cap] = data[i];
        buf->len += n;
}

void cons_buffer_free(ConsBuffer *buf) {
        free(buf->data);
        *buf = (ConsBuffer) {};
}

/* ---- the reader ------------------------------------------------------------ */

static int reader_fd(Console *c) {
        return c->output == CONSOLE_OUTPUT_PTY ? c->pty_master : c->client_fd;
}

static void reader_flush(Console *c) {
        ConsBuffer *buf = &c->buf;
        int fd = reader_fd(c);

        while (fd >= 0 && buf->len > 0) {
                size_t chunk = MIN(buf->len, buf->cap - buf->head);
                ssize_t k = write(fd, buf->data + buf->head, chunk);

                if (k <= 0) {
                        if (k < 0 && errno != EAGAIN && errno != EINTR && c->output == CONSOLE_OUTPUT_SOCKET) {
                                /* The client went away: keep the data for the next one. */
                                c->reader_source = sd_event_source_disable_unref(c->reader_source);
                                close(c->client_fd);
                                c->client_fd = -1;
                        }
                        break;
                }
                buffer_drop(buf, (size_t) k);
        }
        if (buf->len == 0 && buf->cap > 65536) {
                /* Give back a large buffer once it has drained. */
                cons_buffer_free(buf);
        }
}

/* Host -> guest: as much as in[] has room for. */
static void reader_input(Console *c) {
        struct xencons_interface *intf = c->intf;
        XENCONS_RING_IDX cons, prod;
        uint8_t tmp[sizeof intf->in];
        size_t space;
        ssize_t k;

        if (!intf)
                return;
        cons = READ_ONCE(intf->in_cons);
        prod = READ_ONCE(intf->in_prod);
        cons_mb();
        if (prod - cons > sizeof intf->in) {
                console_fatal(c, -EPROTO, "console input ring: in_cons %u is beyond in_prod %u", cons,
                                    prod);
                return;
        }
        space = sizeof intf->in - (prod - cons);
        if (space == 0) {
                c->input_blocked = true; /* until the guest's next event says it read some */
                return;
        }
        k = read(reader_fd(c), tmp, space);
        if (k <= 0) {
                if (k == 0 || (errno != EAGAIN && errno != EINTR && errno != EIO)) {
                        if (c->output == CONSOLE_OUTPUT_SOCKET) {
                                c->reader_source = sd_event_source_disable_unref(c->reader_source);
                                close(c->client_fd);
                                c->client_fd = -1;
                        }
                }
                return;
        }
        for (ssize_t i = 0; i < k; i++)
                intf->in[MASK_XENCONS_IDX(prod + (XENCONS_RING_IDX) i, intf->in)] = (char) tmp[i];
        cons_wmb(); /* the bytes before the index */
        WRITE_ONCE(intf->in_prod, prod + (XENCONS_RING_IDX) k);
        (void) evtchn_notify(c->port);
}

static void ring_output(Console *c);

static int on_reader(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Console *c = userdata;

        (void) s;
        (void) fd;
        if (revents & EPOLLOUT) {
                reader_flush(c);
                if (c->ring_stalled && c->intf)
                        ring_output(c);
        }
        if (c->reader_source && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->intf && !c->input_blocked)
                reader_input(c);
        if (c->reader_source && (revents & (EPOLLHUP | EPOLLERR)) && c->output == CONSOLE_OUTPUT_SOCKET) {
                c->reader_source = sd_event_source_disable_unref(c->reader_source);
                close(c->client_fd);
                c->client_fd = -1;
        }
        console_reader_update(c);
        return 0;
}

/* Wants EPOLLOUT only with buffered output, EPOLLIN only with a ring to put
 * input into: no busy loop on a reader that never reads. */
void console_reader_update(Console *c) {
        uint32_t events = 0;

        if (!c->reader_source)
                return;
        if (c->buf.len > 0)
                events |= EPOLLOUT;
        if (c->intf && !c->input_blocked)
                events |= EPOLLIN;
        (void) sd_event_source_set_io_events(c->reader_source, events);
        (void) sd_event_source_set_enabled(c->reader_source, events ? SD_EVENT_ON : SD_EVENT_OFF);
}

int console_reader_start(Console *c) {
        int r, fd = reader_fd(c);

        if (fd < 0 || c->reader_source)
                return 0;
        r = sd_event_add_io(backend_event(c->cc->backend), &c->reader_source, fd, EPOLLIN, on_reader, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->reader_source, "console-reader");
        reader_flush(c);
        console_reader_update(c);
        return 0;
}

/* ---- the ring -------------------------------------------------------------- */

/* Guest -> host: everything out[] holds (or what the buffer takes, with
 * overflow=keep). */
static void ring_output(Console *c) {
        struct xencons_interface *intf = c->intf;
        const PvbackdConfig *cfg = console_config(c);
        XENCONS_RING_IDX cons, prod;
        uint8_t tmp[sizeof intf->out];
        size_t n;

        cons = READ_ONCE(intf->out_cons);
        prod = READ_ONCE(intf->out_prod);
        cons_rmb(); /* the index before the bytes */
        if (prod - cons > sizeof intf->out) {
                console_fatal(c, -EPROTO, "console output ring: out_prod %u is beyond out_cons %u", prod,
                                    cons);
                return;
        }
        n = prod - cons;
        if (cfg->console_overflow == CONSOLE_OVERFLOW_KEEP) {
                size_t room = cfg->console_buffer_limit > c->buf.len ? cfg->console_buffer_limit - c->buf.len : 0;
                /* A reader that takes it now makes room. */
                if (room < n) {
                        reader_flush(c);
                        room = cfg->console_buffer_limit > c->buf.len ? cfg->console_buffer_limit - c->buf.len : 0;
                }
                /* Resumed when the reader has made room (on_reader()). */
                c->ring_stalled = room < n;
                n = MIN(n, room);
        }
        if (n == 0)
                return;
        for (size_t i = 0; i < n; i++)
                tmp[i] = (uint8_t) intf->out[MASK_XENCONS_IDX(cons + (XENCONS_RING_IDX) i, intf->out)];

        /* Delivered before the space is given back: a crash in between
         * shows these bytes twice after the restart, never loses them. */
        console_sinks_output(c, tmp, n);
        if (c->output != CONSOLE_OUTPUT_LOG) {
                cons_buffer_append(&c->buf, tmp, n, cfg->console_buffer_limit);
                reader_flush(c);
        }
        cons_mb(); /* read the bytes before giving the space back */
        WRITE_ONCE(intf->out_cons, cons + (XENCONS_RING_IDX) n);
        (void) evtchn_notify(c->port);
}

static void ring_work(Console *c) {
        if (!c->intf)
                return;
        ring_output(c);
        if (!c->intf || console_failed(c))
                return;
        /* The guest's event may mean it consumed input: take more. */
        if (c->input_blocked) {
                c->input_blocked = false;
                if (reader_fd(c) >= 0)
                        reader_input(c);
        }
        console_reader_update(c);
}

static int on_throttle_end(sd_event_source *s, uint64_t usec, void *userdata) {
        Console *c = userdata;
        const PvbackdConfig *cfg = console_config(c);
        uint64_t now = now_usec();

        (void) s;
        (void) usec;
        /* The held-back event is the new window's first. */
        rate_window_restart(&c->window, now);
        (void) rate_window_take(&c->window, now, (uint64_t) cfg->console_rate_interval_ms * 1000,
                                cfg->console_rate_limit, 1);
        ring_work(c);
        return 0;
}

static void on_event(EvtchnPort *p, void *userdata) {
        Console *c = userdata;
        const PvbackdConfig *cfg = console_config(c);
        uint64_t now = now_usec(), interval = (uint64_t) cfg->console_rate_interval_ms * 1000;
        int enabled = SD_EVENT_OFF;

        (void) p;
        if (c->throttle_timer)
                (void) sd_event_source_get_enabled(c->throttle_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return; /* throttled: the timer reads the ring when the interval ends */
        if (!rate_window_take(&c->window, now, interval, cfg->console_rate_limit, 1)) {
                c->throttled++;
                if (!c->throttle_timer) {
                        if (sd_event_add_time(backend_event(c->cc->backend), &c->throttle_timer, CLOCK_MONOTONIC,
                                              rate_window_end(&c->window, interval), 0, on_throttle_end, c) < 0) {
                                ring_work(c); /* cannot wait: do not lose the event */
                                return;
                        }
                } else
                        (void) sd_event_source_set_time(c->throttle_timer, rate_window_end(&c->window, interval));
                (void) sd_event_source_set_enabled(c->throttle_timer, SD_EVENT_ONESHOT);
                if (ratelimit_below(&c->ratelimit))
                        log_cons_debug(c, "console event rate limit reached (%u per %u ms)",
                                      cfg->console_rate_limit, cfg->console_rate_interval_ms);
                return;
        }
        ring_work(c);
}

int console_ring_start(Console *c, uint32_t ring_ref, uint32_t remote_port) {
        XenbusDevice *d = c->dev;
        int r;

        r = xenbus_map_grants(d, &ring_ref, 1, true, &c->map);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot map the console ring (grant %u): %s", ring_ref,
                                               strerror(-r));
        c->ring_map = CONS_RING_DEVICE_GRANT;
        c->ring_addr = c->map.addr;
        r = console_ring_attach(c, remote_port);
        if (r < 0)
                return xenbus_device_set_error(d, r, "cannot bind event channel %u: %s", remote_port, strerror(-r));
        return 0;
}

int console_ring_attach(Console *c, uint32_t remote_port) {
        int r;

        r = evtchn_bind(backend_evtchn(c->cc->backend), c->domid, remote_port, on_event, c, &c->port);
        if (r < 0) {
                console_ring_stop(c);
                return r;
        }
        c->intf = c->ring_addr;
        c->failed = false;
        c->input_blocked = false;
        rate_window_restart(&c->window, now_usec());
        /* Output written before we connected. */
        evtchn_port_kick(c->port);
        return 0;
}

static void ring_unmap(Console *c) {
        switch (c->ring_map) {
        case CONS_RING_DEVICE_GRANT:
                xenbus_unmap_grants(c->dev, &c->map);
                break;
        case CONS_RING_GRANT0:
                if (xengnttab_unmap(backend_gnttab(c->cc->backend), c->ring_addr, 1) < 0)
                        log_cons_full(c, LOG_ERR, negative_errno(), "Failed to unmap the console ring: %m");
                break;
        case CONS_RING_FOREIGN:
                if (xenforeignmemory_unmap(c->cc->fmem, c->ring_addr, 1) < 0)
                        log_cons_full(c, LOG_ERR, negative_errno(), "Failed to unmap the console ring: %m");
                break;
        case CONS_RING_UNMAPPED:
                break;
        }
        c->ring_map = CONS_RING_UNMAPPED;
        c->ring_addr = NULL;
}

void console_ring_stop(Console *c) {
        c->throttle_timer = sd_event_source_disable_unref(c->throttle_timer);
        evtchn_unbind(c->port);
        c->port = NULL;
        c->intf = NULL;
        ring_unmap(c);
        console_reader_update(c);
}
