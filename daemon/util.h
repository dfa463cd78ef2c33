/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Small helpers shared by every part of pvbackd, in the spirit of systemd's
 * macro.h: cleanup attributes, errno plumbing, and bounded string parsing. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _fallthrough_ __attribute__((fallthrough))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Closes fd if open; returns -1 for `fd = safe_close(fd);`. */
static inline int safe_close(int fd) {
        if (fd >= 0)
                closep(&fd);
        return -1;
}

/* Return -errno of the last failed libc/Xen library call, never 0, so that a
 * library that forgot to set errno cannot make a failure look like success. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* Strict unsigned decimal: digits only, no sign, no leading zeros (except "0"),
 * no whitespace, value <= max. Guest-controlled strings go through this. */
int parse_uint(const char *s, uint64_t max, uint64_t *ret);

/* "0" or "1" only, as the Xen protocols write booleans. */
int parse_bool01(const char *s, bool *ret);

/* Copies s into a bounded, printable form for logs: control characters and
 * non-ASCII bytes become '?', and it is cut at max bytes. */
char *sanitize_for_log(const char *s, size_t max);

uint64_t now_usec(void);

/* The one rate limiter of pvbackd: a fixed window of interval_usec that
 * starts at the first use after the previous one ended, with room for limit
 * units (events, or bytes). It holds only the window; the caller passes the
 * limit and the interval at every use, so that a reload or a live `rate`
 * change applies at once. Used by the event channel dispatcher (events per
 * port), the consoles (events per console), netback's egress credit (bytes
 * per queue) and RateLimit (log messages).
 *
 * Not sd_event_source_set_ratelimit(): that limits one sd-event source, and
 * none of these is one. All event channels share one fd (one source), the
 * consoles are limited inside their event channel's handler, the credit
 * counts bytes rather than dispatches, and when the limit is hit the event
 * must stay masked and be run again when the window ends (its notification
 * may carry work), which each caller does with its own timer. */
typedef struct RateWindow {
        uint64_t start; /* 0: no window yet */
        uint64_t used;
} RateWindow;

static inline bool rate_window_ended(const RateWindow *w, uint64_t now, uint64_t interval_usec) {
        return w->start == 0 || now - w->start >= interval_usec;
}

static inline uint64_t rate_window_end(const RateWindow *w, uint64_t interval_usec) {
        return w->start + interval_usec;
}

/* A new, empty window from now. */
static inline void rate_window_restart(RateWindow *w, uint64_t now) {
        *w = (RateWindow) { .start = now ?: 1, .used = 0 };
}

/* Takes cost units now if they fit the window (a new one if the last has
 * ended), or if the window is still untouched, so that one cost larger than
 * the limit is not refused for ever. False: over the limit until
 * rate_window_end(); nothing was taken. limit is at least 1. */
bool rate_window_take(RateWindow *w, uint64_t now, uint64_t interval_usec, uint64_t limit, uint64_t cost);

/* Hands ownership of a pointer to the caller and clears the variable. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _ptr_ = (p);       \
                (p) = NULL;                      \
                _ptr_;                           \
        })
