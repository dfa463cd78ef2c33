/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Clocks and sorting shared by the benchmarks. */

#include <time.h>

/* Wall-clock (monotonic) time in seconds. */
static inline double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* CPU time the calling thread has used, in seconds. */
static inline double thread_cpu_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* qsort() comparator for doubles, ascending (for percentiles). */
static inline int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}
