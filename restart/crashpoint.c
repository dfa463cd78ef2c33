/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <signal.h>
#include <stdio.h>

#include "crashpoint.h"
#include "log.h"
#include "util.h"

const char *crash_point_armed;
static char armed_name[64];
static unsigned long armed_count = 1, passes;

void crash_point_init(void) {
        const char *e = getenv("PVBACKD_CRASH_AT");
        const char *colon;

        if (!e || !*e)
                return;
        colon = strchr(e, ':');
        snprintf(armed_name, sizeof armed_name, "%.*s", (int) (colon ? (size_t) (colon - e) : strlen(e)), e);
        if (colon)
                armed_count = strtoul(colon + 1, NULL, 10) ?: 1;
        crash_point_armed = armed_name;
        log_warning("Crash point armed: %s, passage %lu ($PVBACKD_CRASH_AT, for tests)", armed_name, armed_count);
}

void crash_point_hit(const char *name) {
        if (!streq(name, crash_point_armed) || ++passes < armed_count)
                return;
        log_warning("Crash point %s reached: killing myself", name);
        raise(SIGKILL);
}
