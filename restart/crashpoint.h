/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Crash points, for the tests of restart survival: with
 * $PVBACKD_CRASH_AT=<name>[:<n>] in the environment, the n-th passage (the
 * first by default) through crash_point("<name>") kills the process with
 * SIGKILL, as a crash at exactly that instant would. Without the variable a
 * crash point costs one well-predicted branch. */

void crash_point_init(void);
void crash_point_hit(const char *name);

extern const char *crash_point_armed;

static inline void crash_point(const char *name) {
        if (__builtin_expect(crash_point_armed != 0, 0))
                crash_point_hit(name);
}
