/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Running the hotplug scripts (pvbackd-vif, pvbackd-block) as libxl does,
 * against the simulated XenStore: a directory with stand-in xenstore-read,
 * xenstore-write and xenstore-exists (links to xs-tool) first in PATH, and
 * the script copied next to a stand-in vif-bridge that records how it was
 * run. XENSIM_DIR must be set (xsim_start does). */

#include <stdbool.h>
#include <sys/types.h>

typedef struct HpDir {
        char *dir;       /* temporary; removed by hp_dir_free */
        char *bin;       /* dir/bin: the stand-in tools */
        char *scripts;   /* dir/scripts: the copied script and vif-bridge */
        char *stub_log;  /* where vif-bridge writes its argument count, arguments and XENBUS_PATH */
} HpDir;

int hp_dir_new(const char *xs_tool, const char *script_src, HpDir *ret);
void hp_dir_free(HpDir *d);

typedef struct HpRun {
        pid_t pid;
        int out_fd;      /* stdout and stderr, together */
        int status;      /* exit code; 128+signal; -1 if still running */
        char out[4096];
} HpRun;

/* Starts dir/scripts/<script> with args (NULL-terminated) and extra
 * environment ("K=V", NULL-terminated) in the background. */
int hp_start(const HpDir *d, const char *script, const char *const *args, const char *const *env, HpRun *ret);
/* Waits up to timeout_ms for it to exit; false if it is still running. */
bool hp_wait(HpRun *r, int timeout_ms);
/* Kills it if still running, reaps it. */
void hp_finish(HpRun *r);
/* What vif-bridge recorded, or NULL if it did not run (malloc'd). */
char *hp_stub_log(const HpDir *d);
