/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <time.h>

#include "util.h"

int parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '0' && s[1] != '\0')
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_bool01(const char *s, bool *ret) {
        if (!s)
                return -EINVAL;
        if (streq(s, "1"))
                *ret = true;
        else if (streq(s, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

char *sanitize_for_log(const char *s, size_t max) {
        size_t n = strnlen(s, max);
        char *r = malloc(n + 1);

        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                r[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
        }
        r[n] = '\0';
        return r;
}

bool rate_window_take(RateWindow *w, uint64_t now, uint64_t interval_usec, uint64_t limit, uint64_t cost) {
        if (rate_window_ended(w, now, interval_usec))
                rate_window_restart(w, now);
        if (w->used > 0 && (cost > limit || w->used > limit - cost))
                return false;
        w->used = MIN(w->used + cost, limit);
        return true;
}

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}
